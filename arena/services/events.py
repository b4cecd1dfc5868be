"""Push events to a battle's WebSocket group, from a view, a Celery worker or an in-process thread.

Events go through one ordered publisher per process: a generation thread hands a chunk over and
goes on (no event loop spun up per token), and the publisher writes the output's running text
(arena.services.partials) *before* sending the chunk, so a browser that (re)connects and reads
the running text misses nothing (see arena.consumers). Events caused by a database change are
published only after the transaction commits (publish_on_commit).

Cost per event is what limits how many streams a machine carries, so with Redis the publisher
writes the running texts and publishes the events of a batch in ONE pipelined round trip
(SET ... PUBLISH ..., executed in that order), straight onto the pub/sub channel layer's group
channel; and after the first chunk of an output, chunks are sent at most every
ARENA_STREAM_INTERVAL_MS (consecutive chunks merged), while a first chunk or any other event
goes out at once.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections import deque
from typing import Any

from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import channel_layers, get_channel_layer
from django.conf import settings
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


def _urgent(item: tuple) -> bool:
    """A first chunk, a non-chunk event or a flush is sent at once; later chunks may wait."""
    kind = item[0]
    if kind == "chunk":
        return item[4].get("offset") == 0
    return True


def _merge_events(batch: list[tuple]) -> tuple[dict[str, str], list[tuple[str, dict[str, Any]]]]:
    """The newest running text per key, and the batch's events in order with consecutive
    chunks of one output (same group, slot, turn, contiguous offsets) merged into one."""
    partials: dict[str, str] = {}
    events: list[tuple[str, dict[str, Any]]] = []
    last_chunk: dict[str, int] = {}  # group -> index in events of its latest event if a chunk
    for item in batch:
        kind = item[0]
        if kind == "flush":
            continue
        if kind == "chunk":
            _, key, value, group, ev = item[:5]
            partials[key] = value
        else:
            _, group, ev = item[:3]
        i = last_chunk.get(group)
        last = events[i][1] if i is not None else None
        if (
            last is not None and ev.get("type") == "chunk"
            and (last["slot"], last["turn"]) == (ev["slot"], ev["turn"])
            and last["offset"] + len(last["text"]) == ev["offset"]
        ):
            events[i] = (group, {**last, "text": last["text"] + ev["text"]})
            continue
        events.append((group, ev))
        if ev.get("type") == "chunk":
            last_chunk[group] = len(events) - 1
        else:
            last_chunk.pop(group, None)  # never merge a chunk across another event of the group
    return partials, events


class _LayerSender:
    """Any channel layer (the in-memory one of the embedded default, a Redis layer of another
    kind): running texts through arena.services.partials, then events by group_send, in order
    per group."""

    def __init__(self, layer) -> None:
        self.layer = layer

    async def send(self, partials: dict[str, str], events: list[tuple[str, dict[str, Any]]]) -> None:
        from arena.services import partials as P

        if partials:
            P.write_many(partials)  # blocking on purpose: this is the publisher's own loop
        if self.layer is None:
            return
        per_group: dict[str, list[dict[str, Any]]] = {}
        for group, ev in events:
            per_group.setdefault(group, []).append(ev)

        async def send_all(group: str, evs: list[dict[str, Any]]) -> None:
            for ev in evs:
                await self.layer.group_send(group, {"type": "arena.event", "event": ev})

        await asyncio.gather(*(send_all(g, evs) for g, evs in per_group.items()))


class _PubSubSender:
    """Redis pub/sub channel layer: SET every running text, then PUBLISH every event on its
    group's channel, pipelined (one round trip; Redis runs them in order on one connection)."""

    def __init__(self, layer) -> None:
        import redis.asyncio as aioredis

        from arena.services import partials as P

        self.layer = layer
        self.ttl = P.ttl_s()
        self.redis = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=10)

    @staticmethod
    def fits(layer) -> bool:
        try:
            from channels_redis.pubsub import RedisPubSubChannelLayer
        except ImportError:  # pragma: no cover
            return False
        return (
            bool(settings.REDIS_URL) and isinstance(layer, RedisPubSubChannelLayer)
            and len(layer._kwargs.get("hosts") or [None]) == 1  # one shard: every group on this Redis
        )

    async def send(self, partials: dict[str, str], events: list[tuple[str, dict[str, Any]]]) -> None:
        loop_layer = self.layer._get_layer()  # the layer's own naming of a group's channel
        pipe = self.redis.pipeline(transaction=False)
        for key, value in partials.items():
            pipe.set(key, value, ex=self.ttl)
        for group, ev in events:
            pipe.publish(loop_layer._get_group_channel_name(group),
                         self.layer.serialize({"type": "arena.event", "event": ev}))
        await pipe.execute()


