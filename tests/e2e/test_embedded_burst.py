"""The embedded default (`make run` with no DATABASE_URL / REDIS_URL: SQLite, one uvicorn process, no
Celery worker) under a burst of votes: the leaderboard catches up with every vote, the fits run in
a child process (not in the web process's threads), and pages keep answering meanwhile.
The time it takes is a figure of bench/embedded_burst_bench.py, not an assertion here."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from embedded_burst_bench import burst, fitter_children, start_embedded  # noqa: E402

from .conftest import free_port  # noqa: E402


def test_a_burst_of_votes_on_the_embedded_default_reaches_the_leaderboard(tmp_path):
    port = free_port()
    proc, _ = start_embedded(port, tmp_path)
    try:
        result = burst(f"http://127.0.0.1:{port}", 60)
        kids = fitter_children(proc.pid)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    print(result)
    assert result["shown_s"] is not None, f"the leaderboard showed {result['seen']} of 60 votes"
    assert any("ratings_fitter" in k for k in kids), kids  # fits in their own interpreter
    assert result["page_requests"] >= 1  # pages answered while it caught up
