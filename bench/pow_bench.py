#!/usr/bin/env python
"""What the proof-of-work challenge costs: the browser's solve time (static/arena/pow.js in
Debian's Chromium, crypto.subtle) per difficulty, beside a script's (Python hashlib, one core),
so that ARENA_POW_DIFFICULTY can be chosen knowing what a voter waits and what a bot pays.

  .venv/bin/python bench/pow_bench.py [--difficulties 12,14,16,18] [--challenges 20]

The page is served from 127.0.0.1 (a secure context, as https is in production). The work is
random: each challenge needs 2^difficulty hashes on average, with a long tail; median and p90
are printed.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import os
import secrets
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from common import percentile, solve_pow  # noqa: E402  (bench/common.py)






def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--difficulties", default="12,14,16,18")
    p.add_argument("--challenges", type=int, default=20)
    a = p.parse_args()
    difficulties = [int(d) for d in a.difficulties.split(",")]
    from playwright.sync_api import sync_playwright

    site = Path(tempfile.mkdtemp())
    (site / "index.html").write_text('<!doctype html><script src="pow.js"></script>')
    shutil.copy(ROOT / "static/arena/pow.js", site / "pow.js")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # noqa: D102
            pass

    handler = functools.partial(Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    chromium = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
    print(f"load average {os.getloadavg()[0]:.1f}; {a.challenges} random challenges per difficulty")
    print(f"{'bits':>4}  {'browser median':>14}  {'browser p90':>11}  {'python median':>13}  {'python p90':>10}")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"], headless=True)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_port}/")
            for d in difficulties:
                browser_ms = page.evaluate(
                    """async ([d, n]) => { const out = [];
                       for (let i = 0; i < n; i++) { const t = performance.now();
                         await ArenaPow.solve(`bench-${d}-${i}-${Math.random()}`, d); out.push(performance.now() - t); }
                       return out; }""",
                    [d, a.challenges],
                )
                python_ms = []
                for _ in range(a.challenges):
                    t = time.perf_counter()
                    solve_pow(secrets.token_hex(16), d)
                    python_ms.append((time.perf_counter() - t) * 1000)
                print(f"{d:>4}  {statistics.median(browser_ms):>11.0f} ms  {percentile(browser_ms, 0.9):>8.0f} ms"
                      f"  {statistics.median(python_ms):>10.0f} ms  {percentile(python_ms, 0.9):>7.0f} ms")
            browser.close()
    finally:
        server.shutdown()
        shutil.rmtree(site, ignore_errors=True)


if __name__ == "__main__":
    main()
