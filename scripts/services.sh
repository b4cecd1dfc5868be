#!/usr/bin/env bash
# Make sure Postgres and Redis answer on their usual local ports; start them if they are
# installed but stopped; say clearly what is missing otherwise.
set -uo pipefail
PGHOST=${PGHOST:-127.0.0.1}; PGPORT=${PGPORT:-5432}; REDIS_PORT=${REDIS_PORT:-6379}

up() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_up() { for _ in $(seq 1 30); do up "$1" "$2" && return 0; sleep 1; done; return 1; }

if ! up "$PGHOST" "$PGPORT"; then
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
    echo "starting PostgreSQL..."
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  wait_up "$PGHOST" "$PGPORT" || { echo "ERROR: PostgreSQL is not running on $PGHOST:$PGPORT and could not be started. Install it (apt-get install postgresql) or set DATABASE_URL." >&2; exit 1; }
fi
if ! up 127.0.0.1 "$REDIS_PORT"; then
  if command -v redis-server >/dev/null; then
    echo "starting Redis..."
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir /tmp || true
  fi
  wait_up 127.0.0.1 "$REDIS_PORT" || { echo "ERROR: Redis is not running on 127.0.0.1:$REDIS_PORT and could not be started. Install it (apt-get install redis-server) or set REDIS_URL." >&2; exit 1; }
fi
echo "services: PostgreSQL $PGHOST:$PGPORT and Redis 127.0.0.1:$REDIS_PORT are up"
