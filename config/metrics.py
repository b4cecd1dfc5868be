"""Prometheus metrics (prometheus-client), gathered from every process of the machine.

The web server runs several processes and the Celery workers more, so the metrics live in
prometheus-client's multiprocess mode: each process writes its counters to files under
PROMETHEUS_MULTIPROC_DIR (config/settings.py sets it from ARENA_METRICS_DIR before this module
is imported; scripts/run.sh empties it at start), and `/metrics` adds them up. The queue depth
is read from the broker when scraped.

`/metrics` is not public: per-model generation counts that change when a battle is created would
tell a voter which models they got. It answers a request with `Authorization: Bearer
$ARENA_METRICS_TOKEN`, or a staff user; everyone else gets a 404.
"""
from __future__ import annotations

import hmac
import logging

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

REQUESTS = Counter("arena_http_requests", "HTTP requests answered", ["method", "route", "status"])
REQUEST_SECONDS = Histogram("arena_http_request_seconds", "Time to answer an HTTP request", ["method", "route"],
                            buckets=LATENCY_BUCKETS)
BATTLES = Counter("arena_battles_created", "Battles created", ["modality", "mode"])
VOTES = Counter("arena_votes", "Votes stored", ["modality", "mode", "counted"])
GENERATION_SECONDS = Histogram("arena_generation_seconds", "Time a model took to produce an output", ["model"],
                               buckets=LATENCY_BUCKETS)
GENERATION_FAILURES = Counter("arena_generation_failures", "Generations that failed", ["model"])
RECOMPUTE_SECONDS = Histogram("arena_recompute_seconds", "Time of one leaderboard recompute", ["method"],
                              buckets=LATENCY_BUCKETS)


def safely(fn) -> None:
    """Metrics never break what they measure."""
    try:
        fn()
    except Exception:  # pragma: no cover - a full disk, a broken metrics dir
        log.warning("metrics update failed", exc_info=True)


class QueueDepth:
    """Tasks waiting per queue, read from the broker at scrape time (Redis lists; the web
    process's own thread pool on the embedded default)."""

    def collect(self):
        g = GaugeMetricFamily("arena_queue_depth", "Tasks waiting in a queue", labels=["queue"])
        if settings.ARENA_INPROCESS_TASKS:
            from arena.services import generation

            pool = generation._pool
            g.add_metric(["inprocess"], pool._work_queue.qsize() if pool is not None else 0)
        elif settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
            import redis

            client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
            try:
                for queue in ("default", "api", "gpu"):
                    g.add_metric([queue], client.llen(queue))
            finally:
                client.close()
        yield g


def metrics_view(request: HttpRequest) -> HttpResponse:
    token = settings.ARENA_METRICS_TOKEN
    auth = request.headers.get("Authorization", "")
    allowed = bool(token) and hmac.compare_digest(auth.encode(), f"Bearer {token}".encode())
    if not allowed:
        user = getattr(request, "user", None)
        allowed = bool(user is not None and user.is_authenticated and user.is_staff)
    if not allowed:
        raise Http404("Not found.")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(QueueDepth())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
