"""What several benchmarks share: a free loopback port, percentiles, a scratch database.

Benchmarks are run as scripts (``.venv/bin/python bench/x.py``), so this module is imported as
``common`` from the script's own folder; nothing in the arena imports it.
"""
from __future__ import annotations

import hashlib
import socket
import subprocess


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values, q: float) -> float:
    """The q-quantile (0 <= q <= 1), linear between closest ranks as numpy's default; NaN if empty."""
    xs = sorted(values)
    if not xs:
        return float("nan")
    pos = (len(xs) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def fresh_database(name: str, env: dict | None = None) -> None:
    """Drop (if present) and create the scratch database ``name`` on the local Postgres."""
    args = ["-h", "127.0.0.1", "-U", "postgres"]
    subprocess.run(["dropdb", "--if-exists", *args, name], check=True, env=env)
    subprocess.run(["createdb", *args, name], check=True, env=env)


def solve_pow(challenge: str, difficulty: int) -> str:
    """What a determined script does with the arena's proof of work: brute force (hashlib, one
    core) the first counter whose SHA-256 of "challenge:counter" has ``difficulty`` leading zero bits."""
    n = 0
    while True:
        h = int.from_bytes(hashlib.sha256(f"{challenge}:{n}".encode()).digest(), "big")
        if h >> (256 - difficulty) == 0:
            return str(n)
        n += 1
