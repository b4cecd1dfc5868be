"""Anti-automation on the real stack (uvicorn as scripts/run.sh starts it, a Celery worker,
Redis counters): a flood from one client gets 429 + Retry-After whatever X-Forwarded-For it
sends, and a browser past the vote threshold solves the proof-of-work challenge and its vote
counts."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

from playwright.sync_api import expect

from .helpers import Http, screenshot


def _post_battle(base: str, xff: str) -> tuple[int, dict[str, str], dict]:
    """A fresh client (new cookie jar) with a spoofed X-Forwarded-For, as the attacker of issue 12."""
    http = Http(base)
    http.open_page()
    req = urllib.request.Request(
        base + "/api/battles/", data=json.dumps({"prompt": "Say hello.", "modality": "text"}).encode(), method="POST",
        headers={"Content-Type": "application/json", "X-CSRFToken": http.cookie("csrftoken"), "X-Forwarded-For": xff},
    )
    try:
        with http.opener.open(req, timeout=15) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, json.loads(e.read())


def test_a_flood_of_battles_from_one_client_gets_429_with_retry_after(e2e_demo, arena_stack_factory):
    from arena.models import Battle

    stack = arena_stack_factory({"ARENA_RATE_LIMITS": "battle.network=8/minute"})
    answers = [_post_battle(stack.base_url, f"10.{i}.{i}.{i}") for i in range(12)]
    codes = [a[0] for a in answers]
    assert codes == [201] * 8 + [429] * 4, codes
    for status, headers, body in answers[8:]:
        assert 1 <= int(headers["retry-after"]) <= 61
        assert "Too many new battles from your network" in body["error"]
    assert Battle.objects.count() == 8


def test_the_browser_solves_the_challenge_and_the_vote_counts(e2e_demo, arena_stack_factory, page):
    from arena.models import Vote

    stack = arena_stack_factory({"ARENA_RATE_LIMITS": "", "ARENA_POW_AFTER": "1/day", "ARENA_POW_DIFFICULTY": "12"})
    vote_answers: list[int] = []
    page.on("requestfinished", lambda r: vote_answers.append(r.response().status) if r.url.endswith("/vote/") else None)
    page.on("requestfailed", lambda r: vote_answers.append(-1) if r.url.endswith("/vote/") else None)
    page.goto(stack.base_url + "/")
    for round_ in range(2):
        page.get_by_test_id("prompt").fill(f"Name three rivers, round {round_}.")
        page.get_by_test_id("start").click()
        expect(page.get_by_test_id("vote-a")).to_be_enabled(timeout=30_000)
        page.get_by_test_id("vote-a").click()
        expect(page.get_by_test_id("result")).to_contain_text("counts toward the leaderboard", timeout=30_000)
        if round_ == 0:
            page.get_by_test_id("new-round").click()
    screenshot(page, "pow-solved-vote-counted")
    page.wait_for_timeout(300)  # let the last request events arrive
    # the first vote went straight through; the second was asked for the puzzle, then accepted
    assert vote_answers == [201, 428, 201], vote_answers
    votes = list(Vote.objects.order_by("pk"))
    assert len(votes) == 2 and all(v.counted for v in votes)
    expect(page.get_by_test_id("error")).to_be_hidden()
    assert re.search(r"Voted|counts", page.get_by_test_id("result").inner_text())
