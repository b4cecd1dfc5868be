"""'How models are sampled' and /api/exposure/: the policy in words, each model's chance to be drawn,
observed shares, all from data at least a day old and rounded, so that nothing a voter can read
changes when their own battle is created (issue 9's side door)."""
from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets

import pytest
from django.core.cache import cache
from django.utils import timezone

from arena.models import Battle, Competitor, Vote
from ratings.exposure import cutoff
from tests.ratings.test_pages import make_battle

pytestmark = pytest.mark.django_db

SECTION = re.compile(r'<details class="card exposure".*?</details>', re.S)


def aged(battles: list[Battle], days: float) -> None:
    when = timezone.now() - dt.timedelta(days=days)
    ids = [b.pk for b in battles]
    Battle.objects.filter(pk__in=ids).update(created=when)
    Vote.objects.filter(battle_id__in=ids).update(created=when)


def seed_history() -> None:
    """Battles of days ago (the public figures include them) and of today (they must not)."""
    aged([make_battle(["aurora-7b", "lumen-13b"], outcome=("a" if i % 3 else "b")) for i in range(30)], days=3)
    aged([make_battle(["aurora-7b", "quill-3"], outcome="a") for _ in range(12)], days=10)
    make_battle(["aurora-7b", "mumble-0"], outcome="a", anonymous=False)  # named: chosen, not sampled
    for _ in range(7):
        make_battle(["lumen-13b", "quill-3"], outcome="b")  # today


def read(client) -> tuple[str, bytes, bytes]:
    """What a visitor can read: the page's section and the JSON (with a random query string too).
    The cache is emptied first, so that equal reads come from the data, not from a cached copy."""
    cache.clear()
    page = client.get("/leaderboard/", {"modality": "text"}).content.decode()
    api = client.get("/api/exposure/", {"modality": "text"}).content
    cache.clear()
    odd = client.get("/api/exposure/", {"modality": "text", "nocache": secrets.token_hex(8)}).content
    return SECTION.search(page).group(0), api, odd


def test_figures_are_day_old_rounded_and_name_the_policy(demo, client, settings):
    settings.ARENA_MATCHMAKING = "active"
    Competitor.objects.filter(slug="mumble-0").update(active=False)
    Competitor.objects.filter(slug="pebble-1b").update(healthy=False)
    seed_history()
    res = client.get("/api/exposure/", {"modality": "text"})
    assert res.status_code == 200
    body = res.json()
    assert body["policy"] == "active" and "uncertain" in body["description"]
    assert body["parameters"] == {"floor": 0.25, "cap": 3.0, "boost": 0.5}
    assert body["as_of"] == cutoff().isoformat() and cutoff() <= timezone.now() - dt.timedelta(days=1)
    # today's 7 battles are not in it; 42 blind battles of days ago, rounded to tens
    assert body["battles"] == {"all_time": 40, "last_7_days": 30}
    m = {r["model"]: r for r in body["models"]}
    assert {k: v["all_time"]["battles"] for k, v in m.items()} == {
        "aurora-7b": 40, "lumen-13b": 30, "quill-3": 10, "pebble-1b": 0, "mumble-0": 0}
    assert {k: v["last_7_days"]["share"] for k, v in m.items()} == {
        "aurora-7b": 0.5, "lumen-13b": 0.5, "quill-3": 0.0, "pebble-1b": 0.0, "mumble-0": 0.0}
    # the chance to be in a pairwise battle: only active, healthy models, each at least the floor
    chance = {k: v["sampling_probability"] for k, v in m.items()}
    assert chance["mumble-0"] == chance["pebble-1b"] == 0
    assert sum(chance.values()) == pytest.approx(2.0, abs=0.03)
    assert min(chance[s] for s in ("aurora-7b", "lumen-13b", "quill-3")) >= 0.25 * 2 / 3
    assert all(round(v["sampling_probability"], 2) == v["sampling_probability"] for v in m.values())  # whole %

    page = client.get("/leaderboard/", {"modality": "text"}).content.decode()
    section = SECTION.search(page).group(0)
    assert "How models are sampled" in section and "/api/exposure/?modality=text" in section
    assert "uncertain" in section and "25% of battles are drawn uniformly" in section
    row = re.search(r'data-testid="exposure-row-aurora-7b".*?</tr>', section, re.S).group(0)
    assert re.search(r'data-testid="exposure-all">40<', row) and re.search(r'data-testid="exposure-recent">30<', row)
    assert re.search(r'data-testid="exposure-recent-share">50%<', row)
    assert client.get("/api/exposure/", {"modality": "smell"}).status_code == 400


def test_a_battle_created_between_two_reads_changes_nothing_a_voter_can_see(
        demo, voter_client, django_capture_on_commit_callbacks):
    seed_history()
    before = read(voter_client)
    for _ in range(3):  # blind battles started (and voted on) between the two reads
        state = voter_client.start(django_capture_on_commit_callbacks, prompt="Name three rivers.").json()
        with django_capture_on_commit_callbacks(execute=True):
            assert voter_client.vote(state["battle"], outcome="a").status_code in (200, 201)
    assert Battle.objects.filter(created__gte=timezone.now() - dt.timedelta(minutes=5), anonymous=True).count() >= 10
    after = read(voter_client)
    assert after == before
    assert before[1] == before[2]  # a random query string gets the same answer


def test_the_public_cache_keys_exposure_on_the_modality_alone():
    """The ASGI micro-cache serves one copy for ?modality=text whatever else the query says."""
    from config.microcache import MicroCache

    renders = []

    async def app(scope, receive, send):
        renders.append(scope["query_string"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    cached = MicroCache(app, rules=[("/api/exposure/", 60.0, ("modality",))])

    async def get(query: bytes) -> None:
        sent = []

        async def send(message):
            sent.append(message)

        async def receive():
            return {"type": "http.request"}

        await cached({"type": "http", "method": "GET", "path": "/api/exposure/", "query_string": query,
                      "headers": []}, receive, send)
        assert sent[0]["status"] == 200

    async def main():
        for q in (b"modality=text", b"modality=text&x=1", b"x=2&modality=text", b"modality=image&y=3"):
            await get(q)

    asyncio.run(main())
    assert renders == [b"modality=text", b"modality=image"]
