"""HTTP + WebSocket entry point (daphne / uvicorn: config.asgi:application)."""
from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from arena.routing import websocket_urlpatterns as arena_ws  # noqa: E402
from arena.services.events import remember_server_loop  # noqa: E402
from config.microcache import MicroCache  # noqa: E402
from ratings.routing import websocket_urlpatterns as ratings_ws  # noqa: E402

application = remember_server_loop(
    ProtocolTypeRouter(
        {
            # Public leaderboard reads are served from memory before Django (config/microcache.py);
            # static files without a sync middleware in the way.
            "http": MicroCache(
                ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app,
                rules=[
                    ("/api/leaderboard/snapshots/", 3600.0),  # immutable
                    ("/api/leaderboard/", settings.PUBLIC_CACHE_S),
                    ("/leaderboard/", settings.PUBLIC_CACHE_S),
                    ("/api/exposure/", 5 * settings.PUBLIC_CACHE_S),
                ],
            ),
            "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(arena_ws + ratings_ws))),
        }
    )
)
