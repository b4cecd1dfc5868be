"""HTTP + WebSocket entry point (daphne / uvicorn: config.asgi:application)."""
from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django runs each ASGI request's sync code in a thread of its own, so a persistent connection
# per thread (CONN_MAX_AGE) leaks one Postgres connection per request until it is collected: a
# burst of battles exhausted max_connections and generation tasks failed. The web process
# therefore takes connections from a pool instead (see DB_POOL in config/settings.py).
_set_pool = "DB_POOL" not in os.environ
if _set_pool:
    os.environ["DB_POOL"] = "1"
django_asgi_app = get_asgi_application()
if _set_pool:  # settings are read; processes this one starts (tests start workers) decide for themselves
    del os.environ["DB_POOL"]

from channels.sessions import SessionMiddlewareStack  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from arena.routing import websocket_urlpatterns as arena_ws  # noqa: E402
from arena.services.events import remember_server_loop  # noqa: E402
from arena.services.prompts import detect_language  # noqa: E402
from config.microcache import MicroCache  # noqa: E402
from config.wsorigin import SameOriginValidator  # noqa: E402
from ratings.routing import websocket_urlpatterns as ratings_ws  # noqa: E402

detect_language("Load the language model now, not in the first voter's request.")

application = remember_server_loop(
    ProtocolTypeRouter(
        {
            # Public leaderboard reads are served from memory before Django (config/microcache.py);
            # static files without a sync middleware in the way.
            "http": MicroCache(
                ASGIStaticFilesHandler(django_asgi_app) if settings.SERVE_STATIC else django_asgi_app,
                # (prefix, seconds, the query parameters its views read: the cache key)
                rules=[
                    ("/api/leaderboard/snapshots/", 3600.0, ()),  # immutable
                    ("/api/leaderboard/history/", settings.PUBLIC_CACHE_S, ("modality", "category", "method")),
                    ("/api/leaderboard/", settings.PUBLIC_CACHE_S, ("modality", "category", "method", "live", "plots")),
                    ("/leaderboard/", settings.PUBLIC_CACHE_S, ("modality", "category", "method")),
                    ("/api/exposure/", 5 * settings.PUBLIC_CACHE_S, ("modality",)),
                ],
            ),
            # Same origin, port included (config/wsorigin.py). Sessions, not auth: no socket needs the user, and the battle socket loads its session
            # in the same thread hop as the battle (arena.consumers).
            "websocket": SameOriginValidator(SessionMiddlewareStack(URLRouter(arena_ws + ratings_ws))),
        }
    )
)
