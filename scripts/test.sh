#!/usr/bin/env bash
# Run the whole suite on real Postgres and Redis (defaults: the local ones, trust auth).
set -euo pipefail
cd "$(dirname "$0")/.."
export DATABASE_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/arena}
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/9}
export CHROMIUM_PATH=${CHROMIUM_PATH:-$(command -v chromium || command -v chromium-browser || true)}
exec .venv/bin/python -m pytest "$@"
