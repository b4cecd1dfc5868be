"""The leaderboard page updates by itself: real daphne + Celery worker, a real Chromium. Votes are
cast through the arena's HTTP API (other voters); the worker recomputes the leaderboard, the
WebSocket announces the snapshot and the open page re-renders its table without a reload."""
from __future__ import annotations

import pytest

from ratings.models import LeaderboardSnapshot

from .helpers import Http, screenshot, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROMPTS = ["Explain why the sky is blue.", "What is 17*23?", "Write a poem about autumn leaves.",
           "How do I make a good cup of coffee?", "List five tips for better sleep.", "What is 250+375?"]
FAST_RATINGS = {"RATINGS_DEBOUNCE_S": "0.2", "RATINGS_BOOTSTRAP_ROUNDS": "100", "RATINGS_ELO_ROUNDS": "10"}


def cast_vote(base_url: str, prompt: str, outcome: str) -> dict:
    """One new voter: start a blind text battle, wait for both outputs, vote."""
    client = Http(base_url)
    client.open_page()
    status, state = client.json("POST", "/api/battles/", {"modality": "text", "prompt": prompt})
    assert status == 201, state

    def ready():
        s, st = client.json("GET", f"/api/battles/{state['battle']}/")
        assert s == 200, st
        return st if st["status"] == "ready" else None

    wait_until(ready, timeout=30, interval=0.2, what="the battle to be ready")
    status, voted = client.json("POST", f"/api/battles/{state['battle']}/vote/", {"outcome": outcome})
    assert status == 201 and voted["counted"], voted
    return voted


def shown(page) -> dict:
    return page.evaluate("""() => ({
        votes: document.querySelector('[data-testid="lb-votes"]').textContent.trim(),
        rows: [...document.querySelectorAll('[data-testid="lb-table"] tr[data-model]')].map((tr) => tr.dataset.model),
        ci: [...document.querySelectorAll('[data-testid="lb-ci"]')].map((td) => td.textContent.trim()),
        empty: document.querySelector('[data-testid="lb-empty"]').hidden === false,
        sentinel: window.__sameDocument || null,
    })""")


def latest_bt() -> LeaderboardSnapshot | None:
    return LeaderboardSnapshot.objects.filter(modality="text", category="overall", method="bt").order_by("-created", "-pk").first()


def test_open_leaderboard_updates_itself_when_votes_arrive(e2e_demo, arena_stack_factory, page):
    stack = arena_stack_factory(env=FAST_RATINGS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(stack.base_url + "/leaderboard/?modality=text&category=overall&method=bt")
    assert page.get_by_test_id("lb-empty").is_visible()
    page.wait_for_function("() => document.querySelector('[data-testid=\"leaderboard\"]').dataset.ws === 'open'")
    page.evaluate("window.__sameDocument = 'yes'")  # gone if the page reloads
    screenshot(page, "leaderboard-empty")

    # first votes: the empty state turns into a table
    cast_vote(stack.base_url, PROMPTS[0], "a")
    cast_vote(stack.base_url, PROMPTS[1], "b")
    wait_until(lambda: (latest_bt() or 0) and latest_bt().vote_count == 2, timeout=45, what="a 2-vote snapshot")
    page.wait_for_function("() => document.querySelector('[data-testid=\"lb-votes\"]').textContent.trim() === '2'", timeout=30_000)
    first = shown(page)
    snap = latest_bt()
    assert first["sentinel"] == "yes" and not first["empty"]
    assert first["rows"] == [r["model"] for r in snap.rows]
    assert all(c.startswith("+") and " / −" in c for c in first["ci"])
    assert page.get_by_test_id("lb-table").is_visible()
    screenshot(page, "leaderboard-first-votes")

    # more votes: the shown vote count and rows follow, still the same document
    for k, outcome in enumerate(["a", "tie", "b", "a"]):
        cast_vote(stack.base_url, PROMPTS[2 + k], outcome)
    wait_until(lambda: latest_bt().vote_count == 6, timeout=45, what="a 6-vote snapshot")
    page.wait_for_function("() => document.querySelector('[data-testid=\"lb-votes\"]').textContent.trim() === '6'", timeout=30_000)
    page.wait_for_selector("#plot-ratings .main-svg")  # plots re-rendered from the fetched snapshot
    page.wait_for_selector("#plot-wins .main-svg")
    later = shown(page)
    snap = latest_bt()
    assert later["sentinel"] == "yes"
    assert later["rows"] == [r["model"] for r in snap.rows]
    assert page.get_by_test_id("lb-updated").get_attribute("datetime") == snap.created.isoformat()
    assert page.locator('#lb-form select[name="method"] option:checked').text_content() == "Bradley-Terry"
    # "How models are sampled": day-old figures only, so the battles just voted on are not in them
    # (a voter must not learn which models were just drawn), and every model has a chance to be drawn
    with page.expect_response(lambda r: "/api/exposure/" in r.url):
        page.get_by_text("How models are sampled").click()
    page.wait_for_timeout(200)  # the table is redrawn from the response
    rows = page.locator('[data-testid^="exposure-row-"]')
    assert rows.count() == 5
    assert set(rows.locator('[data-testid="exposure-all"]').all_text_contents()) == {"0"}
    chances = [int(t.rstrip("%")) for t in rows.locator('[data-testid="exposure-probability"]').all_text_contents()]
    assert all(c > 0 for c in chances) and 190 <= sum(chances) <= 210  # two models per battle
    page.wait_for_timeout(2600)  # let the "changed" highlight fade for the screenshot
    screenshot(page, "leaderboard-live")
    assert errors == []

    # the staff dashboard of the same data, through the admin login
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("ops", password="pw-e2e-123", is_staff=True)
    page.goto(stack.base_url + "/staff/")
    assert "/admin/login/" in page.url
    page.fill("#id_username", "ops")
    page.fill("#id_password", "pw-e2e-123")
    page.click("input[type=submit]")
    page.wait_for_selector("#plot-votes-per-day .main-svg")
    assert page.get_by_test_id("votes-totals").text_content().strip() == "6 counted · 0 excluded"
    assert page.locator('[data-testid="recompute-history"] tbody tr').count() >= 2
    screenshot(page, "leaderboard-staff-dashboard")
    assert errors == []
