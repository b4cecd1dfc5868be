#!/usr/bin/env python
"""A flood of battle creations (and votes) from one client against the live stack: uvicorn as
scripts/run.sh starts it (2 processes, --no-proxy-headers), Postgres, the rate-limit counters in
Redis. Prints, per run, how many requests were answered 201 / 429, whether every 429 carried
Retry-After, the Retry-After range, the battles actually written, and the latency of accepted
and refused requests; the same flood against ARENA_RATE_LIMITS=off in the same run is the peer
(what issue 12 saw: no 429 at all).

  .venv/bin/python bench/flood_bench.py [--requests 300] [--concurrency 8] [--redis-url redis://127.0.0.1:6379/4]

Floods: "one session" (one cookie jar, as a naive script), "new session + spoofed
X-Forwarded-For per request" (the attack of issue 12), and votes on the battles the first
flood got. Generation runs in the web process (ARENA_INPROCESS_TASKS) so that nothing is
left in a shared broker. A scratch database (--db) is dropped and created.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from common import free_port, fresh_database, solve_pow  # noqa: E402  (bench/common.py)




def _prepare(env: dict, db: str) -> None:
    fresh_database(db, env)
    code = """
import django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("arena_seed_demo", stdout=open("/dev/null", "w"))
from arena.models import Competitor
for c in Competitor.objects.all():
    c.adapter_config = {**c.adapter_config, "token_delay_ms": 0, "render_delay_ms": 0}
    c.save(update_fields=["adapter_config"])
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env)


def _clear_counters(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match="arena-rl*", count=1000):
        client.delete(key)


def _count_battles(env: dict) -> int:
    code = "import django; django.setup(); from arena.models import Battle; print(Battle.objects.count())"
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, capture_output=True, text=True)
    return int(out.stdout.strip().splitlines()[-1])


