#!/usr/bin/env bash
# Start the arena and what must run beside it; Ctrl-C stops them all.
# Embedded (no DATABASE_URL / REDIS_URL): one process; generation runs in its thread pool.
# With REDIS_URL (and usually DATABASE_URL): Celery workers for the default+api queues and the
# gpu queue, and beat, beside the web server.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin
PORT=${PORT:-8000}
HOST=${HOST:-127.0.0.1}
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# Metrics of the processes started below only (prometheus-client multiprocess files, config/metrics.py).
METRICS_DIR=${ARENA_METRICS_DIR:-${ARENA_VAR_DIR:-var}/metrics}
rm -rf "$METRICS_DIR" && mkdir -p "$METRICS_DIR"

if [[ -n "${REDIS_URL:-}${CELERY_BROKER_URL:-}" && "${ARENA_INPROCESS_TASKS:-false}" != "true" ]]; then
  echo "services: DATABASE_URL=${DATABASE_URL:-(sqlite)} REDIS_URL=${REDIS_URL:-} — starting Celery workers and beat"
  $PY/celery -A config worker -Q default,api -n "default@%h" --loglevel=INFO --concurrency="${WORKER_CONCURRENCY:-4}" & pids+=($!)
  $PY/celery -A config worker -Q gpu -n "gpu@%h" --pool=solo --loglevel=INFO & pids+=($!)
  $PY/celery -A config beat --loglevel=INFO --schedule="${CELERY_BEAT_SCHEDULE_FILE:-var/celerybeat-schedule}" & pids+=($!)
else
  echo "embedded default: SQLite, in-memory channel layer, generation in-process (set DATABASE_URL and REDIS_URL for services)"
fi
mkdir -p var
echo
echo "  Arena is running at http://$HOST:$PORT/   (admin: http://$HOST:$PORT/admin/ — create a user with: .venv/bin/python manage.py createsuperuser)"
echo
# uvicorn serves HTTP and WebSockets. Embedded: one process (the in-memory channel layer and the
# generation threads live in it); with Redis: WEB_WORKERS processes share the Redis layer.
workers=1
[[ -n "${REDIS_URL:-}" ]] && workers=${WEB_WORKERS:-2}
# No per-message deflate: battle frames are small JSON, and compressing each one cost more CPU
# (both ends) than it saved (bench/ttft_bench.py).
# --no-proxy-headers: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1; the client
# address is the socket's unless ARENA_TRUST_X_FORWARDED_FOR and ARENA_TRUSTED_PROXIES say so
# (arena.services.voters.client_address).
$PY/uvicorn config.asgi:application --host "$HOST" --port "$PORT" --workers "$workers" --no-access-log \
  --ws-per-message-deflate false --no-proxy-headers & pids+=($!)
wait -n "${pids[@]}"
