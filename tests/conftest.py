"""Shared fixtures. Tests run on real Postgres and Redis (scripts/test.sh sets DATABASE_URL and
REDIS_URL). In-process tests run Celery tasks eagerly inside the test's transaction; the
browser and worker tests start real daphne and Celery processes (tests/e2e/conftest.py)."""
from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import Client

from config.celery import app as celery_app

celery_app.conf.task_always_eager = True
celery_app.conf.task_eager_propagates = True


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # In-process tests run inside one uncommitted transaction on the test thread's connection:
    # a vote in a pool thread would not see it (the e2e tests cover the pool threads).
    settings.ARENA_PARALLEL_VOTES = False


@pytest.fixture(autouse=True)
def _quick_ratings_and_clean_cache(settings):
    """Leaderboard fits that votes trigger run inline here: keep them small. The cache (Redis)
    holds recompute locks and partial outputs: start each test without them."""
    from django.core.cache import cache

    settings.RATINGS_BOOTSTRAP_ROUNDS = 50
    settings.RATINGS_ELO_ROUNDS = 10
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_matchmaking_state():
    """The matchmaking state a process keeps per modality is built from the database: each test
    has a database of its own, so each starts without it."""
    from arena.services import matchmaking

    matchmaking.reset()
    yield
    matchmaking.reset()


@pytest.fixture(autouse=True)
def _anti_automation_off(settings):
    """Most tests play many battles at machine speed: rate limits, the proof-of-work challenge
    and the minimum dwell are off here, as for benchmarks. tests/arena/test_ratelimits.py,
    test_pow.py and test_dwell.py turn them on."""
    settings.ARENA_RATE_LIMITS = "off"
    settings.ARENA_MIN_DWELL_MS = 0


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """Each async test has its own event loop; a Redis channel layer must not outlive its loop."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def demo(db):
    """The demo roster and prompt sets, with streaming delays off so tests are quick."""
    from arena.models import Competitor

    call_command("arena_seed_demo", stdout=open("/dev/null", "w"))
    for c in Competitor.objects.all():
        c.adapter_config = {**c.adapter_config, "token_delay_ms": 0, "render_delay_ms": 0}
        c.save(update_fields=["adapter_config"])
    return Competitor.objects.all()


class ArenaClient(Client):
    """A browser-like client for the JSON API; each instance is one voter (one session)."""

    def post_json(self, url: str, data: object, **extra):
        return self.post(url, json.dumps(data), content_type="application/json", **extra)

    def start(self, django_capture_on_commit_callbacks, **body):
        body.setdefault("prompt", "Explain how photosynthesis works.")
        body.setdefault("modality", "text")
        with django_capture_on_commit_callbacks(execute=True):
            res = self.post_json("/api/battles/", body)
        return res

    def vote(self, battle_id: str, **body):
        meta = {k: body.pop(k) for k in list(body) if k.isupper()}  # REMOTE_ADDR etc. go to the request
        return self.post_json(f"/api/battles/{battle_id}/vote/", body, **meta)


@pytest.fixture
def voter_client() -> ArenaClient:
    return ArenaClient()


@pytest.fixture
def other_client() -> ArenaClient:
    return ArenaClient()


@pytest.fixture
async def close_db_after():
    """Async tests touch the database from asgiref's sync thread; close that thread's connection
    afterwards so the test database can be dropped."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    await sync_to_async(connections.close_all)()
