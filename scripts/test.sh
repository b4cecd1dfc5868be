#!/usr/bin/env bash
# Run the whole suite on real Postgres and Redis (defaults: the local ones, trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/arena}
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/9}
# With services and DEBUG off (the default) the settings refuse to start without these secrets;
# the test processes (and the uvicorn / Celery processes the e2e tests start) share test-only ones.
export SECRET_KEY=${TEST_SECRET_KEY:-test-only-secret-key-not-for-production-0123456789abcdefghij}
# Metrics files of this run's processes (prometheus-client multiprocess mode), not var/metrics.
export ARENA_METRICS_DIR=${ARENA_METRICS_DIR:-$(mktemp -d -t arena-test-metrics-XXXXXX)}
export ARENA_IP_SALT=${TEST_ARENA_IP_SALT:-test-only-ip-salt-not-for-production}
export CHROMIUM_PATH=${CHROMIUM_PATH:-$(command -v chromium || command -v chromium-browser || true)}
exec .venv/bin/python -m pytest "$@"
