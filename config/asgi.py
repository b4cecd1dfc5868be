"""HTTP + WebSocket entry point (daphne / uvicorn: config.asgi:application)."""
from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from arena.routing import websocket_urlpatterns as arena_ws  # noqa: E402
from arena.services.events import remember_server_loop  # noqa: E402
from ratings.routing import websocket_urlpatterns as ratings_ws  # noqa: E402

application = remember_server_loop(
    ProtocolTypeRouter(
        {
            "http": django_asgi_app,
            "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(arena_ws + ratings_ws))),
        }
    )
)
