"""The public micro-cache is keyed on the query parameters its views read: a random query string
neither skips the cache (showing live data) nor makes memory grow; renders in progress are
shared and forgotten when done."""
from __future__ import annotations

import asyncio
import json

import pytest

from config.microcache import MicroCache

pytestmark = pytest.mark.asyncio


class App:
    """A downstream app that answers 200 with the query string it was asked, and counts renders."""

    def __init__(self, status: int = 200, delay: float = 0.0):
        self.renders, self.status, self.delay = 0, status, delay

    async def __call__(self, scope, receive, send):
        self.renders += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        body = json.dumps({"query": scope["query_string"].decode(), "render": self.renders}).encode()
        await send({"type": "http.response.start", "status": self.status, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


async def get(cache: MicroCache, path: str, query: str = "") -> dict:
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": path, "query_string": query.encode(), "headers": []}
    await cache(scope, receive, send)
    return {"status": sent[0]["status"], **json.loads(sent[1]["body"])}


RULES = [("/api/exposure/", 60.0, ("modality",)), ("/api/leaderboard/", 60.0, ("modality", "category", "method"))]


async def test_random_query_strings_are_served_from_the_same_copy():
    app = App()
    cache = MicroCache(app, RULES)
    first = await get(cache, "/api/exposure/", "modality=text")
    for i in range(200):
        again = await get(cache, "/api/exposure/", f"modality=text&nocache={i}&_={i * 7}")
        assert again == first  # not a fresh (live) render
    assert app.renders == 1
    assert len(cache.entries) == 1 and not cache.inflight


async def test_parameters_that_matter_are_keyed_in_a_fixed_order():
    app = App()
    cache = MicroCache(app, RULES)
    a = await get(cache, "/api/leaderboard/", "modality=image&method=elo")
    b = await get(cache, "/api/leaderboard/", "method=elo&x=1&modality=image")
    c = await get(cache, "/api/leaderboard/", "modality=text&method=elo")
    assert a == b and a["query"] == "modality=image&method=elo" and c["query"] == "modality=text&method=elo"
    assert app.renders == 2


async def test_memory_stays_bounded_under_distinct_query_strings():
    app = App()
    cache = MicroCache(app, RULES, max_entries=16)
    for i in range(3000):
        await get(cache, "/api/leaderboard/", f"modality=m{i}&junk={i}")
    assert len(cache.entries) <= 16 and len(cache.inflight) == 0
    sizes = [len(v) for v in vars(cache).values() if isinstance(v, dict)]
    assert sum(sizes) <= 16  # no per-query-string lock or other record kept forever


async def test_errors_are_not_cached_and_leave_nothing_behind():
    cache = MicroCache(App(status=400), RULES)
    for i in range(500):
        assert (await get(cache, "/api/exposure/", f"modality=bad{i}"))["status"] == 400
    assert not cache.entries and not cache.inflight
    assert sum(len(v) for v in vars(cache).values() if isinstance(v, dict)) == 0


async def test_concurrent_first_requests_share_one_render():
    app = App(delay=0.05)
    cache = MicroCache(app, RULES)
    results = await asyncio.gather(*[get(cache, "/api/exposure/", f"modality=text&r={i}") for i in range(30)])
    assert app.renders == 1 and len({r["render"] for r in results}) == 1
    assert not cache.inflight
