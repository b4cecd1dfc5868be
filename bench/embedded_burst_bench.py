#!/usr/bin/env python
"""The embedded default (`make run` without DATABASE_URL / REDIS_URL: SQLite, one uvicorn process,
no Celery worker) under a burst of votes: how long until the leaderboard shows every vote, and how
responsive the pages stay meanwhile.

  .venv/bin/python bench/embedded_burst_bench.py [--votes 60] [--port 8121]

Starts the arena as `make run` would (a scratch SQLite file, migrate, demo roster with a short token
delay), creates the battles over HTTP, waits until they are ready, then casts all votes within a
second or two (a burst), and polls /api/leaderboard/ until the overall Bradley-Terry leaderboard
counts them all, timing the home page and the leaderboard page all the while.
Goal (issue 10): every vote shown within 5 s of the burst, pages responsive.
"""
from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


class Client:
    def __init__(self, base: str) -> None:
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.csrf = ""

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with self.opener.open(self.base + path, timeout=30) as r:
                body = r.read()
                for c in self.jar:
                    if c.name == "csrftoken":
                        self.csrf = c.value
                return r.status, body
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def post(self, path: str, payload: dict) -> tuple[int, dict]:
        req = urllib.request.Request(self.base + path, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "X-CSRFToken": self.csrf,
                                              "Origin": self.base, "Referer": self.base + "/"})
        try:
            with self.opener.open(req, timeout=60) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")


def start_embedded(port: int, workdir: Path) -> tuple[subprocess.Popen, dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(DATABASE_URL=f"sqlite:///{workdir / 'db.sqlite3'}", MEDIA_ROOT=str(workdir / "media"),
               ARENA_RATE_LIMITS="off", ARENA_MIN_DWELL_MS="0", PYTHONUNBUFFERED="1", DJANGO_SETTINGS_MODULE="config.settings",
               SECRET_KEY=env.get("SECRET_KEY", "bench-embedded-burst-not-secret"),
               ARENA_IP_SALT=env.get("ARENA_IP_SALT", "bench-embedded-burst-not-secret-either"))
    env.pop("ARENA_INPROCESS_TASKS", None)
    subprocess.run([PY, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([PY, "manage.py", "arena_seed_demo"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([PY, "manage.py", "shell", "-c",
                    "from arena.models import Competitor\n"
                    "for c in Competitor.objects.all():\n"
                    "    c.adapter_config = {**c.adapter_config, 'token_delay_ms': 2, 'render_delay_ms': 0}\n"
                    "    c.save(update_fields=['adapter_config'])"], cwd=ROOT, env=env, check=True, capture_output=True)
    log = open(workdir / "uvicorn.log", "wb")
    proc = subprocess.Popen([str(Path(PY).parent / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", "1", "--no-access-log"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            with urllib.request.urlopen(base + "/", timeout=2):
                return proc, env
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the embedded server did not start:\n" + (workdir / "uvicorn.log").read_text()[-3000:])


def burst(base: str, n: int) -> dict:
    """Create n battles, wait until ready, vote on all at once; then time the catch-up."""
    clients = [Client(base) for _ in range(n)]
    for c in clients:
        c.get("/")

    def create(c: Client):
        return c.post("/api/battles/", {"modality": "text", "prompt": "Name three rivers of Europe."})

    with ThreadPoolExecutor(10) as pool:
        created = list(pool.map(create, clients))
    bad = [s for s, _ in created if s != 201]
    if bad:
        raise SystemExit(f"battle creation failed: {bad[:5]}")
    ids = [b["battle"] for _, b in created]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        states = [c.get(f"/api/battles/{i}/") for c, i in zip(clients, ids)]
        if all(json.loads(body)["status"] == "ready" for _, body in states):
            break
        time.sleep(0.5)
    outcomes = ["a", "b", "tie"]

    def vote(k: int):
        return clients[k].post(f"/api/battles/{ids[k]}/vote/", {"outcome": outcomes[k % 3]})

    t0 = time.monotonic()
    with ThreadPoolExecutor(20) as pool:
        voted = list(pool.map(vote, range(n)))
    t_burst = time.monotonic() - t0
    assert all(s == 201 for s, _ in voted), [s for s, _ in voted if s != 201][:5]
    latencies: list[float] = []
    stop = threading.Event()
    reader = Client(base)

    def pages():
        while not stop.is_set():
            for path in ("/", "/leaderboard/?modality=text"):
                t = time.monotonic()
                status, _ = reader.get(path)
                latencies.append(time.monotonic() - t)
            time.sleep(0.05)

    th = threading.Thread(target=pages, daemon=True)
    th.start()
    shown = None
    seen = 0
    while time.monotonic() - t0 < 300:
        status, body = Client(base).get("/api/leaderboard/?modality=text&category=overall&method=bt")
        if status == 200:
            seen = json.loads(body)["votes"]
            if seen >= n:
                shown = time.monotonic() - t0
                break
        time.sleep(0.1)
    stop.set()
    th.join(5)
    return {"votes": n, "burst_s": t_burst, "shown_s": shown, "seen": seen, "page_requests": len(latencies),
            "page_p50_ms": 1000 * statistics.median(latencies) if latencies else None,
            "page_max_ms": 1000 * max(latencies) if latencies else None}


def fitter_children(pid: int) -> list[str]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for k in kids:
            try:
                out.append(Path(f"/proc/{k}/cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                pass
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--votes", type=int, default=60)
    p.add_argument("--port", type=int, default=8121)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        proc, _ = start_embedded(a.port, Path(tmp))
        try:
            r = burst(f"http://127.0.0.1:{a.port}", a.votes)
            kids = [k for k in fitter_children(proc.pid) if "ratings_fitter" in k]
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
    shown = ("never" if r["shown_s"] is None
             else f"{r['shown_s']:.2f} s from the first vote, {r['shown_s'] - r['burst_s']:.2f} s after the last")
    print(f"embedded default, burst of {r['votes']} votes cast in {r['burst_s']:.2f} s: leaderboard shows all "
          f"{r['votes']} votes after {shown} (saw {r['seen']}); pages during the catch-up: {r['page_requests']} requests, "
          f"p50 {r['page_p50_ms']:.0f} ms, max {r['page_max_ms']:.0f} ms; fits ran in a child process: {bool(kids)}")
    print("goal: every vote shown within 5 s, pages responsive")


if __name__ == "__main__":
    main()
