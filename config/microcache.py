"""ASGI micro-cache for public read URLs (the leaderboard page and its JSON).

Under ASGI every Django middleware costs two thread hops per request, and sync views share one
thread per process, so 50 clients reading a leaderboard would queue behind each other. These
responses are the same for everyone and change only when a snapshot lands: the first request
for a URL renders it through Django (as an anonymous visitor: cookies are not passed on) and
the copy is served from memory, before Django, for `ttl` seconds; one request per URL renders
anew when it expires. A snapshot fetched by id never changes (long ttl), and the live page asks
for new snapshots by id, so it never shows a stale copy.
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs, urlencode

DROP_HEADERS = {b"set-cookie", b"vary", b"cache-control"}


class MicroCache:
    def __init__(self, app, rules: list[tuple], max_entries: int = 1024):
        """rules: (path prefix, ttl) or (path prefix, ttl, query parameters that matter): with the
        third, the copy is keyed on those parameters only, so an unrelated or random query string
        is served the same copy instead of rendering anew."""
        self.app = app
        self.rules = sorted(rules, key=lambda r: -len(r[0]))  # the longest prefix wins
        self.max_entries = max_entries
        self.entries: OrderedDict[bytes, tuple[float, int, list, bytes]] = OrderedDict()
        self.locks: dict[bytes, asyncio.Lock] = {}

    def _rule(self, path: str) -> tuple | None:
        for rule in self.rules:
            if path.startswith(rule[0]):
                return rule
        return None

    async def __call__(self, scope, receive, send) -> None:
        rule = self._rule(scope.get("path", "")) if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") else None
        if rule is None:
            return await self.app(scope, receive, send)
        ttl = rule[1]
        query = scope.get("query_string", b"")
        if len(rule) > 2:  # only the parameters that matter, in a fixed order; the view sees just those
            params = parse_qs(query.decode("latin-1"), keep_blank_values=True)
            query = urlencode([(name, params[name][0]) for name in rule[2] if name in params]).encode()
            scope = dict(scope, query_string=query)
        key = scope["path"].encode() + b"?" + query
        hit = self.entries.get(key)
        if hit is None:
            async with self.locks.setdefault(key, asyncio.Lock()):  # the first render: others wait for it
                hit = self.entries.get(key)
                if hit is None:
                    hit = await self._store(key, scope, ttl)
                    if hit is None:  # not cacheable (an error, a redirect): render for this client
                        return await self.app(scope, receive, send)
        elif hit[0] < time.monotonic() and not self.locks.setdefault(key, asyncio.Lock()).locked():
            # Stale: serve the copy now and render a fresh one in the background (one at a time).
            asyncio.ensure_future(self._refresh(key, scope, ttl))
        _, status, headers, body = hit
        await send({"type": "http.response.start", "status": status,
                    "headers": headers + [(b"cache-control", f"public, max-age={int(ttl)}".encode())]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _refresh(self, key: bytes, scope, ttl: float) -> None:
        lock = self.locks[key]
        if lock.locked():
            return
        async with lock:
            if await self._store(key, scope, ttl) is None:
                self.entries.pop(key, None)  # gone or failing now: the next request renders itself

    async def _store(self, key: bytes, scope, ttl: float):
        hit = await self._render(scope, ttl)
        if hit is not None:
            self.entries[key] = hit
            self.entries.move_to_end(key)
            while len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
        return hit

    async def _render(self, scope, ttl: float) -> tuple[float, int, list, bytes] | None:
        anon = dict(scope, headers=[(k, v) for k, v in scope.get("headers", []) if k.lower() != b"cookie"], method="GET")
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        sent_body = False

        async def no_body():
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # no disconnect: Django cancels this when it is done

        await self.app(anon, no_body, capture)
        if start.get("status") != 200:
            return None
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in DROP_HEADERS]
        return time.monotonic() + ttl, 200, headers, b"".join(chunks)
