#!/usr/bin/env python
"""A research release of 1M votes with text conversations of realistic length, in Postgres.

  .venv/bin/python bench/release_bench.py [--votes 1000000] [--keep] [--no-peer] [--db arena_bench_release]

Fills a scratch database (--db, default arena_bench_release; --keep keeps and reuses it) with COPY: voters with
heavy-tailed activity (2% opted out of text), 30 text models, 90% pairwise / 10% 4-wise votes,
10% of pairwise battles with a follow-up turn; prompts of ~40 words (log-normal, median ~230
characters), answers of ~250 words (log-normal, median ~1,300 characters, markdown lines), 1% of
prompts with an e-mail address or a phone number. Then, in a child process each (so that each peak
RSS is its own):

- floor: Postgres alone streaming the same vote rows with every prompt and answer (COPY to
  /dev/null): what no release can beat;
- release: `releases.build.release_build` end to end (votes.parquet + votes.jsonl.gz + card +
  manifest + the leaderboards it records, each a 1000-round bootstrap) and its peak memory;
- peer: today's `manage.py ratings_export_votes --modality text --out votes.parquet` (counted
  votes, core columns only, all rows as Python dicts) on the same database.

Goal (issue 13): the release in under 60 s and under 1 GiB. Figures depend on the machine's load
(printed).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB = os.environ.get("ARENA_BENCH_RELEASE_DB", "arena_bench_release")
WORDS = ("the model answer question data energy light system function value result example language code "
         "because however which would could should first second different important possible various "
         "photosynthesis converts chemical process network training layer output input request python "
         "history river mountain city market price growth policy research paper method experiment sample "
         "therefore consider following approach explain describe simple complex typical general").split()


def _setup() -> None:
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB}"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["ARENA_RELEASE_CRON"] = "off"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # services + DEBUG off need both
    os.environ.setdefault("ARENA_IP_SALT", secrets.token_urlsafe(32))
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _sentences(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(6, 22))]
        if rng.random() < 0.15:
            words.insert(rng.randrange(len(words)), str(rng.randint(2, 9999)))
        out.append(" ".join(words).capitalize() + rng.choice([".", ".", ".", "?", ":"]))
    return out


def _text(rng: random.Random, pool: list[str], median_chars: int, sigma: float = 0.7, markdown: bool = False) -> str:
    target = int(min(median_chars * math.exp(rng.gauss(0, sigma)), median_chars * 12))
    parts, size = [], 0
    while size < target:
        s = rng.choice(pool)
        if markdown and rng.random() < 0.08:
            s = rng.choice(["\\n\\n## ", "\\n- ", "\\n1. ", "\\n\\n**"]) + s
        parts.append(s)
        size += len(s) + 1
    return " ".join(parts)


def _copy(cur, table: str, cols: list[str], rows) -> None:
    from common import model_defaults

    extra, values = model_defaults(table, cols)
    tail = "".join("\t" + v for v in values)
    with cur.copy(f"COPY {table} ({', '.join(cols + extra)}) FROM STDIN") as cp:
        buf = []
        for row in rows:
            buf.append(row[:-1] + tail + "\n" if tail else row)
            if len(buf) >= 20000:
                cp.write("".join(buf))
                buf.clear()
        if buf:
            cp.write("".join(buf))


def seed(n_votes: int) -> None:
    from django.db import connection
    from django.utils import timezone

    rng = random.Random(13)
    pool = _sentences(rng, 20000)
    now = timezone.now()
    start = now - dt.timedelta(days=90)

    def ts(i: int) -> str:
        return (start + dt.timedelta(seconds=i * 5)).isoformat()
    n_models, n_voters = 30, max(n_votes // 20, 10)
    with connection.cursor() as c:
        cur = c.cursor
        cur.execute("TRUNCATE arena_competitor, arena_voter, arena_prompt, arena_battle, arena_turn, arena_slot, "
                    "arena_generation, arena_vote, releases_release RESTART IDENTITY CASCADE")
        _copy(cur, "arena_competitor", ["slug", "name", "organization", "modality", "adapter", "adapter_config", "identity_words",
                                        "active", "public", "sampling_weight", "max_concurrency", "healthy", "consecutive_failures",
                                        "last_failure", "created"],
              (f"model-{i}\tModel {i}\tOrg {i % 7}\ttext\tdemo_text\t{{}}\t[]\tt\tt\t1\t0\tt\t0\t\t{ts(0)}\n" for i in range(n_models)))
        _copy(cur, "arena_voter", ["public_id", "first_seen", "last_seen", "battles_count", "votes_count", "release_opt_out"],
              (f"v_bench{i:08d}\t{ts(0)}\t{ts(0)}\t0\t0\t{'t' if rng.random() < 0.02 else 'f'}\n" for i in range(n_voters)))
        # Heavy-tailed activity: a voter's share ~ Pareto.
        weights = [rng.paretovariate(1.2) for _ in range(n_voters)]
        voter_of = rng.choices(range(1, n_voters + 1), weights=weights, k=n_votes)
        plan = []  # (k, turns)
        for i in range(n_votes):
            kwise = rng.random() < 0.10
            plan.append((4 if kwise else 2, 2 if (not kwise and rng.random() < 0.10) else 1))
        n_prompts = sum(t for _, t in plan)

        def prompts():
            for _ in range(n_prompts):
                text = _text(rng, pool, 230, 0.8)
                r = rng.random()
                if r < 0.005:
                    text += f" My email is person{rng.randint(1, 10**6)}@example.com."
                elif r < 0.01:
                    text += f" Call me at +1 415 555 {rng.randint(1000, 9999)}."
                yield f"{text}\ttext\tother\ten\tuser\t\t{ts(0)}\n"
        t0 = time.perf_counter()
        _copy(cur, "arena_prompt", ["text", "modality", "category", "language", "source", "input_media", "created"], prompts())
        print(f"  prompts: {n_prompts:,} ({time.perf_counter() - t0:.0f} s)", flush=True)
        cats = ["coding", "creative_writing", "math", "other", "reasoning"]
        first_prompt, p = [], 1
        for _, turns in plan:
            first_prompt.append(p)
            p += turns
        _copy(cur, "arena_battle", ["public_id", "mode", "k", "anonymous", "modality", "voter_id", "prompt_id", "status",
                                    "void_reason", "n_turns", "created"],
              (f"b{i:012d}\t{'kwise' if k > 2 else 'pairwise'}\t{k}\tt\ttext\t{voter_of[i]}\t{first_prompt[i]}\tvoted\t\t{t}\t{ts(i)}\n"
               for i, (k, t) in enumerate(plan)))
        _copy(cur, "arena_turn", ["battle_id", "index", "prompt_id", "created"],
              (f"{i + 1}\t{t}\t{first_prompt[i] + t}\t{ts(i)}\n" for i, (_, turns) in enumerate(plan) for t in range(turns)))
        models = [rng.sample(range(1, n_models + 1), k) for k, _ in plan]
        _copy(cur, "arena_slot", ["battle_id", "position", "competitor_id"],
              (f"{i + 1}\t{pos}\t{m}\n" for i in range(n_votes) for pos, m in enumerate(models[i])))
        print(f"  battles, turns, slots ({time.perf_counter() - t0:.0f} s)", flush=True)
        # slot ids follow the COPY order; turn ids likewise
        def gens():
            slot_id, turn_id = 0, 0
            for i, (k, turns) in enumerate(plan):
                first_turn = turn_id + 1
                turn_id += turns
                for _pos in range(k):
                    slot_id += 1
                    for t in range(turns):
                        yield (f"{slot_id}\t{first_turn + t}\tdone\t{_text(rng, pool, 1300, 0.7, markdown=True)}\t\t\t\t{{}}\t"
                               f"{ts(i)}\t{ts(i)}\t{ts(i)}\t{ts(i)}\n")
        _copy(cur, "arena_generation", ["slot_id", "turn_id", "status", "text", "media_name", "media_mime", "error", "meta",
                                        "queued_at", "started_at", "first_token_at", "finished_at"], gens())
        print(f"  generations ({time.perf_counter() - t0:.0f} s)", flush=True)

        def votes():
            for i, (k, turns) in enumerate(plan):
                if k == 2:
                    o = rng.choice(["a", "a", "b", "b", "tie", "both_bad"])
                    rk = {"a": "[1, 2]", "b": "[2, 1]", "tie": "[1, 1]", "both_bad": "[1, 1]"}[o]
                    ma, mb = models[i]
                    crit = json.dumps({"helpfulness": rng.choice("ab")}) if rng.random() < 0.2 else "{}"
                else:
                    o, places = "", rng.sample(range(1, k + 1), k)
                    rk, ma, mb, crit = json.dumps(places), "\\N", "\\N", "{}"
                fb = rng.choice(["", "", "", "", "A was clearer", "both too long"])
                counted = "f" if rng.random() < 0.03 else "t"
                reason = "identity_leak" if counted == "f" else ""
                yield (f"{i + 1}\t{voter_of[i]}\t{o}\t{rk}\tf\t{crit}\t{fb}\t{{}}\tnethash{i % 5000}\t\t{counted}\t1\t"
                       f"text\t{'kwise' if k > 2 else 'pairwise'}\t{cats[i % 5]}\ten\t{turns}\t{ma}\t{mb}\t{reason}\t\t{ts(i)}\n")
        _copy(cur, "arena_vote", ["battle_id", "voter_id", "outcome", "ranking", "best_only", "criteria", "feedback", "listen_ms",
                                  "network_hash", "idempotency_key", "counted", "weight", "modality", "mode", "category",
                                  "language", "n_turns", "model_a_id", "model_b_id", "exclusion_reason", "exclusion_detail",
                                  "created"], votes())
        print(f"  votes ({time.perf_counter() - t0:.0f} s)", flush=True)
        cur.execute("ANALYZE")


class _PostgresCPU:
    """CPU seconds of the Postgres backends serving this database (their process title names it),
    sampled from /proc every 0.2 s: the database's share of the work, which the child's own CPU
    figure leaves out (a backend's last 0.2 s before it exits may be missed)."""

    def __init__(self) -> None:
        import threading

        self.seen: dict[int, float] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                title = Path(f"/proc/{pid}/cmdline").read_bytes()
                if not title.startswith(b"postgres: ") or f" {DB} ".encode() not in title:
                    continue
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                self.seen[int(pid)] = (int(fields[11]) + int(fields[12])) / tick
            except OSError:
                continue

    def _run(self) -> None:
        first = True
        while not self.stop.wait(0.2):
            self._sample()
            if first:  # backends already there (none normally) count from now
                self.base = dict(self.seen)
                first = False

    def seconds(self) -> float:
        self.stop.set()
        self.thread.join()
        self._sample()
        base = getattr(self, "base", {})
        return sum(v - base.get(pid, 0.0) for pid, v in self.seen.items())


def _child(kind: str, out: str) -> None:
    _setup()
    pg = _PostgresCPU()
    started = time.perf_counter()
    result: dict = {}
    if kind == "floor":
        from django.db import connection

        sql = ("COPY (SELECT v.id, v.created, v.outcome, v.ranking, v.feedback, p.text, "
               "(SELECT string_agg(g.text, '') FROM arena_slot s JOIN arena_generation g ON g.slot_id = s.id "
               " WHERE s.battle_id = v.battle_id) FROM arena_vote v JOIN arena_battle b ON b.id = v.battle_id "
               "JOIN arena_prompt p ON p.id = b.prompt_id ORDER BY v.id) TO STDOUT")
        n = 0
        with connection.cursor() as c, c.cursor.copy(sql) as cp:
            for block in cp:
                n += len(block)
        result["bytes"] = n
    elif kind == "release":
        from releases.build import release_build

        rel = release_build(delay_days=0, out=Path(out))
        m = json.loads((Path(rel.folder) / "MANIFEST.json").read_text())
        result.update(rows=rel.rows, files={f["name"]: f["size"] for f in rel.files}, build_seconds=m["build_seconds"],
                      pii=m["pii_scrub"]["total"], leaderboards=len([b for b in m["leaderboards"] if "models" in b]))
    else:
        from io import StringIO

        from django.core.management import call_command

        buf = StringIO()
        call_command("ratings_export_votes", "--modality", "text", "--out", str(Path(out) / "peer.parquet"), stdout=buf)
        result["said"] = buf.getvalue().strip()
    result["seconds"] = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["peak_rss_mib"] = usage.ru_maxrss / 1024
    result["cpu_s"] = usage.ru_utime + usage.ru_stime  # this process's own CPU, whatever the load
    result["pg_cpu_s"] = pg.seconds()
    print(json.dumps(result))


def main() -> None:
    global DB
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--votes", type=int, default=1_000_000)
    p.add_argument("--keep", action="store_true", help="keep (and reuse) the scratch database")
    p.add_argument("--no-peer", action="store_true", help="skip ratings_export_votes")
    p.add_argument("--db", default=DB, help="scratch database name (default %(default)s)")
    p.add_argument("--child", choices=["floor", "release", "peer"], help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    a = p.parse_args()
    DB = os.environ["ARENA_BENCH_RELEASE_DB"] = a.db  # the child processes read it too
    if a.child:
        _child(a.child, a.out)
        return
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc"]
    exists = subprocess.run([*psql, f"SELECT 1 FROM pg_database WHERE datname='{DB}'"], capture_output=True, text=True).stdout.strip() == "1"
    if exists and not a.keep:
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", DB], check=True)
        exists = False
    if not exists:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB], check=True)
    _setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM arena_vote")
        have = c.fetchone()[0]
    if have != a.votes:
        print(f"seeding {a.votes:,} votes ...", flush=True)
        t0 = time.perf_counter()
        seed(a.votes)
        print(f"seeded in {time.perf_counter() - t0:.0f} s", flush=True)
    with connection.cursor() as c:
        c.execute("SELECT count(*), sum(length(text)) FROM arena_generation")
        n_gen, gen_chars = c.fetchone()
        c.execute("SELECT avg(length(p.text)) FROM arena_prompt p")
        prompt_avg = c.fetchone()[0]
        c.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        size = c.fetchone()[0]
    connection.close()
    print(f"data: {a.votes:,} votes, {n_gen:,} answers averaging {gen_chars / n_gen:,.0f} characters, prompts averaging "
          f"{prompt_avg:,.0f}; {gen_chars / 1e9:.2f} GB of answer text; database {size}")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    runs = ["floor", "release"] + ([] if a.no_peer else ["peer"])
    with tempfile.TemporaryDirectory(prefix="release-bench-") as tmp:
        res = {}
        for kind in runs:
            out = subprocess.run([sys.executable, __file__, "--child", kind, "--out", tmp], capture_output=True, text=True)
            if out.returncode:
                print(f"{kind}: failed\n{out.stderr[-3000:]}")
                continue
            res[kind] = json.loads(out.stdout.strip().splitlines()[-1])
            if kind == "release":
                subprocess.run(["chmod", "-R", "u+w", tmp])
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if "floor" in res:
        f = res["floor"]
        print(f"floor  (Postgres COPY of the same rows and texts to /dev/null): {f['seconds']:6.1f} s wall "
              f"({f.get('pg_cpu_s', 0):.1f} s CPU in Postgres), "
              f"{f['bytes'] / 1e9:.2f} GB, peak RSS {f['peak_rss_mib']:.0f} MiB")
    if "release" in res:
        r = res["release"]
        sizes = ", ".join(f"{k} {v / 1e6:,.0f} MB" for k, v in r["files"].items() if "/" not in k and v > 1e6)
        print(f"release (arena_release, {r['rows']:,} votes): {r['seconds']:6.1f} s wall, {r.get('cpu_s', 0):.1f} s CPU "
              f"(Python side) + {r.get('pg_cpu_s', 0):.1f} s CPU (Postgres backends), peak RSS {r['peak_rss_mib']:.0f} MiB; "
              f"phases {r['build_seconds']}; {r['leaderboards']} leaderboards fitted; {sizes}; PII replaced {r['pii']}")
        print(f"goal: < 60 s -> {'met' if r['seconds'] < 60 else 'NOT met'}; < 1024 MiB -> "
              f"{'met' if r['peak_rss_mib'] < 1024 else 'NOT met'}"
              + (f"; {r['seconds'] / res['floor']['seconds']:.1f}x the Postgres floor" if "floor" in res else ""))
    if "peer" in res:
        q = res["peer"]
        print(f"peer   (ratings_export_votes, counted votes, core columns, no text): {q['seconds']:6.1f} s, "
              f"peak RSS {q['peak_rss_mib']:.0f} MiB ({q['said']})")


if __name__ == "__main__":
    main()
