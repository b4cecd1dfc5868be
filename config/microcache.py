"""ASGI micro-cache for public read URLs (the leaderboard page and its JSON).

Under ASGI every Django middleware costs two thread hops per request, and sync views share one
thread per process, so 50 clients reading a leaderboard would queue behind each other. These
responses are the same for everyone and change only when a snapshot lands: the first request
for a URL renders it through Django (as an anonymous visitor: cookies are not passed on) and
the copy is served from memory, before Django, for `ttl` seconds; one request per URL renders
anew when it expires. A snapshot fetched by id never changes (long ttl), and the live page asks
for new snapshots by id, so it never shows a stale copy.

Each rule names the query parameters that matter for its URLs: the copy is keyed on those alone
(in a fixed order) and Django renders the request with only those, so a random query string
neither skips the cache (a fresh render would show live data) nor fills memory. A view that
reads a new parameter must add it to its rule (config/asgi.py). Memory is bounded: at most
`max_entries` copies (least recently used dropped first), and a render in progress is shared by
the requests that wait for it and forgotten when it is done.
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import parse_qs, urlencode

DROP_HEADERS = {b"set-cookie", b"vary", b"cache-control"}


class MicroCache:
    def __init__(self, app, rules: list[tuple[str, float, tuple[str, ...]]], max_entries: int = 1024):
        self.app = app
        self.rules = sorted(rules, key=lambda r: -len(r[0]))  # the longest prefix wins
        self.max_entries = max_entries
        self.entries: OrderedDict[bytes, tuple[float, int, list, bytes]] = OrderedDict()
        self.inflight: dict[bytes, asyncio.Future] = {}  # renders in progress, shared by their waiters

    def _rule(self, path: str) -> tuple[float, tuple[str, ...]] | None:
        for prefix, ttl, params in self.rules:
            if path.startswith(prefix):
                return ttl, params
        return None

    @staticmethod
    def _query(raw: bytes, params: tuple[str, ...]) -> bytes:
        """The query string reduced to the parameters that matter, in the rule's order (the
        first value of each, as Django's QueryDict.get reads it)."""
        got = parse_qs(raw.decode("latin-1"), keep_blank_values=True)
        return urlencode([(p, got[p][0]) for p in params if p in got]).encode("latin-1")

    async def __call__(self, scope, receive, send) -> None:
        rule = self._rule(scope.get("path", "")) if scope["type"] == "http" and scope.get("method") in ("GET", "HEAD") else None
        if rule is None:
            return await self.app(scope, receive, send)
        ttl, params = rule
        query = self._query(scope.get("query_string", b""), params)
        scope = dict(scope, query_string=query)
        key = scope["path"].encode() + b"?" + query
        hit = self.entries.get(key)
        if hit is None:
            hit = await self._render_once(key, scope, ttl)  # the first render: others wait for it
            if hit is None:  # not cacheable (an error, a redirect): render for this client
                return await self.app(scope, receive, send)
        else:
            self.entries.move_to_end(key)
            if hit[0] < time.monotonic() and key not in self.inflight:
                # Stale: serve the copy now and render a fresh one in the background (one at a time).
                asyncio.ensure_future(self._render_once(key, scope, ttl, refresh=True))
        _, status, headers, body = hit
        await send({"type": "http.response.start", "status": status,
                    "headers": headers + [(b"cache-control", f"public, max-age={int(ttl)}".encode())]})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _render_once(self, key: bytes, scope, ttl: float, *, refresh: bool = False):
        running = self.inflight.get(key)
        if running is not None:
            return await asyncio.shield(running)
        future = asyncio.get_running_loop().create_future()
        self.inflight[key] = future
        hit = None
        try:
            hit = await self._render(scope, ttl)
            if hit is not None:
                self.entries[key] = hit
                self.entries.move_to_end(key)
                while len(self.entries) > self.max_entries:
                    self.entries.popitem(last=False)
            elif refresh:
                self.entries.pop(key, None)  # gone or failing now: the next request renders itself
        finally:
            del self.inflight[key]
            future.set_result(hit)
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
