"""The Redis cache with one client (and connection pool) per process.

Django makes a cache object per request context (under ASGI each request has its own), and
Django's RedisCache builds its client and connection pool per object: every request then opened
a new Redis connection (connect, HELLO, CLIENT SETINFO, reading the package's metadata for the
version) to read its session, the largest cost of a vote after the database. Here the objects
of one configuration share a client; redis-py's pool is thread-safe and reset after a fork."""
from __future__ import annotations

import threading

from django.core.cache.backends.redis import RedisCache
from django.utils.functional import cached_property

_clients: dict[tuple, object] = {}
_lock = threading.Lock()


class SharedRedisCache(RedisCache):
    @cached_property
    def _cache(self):
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        client = _clients.get(key)
        if client is None:
            with _lock:
                client = _clients.setdefault(key, self._class(self._servers, **self._options))
        return client
