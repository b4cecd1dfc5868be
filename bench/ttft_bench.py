#!/usr/bin/env python3
"""Time-to-first-token overhead of the platform: Celery -> Redis pub/sub -> WebSocket.

    .venv/bin/python bench/ttft_bench.py                          # 20 battles in flight, 30 s
    .venv/bin/python bench/ttft_bench.py --arrivals burst --rounds 5   # 20 started in one instant
    .venv/bin/python bench/ttft_bench.py --json var/ttft.json     # figures and every sample

Everything runs on 127.0.0.1 and is set up and torn down by the script itself:

* a fake OpenAI-compatible model server (its own process, real HTTP, SSE chat completions): it
  answers headers and the role-only chunk at once, waits a random 150-300 ms ("thinking"), then
  writes the first content token and notes the wall-clock time right after it was written and
  flushed to the socket - the model's own first-token moment - then streams the rest;
* a fresh Postgres database (created, migrated, dropped afterwards) and a Redis database number
  used only by the bench (flushed before and after: --redis-db, 15 by default);
* two or more competitors with adapter "openai_chat" pointing at the fake server;
* uvicorn (config.asgi, 2 processes) and a real Celery worker (-Q default,api, prefork), as
  scripts/run.sh starts them, with ARENA_INPROCESS_TASKS=false and a CHANNELS_PREFIX of its own;
* N simulated voters (asyncio, one process) with the page open (GET /, CSRF cookie): each POSTs
  a battle, opens /ws/battle/<id>/ at once and notes the wall-clock time the first "chunk" frame
  of each slot arrives. --arrivals steady (default): each voter starts its next battle as soon
  as the last one is ready, so N battles are in flight all the time; --arrivals burst: each
  round starts N battles in the same instant.

overhead = (browser receives the first chunk of a slot) - (model flushed its first token), per
slot. The breakdown uses Generation.first_token_at (the worker's on_text saw the first text):
model->worker and worker->browser. A slot whose first text reached the browser inside the
"state" frame (it was published before the socket joined the group) is reported apart, and
also in the "incl. via state" line (when the browser first had text, however it came). Clocks:
all processes read the same wall clock (time.time()).

--layer core is a comparison, not the app as shipped: uvicorn and the worker then load a
settings module written to the temp dir (outside the repo) with channels_redis' core
(list-based) layer instead of pub/sub.

Figures only; the script exits 0 when the run completed (whether or not the targets were met),
1 when the targets were missed with --strict, 2 on a setup failure.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

from common import free_port, percentile  # noqa: E402  (bench/common.py)

VENV_BIN = REPO / ".venv" / "bin"
PY = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
TARGET_MEDIAN_MS = 20.0
TARGET_P99_MS = 100.0
MARKER_RE = re.compile(r"\[ttft:([0-9a-f]{32})\]")
WORDS = ("the", "quick", "answer", "is", "that", "water", "boils", "at", "one", "hundred", "degrees",
         "at", "sea", "level", "and", "lower", "on", "a", "mountain", "because", "pressure", "drops")


# ----------------------------------------------------------------------------------------------
# The fake model server (run as a child process: ttft_bench.py --fake-model-server ...)
# ----------------------------------------------------------------------------------------------
def fake_model_server(args: argparse.Namespace) -> None:
    records_path = Path(args.records)
    out = open(records_path, "a", buffering=1)
    out_lock = threading.Lock()
    rng = random.Random(args.seed)
    rng_lock = threading.Lock()

    def sse(obj: Any) -> bytes:
        return f"data: {json.dumps(obj)}\n\n".encode()

    def chunk(content: str | None, finish: str | None = None, role: str | None = None) -> bytes:
        delta: dict[str, Any] = {"content": content}
        if role:
            delta["role"] = role
        return sse({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": "bench", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a: Any) -> None:
            pass

        def _write(self, raw: bytes) -> None:
            self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
            self.wfile.flush()

        def do_POST(self) -> None:  # noqa: N802
            t_recv = time.time()
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            text = " ".join(str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user")
            m = MARKER_RE.search(text)
            marker = m.group(1) if m else ""
            with rng_lock:
                delay = rng.uniform(args.delay_min_ms, args.delay_max_ms) / 1000.0
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._write(chunk("", role="assistant"))  # role-only chunk at once, as OpenAI / vLLM do
            time.sleep(delay)  # the model "thinks" before its first token
            t_before = time.time()
            self._write(chunk(WORDS[0].capitalize()))
            t_first = time.time()  # first token written and flushed: the model's own TTFT moment
            for i in range(1, args.tokens):
                time.sleep(args.token_interval_ms / 1000.0)
                self._write(chunk(" " + WORDS[i % len(WORDS)]))
            self._write(chunk(None, finish="stop"))
            self._write(sse({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "model": "bench",
                             "choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": args.tokens,
                                                      "total_tokens": 8 + args.tokens}}))
            self._write(b"data: [DONE]\n\n")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            rec = {"marker": marker, "model": body.get("model"), "t_recv": t_recv, "t_before_first": t_before,
                   "t_first": t_first, "t_end": time.time(), "delay_s": delay}
            with out_lock:
                out.write(json.dumps(rec) + "\n")

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256

        def handle_error(self, request: Any, client_address: Any) -> None:
            if not isinstance(sys.exc_info()[1], OSError):
                super().handle_error(request, client_address)

    server = Server(("127.0.0.1", 0), Handler)
    print(f"PORT {server.server_address[1]}", flush=True)
    deadline = time.monotonic() + args.max_life_s

    def watchdog() -> None:  # never outlive the bench: stop when the parent is gone or time is up
        parent = os.getppid()
        while time.monotonic() < deadline and os.getppid() == parent:
            time.sleep(0.5)
        server.shutdown()

    threading.Thread(target=watchdog, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown, daemon=True).start())
    server.serve_forever(poll_interval=0.1)
    out.close()


# ----------------------------------------------------------------------------------------------
# Orchestration helpers
# ----------------------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)






def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {"n": len(values), "min": min(values), "median": statistics.median(values), "p90": percentile(values, 0.9),
            "p99": percentile(values, 0.99), "max": max(values), "mean": statistics.fmean(values)}


def fmt(s: dict[str, float]) -> str:
    if not s.get("n"):
        return "n=0"
    return (f"n={s['n']:<4d} median {s['median']:7.2f}  p90 {s['p90']:7.2f}  p99 {s['p99']:7.2f}  "
            f"max {s['max']:7.2f}  min {s['min']:7.2f}  (ms)")


class Stack:
    """Postgres database, Redis db, fake model, Celery worker and the web server; torn down in reverse."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tag = f"ttft{os.getpid()}"
        self.dbname = f"arena_bench_{self.tag}"
        self.tmp = Path(tempfile.mkdtemp(prefix="ttft_bench_"))
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.db_created = False
        self.redis_url = f"redis://{args.redis_host}:{args.redis_port}/{args.redis_db}"
        pg = f"postgres://{args.pg_user}@{args.pg_host}:{args.pg_port}"
        self.database_url = f"{pg}/{self.dbname}"
        self.web_port = free_port()
        self.model_port = 0
        self.records = self.tmp / "model_first_tokens.jsonl"
        self.env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "ARENA_INPROCESS_TASKS": "false",
            "ARENA_RATE_LIMITS": "off",  # 20 battles at once from one client: a load test
            "CHANNELS_PREFIX": f"arena-{self.tag}",
            "MEDIA_ROOT": str(self.tmp / "media"),
            "DEBUG": "True" if args.debug else "False",
            "SECRET_KEY": uuid.uuid4().hex + uuid.uuid4().hex,
            "ARENA_IP_SALT": uuid.uuid4().hex,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        self.env.pop("CELERY_BROKER_URL", None)
        if args.layer != "app":
            # Experiment only (not the app as shipped): a settings module outside the repo that
            # swaps the channel layer, to measure a proposed fix. See --layer.
            mod = self.tmp / "ttft_bench_settings.py"
            mod.write_text(
                "from config.settings import *  # noqa\n"
                "CHANNEL_LAYERS = {'default': {'BACKEND': 'channels_redis.core.RedisChannelLayer', 'CONFIG': {"
                "'hosts': [{'address': REDIS_URL, 'socket_timeout': None}], 'capacity': 20000, "
                "'prefix': os.environ.get('CHANNELS_PREFIX', 'arena')}}}\n")
            self.env["DJANGO_SETTINGS_MODULE"] = "ttft_bench_settings"
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.tmp), str(REPO),
                                                                   os.environ.get("PYTHONPATH", "")]))

    # -- services -----------------------------------------------------------------------
    def psql(self, sql: str) -> None:
        a = self.args
        subprocess.run(["psql", "-h", a.pg_host, "-p", str(a.pg_port), "-U", a.pg_user, "-d", "postgres",
                        "-v", "ON_ERROR_STOP=1", "-qAtc", sql], check=True, capture_output=True, text=True,
                       timeout=60)

    def redis(self):
        import redis

        return redis.Redis(host=self.args.redis_host, port=self.args.redis_port, db=self.args.redis_db)

    def manage(self, *argv: str, code: str | None = None, timeout: int = 300) -> str:
        cmd = [PY, "manage.py", *argv] if code is None else [PY, "-c", code]
        r = subprocess.run(cmd, cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[:3])} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}")
        return r.stdout

    def spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        logf = open(self.tmp / f"{name}.log", "w")
        p = subprocess.Popen(cmd, cwd=REPO, env=self.env, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.procs.append((name, p))
        return p

    def wait_log(self, name: str, pattern: str, proc: subprocess.Popen, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        path = self.tmp / f"{name}.log"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({proc.returncode}):\n{path.read_text()[-3000:]}")
            if re.search(pattern, path.read_text(errors="replace")):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready after {timeout:.0f}s:\n{path.read_text()[-3000:]}")

    def up(self) -> None:
        a = self.args
        if a.redis_db == 0:
            raise RuntimeError("--redis-db 0 refused: the bench flushes its Redis database; pick an unused number")
        r = self.redis()
        r.ping()
        r.flushdb()  # broker queues, cache and channel-layer keys of an earlier, interrupted run
        log(f"Redis {self.redis_url} (flushed)")

        fake = subprocess.Popen(
            [PY, __file__, "--fake-model-server", "--records", str(self.records),
             "--delay-min-ms", str(a.delay_min_ms), "--delay-max-ms", str(a.delay_max_ms),
             "--tokens", str(a.tokens), "--token-interval-ms", str(a.token_interval_ms),
             "--seed", str(a.seed), "--max-life-s", str(a.max_seconds + 60)],
            stdout=subprocess.PIPE, stderr=open(self.tmp / "fake_model.log", "w"), text=True,
            start_new_session=True)
        self.procs.append(("fake_model", fake))
        line = fake.stdout.readline() if fake.stdout else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"fake model server did not start: {line!r}")
        self.model_port = int(line.split()[1])
        log(f"fake OpenAI-compatible model on http://127.0.0.1:{self.model_port}/v1 "
            f"(first token after {a.delay_min_ms:g}-{a.delay_max_ms:g} ms, then {a.tokens - 1} more "
            f"every {a.token_interval_ms:g} ms)")

        self.psql(f'CREATE DATABASE "{self.dbname}"')
        self.db_created = True
        self.manage("migrate", "--noinput", "-v", "0")
        log(f"Postgres database {self.dbname} created and migrated")
        comps = [{"slug": f"ttft-bench-{i}", "name": f"TTFT Bench {chr(65 + i)}", "model": f"bench-model-{i}"}
                 for i in range(a.competitors)]
        base_url = f"http://127.0.0.1:{self.model_port}/v1"
        code = (
            "import django, json, sys; django.setup()\n"
            "from arena.models import Competitor\n"
            "Competitor.objects.all().delete()\n"
            f"for c in json.loads({json.dumps(json.dumps(comps))}):\n"
            "    Competitor.objects.create(slug=c['slug'], name=c['name'], organization='Bench Lab',"
            " modality='text', adapter='openai_chat',"
            f" adapter_config={{'base_url': {base_url!r}, 'model': c['model'], 'params': {{'max_tokens': 64}},"
            " 'max_retries': 0, 'timeout_s': 30})\n"
            "print(Competitor.objects.count())\n"
        )
        n = self.manage(code=code).strip()
        log(f"{n} competitors registered (adapter openai_chat -> fake model)")

        worker = self.spawn("celery", [
            str(VENV_BIN / "celery"), "-A", "config", "worker", "-Q", "default,api", "-n", f"{self.tag}@%h",
            f"--pool={a.pool}", f"--concurrency={a.concurrency}", f"--loglevel={a.worker_loglevel}",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ])
        if a.web == "daphne":
            cmd = [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(self.web_port), "config.asgi:application"]
        else:  # as make run starts it with services
            cmd = [str(VENV_BIN / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--port", str(self.web_port),
                   "--workers", str(a.web_workers), "--no-access-log", "--ws-per-message-deflate", "false",
                   "--no-proxy-headers"]
        web = self.spawn("web", cmd)
        self.wait_log("celery", r"ready\.", worker, 90)
        log(f"Celery worker ready (-Q default,api --pool={a.pool} -c {a.concurrency})")
        self.wait_http(web, 90)
        log(f"{a.web} ready on http://127.0.0.1:{self.web_port}/")

    def wait_http(self, proc: subprocess.Popen, timeout: float) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"the web server exited:\n{(self.tmp / 'web.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the web server did not answer")

    def generations(self, battle_ids: list[str]) -> dict[str, dict[str, dict]]:
        """battle -> slot letter -> {model, first_token_at, started_at, queued_at, finished_at, status}."""
        ids = self.tmp / "battle_ids.json"
        ids.write_text(json.dumps(battle_ids))
        code = (
            "import django, json, sys; django.setup()\n"
            "from arena.models import Generation\n"
            f"ids = json.load(open({str(ids)!r}))\n"
            "out = {}\n"
            "ts = lambda d: d.timestamp() if d else None\n"
            "for g in Generation.objects.filter(slot__battle__public_id__in=ids, turn__index=0)"
            ".select_related('slot__battle', 'slot__competitor'):\n"
            "    out.setdefault(g.slot.battle.public_id, {})[g.slot.letter] = {"
            "'model': g.slot.competitor.adapter_config.get('model'), 'status': g.status,"
            " 'queued_at': ts(g.queued_at), 'started_at': ts(g.started_at),"
            " 'first_token_at': ts(g.first_token_at), 'finished_at': ts(g.finished_at), 'error': g.error}\n"
            "print(json.dumps(out))\n"
        )
        return json.loads(self.manage(code=code).strip().splitlines()[-1])

    def model_records(self) -> dict[tuple[str, str], dict]:
        out: dict[tuple[str, str], dict] = {}
        if self.records.exists():
            for line in self.records.read_text().splitlines():
                rec = json.loads(line)
                out[(rec["marker"], rec["model"])] = rec
        return out

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user+system, all threads) used so far by each process of the stack and the bench.
        Each stack process leads its own session, so its pool children (prefork, uvicorn workers)
        are counted with it: every live process whose session id is the leader's pid."""
        tick = os.sysconf("SC_CLK_TCK")
        out: dict[str, float] = {name: 0.0 for name, _ in self.procs}
        out.update({"redis (all dbs)": 0.0, "postgres (all dbs)": 0.0})
        services = {"redis-server": "redis (all dbs)", "postgres": "postgres (all dbs)"}
        leaders = {p.pid: name for name, p in self.procs}
        for d in Path("/proc").iterdir():
            if not d.name.isdigit():
                continue
            try:
                head, tail = (d / "stat").read_text().rsplit(")", 1)
                f = tail.split()
            except (OSError, ValueError):
                continue
            # f[3] = session id (field 6 of stat); services by command name (shared with other work)
            name = leaders.get(int(f[3])) or services.get(head.split("(", 1)[1])
            if name is not None:
                out[name] += (int(f[11]) + int(f[12])) / tick
        t = os.times()
        out["bench (browsers)"] = t.user + t.system
        return out

    def down(self) -> None:
        for name, p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for name, p in reversed(self.procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        if self.db_created:
            try:
                self.psql(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)')
                log(f"Postgres database {self.dbname} dropped")
            except Exception as e:  # noqa: BLE001
                log(f"could not drop {self.dbname}: {e}")
        try:
            self.redis().flushdb()
        except Exception:  # noqa: BLE001
            pass
        if self.args.keep_logs:
            log(f"logs kept in {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ----------------------------------------------------------------------------------------------
# The simulated browsers
# ----------------------------------------------------------------------------------------------
async def browser(port: int, marker: str, timeout_s: float, start: asyncio.Event,
                  loaded: asyncio.Event, client: Any = None) -> dict[str, Any]:
    """One voter, one battle: (page already open) POST the battle, open its socket, note when
    each slot's first text arrives, until the battle is ready. With `client`, the voter's page is
    already loaded in that client (steady arrivals: "New round" in the same page)."""
    import httpx2 as httpx
    import websockets

    base = f"http://127.0.0.1:{port}"
    res: dict[str, Any] = {"marker": marker, "first_chunk": {}, "first_offset": {}, "via_state": {},
                           "events": [], "error": None}
    try:
        own = client is None
        if own:
            client = httpx.AsyncClient(base_url=base, timeout=timeout_s)
        try:
            if own or not client.cookies.get("csrftoken"):
                # The voter has the page open already (the CSRF cookie comes with it); the battles
                # start together, with the POST, as when N voters press "Start" at one moment.
                r = await client.get("/")
                r.raise_for_status()
            csrftoken = client.cookies.get("csrftoken")
            loaded.set()
            await start.wait()
            res["t_post"] = time.time()
            r = await client.post("/api/battles/", json={"modality": "text",
                                                          "prompt": f"Why does water boil? [ttft:{marker}]"},
                                  headers={"X-CSRFToken": csrftoken or "", "Referer": base + "/"})
            res["t_created"] = time.time()
            if r.status_code != 201:
                raise RuntimeError(f"POST /api/battles/ -> {r.status_code}: {r.text[:300]}")
            battle = r.json()["battle"]
            res["battle"] = battle
            cookie = "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)
        finally:
            if own:
                await client.aclose()
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/battle/{battle}/", origin=base,
                                      additional_headers={"Cookie": cookie}, open_timeout=timeout_s,
                                      max_size=2**22) as ws:
            res["t_ws_open"] = time.time()
            deadline = time.monotonic() + timeout_s
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no battle_ready in time")
                raw = await asyncio.wait_for(ws.recv(), left)
                t = time.time()  # the browser has the frame
                ev = json.loads(raw)
                kind = ev.get("type")
                if kind == "state":
                    res.setdefault("t_state", t)
                    for s in ev.get("slots", []):
                        for o in s.get("outputs", []):
                            if o.get("turn") == 0 and o.get("text") and s["slot"] not in res["first_chunk"]:
                                res["via_state"].setdefault(s["slot"], t)
                    if ev.get("status") in ("ready", "void"):
                        break
                elif kind == "chunk" and ev.get("turn") == 0:
                    slot = ev["slot"]
                    if slot not in res["first_chunk"]:
                        res["first_chunk"][slot] = t
                        res["first_offset"][slot] = ev.get("offset")
                elif kind in ("battle_ready", "battle_void"):
                    res["events"].append(kind)
                    break
                elif kind in ("slot_failed",):
                    res["events"].append(kind)
    except Exception as e:  # noqa: BLE001
        res["error"] = f"{type(e).__name__}: {e}"
    loaded.set()
    return res


async def run_round(port: int, n: int, timeout_s: float) -> list[dict[str, Any]]:
    start = asyncio.Event()
    loaded = [asyncio.Event() for _ in range(n)]
    tasks = [asyncio.create_task(browser(port, uuid.uuid4().hex, timeout_s, start, ev)) for ev in loaded]
    await asyncio.wait_for(asyncio.gather(*(ev.wait() for ev in loaded)), timeout_s)  # every page open
    await asyncio.sleep(0.3)  # the page loads are over
    start.set()  # all battles start at once
    return await asyncio.gather(*tasks)


async def run_steady(port: int, n: int, seconds: float, timeout_s: float) -> list[dict[str, Any]]:
    """N voters, each starting its next battle as soon as the last one is ready (the page's "New
    round"), for `seconds`: N battles in flight all the time, starts spread as they fall."""
    import httpx2 as httpx

    results: list[dict[str, Any]] = []
    stop_at = time.monotonic() + seconds
    go = asyncio.Event()
    go.set()

    async def voter(i: int) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=timeout_s) as client:
            await asyncio.sleep(i * 1.0 / n)  # spread the first starts over a second
            while time.monotonic() < stop_at:
                res = await browser(port, uuid.uuid4().hex, timeout_s, go, asyncio.Event(), client=client)
                results.append(res)
                if res.get("error"):
                    await asyncio.sleep(0.5)

    await asyncio.gather(*(voter(i) for i in range(n)))
    return results


