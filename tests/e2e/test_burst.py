"""Many voters at once against the real stack (uvicorn with its connection pool + a Celery
worker): every battle is created, streamed and finished, and the web server's database
connections stay bounded (under ASGI each request runs in a thread of its own; connections
kept per thread used to pile up until Postgres refused new ones)."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from .helpers import Http, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VOTERS = 24
POOL = 3  # per web process; the stack runs two


def _own_local_ports() -> set[int]:
    """Local TCP ports of this test process's sockets (its own database connections, from any
    thread), read from /proc: they are not the stack's."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[9] in inodes:
                ports.add(int(f[1].rsplit(":", 1)[1], 16))
    return ports


def stack_connections_to_test_db() -> int:
    """Connections to the test database held by the stack's processes (not by this one)."""
    with connection.cursor() as cur:
        cur.execute("SELECT client_port FROM pg_stat_activity WHERE datname = current_database()")
        ports = [r[0] for r in cur.fetchall()]
    own = _own_local_ports()
    return sum(1 for p in ports if p not in own)


def test_a_burst_of_battles_all_finish_and_connections_stay_bounded(e2e_demo, arena_stack_factory):
    # Persistent connections as in production (the e2e default is none), so a leak would show.
    stack = arena_stack_factory({"DB_POOL_MAX_SIZE": str(POOL), "DB_CONN_MAX_AGE": "60"})
    voters = [Http(stack.base_url) for _ in range(VOTERS)]
    for v in voters:
        v.open_page()

    def start(v: Http):
        return v.json("POST", "/api/battles/", {"modality": "text", "prompt": "Name three rivers of Europe."})

    with ThreadPoolExecutor(VOTERS) as pool:
        created = list(pool.map(start, voters))
    assert [status for status, _ in created] == [201] * VOTERS, [s for s, body in created if s != 201]

    def all_ready():
        states = [v.json("GET", f"/api/battles/{body['battle']}/")[1] for v, (_, body) in zip(voters, created)]
        return states if all(s["status"] == "ready" for s in states) else None

    states = wait_until(all_ready, timeout=90, interval=0.5, what="every battle of the burst to be ready")
    assert all(o["status"] == "done" and o["text"] for s in states for slot in s["slots"] for o in slot["outputs"])
    # Two web processes with pools of POOL, the worker's 8 threads (one connection each).
    assert stack_connections_to_test_db() <= 2 * POOL + 8