class _Publisher:
    """One per process. Producers (generation threads) append to a deque and wake the loop only
    when it is idle, or when it is waiting out the stream interval and the item is urgent: a
    token that will go out with the next paced batch anyway costs no wake-up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # starting the loop
        self._items_lock = threading.Lock()
        self._items: deque[tuple] = deque()
        self._idle = False  # the loop waits for any item
        self._pacing = False  # the loop waits out the interval; only an urgent item wakes it
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._pid = os.getpid()

    def _start(self) -> None:
        if self._pid != os.getpid():  # a forked child (Celery prefork): the parent's loop thread is not here
            self.__init__()  # type: ignore[misc]
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
                self._wake = asyncio.Event()
                sender = _PubSubSender(layer) if _PubSubSender.fits(layer) else _LayerSender(layer)
                ready.set()
                await self._drain(sender)

            asyncio.run_coroutine_threadsafe(boot(), loop)
            ready.wait(5)
            self._loop = loop

    def _take(self) -> list[tuple]:
        """Everything handed over so far (call with _items_lock held)."""
        items = list(self._items)
        self._items.clear()
        return items

    async def _drain(self, sender) -> None:
        """Send in batches: whatever queued up while the last batch was out goes together, so
        the cost per token does not grow with tokens per second (many streams at once). A batch
        of later chunks only waits for the stream interval to pass since the last send."""
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        last_sent = -1e9
        while True:
            self._wake.clear()
            with self._items_lock:
                batch = self._take()
                self._idle = not batch
            if not batch:
                await self._wake.wait()
                continue
            wait = last_sent + settings.ARENA_STREAM_INTERVAL_MS / 1000.0 - loop.time()
            if wait > 0 and not any(_urgent(item) for item in batch):
                self._wake.clear()
                with self._items_lock:
                    batch += self._take()
                    pacing = self._pacing = not any(_urgent(item) for item in batch)
                if pacing:  # a producer that wakes us sets the event, so this returns at once
                    try:
                        await asyncio.wait_for(self._wake.wait(), wait)
                    except asyncio.TimeoutError:
                        pass
                    with self._items_lock:
                        self._pacing = False
                        batch += self._take()
            try:
                partials, events = _merge_events(batch)
                if partials or events:
                    await sender.send(partials, events)
            except Exception:  # a lost event is recovered by the browser's resync; never stop the loop
                log.exception("publisher: a batch of %d failed", len(batch))
            last_sent = loop.time()
            for item in batch:
                if item[0] == "flush":
                    item[1].set()

    def put(self, *items: tuple) -> None:
        """Hand items over (in order); wakes the publisher's loop only when it must."""
        self._start()
        assert self._loop is not None and self._wake is not None
        urgent = any(_urgent(item) for item in items)
        with self._items_lock:
            self._items.extend(items)
            wake = self._idle or (self._pacing and urgent)
            if wake:
                self._idle = self._pacing = False
        if wake:
            self._loop.call_soon_threadsafe(self._wake.set)

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


def publish_chunk(key: str, text_so_far: str, group: str, event: dict[str, Any]) -> None:
    """Store an output's running text under `key` (arena.services.partials), then send the
    chunk event, in that order (see the module docstring)."""
    _publisher.put(("chunk", key, text_so_far, group, event))


def flush(timeout: float = 5.0) -> bool:
    return _publisher.flush(timeout)


def publish_on_commit(group: str, event: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish(group, event))
