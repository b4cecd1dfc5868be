#!/usr/bin/env python
"""Votes at speed: concurrent voters voting on ready battles through the full HTTP stack, against
Postgres' own one-row insert rate (pgbench) measured in the same run on the same server.

    .venv/bin/python bench/vote_bench.py [--voters 50] [--seconds 15] [--web-workers 2]
                                         [--pgbench-seconds 10] [--redis-url redis://127.0.0.1:6379/1]
                                         [--db arena_vote_bench]

What runs: a database of its own (dropped and created: arena_vote_bench), the demo roster,
`--voters` voters each with a session and enough READY battles; `uvicorn config.asgi:application
--workers 2` (as `make run` with services) and one Celery worker (the work after each vote: the
Bayesian absorb and the leaderboard nudges); ARENA_RATE_LIMITS=off. Each voter is one keep-alive
HTTP connection voting on its battles one after another (outcome drawn at random, an
idempotency key per vote) for `--seconds`. Then pgbench runs `INSERT INTO t(v) VALUES (1)` with
the same number of clients for `--pgbench-seconds` against the same Postgres.

Prints votes/s, latency p50/p95/p99, the web processes' CPU per vote, errors, pgbench's TPS, the
ratio, and how long the worker took to finish the after-vote work; the goal: votes/s >= 1/10 of
pgbench's TPS and p99 < 100 ms. `--peer DIR` runs the same against another checkout (main
before a change) in the same run, for a comparison on the same machine and load.
The load generator runs on the same machine (a raw asyncio HTTP/1.1 client, to leave the CPU to
the stack).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DB = "arena_vote_bench"  # --db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PREPARE = r"""
import datetime, json, sys, django
django.setup()
from django.core.management import call_command
from django.contrib.sessions.backends.db import SessionStore
from django.db import transaction
from django.utils import timezone
from arena.models import Battle, Competitor, Generation, Prompt, Slot, Turn, Voter
from arena.services.voters import SESSION_KEY
voters_n, per_voter = int(sys.argv[1]), int(sys.argv[2])
call_command("migrate", "--noinput", verbosity=0)
call_command("arena_seed_demo", stdout=open("/dev/null", "w"))
models = list(Competitor.objects.filter(modality="text", active=True))
import random
rng = random.Random(0)
out = []
now = timezone.now()
ready = now - datetime.timedelta(hours=1)  # read long ago: no vote is "too fast" to count
with transaction.atomic():
    prompt = Prompt.objects.create(text="Explain how tides work.", modality="text", category="other", language="en")
    for v in range(voters_n):
        voter = Voter.objects.create()
        s = SessionStore()
        s[SESSION_KEY] = voter.pk
        s.create()
        battles = Battle.objects.bulk_create([
            Battle(mode="pairwise", k=2, modality="text", voter=voter, prompt=prompt, status=Battle.READY, ready_at=ready)
            for _ in range(per_voter)])
        turns = Turn.objects.bulk_create([Turn(battle=b, index=0, prompt=prompt) for b in battles])
        slots = Slot.objects.bulk_create([Slot(battle=b, position=i, competitor=c)
                                          for b in battles for i, c in enumerate(rng.sample(models, 2))])
        Generation.objects.bulk_create([
            Generation(slot=s_, turn=turns[j // 2], status=Generation.DONE, text="An answer about tides.",
                       started_at=ready, first_token_at=ready, finished_at=ready)
            for j, s_ in enumerate(slots)])
        out.append({"session": s.session_key, "battles": [b.public_id for b in battles]})
json.dump(out, open(sys.argv[3], "w"))
"""

COUNT = r"""
import django; django.setup()
from arena.models import Vote
from ratings.models import BayesAbsorbed
print(Vote.objects.count(), BayesAbsorbed.objects.count())
"""


async def voter(host: str, port: int, session: str, battles: list[str], stop_at: float, lat: list[float],
                errors: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    csrf = secrets.token_hex(16)
    cookie = f"sessionid={session}; csrftoken={csrf}"
    try:
        for bid in battles:
            if time.monotonic() >= stop_at:
                return
            body = json.dumps({"outcome": random.choice(["a", "b", "tie", "both_bad"]),
                               "idempotency_key": uuid.uuid4().hex}).encode()
            req = (f"POST /api/battles/{bid}/vote/ HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
                   f"X-CSRFToken: {csrf}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            payload = await reader.readexactly(length)
            dt = time.perf_counter() - t0
            status = int(head.split(b" ", 2)[1])
            if status == 201:
                lat.append(dt)
            else:
                key = f"{status} {payload[:80].decode(errors='replace')}"
                errors[key] = errors.get(key, 0) + 1
            if re.search(rb"(?i)connection:\s*close", head):
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def idler(host: str, port: int, stop_at: float, lat: list[float]) -> None:
    """GET /healthz over one keep-alive connection until stop_at: a request through the same server
    and middleware that does nothing (the floor under any view's cost)."""
    reader, writer = await asyncio.open_connection(host, port)
    req = f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    try:
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1)))
            lat.append(time.perf_counter() - t0)
    finally:
        writer.close()


