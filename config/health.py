"""Probes for a process supervisor or load balancer (JSON, never cached, no session).

- `/healthz`: the process is alive and answers (nothing else is touched).
- `/readyz`: it can serve: the database answers, and Redis and the Celery broker when configured.
  200 when all answer, 503 (naming what does not) otherwise.
"""
from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as c:
        c.execute("SELECT 1")
        c.fetchone()


def _redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()


def _broker(url: str) -> None:
    if url.startswith(("redis://", "rediss://")):
        return _redis(url)
    from kombu import Connection

    with Connection(url, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, tuple] = {"database": (_database,)}
    if settings.REDIS_URL:
        checks["redis"] = (_redis, settings.REDIS_URL)
    if not settings.ARENA_INPROCESS_TASKS and settings.CELERY_BROKER_URL != "memory://":
        checks["broker"] = (_broker, settings.CELERY_BROKER_URL)
    results: dict[str, str] = {}
    for name, (fn, *args) in checks.items():
        try:
            fn(*args)
            results[name] = "ok"
        except Exception as e:  # noqa: BLE001 - any failure means "not ready", named, without secrets
            results[name] = f"unavailable: {type(e).__name__}"
    ok = all(v == "ok" for v in results.values())
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": results}, status=200 if ok else 503)