# ----------------------------------------------------------------------------------------------
# Analysis
# ----------------------------------------------------------------------------------------------
def analyse(results: list[dict[str, Any]], gens: dict, model: dict) -> dict[str, Any]:
    overhead, m2w, w2b, pickup, connect, seen = [], [], [], [], [], []
    via_state = missing = errors = 0
    samples = []
    for r in results:
        if r.get("error") or "battle" not in r:
            errors += 1
            continue
        for letter, g in gens.get(r["battle"], {}).items():
            rec = model.get((r["marker"], g["model"]))
            if rec is None or g.get("status") != "done":
                missing += 1
                continue
            if g.get("started_at") and g.get("queued_at"):
                pickup.append((g["started_at"] - g["queued_at"]) * 1000)
            if "t_ws_open" in r:
                # >0: the socket was open this long before the model's first token
                connect.append((rec["t_first"] - r["t_ws_open"]) * 1000)
            # When the browser first had any of the text, however it came (chunk or state frame).
            firsts = [t for t in (r["via_state"].get(letter), r["first_chunk"].get(letter)) if t is not None]
            if firsts:
                seen.append((min(firsts) - rec["t_first"]) * 1000)
            if letter in r["via_state"] or r["first_offset"].get(letter) not in (0, None):
                via_state += 1
                continue
            t_browser = r["first_chunk"].get(letter)
            if t_browser is None:
                missing += 1
                continue
            o = (t_browser - rec["t_first"]) * 1000
            overhead.append(o)
            if g.get("first_token_at"):
                m2w.append((g["first_token_at"] - rec["t_first"]) * 1000)
                w2b.append((t_browser - g["first_token_at"]) * 1000)
            samples.append({"battle": r["battle"], "slot": letter, "overhead_ms": round(o, 3), "t": {
                "post": r.get("t_post"), "created": r.get("t_created"), "ws_open": r.get("t_ws_open"),
                "state": r.get("t_state"), "queued_at": g.get("queued_at"), "started_at": g.get("started_at"),
                "model_recv": rec["t_recv"], "model_first": rec["t_first"], "first_token_at": g.get("first_token_at"),
                "browser_first": t_browser, "finished_at": g.get("finished_at")}})
    return {"overhead": overhead, "model_to_worker": m2w, "worker_to_browser": w2b, "queue_pickup": pickup,
            "socket_lead": connect, "seen": seen, "via_state": via_state, "missing": missing, "errors": errors,
            "samples": samples}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--battles", type=int, default=20,
                   help="battles at once: kept in flight (steady) or started per round (burst); default 20")
    p.add_argument("--rounds", type=int, default=3, help="measured rounds (default 3)")
    p.add_argument("--arrivals", choices=["steady", "burst"], default="steady",
                   help="burst: each round starts --battles battles at the same instant; steady: --battles "
                        "voters each start a new battle as soon as their last is ready, for --seconds")
    p.add_argument("--seconds", type=float, default=30.0, help="measured time with --arrivals steady (default 30)")
    p.add_argument("--warmup", type=int, default=20, help="battles of one unmeasured warm-up round (default 20)")
    p.add_argument("--competitors", type=int, default=2, help="competitors registered (>= 2)")
    p.add_argument("--delay-min-ms", type=float, default=150.0, help="model think time before token 1, min")
    p.add_argument("--delay-max-ms", type=float, default=300.0, help="model think time before token 1, max")
    p.add_argument("--tokens", type=int, default=40, help="tokens per answer (default 40)")
    p.add_argument("--token-interval-ms", type=float, default=20.0, help="gap between tokens (default 20 = 50 tok/s)")
    p.add_argument("--pool", default="prefork", help="Celery pool (default prefork, as make run)")
    p.add_argument("--web", choices=["uvicorn", "daphne"], default="uvicorn", help="web server (uvicorn, as make run)")
    p.add_argument("--web-workers", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=40,
                   help="Celery worker concurrency (default 40: two outputs per battle in flight)")
    p.add_argument("--worker-loglevel", default="INFO")
    p.add_argument("--debug", action="store_true", help="run the app with DEBUG=True (default False)")
    p.add_argument("--layer", choices=["app", "core"], default="app",
                   help="app: the channel layer as config/settings.py builds it (Redis pub/sub; the measurement). "
                        "core: channels_redis' list-based core layer instead, for comparison (a settings module "
                        "in the temp dir)")
    p.add_argument("--pg-host", default="127.0.0.1")
    p.add_argument("--pg-port", type=int, default=5432)
    p.add_argument("--pg-user", default="postgres")
    p.add_argument("--redis-host", default="127.0.0.1")
    p.add_argument("--redis-port", type=int, default=6379)
    p.add_argument("--redis-db", type=int, default=15, help="Redis database used only by the bench; flushed")
    p.add_argument("--round-timeout-s", type=float, default=60.0)
    p.add_argument("--max-seconds", type=float, default=900.0, help="hard limit for the whole run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write figures and per-slot samples here")
    p.add_argument("--keep-logs", action="store_true", help="keep the temp dir with the web/celery logs")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    # child mode
    p.add_argument("--fake-model-server", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--records", help=argparse.SUPPRESS)
    p.add_argument("--max-life-s", type=float, default=960.0, help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.fake_model_server:
        fake_model_server(args)
        return 0
    if args.competitors < 2:
        p.error("--competitors must be >= 2")
    try:
        import websockets  # noqa: F401
    except ImportError:
        print("bench needs the websockets client (in requirements.txt): make install", file=sys.stderr)
        return 2

    stack = Stack(args)
    hard_stop = threading.Timer(args.max_seconds, lambda: os.kill(os.getpid(), signal.SIGINT))
    hard_stop.daemon = True
    hard_stop.start()
    all_results: list[list[dict[str, Any]]] = []
    try:
        stack.up()
        if args.warmup:
            log(f"warm-up: {args.warmup} battles (not measured)")
            asyncio.run(run_round(stack.web_port, args.warmup, args.round_timeout_s))
        load0 = os.getloadavg()
        cpu0, wall0 = stack.cpu_seconds(), time.monotonic()
        if args.arrivals == "steady":
            t0 = time.monotonic()
            res = asyncio.run(run_steady(stack.web_port, args.battles, args.seconds, args.round_timeout_s))
            bad = [r["error"] for r in res if r.get("error")]
            log(f"steady: {args.battles} voters, {len(res)} battles in {time.monotonic() - t0:.1f}s"
                + (f", {len(bad)} failed: {bad[:3]}" if bad else ""))
            all_results.append(res)
        for i in range(args.rounds if args.arrivals == "burst" else 0):
            t0 = time.monotonic()
            res = asyncio.run(run_round(stack.web_port, args.battles, args.round_timeout_s))
            bad = [r["error"] for r in res if r.get("error")]
            log(f"round {i + 1}/{args.rounds}: {args.battles} battles at once, {time.monotonic() - t0:.1f}s"
                + (f", {len(bad)} failed: {bad[:3]}" if bad else ""))
            all_results.append(res)
            time.sleep(0.5)
        time.sleep(0.5)  # the last records of the fake model
        cpu1, wall = stack.cpu_seconds(), time.monotonic() - wall0
        cpu = {k: (cpu1[k] - cpu0.get(k, 0.0)) for k in cpu1}
        load1 = os.getloadavg()
        flat = [r for res in all_results for r in res]
        gens = stack.generations([r["battle"] for r in flat if r.get("battle")])
        model = stack.model_records()
        per_round = [analyse(res, gens, model) for res in all_results]
        total = analyse(flat, gens, model)
    except KeyboardInterrupt:
        log("stopped (time limit or Ctrl-C)")
        return 2
    except Exception as e:  # noqa: BLE001
        log(f"setup/run failed: {e}")
        return 2
    finally:
        hard_stop.cancel()
        stack.down()

    ov = summary(total["overhead"])
    print()
    shape = (f"{args.battles} battles at once, {args.rounds} rounds" if args.arrivals == "burst" else
             f"{args.battles} battles in flight all the time (steady, {args.seconds:g}s)")
    print(f"TTFT overhead (browser first chunk - model first token), {shape}, {args.competitors} competitors, worker --pool={args.pool} -c {args.concurrency}, "
          f"model think {args.delay_min_ms:g}-{args.delay_max_ms:g} ms, {args.tokens} tokens @ "
          f"{args.token_interval_ms:g} ms, DEBUG={args.debug}, channel layer: {args.layer}")
    print(f"  battles: {len([r for r in flat if r.get('battle')])} ok / {len(flat)}   slots measured: {ov['n']}   "
          f"first token before socket joined (via state, excluded): {total['via_state']}   "
          f"missing/failed slots: {total['missing']}   browser errors: {total['errors']}")
    for i, r in enumerate(per_round):
        print(f"  round {i + 1}: overhead  {fmt(summary(r['overhead']))}")
    print(f"  ALL    : overhead           {fmt(ov)}")
    print(f"           incl. via state    {fmt(summary(total['seen']))}   (every slot: when the browser first had text, "
          "chunk or state frame)")
    print(f"           model -> worker    {fmt(summary(total['model_to_worker']))}   (Generation.first_token_at)")
    print(f"           worker -> browser  {fmt(summary(total['worker_to_browser']))}")
    print(f"           queue -> task start{fmt(summary(total['queue_pickup']))}   (started_at - queued_at)")
    print(f"           socket open before model's 1st token {fmt(summary(total['socket_lead']))}")
    print(f"  CPU during the measured rounds ({wall:.1f}s wall, {os.cpu_count()} cores): "
          + ", ".join(f"{k} {v:.1f}s ({100 * v / wall:.0f}%)" for k, v in cpu.items()))
    print(f"  machine load average (1 min) before / after the measured rounds: {load0[0]:.2f} / {load1[0]:.2f}"
          " (other work on this machine inflates every figure)")
    ok = bool(ov.get("n")) and ov["median"] < TARGET_MEDIAN_MS and ov["p99"] < TARGET_P99_MS
    if ov.get("n"):
        print(f"  target: median < {TARGET_MEDIAN_MS:g} ms ({ov['median']:.2f}: "
              f"{'ok' if ov['median'] < TARGET_MEDIAN_MS else 'MISSED'}), p99 < {TARGET_P99_MS:g} ms "
              f"({ov['p99']:.2f}: {'ok' if ov['p99'] < TARGET_P99_MS else 'MISSED'})  =>  {'PASS' if ok else 'FAIL'}")
    else:
        print("  target: no sample => FAIL")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            "args": vars(args), "pass": ok, "overhead": ov,
            "model_to_worker": summary(total["model_to_worker"]),
            "worker_to_browser": summary(total["worker_to_browser"]),
            "queue_pickup": summary(total["queue_pickup"]), "socket_lead": summary(total["socket_lead"]),
            "seen_any_way": summary(total["seen"]),
            "cpu_s": cpu, "wall_s": wall, "loadavg": [load0, load1], "via_state": total["via_state"], "missing": total["missing"], "errors": total["errors"],
            "rounds": [summary(r["overhead"]) for r in per_round], "samples": total["samples"],
        }, indent=1))
    return 1 if (args.strict and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())
