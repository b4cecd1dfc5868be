"""Embedded default (no Celery worker): leaderboard fits run in ONE child process with its own
interpreter (`manage.py ratings_fitter`), never in the web process's threads, so pages stay
responsive while it fits.

Nudges only mark a board pending (a counter per board: any number of nudges for one board, and
nudges for many boards, become one batch). One feeder thread in the web process sends every pending
board to the child in one batch, the published Bradley-Terry boards first; the child fits each,
commits its snapshot and reports it; only then is the board's pending mark cleared (if no nudge came
meanwhile), and the web process tells open pages (the in-memory channel layer lives here). If the
child dies mid-fit it is started again and the batch is sent again: nothing is lost.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

Board = tuple[str, str, str]  # modality, category, method


class Fitter:
    def __init__(self) -> None:
        self.pending: dict[Board, int] = {}
        self.cv = threading.Condition()
        self.thread: threading.Thread | None = None
        self.proc: subprocess.Popen | None = None
        self.fits = 0

    def nudge(self, modality: str, category: str, method: str) -> bool:
        with self.cv:
            board = (modality, category, method)
            new = board not in self.pending
            self.pending[board] = self.pending.get(board, 0) + 1
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._feed, name="ratings-fitter", daemon=True)
                self.thread.start()
            self.cv.notify()
            return new

    def idle(self) -> bool:
        with self.cv:
            return not self.pending

    def _feed(self) -> None:
        while True:
            with self.cv:
                while not self.pending:
                    self.cv.wait()
            time.sleep(settings.RATINGS_EMBEDDED_DEBOUNCE_S)  # let a burst of votes gather
            with self.cv:
                batch = dict(self.pending)
            order = sorted(batch, key=lambda b: (b[2] != "bt", b[1] != "overall", b))
            try:
                for board, snapshot in self._fit(order):
                    with self.cv:
                        if self.pending.get(board) == batch[board]:
                            del self.pending[board]
                    if snapshot:
                        _announce(*snapshot)
            except Exception:  # the child died or spoke nonsense: start a new one, send again
                log.exception("ratings fitter process failed; restarting it")
                self._stop()
                time.sleep(0.5)

    def _fit(self, boards: list[Board]):
        proc = self._child()
        proc.stdin.write(json.dumps({"boards": boards}) + "\n")
        proc.stdin.flush()
        while True:
            line = proc.stdout.readline()
            if not line:
                raise RuntimeError(f"ratings fitter exited with {proc.poll()}")
            msg = json.loads(line)
            if "end" in msg:
                return
            self.fits += 1
            yield tuple(msg["board"]), msg.get("snapshot")

    def _child(self) -> subprocess.Popen:
        if self.proc is None or self.proc.poll() is not None:
            manage = Path(settings.BASE_DIR) / "manage.py"
            self.proc = subprocess.Popen([sys.executable, str(manage), "ratings_fitter"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, bufsize=1)
        return self.proc

    def _stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


def _announce(modality: str, category: str, method: str, snapshot: int, votes: int) -> None:
    from arena.services.events import publish

    publish(f"leaderboard.{modality}", {"type": "snapshot", "modality": modality, "category": category,
                                        "method": method, "snapshot": snapshot, "votes": votes})


_fitter: Fitter | None = None
_lock = threading.Lock()


def fitter() -> Fitter:
    global _fitter
    with _lock:
        if _fitter is None:
            _fitter = Fitter()
        return _fitter
