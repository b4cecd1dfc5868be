"""Push events to a battle's WebSocket group, from a view, a Celery worker or an in-process thread.

Events go through one ordered publisher per process: a generation thread hands a chunk over and
goes on (no event loop spun up per token), and the publisher writes the partial text to the
cache *before* sending the chunk, so a browser that (re)connects and reads the partial text
misses nothing (see arena.consumers). Events caused by a database change are published only
after the transaction commits (publish_on_commit).
"""
from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers, get_channel_layer
from django.core.cache import cache
from django.db import transaction

log = logging.getLogger(__name__)

_server_loop: asyncio.AbstractEventLoop | None = None


def remember_server_loop(app):
    """ASGI wrapper that notes the server's event loop. The in-memory channel layer (embedded
    mode) lives on that loop, so the publisher must run there too."""

    async def wrapper(scope, receive, send):
        global _server_loop
        _server_loop = asyncio.get_running_loop()
        return await app(scope, receive, send)

    return wrapper


def battle_group(public_id: str) -> str:
    return f"battle.{public_id}"


class _Publisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None

    def _start(self) -> None:
        with self._lock:
            if self._loop is not None and not self._loop.is_closed():
                return
            ready = threading.Event()
            if _server_loop is not None and _server_loop.is_running():
                loop = _server_loop  # embedded: the in-memory layer is only reachable from here
                layer = get_channel_layer()  # ...and it must be the server's own instance
            else:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="arena-publisher", daemon=True).start()
                # A layer of our own: a Redis layer's locks belong to the loop that first used them.
                layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)

            async def boot() -> None:
                self._queue = asyncio.Queue()
                ready.set()
                await self._drain(layer)

            asyncio.run_coroutine_threadsafe(boot(), loop)
            ready.wait(5)
            self._loop = loop

    async def _drain(self, layer) -> None:
        """Send in batches: whatever queued up while the last batch was out goes together, so
        the cost per token does not grow with tokens per second (many streams at once)."""
        assert self._queue is not None
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._send_batch(layer, batch)
            except Exception:  # a lost event is recovered by the browser's resync; never stop the loop
                log.exception("publisher: a batch of %d failed", len(batch))
            for kind, *args in batch:
                if kind == "flush":
                    args[0].set()

    @staticmethod
    async def _send_batch(layer, batch: list[tuple]) -> None:
        # 1. Partial texts: only the newest value of each key, in one round trip, and before any
        #    chunk of this batch goes out (see the module docstring).
        latest: dict[tuple[int, str], Any] = {}
        for kind, *args in batch:
            if kind == "cache":
                latest[(args[2], args[0])] = args[1]
        by_ttl: dict[int, dict[str, Any]] = {}
        for (ttl, key), value in latest.items():
            by_ttl.setdefault(ttl, {})[key] = value
        for ttl, values in by_ttl.items():
            # Blocking on purpose: this loop is the publisher's own (or, embedded, a local-memory
            # cache); Django's aset_many would add a thread hop per batch.
            cache.set_many(values, timeout=ttl)
        if layer is None:
            return
        # 2. Events, in order within each group; consecutive chunks of one output become one.
        per_group: dict[str, list[dict[str, Any]]] = {}
        for kind, *args in batch:
            if kind != "send":
                continue
            events = per_group.setdefault(args[0], [])
            ev = args[1]
            last = events[-1] if events else None
            if (
                last is not None and ev.get("type") == "chunk" and last.get("type") == "chunk"
                and (last["slot"], last["turn"]) == (ev["slot"], ev["turn"])
                and last["offset"] + len(last["text"]) == ev["offset"]
            ):
                events[-1] = {**last, "text": last["text"] + ev["text"]}
            else:
                events.append(ev)

        async def send_all(group: str, events: list[dict[str, Any]]) -> None:
            for ev in events:
                await layer.group_send(group, {"type": "arena.event", "event": ev})

        await asyncio.gather(*(send_all(g, evs) for g, evs in per_group.items()))

    def put(self, *items: tuple) -> None:
        """Hand items over in one wake-up of the publisher's loop."""
        self._start()
        assert self._loop is not None and self._queue is not None
        self._loop.call_soon_threadsafe(self._put_all, items)

    def _put_all(self, items: tuple) -> None:
        assert self._queue is not None
        for item in items:
            self._queue.put_nowait(item)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything handed over so far has been sent."""
        if self._loop is None:
            return True
        done = threading.Event()
        self.put(("flush", done))
        try:
            if asyncio.get_running_loop() is self._loop:
                return False  # cannot wait on our own loop; the events go out in order anyway
        except RuntimeError:
            pass
        return done.wait(timeout)


_publisher = _Publisher()


def publish(group: str, event: dict[str, Any]) -> None:
    """Hand an event over for sending (in order); returns at once."""
    _publisher.put(("send", group, event))


def cache_then_publish(key: str, value: str, timeout: int, group: str, event: dict[str, Any]) -> None:
    """Write the cache entry, then send the event, in that order (see module docstring)."""
    _publisher.put(("cache", key, value, timeout), ("send", group, event))


def flush(timeout: float = 5.0) -> bool:
    return _publisher.flush(timeout)


def publish_on_commit(group: str, event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish(group, event))
