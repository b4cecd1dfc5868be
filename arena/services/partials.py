"""The text an output has streamed so far, while it streams.

The database gets an output's text once, when it is finished; meanwhile each chunk's running
total is kept here so that a browser that connects (or reconnects) mid-stream is sent what it
missed (see arena.consumers and arena.services.events). With Redis configured the totals are
plain Redis strings, written by the event publisher in the same round trip as the chunk event
(arena.services.events) and read here; on the embedded default they live in Django's
local-memory cache of the one web process.
"""
from __future__ import annotations

import os
import threading

from django.conf import settings
from django.core.cache import cache

_clients: dict[int, object] = {}
_lock = threading.Lock()


def partial_key(battle_public_id: str, generation_id: int) -> str:
    # The battle's random id makes the key unique even when several databases share one Redis.
    return f"arena:partial:{battle_public_id}:{generation_id}"


def ttl_s() -> int:
    return settings.ARENA_GENERATION_TIMEOUT_S * 4


def uses_redis() -> bool:
    return bool(settings.REDIS_URL)


def _redis():
    """One client (and connection pool) per process; a forked child builds its own."""
    client = _clients.get(os.getpid())
    if client is None:
        import redis

        with _lock:
            client = _clients.get(os.getpid())
            if client is None:
                client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
                _clients[os.getpid()] = client
    return client


def read(key: str) -> str:
    if uses_redis():
        raw = _redis().get(key)  # type: ignore[attr-defined]
        return raw.decode("utf-8") if raw else ""
    return cache.get(key) or ""


def write_many(values: dict[str, str]) -> None:
    """Store running texts (blocking). The Redis pub/sub publisher does not come here: it writes
    them in the same pipeline as its events (arena.services.events)."""
    if uses_redis():
        pipe = _redis().pipeline(transaction=False)  # type: ignore[attr-defined]
        for key, value in values.items():
            pipe.set(key, value, ex=ttl_s())
        pipe.execute()
    else:
        cache.set_many(values, timeout=ttl_s())
