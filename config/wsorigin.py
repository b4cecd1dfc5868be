"""WebSocket origin check that compares the port too.

Channels' AllowedHostsOriginValidator accepts any Origin whose host name is in ALLOWED_HOSTS,
whatever its port: a page served by another program on the same host (http://127.0.0.1:9999, a
dev server, a compromised local service) could open a voter's battle socket with the voter's
cookies. Here the Origin must be the very site the socket was asked of: its host in
ALLOWED_HOSTS and its port equal to the port of the request's Host header (ports left out mean
the scheme's default), or the Origin is listed exactly in CSRF_TRUSTED_ORIGINS (a site behind
a proxy that rewrites Host). A request without a Host header (no browser sends one) gets
Channels' host check alone.
"""
from __future__ import annotations

from urllib.parse import urlparse

from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from django.conf import settings

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _port(parsed) -> int | None:
    try:
        return parsed.port or DEFAULT_PORTS.get(parsed.scheme)
    except ValueError:  # a port that is not a number
        return None


def origin_allowed(origin: str | None, host: str | None) -> bool:
    if not origin:
        return False
    o = urlparse(origin.lower())
    if o.scheme not in ("http", "https") or not o.hostname:
        return False
    trusted = {t.lower().rstrip("/") for t in settings.CSRF_TRUSTED_ORIGINS}
    if f"{o.scheme}://{o.netloc}" in trusted:
        return True
    if host is None:
        return True  # no Host header to compare with: the ALLOWED_HOSTS check decides
    h = urlparse(f"{o.scheme}://{host.lower()}")
    return h.hostname == o.hostname and _port(h) is not None and _port(h) == _port(o)


class SameOriginValidator:
    def __init__(self, application):
        self.application = application
        self.hosts = AllowedHostsOriginValidator(application)

    async def __call__(self, scope, receive, send):
        headers = dict(scope.get("headers", []))
        origin, host = headers.get(b"origin"), headers.get(b"host")
        if not origin_allowed(origin.decode("latin-1") if origin else None, host.decode("latin-1") if host else None):
            return await WebsocketDenier()(scope, receive, send)
        return await self.hosts(scope, receive, send)
