"""End-to-end fixtures: REAL processes (uvicorn + a Celery worker) against pytest-django's test
database, and a real Chromium driven by Playwright.

* `e2e_demo` seeds the demo roster (committed: `transactional_db`, so the other processes see it)
  with a small token delay, so streaming is still exercised but quick.
* `arena_stack_factory` starts `uvicorn config.asgi:application` on a free port and a
  `celery -A config worker` on the queues default, api and gpu, both with DATABASE_URL pointing at
  the test database, the run's REDIS_URL, a unique CHANNELS_PREFIX and a private MEDIA_ROOT;
  `live_arena` is one such stack with the default settings.
* `browser` / `page`: Debian's Chromium (CHROMIUM_PATH, never a downloaded browser).

The eager Celery setting of tests/conftest.py only concerns the pytest process itself.
On a failing test the processes' log tails are printed (and the logs kept under
test-artifacts/logs/).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest

# Sync Playwright runs an event loop in this thread; Django's async-safety check would refuse
# every ORM call the tests make while it runs.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

from .helpers import ARTIFACTS, REPO, SCREENSHOTS

BIN = Path(sys.executable).parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Token delay for the demo text models in e2e runs: streamed, but quick.
FAST_TOKEN_MS = 5


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def _failed(request) -> bool:
    return any(getattr(getattr(request.node, f"rep_{w}", None), "failed", False) for w in ("setup", "call"))


# ---- processes ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _exe(name: str) -> list[str]:
    path = BIN / name
    return [str(path)] if path.exists() else [sys.executable, "-m", name]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path
    _log: object = field(repr=False, default=None)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def kill_group(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (the worker and any child it forked)."""
        try:
            os.killpg(self.popen.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 10) -> None:
        if self.alive():
            self.kill_group(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill_group(signal.SIGKILL)
                self.popen.wait(5)
        else:
            self.kill_group(signal.SIGKILL)  # children left behind, if any
        if self._log is not None:
            self._log.close()  # type: ignore[attr-defined]
            self._log = None


class StackError(RuntimeError):
    pass


@dataclass
class ArenaStack:
    """uvicorn + Celery worker(s) on the test database. `base_url` is the site's root."""

    env: dict[str, str]
    log_dir: Path
    port: int
    web: Proc | None = None
    workers: list[Proc] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def worker(self) -> Proc:
        return self.workers[-1]

    @property
    def procs(self) -> list[Proc]:
        return ([self.web] if self.web else []) + self.workers

    def _spawn(self, name: str, argv: list[str]) -> Proc:
        log_path = self.log_dir / f"{name}.log"
        fh = open(log_path, "ab", buffering=0)
        popen = subprocess.Popen(
            argv, cwd=REPO, env=self.env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: SIGKILL reaches the worker's children too
        )
        return Proc(name=name, popen=popen, log_path=log_path, _log=fh)

    def spawn_web(self) -> Proc:
        # As `make run` starts it with services: uvicorn, two worker processes sharing the Redis layer.
        self.web = self._spawn("uvicorn", _exe("uvicorn") + ["config.asgi:application", "--host", "127.0.0.1",
                                                          "--port", str(self.port), "--workers", "2",
                                                          "--ws-per-message-deflate", "false",
                                                          "--no-proxy-headers"])
        return self.web

    def wait_web(self, timeout: float = 30) -> Proc:
        assert self.web is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.web.alive():
                raise StackError(f"the web server exited ({self.web.popen.returncode}):\n{self.web.tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/", timeout=2) as r:
                    if r.status == 200:
                        return self.web
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        raise StackError(f"the web server did not answer on {self.base_url} within {timeout}s:\n{self.web.tail()}")

    def start_web(self, timeout: float = 30) -> Proc:
        self.spawn_web()
        return self.wait_web(timeout)

    def spawn_worker(self) -> Proc:
        n = len(self.workers) + 1
        hostname = f"e2e-{uuid.uuid4().hex[:8]}-{n}@%h"
        argv = _exe("celery") + [
            "-A", "config", "worker", "-Q", "default,api,gpu", "--pool=threads", "-c", "8", "--loglevel=INFO",
            "--hostname", hostname, "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]
        proc = self._spawn(f"worker{n}", argv)
        self.workers.append(proc)
        return proc

    @staticmethod
    def wait_worker(proc: Proc, timeout: float = 45) -> Proc:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise StackError(f"celery worker exited ({proc.popen.returncode}):\n{proc.tail()}")
            if " ready." in proc.log():
                return proc
            time.sleep(0.1)
        raise StackError(f"celery worker not ready within {timeout}s:\n{proc.tail()}")

    def start_worker(self, timeout: float = 45) -> Proc:
        return self.wait_worker(self.spawn_worker(), timeout)

    def stop(self) -> None:
        for p in reversed(self.procs):
            p.stop()

    def tails(self, lines: int = 60) -> str:
        return "\n".join(f"----- {p.name} (pid {p.pid}, log {p.log_path}) -----\n{p.tail(lines)}" for p in self.procs)


def database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    auth = s["USER"] or "postgres"
    if s.get("PASSWORD"):
        auth += ":" + urllib.parse.quote(s["PASSWORD"], safe="")
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or "5432"
    return f"postgres://{auth}@{host}:{port}/{s['NAME']}"


@pytest.fixture
def e2e_demo(transactional_db):
    """The demo roster, committed, with a small token delay and no render delay."""
    from django.core.management import call_command

    from arena.models import Competitor

    clear_partial_texts()
    call_command("arena_seed_demo", stdout=open(os.devnull, "w"))
    for c in Competitor.objects.all():
        c.adapter_config = {**c.adapter_config, "token_delay_ms": FAST_TOKEN_MS, "render_delay_ms": 0}
        c.save(update_fields=["adapter_config"])
    return Competitor.objects.all()


def clear_partial_texts() -> None:
    """Drop running texts left in the shared Redis by earlier runs (arena.services.partials;
    their keys carry the battle's random id, so this is tidiness, not correctness)."""
    import redis
    from django.conf import settings

    if not settings.REDIS_URL:
        return
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match="arena:partial:*", count=1000):
        client.delete(key)


@pytest.fixture
def arena_stack_factory(transactional_db, tmp_path, request) -> Iterator[Callable[..., ArenaStack]]:
    """Start real uvicorn + Celery worker processes; `env` overrides their environment
    (e.g. ARENA_GENERATION_TIMEOUT_S). Stopped (and their logs printed on failure) afterwards."""
    from django.conf import settings
    from django.db import connection

    connection.ensure_connection()
    assert connection.settings_dict["NAME"].startswith("test_"), connection.settings_dict["NAME"]
    stacks: list[ArenaStack] = []

    def make(env: dict[str, str] | None = None, *, worker: bool = True) -> ArenaStack:
        run = uuid.uuid4().hex[:10]
        log_dir = tmp_path / f"stack{len(stacks) + 1}"
        log_dir.mkdir()
        media = tmp_path / f"media{len(stacks) + 1}"
        media.mkdir()
        child_env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE" and not k.startswith("PYTEST")}
        child_env.update(
            DATABASE_URL=database_url(),
            REDIS_URL=os.environ.get("REDIS_URL") or settings.REDIS_URL,
            CHANNELS_PREFIX=f"e2e{run}",
            MEDIA_ROOT=str(media),
            ARENA_INPROCESS_TASKS="false",
            DJANGO_SETTINGS_MODULE="config.settings",
            PYTHONUNBUFFERED="1",
            DB_CONN_MAX_AGE="0",  # no idle connection left behind when the test database is flushed
            # Browser tests play battles at machine speed: no rate limits, challenges or minimum
            # dwell unless a test asks for them (tests/e2e/test_anti_automation.py).
            ARENA_RATE_LIMITS="off",
            ARENA_MIN_DWELL_MS="0",
        )
        child_env.update(env or {})
        if not child_env["REDIS_URL"]:
            pytest.fail("e2e tests need REDIS_URL (run them with scripts/test.sh)")
        stack = ArenaStack(env=child_env, log_dir=log_dir, port=free_port())
        stacks.append(stack)
        stack.spawn_web()
        proc = stack.spawn_worker() if worker else None  # both start at once
        stack.wait_web()
        if proc is not None:
            stack.wait_worker(proc)
        return stack

    yield make

    for s in stacks:
        s.stop()
    if _failed(request):
        for i, s in enumerate(stacks, 1):
            print(f"\n===== e2e stack {i} ({s.base_url}) logs =====\n{s.tails(80)}")
        keep = ARTIFACTS / "logs" / request.node.name.replace("/", "_")
        keep.mkdir(parents=True, exist_ok=True)
        for i, s in enumerate(stacks, 1):
            for p in s.procs:
                shutil.copy(p.log_path, keep / f"stack{i}-{p.name}.log")


@pytest.fixture
def live_arena(e2e_demo, arena_stack_factory) -> ArenaStack:
    return arena_stack_factory()


# ---- browser -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def playwright_instance():
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    yield pw
    pw.stop()


@pytest.fixture(scope="module")
def browser(playwright_instance):
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no Chromium: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH")
    b = playwright_instance.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
    yield b
    b.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser context (a new voter: its own session cookie) and page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    pg = context.new_page()
    console: list[str] = []
    pg.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    pg.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    ws_log: list[str] = []

    def on_ws(ws):
        t0 = time.monotonic()
        ws_log.append(f"open {ws.url}")
        ws.on("framereceived", lambda p: ws_log.append(f"{time.monotonic() - t0:7.3f} < {str(p)[:160]}"))
        ws.on("close", lambda _: ws_log.append(f"{time.monotonic() - t0:7.3f} closed {ws.url}"))

    pg.on("websocket", on_ws)
    yield pg
    if _failed(request):
        try:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            pg.screenshot(path=str(SCREENSHOTS / f"FAILED-{request.node.name}.png"), full_page=True)
        except Exception:
            pass
        print("\n===== browser console =====\n" + "\n".join(console[-50:]))
        print("\n===== WebSocket frames received =====\n" + "\n".join(ws_log[:30] + ["..."] + ws_log[-30:]))
        keep = ARTIFACTS / "logs" / request.node.name.replace("/", "_")
        keep.mkdir(parents=True, exist_ok=True)
        (keep / "websocket-frames.log").write_text("\n".join(ws_log))
        (keep / "browser-console.log").write_text("\n".join(console))
    context.close()


# ---- the broker ----------------------------------------------------------------------------------
def drop_unacked(generation_ids: set[int], *, dry_run: bool = False) -> int | None:
    """Remove the killed worker's unacknowledged `generate` messages from the Redis broker.
    Kombu only restores them after its visibility timeout (an hour), when they would be
    delivered to whatever worker then listens on this Redis database: not to a later test run.
    Returns how many there were (dry_run: only count them); None when the broker is not Redis."""
    import redis
    from django.conf import settings

    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return None  # another broker (e.g. RabbitMQ) requeues the message itself
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    wanted = {f"({g},)" for g in generation_ids} | {f"[{g}]" for g in generation_ids}
    dropped = 0
    for tag, raw in client.hgetall("unacked").items():
        try:
            payload = json.loads(raw)[0]
            headers = payload.get("headers") or {}
        except (ValueError, IndexError, AttributeError, TypeError):
            continue
        if headers.get("task") == "arena.tasks.generate" and str(headers.get("argsrepr")) in wanted:
            dropped += 1
            if dry_run:
                continue
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)
    return dropped
