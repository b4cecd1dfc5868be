#!/usr/bin/env python
"""Load on the leaderboard page and its JSON: N concurrent clients for a fixed time against a
real web server on loopback; prints requests/s and latency percentiles per URL.

  .venv/bin/python bench/load_leaderboard.py [--clients 50] [--seconds 10] [--models 100] [--server daphne]

Makes a scratch database with one snapshot of `--models` models (written by the real recompute
on synthetic votes), starts the web server on it, runs the load, stops everything. The issue's
target: p95 under 50 ms at 50 concurrent clients.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from common import free_port, fresh_database, percentile  # noqa: E402  (bench/common.py)
DB = "arena_bench_load"




def _prepare(env: dict, models: int) -> None:
    fresh_database(DB, env)
    code = f"""
import django, random
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
from tests.ratings.conftest import seed_votes
from arena.models import Competitor
from ratings.services import leaderboard_recompute
rng = random.Random(0)
from arena.models import Battle, Slot, Vote, Voter, Prompt
comps = [Competitor(slug=f"model-{{i:03d}}", name=f"Model {{i:03d}}", organization="Bench", modality="text", adapter="demo_text") for i in range({models})]
comps = Competitor.objects.bulk_create(comps)
voter = Voter.objects.create(); prompt = Prompt.objects.create(text="x", modality="text")
battles = Battle.objects.bulk_create([Battle(mode="pairwise", k=2, modality="text", voter=voter, prompt=prompt, status="voted") for _ in range(20000)])
votes = []
for b in battles:
    a, c = rng.sample(comps, 2)
    votes.append(Vote(battle=b, voter=voter, outcome=rng.choice("ab"), ranking=[1, 2], model_a=a, model_b=c, modality="text"))
Vote.objects.bulk_create(votes)
for method in ("bt",):
    leaderboard_recompute(modality="text", method=method)
print("snapshot ready")
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)


async def _client(http, url: str, until: float, lat: list[float], errors: list[int]) -> None:
    while time.perf_counter() < until:
        t = time.perf_counter()
        r = await http.get(url)
        if r.status_code != 200:
            errors.append(r.status_code)
        await r.aread()
        lat.append(time.perf_counter() - t)


async def _load(base: str, path: str, clients: int, seconds: float) -> tuple[list[float], list[int], float]:
    import httpx2 as httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        await http.get(path)  # warm
        lat: list[float] = []
        errors: list[int] = []
        t0 = time.perf_counter()
        until = t0 + seconds
        await asyncio.gather(*(_client(http, path, until, lat, errors) for _ in range(clients)))
        return lat, errors, time.perf_counter() - t0


WRK_LUA = """
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %.3f %.3f %.3f %d\\n", summary.requests, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def _wrk(wrk: str, url: str, clients: int, seconds: float) -> None:
    """wrk (C, one thread per core) keeps the client's own cost out of the figures."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_LUA)
    out = subprocess.run([wrk, "-t", "2", "-c", str(clients), "-d", f"{seconds:g}s", "-s", f.name, url],
                         capture_output=True, text=True).stdout
    os.unlink(f.name)
    line = next((x for x in out.splitlines() if x.startswith("RESULT")), None)
    if line is None:
        print(out)
        return
    _, n, dur_us, p50, p95, p99, errors = line.split()
    rps = int(n) / (int(dur_us) / 1e6)
    print(f"  {url.split('127.0.0.1')[1].split('/', 1)[1] and '/' + url.split('/', 3)[3]}\n    {rps:7.0f} req/s  p50 {float(p50):6.1f} ms"
          f"  p95 {float(p95):6.1f} ms  p99 {float(p99):6.1f} ms  errors {errors}  -> {'PASS' if float(p95) < 50 else 'FAIL'} (p95 < 50 ms)")




def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--models", type=int, default=100)
    p.add_argument("--server", choices=["daphne", "uvicorn"], default="uvicorn", help="uvicorn, as make run starts it")
    p.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    a = p.parse_args()
    env = dict(os.environ, DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB}", REDIS_URL="redis://127.0.0.1:6379/13",
               DJANGO_SETTINGS_MODULE="config.settings", DEBUG="false", RATINGS_BOOTSTRAP_ROUNDS="200", LOG_LEVEL="WARNING",
               ARENA_INPROCESS_TASKS="true", ARENA_RATE_LIMITS="off", SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
               ARENA_IP_SALT=os.environ.get("ARENA_IP_SALT") or secrets.token_urlsafe(32))
    _prepare(env, a.models)
    port = free_port()
    if a.server == "daphne":
        cmd = [str(ROOT / ".venv/bin/daphne"), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"]
    else:
        cmd = [str(ROOT / ".venv/bin/uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(a.workers), "--no-access-log", "--log-level", "warning", "--no-proxy-headers"]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(2)
        wrk = shutil.which("wrk")
        print(f"{a.clients} concurrent clients, {a.seconds:g} s per URL, {a.models} models, {' '.join(cmd[:2])} on {base},"
              f" load from {'wrk' if wrk else 'Python (httpx2; install wrk for a lighter client)'}")
        for path in ("/api/leaderboard/?modality=text&category=overall&method=bt", "/leaderboard/?modality=text"):
            if wrk:
                _wrk(wrk, base + path, a.clients, a.seconds)
                continue
            lat, errors, wall = asyncio.run(_load(base, path, a.clients, a.seconds))
            print(f"  {path}\n    {len(lat) / wall:7.0f} req/s  p50 {percentile(lat, .5) * 1000:6.1f} ms  p95 {percentile(lat, .95) * 1000:6.1f} ms"
                  f"  p99 {percentile(lat, .99) * 1000:6.1f} ms  errors {len(errors)}  -> {'PASS' if percentile(lat, .95) * 1000 < 50 else 'FAIL'} (p95 < 50 ms)")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(10)
        subprocess.run(["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", DB], env=env)


if __name__ == "__main__":
    main()