class Stack:
    def __init__(self, env: dict):
        self.env = env
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Stack":
        cmd = [str(ROOT / ".venv/bin/uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", str(self.port),
               "--workers", "2", "--no-access-log", "--log-level", "warning", "--no-proxy-headers"]
        self.log = open(os.environ.get("FLOOD_BENCH_LOG", os.devnull), "ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        import urllib.request

        for _ in range(300):
            try:
                with urllib.request.urlopen(self.base + "/", timeout=2):
                    return self
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the web server did not start")

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


async def _session(http) -> None:
    r = await http.get("/")
    assert r.status_code == 200
    http.headers["X-CSRFToken"] = http.cookies.get("csrftoken", "")


async def _flood(base: str, n: int, concurrency: int, *, fresh_sessions: bool) -> dict:
    import httpx2 as httpx

    results: list[tuple[int, float, str | None, str]] = []
    battles: list[str] = []
    shared = httpx.AsyncClient(base_url=base, timeout=30)
    await _session(shared)
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            if fresh_sessions:
                http = httpx.AsyncClient(base_url=base, timeout=30)
                await _session(http)
                headers = {"X-Forwarded-For": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"}
            else:
                http, headers = shared, {}
            t = time.perf_counter()
            r = await http.post("/api/battles/", json={"prompt": f"Say hello, number {i}.", "modality": "text"}, headers=headers)
            dt = time.perf_counter() - t
            try:
                body = r.json()
            except ValueError:
                body = {"error": f"(not JSON) {r.text[:200]!r}"}
            results.append((r.status_code, dt, r.headers.get("retry-after"), body.get("error", "")))
            if r.status_code == 201:
                battles.append(body["battle"])
            if fresh_sessions:
                await http.aclose()

    t0 = time.perf_counter()
    if not fresh_sessions:
        await one(0)  # the session's first battle binds its voter to the cookie; the rest flood in
    await asyncio.gather(*(one(i) for i in range(0 if fresh_sessions else 1, n)))
    wall = time.perf_counter() - t0
    await shared.aclose()
    return {"results": results, "battles": battles, "wall": wall}




async def _vote_flood(base: str, n: int) -> dict:
    """One session creates battles while it may, then votes on each as soon as it is ready,
    solving the proof-of-work challenge whenever it is asked (as a determined script would)."""
    import httpx2 as httpx

    solve_s: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        await _session(http)
        ids = []
        for i in range(n):
            r = await http.post("/api/battles/", json={"prompt": f"Vote flood {i}.", "modality": "text"})
            if r.status_code != 201:
                break
            ids.append(r.json()["battle"])
        results = []
        for bid in ids:
            for _ in range(100):
                if (await http.get(f"/api/battles/{bid}/")).json().get("status") == "ready":
                    break
                await asyncio.sleep(0.05)
            body: dict = {"outcome": "a"}
            t = time.perf_counter()
            r = await http.post(f"/api/battles/{bid}/vote/", json=body)
            if r.status_code == 428:
                ch = r.json()["pow"]
                t_solve = time.perf_counter()
                body["pow"] = {"challenge": ch["challenge"], "solution": solve_pow(ch["challenge"], ch["difficulty"])}
                solve_s.append(time.perf_counter() - t_solve)
                t = time.perf_counter()  # the latency below is the accepted request's own
                r = await http.post(f"/api/battles/{bid}/vote/", json=body)
            try:
                err = r.json().get("error", "")
            except ValueError:
                err = f"(not JSON) {r.text[:200]!r}"
            results.append((r.status_code, time.perf_counter() - t, r.headers.get("retry-after"), err))
    return {"results": results, "battles": ids, "wall": 0.0, "solve_s": solve_s}


def _report(title: str, run: dict, written: int | None) -> None:
    res = run["results"]
    codes: dict[int, int] = {}
    for code, *_ in res:
        codes[code] = codes.get(code, 0) + 1
    refused = [r for r in res if r[0] == 429]
    accepted = [r for r in res if r[0] in (200, 201)]
    with_ra = [int(r[2]) for r in refused if r[2] and r[2].isdigit()]
    ms = lambda xs: f"{statistics.median(xs) * 1000:.1f} ms" if xs else "-"  # noqa: E731
    print(f"  {title}")
    print(f"    answers: {', '.join(f'{c}: {k}' for c, k in sorted(codes.items()))}"
          + (f"   ({len(res) / run['wall']:.0f} req/s)" if run["wall"] else ""))
    if refused:
        print(f"    429 with Retry-After: {len(with_ra)} of {len(refused)}; Retry-After {min(with_ra, default=0)}-{max(with_ra, default=0)} s")
        print(f"    message: {refused[0][3]!r}")
    other = [r for r in res if r[0] not in (200, 201, 429)]
    if other:
        print(f"    other answers, e.g. {other[0][0]}: {other[0][3]!r}")
    print(f"    median latency: accepted {ms([r[1] for r in accepted])}, refused {ms([r[1] for r in refused])}")
    if run.get("solve_s"):
        xs = run["solve_s"]
        print(f"    proof of work asked for {len(xs)} of {len(res)} votes; solving took {statistics.mean(xs) * 1000:.0f} ms on average"
              f" ({sum(xs):.1f} s in all, Python hashlib, one core)")
    elif "solve_s" in run:
        print("    proof of work asked for 0 votes")
    if written is not None:
        print(f"    battles written: {written} (accepted {len(accepted)}) -> {'OK' if written == len(accepted) else 'MISMATCH'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=300, help="battle creations per flood (issue 12: 300 in three minutes)")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--votes", type=int, default=40, help="battles the vote flood creates and votes on")
    p.add_argument("--db", default="arena_bench_flood")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/4")
    a = p.parse_args()
    base_env = dict(os.environ, DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{a.db}", REDIS_URL=a.redis_url,
                    DJANGO_SETTINGS_MODULE="config.settings", DEBUG="false", LOG_LEVEL="ERROR",
                    ARENA_INPROCESS_TASKS="true", ARENA_MIN_DWELL_MS="0", CHANNELS_PREFIX=f"flood{os.getpid()}",
                    SECRET_KEY="flood-bench-" + os.urandom(16).hex(), ARENA_IP_SALT=os.urandom(16).hex())
    base_env.pop("ARENA_RATE_LIMITS", None)

    verdicts = []
    runs: dict = {}
    for label, limits in (("ARENA_RATE_LIMITS unset (the defaults `make run` serves)", None), ("ARENA_RATE_LIMITS=off (peer: no limits)", "off")):
        env = dict(base_env)
        if limits is not None:
            env["ARENA_RATE_LIMITS"] = limits
        _prepare(env, a.db)
        _clear_counters(a.redis_url)
        print(f"\n{label}: {a.requests} battle creations from one client, {a.concurrency} at a time")
        with Stack(env) as stack:
            one = asyncio.run(_flood(stack.base, a.requests, a.concurrency, fresh_sessions=False))
            _report("one session:", one, _count_battles(env))
            _clear_counters(a.redis_url)
            before = _count_battles(env)
            spoof = asyncio.run(_flood(stack.base, a.requests, a.concurrency, fresh_sessions=True))
            _report("a new session and a spoofed X-Forwarded-For per request:", spoof, _count_battles(env) - before)
            _clear_counters(a.redis_url)
            votes = asyncio.run(_vote_flood(stack.base, a.votes))
            _report(f"votes: one session votes on each of its {len(votes['battles'])} battles as soon as it is ready:", votes, None)
            runs[limits] = (one, spoof, votes)
        if limits is None:
            for name, run in (("one session", one), ("new session + spoofed header", spoof)):
                refused = [r for r in run["results"] if r[0] == 429]
                ok = bool(refused) and all(r[2] for r in refused) and not [r for r in run["results"] if r[0] >= 500]
                verdicts.append(f"{name}: {'429 + Retry-After' if ok else 'NOT refused'}"
                                f" ({len(refused)} of {len(run['results'])} refused)")
    subprocess.run(["dropdb", "--if-exists", "-h", "127.0.0.1", "-U", "postgres", a.db], env=base_env)
    _clear_counters(a.redis_url)
    print("\nverdict (limits on): " + "; ".join(verdicts))


if __name__ == "__main__":
    main()