async def load_floor(port: int, clients: int, seconds: float) -> tuple[list[float], float]:
    lat: list[float] = []
    t0 = time.monotonic()
    await asyncio.gather(*[idler("127.0.0.1", port, t0 + seconds, lat) for _ in range(clients)])
    return lat, time.monotonic() - t0


async def load(port: int, plan: list[dict], seconds: float) -> tuple[list[float], dict[str, int], float]:
    lat: list[float] = []
    errors: dict[str, int] = {}
    t0 = time.monotonic()
    await asyncio.gather(*[voter("127.0.0.1", port, v["session"], v["battles"], t0 + seconds, lat, errors) for v in plan])
    return lat, errors, time.monotonic() - t0


def cpu_seconds(root: int) -> float:
    """CPU time (user + system) of a process and all its descendants, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    return total


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=1000)[int(q * 1000) - 1] if len(xs) > 1 else float("nan")


def pgbench(env: dict, clients: int, seconds: int) -> float:
    psql = ["psql", "-q", "-h", "127.0.0.1", "-U", "postgres", "-d", DB, "-v", "ON_ERROR_STOP=1", "-c"]
    subprocess.run(psql + ["DROP TABLE IF EXISTS pgbench_one_row; CREATE TABLE pgbench_one_row "
                           "(id bigserial PRIMARY KEY, v int NOT NULL, created timestamptz NOT NULL DEFAULT now())"],
                   check=True, env=env)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write("INSERT INTO pgbench_one_row (v) VALUES (1);\n")
    out = subprocess.run(["pgbench", "-n", "-h", "127.0.0.1", "-U", "postgres", "-c", str(clients), "-j", "2",
                          "-T", str(seconds), "-f", f.name, DB], capture_output=True, text=True, env=env, check=True)
    os.unlink(f.name)
    m = re.search(r"tps = ([\d.]+)", out.stdout)
    return float(m.group(1))


def run_stack(code: Path, a, tmp: Path) -> dict:
    """Fresh database, prepared battles, the stack started from `code`, the voters let loose."""
    per_voter = a.battles_per_voter or int(min(2000, max(100, a.seconds * 40)))
    env = dict(os.environ, DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{DB}", REDIS_URL=a.redis_url,
               DJANGO_SETTINGS_MODULE="config.settings", DEBUG="false", LOG_LEVEL="WARNING",
               ARENA_INPROCESS_TASKS="false", ARENA_RATE_LIMITS="off", CHANNELS_PREFIX=f"vb{uuid.uuid4().hex[:6]}",
               SECRET_KEY=secrets.token_urlsafe(50), ARENA_IP_SALT=secrets.token_urlsafe(32),
               MEDIA_ROOT=str(tmp / "media"), ARENA_METRICS_DIR=str(tmp / f"metrics-{uuid.uuid4().hex[:6]}"),
               PYTHONUNBUFFERED="1", RATINGS_BOOTSTRAP_ROUNDS="100", RATINGS_ELO_ROUNDS="10")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    env.pop("CELERY_BROKER_URL", None)
    subprocess.run(["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", DB], check=True, env=env)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB], check=True, env=env)
    import redis

    redis.Redis.from_url(a.redis_url).flushdb()
    plan_file = tmp / "plan.json"
    print(f"[{code}] preparing {a.voters} voters x {per_voter} ready battles ...", flush=True)
    subprocess.run([sys.executable, "-c", PREPARE, str(a.voters), str(per_voter), str(plan_file)], cwd=code, env=env, check=True)
    plan = json.loads(plan_file.read_text())

    def count() -> tuple[int, int]:
        out = subprocess.run([sys.executable, "-c", COUNT], cwd=code, env=env, capture_output=True, text=True, check=True)
        votes, absorbed = map(int, out.stdout.split())
        return votes, absorbed

    port = free_port()
    logs = {n: open(tmp / f"{n}.log", "wb") for n in ("web", "worker")}
    web = subprocess.Popen([str(BIN / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", str(port),
                            "--workers", str(a.web_workers), "--no-access-log", "--log-level", "warning", "--no-proxy-headers"],
                           cwd=code, env=env, stdout=logs["web"], stderr=subprocess.STDOUT, start_new_session=True)
    worker = None if a.no_worker else subprocess.Popen(
        [str(BIN / "celery"), "-A", "config", "worker", "-Q", "default", "-c", "2", "--loglevel=WARNING",
         "-n", f"vb-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle"],
        cwd=code, env=env, stdout=logs["worker"], stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or web.poll() is not None:
                    print((tmp / "web.log").read_text()[-3000:])
                    raise SystemExit("the web server did not start")
                time.sleep(0.2)
        # Warm up both web processes and their pools on battles set aside for it.
        warm = [{"session": v["session"], "battles": v["battles"][-3:]} for v in plan]
        for v in plan:
            v["battles"] = v["battles"][:-3]
        asyncio.run(load(port, warm, 30))
        votes_before = count()[0]
        print(f"[{code}] voting: {a.voters} voters for {a.seconds:g} s through uvicorn x{a.web_workers} ...", flush=True)
        cpu0, own0 = cpu_seconds(web.pid), time.process_time()
        lat, errors, elapsed = asyncio.run(load(port, plan, a.seconds))
        web_cpu, own_cpu = cpu_seconds(web.pid) - cpu0, time.process_time() - own0
        t_end = time.monotonic()
        votes = count()[0]
        floor = None
        if a.floor_seconds > 0:
            cpu0 = cpu_seconds(web.pid)
            floor_lat, floor_elapsed = asyncio.run(load_floor(port, a.voters, a.floor_seconds))
            floor = {"lat": floor_lat, "elapsed": floor_elapsed, "web_cpu": cpu_seconds(web.pid) - cpu0}
        # The after-vote work (Bayesian absorb, nudges): how long until every vote is absorbed.
        caught_up = None
        while worker is not None and time.monotonic() - t_end < 120:
            if count()[1] >= votes:
                caught_up = time.monotonic() - t_end
                break
            time.sleep(0.5)
    finally:
        for proc in (p for p in (web, worker) if p is not None):
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(proc.pid, signal.SIGKILL)
    return {"code": code, "lat": lat, "errors": errors, "elapsed": elapsed, "web_cpu": web_cpu, "own_cpu": own_cpu,
            "rows": votes - votes_before, "caught_up": caught_up, "floor": floor, "env": env, "worker": worker is not None,
            "load": os.getloadavg()[0]}


def report(r: dict, tps: float, a) -> None:
    lat = r["lat"]
    rate = len(lat) / r["elapsed"]
    p50, p95, p99 = (pct(lat, q) * 1000 for q in (0.50, 0.95, 0.99))
    ratio = rate / tps
    n = max(1, len(lat))
    print(f"\n== {r['code']}")
    print(f"votes stored      {len(lat)} in {r['elapsed']:.1f} s ({r['rows']} new rows)")
    print(f"votes/s           {rate:.0f}")
    print(f"latency ms        p50 {p50:.1f}   p95 {p95:.1f}   p99 {p99:.1f}")
    print(f"CPU per vote      web processes {1000 * r['web_cpu'] / n:.2f} ms, load generator {1000 * r['own_cpu'] / n:.2f} ms"
          f"   (machine: {os.cpu_count()} cores, load average {r['load']:.1f} after the run)")
    errors = r["errors"]
    print(f"errors            {sum(errors.values())} {dict(list(errors.items())[:3]) if errors else ''}")
    print(f"ratio             1/{1 / ratio:.1f} of pgbench  (goal: >= 1/10)   {'MET' if ratio >= 0.1 else 'NOT MET'}")
    print(f"p99               {p99:.1f} ms  (goal: < 100 ms)   {'MET' if p99 < 100 else 'NOT MET'}")
    floor = r["floor"]
    if floor and floor["lat"]:
        fn = len(floor["lat"])
        print(f"floor             GET /healthz (a view that does nothing, same server and middleware): {fn / floor['elapsed']:.0f}/s, "
              f"p99 {pct(floor['lat'], 0.99) * 1000:.1f} ms, web CPU {1000 * floor['web_cpu'] / fn:.2f} ms per request")
    if r["worker"]:
        cu = r["caught_up"]
        print(f"after-vote work   {'caught up %.1f s after the last vote' % cu if cu is not None else 'NOT caught up within 120 s'}")


def main() -> int:
    global DB
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--voters", type=int, default=50)
    p.add_argument("--seconds", type=float, default=15)
    p.add_argument("--web-workers", type=int, default=2)
    p.add_argument("--pgbench-seconds", type=int, default=10)
    p.add_argument("--floor-seconds", type=float, default=5,
                   help="then GET /healthz with as many clients for this long: the stack's own cost per request (0: skip)")
    p.add_argument("--battles-per-voter", type=int, default=0, help="ready battles per voter (default: from --seconds)")
    p.add_argument("--no-worker", action="store_true", help="no Celery worker (the after-vote tasks wait in Redis)")
    p.add_argument("--peer", type=Path, default=None,
                   help="another checkout (e.g. main before this change, with .venv linked) run the same way, for comparison")
    p.add_argument("--db", default=DB, help="the scratch database (dropped and created; default %(default)s)")
    p.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/1"))
    a = p.parse_args()
    DB = a.db
    tmp = Path(tempfile.mkdtemp(prefix="vote-bench-"))
    runs = [run_stack(ROOT, a, tmp)]
    if a.peer is not None:
        runs.append(run_stack(a.peer.resolve(), a, tmp))
    env = runs[0]["env"]
    print("pgbench: one-row inserts ...", flush=True)
    tps = pgbench(env, a.voters, a.pgbench_seconds)
    print(f"\npgbench TPS       {tps:.0f}  (one-row INSERT into a bigserial table, {a.voters} clients, "
          f"same Postgres, same run)")
    for r in runs:
        report(r, tps, a)
    subprocess.run(["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", DB], env=env)
    return 0 if not any(r["errors"] for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
