#!/usr/bin/env python
"""Leaderboard recompute at 1M and 10M votes in Postgres, every method, as the live pipeline runs it,
beside the full-scan recompute (the baseline) in the same run.

  .venv/bin/python bench/recompute_bench.py [--votes 1000000 10000000] [--models 200] [--methods bt bayes elo style]
                                            [--repeat 3] [--keep] [--db-prefix arena_bench_recompute]

For each size, a scratch database (<db-prefix>_<size>k) is filled in SQL (INSERT ... SELECT over
generate_series, with the tables' secondary indexes dropped and foreign-key triggers off while it
fills, then the indexes built again): battles, slots and pairwise votes as the live app writes them
(prompt categories, languages, follow-up turns), drawn from known Bradley-Terry strengths with a
+0.1 logit first-shown advantage and 10% ties, by voters whose activity is heavy-tailed (the busiest
1% cast ~16% of the votes, as on public arena data). Then:
- baseline: the full-scan recompute (every counted vote read and grouped in SQL, clusters by voter,
  the same fit), as before the incremental cells;
- bt: the first build of the board's incremental cells and its first voter clustering (once per
  database); then, each after 1,000 new votes and 100 old ones excluded through the exclusion
  service, one recompute end to end and by phase (cells updated from the last vote id seen, read,
  fit): run 0 finds the voter clustering due and asks for its refresh, a task of its own (timed
  here right after it, as a worker would run it meanwhile); run 1 publishes the new factors and
  recomputes the fragility (ratings.engine.fragility); the others are the steady state;
- bayes, elo, style: one full recompute each in a child process (they replay every vote) under
  --limit seconds, and whether the method is live (RATINGS_LIVE_METHODS) with the page's word when
  it is not; at 10M only the live ones run.
- fragility: the previous algorithm (refits with full Newton, --fragility-baseline pairs from the
  top) on the same cells, beside the new one, with both counts.
Every time is wall and CPU (this process, plus the Postgres backend's CPU read from /proc, plus
children's), with the load average: other sessions share the machine.
Targets (issue 10): every live method within 5 s at 1M; BT under 1.5 s end to end at 10M / 200 models.
"""
from __future__ import annotations

import argparse
import os
import resource
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = [("coding", 0.30), ("other", 0.30), ("creative_writing", 0.15), ("math", 0.15), ("reasoning", 0.10)]
LANGUAGES = [("en", 0.70), ("zh", 0.08), ("ru", 0.05), ("de", 0.05), ("fr", 0.04), ("es", 0.04), ("ja", 0.04)]
CHUNK = 1_000_000
OUTPUTS = False  # turns and outputs (with their style counts) written beside the votes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--votes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    p.add_argument("--models", type=int, default=200)
    p.add_argument("--methods", nargs="+", default=["bt", "bayes", "elo", "style"])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--limit", type=float, default=600.0, help="seconds allowed to one non-BT recompute")
    p.add_argument("--fragility-baseline", type=int, default=3, help="pairs from the top the old fragility runs on (0: none)")
    p.add_argument("--keep", action="store_true", help="keep (and reuse) the scratch databases")
    p.add_argument("--db-prefix", default="arena_bench_recompute")
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    p.add_argument("--outputs-max", type=int, default=1_000_000,
                   help="sizes up to this get turns and outputs with style counts (what style control reads)")
    a = p.parse_args()
    print(f"recompute bench: {a.models} models, sizes {', '.join(f'{n:,}' for n in a.votes)}; load {_load()}", flush=True)
    for n in sorted(a.votes):
        cmd = [sys.executable, __file__, "--one", str(n), "--models", str(a.models), "--repeat", str(a.repeat),
               "--limit", str(a.limit), "--fragility-baseline", str(a.fragility_baseline), "--db-prefix", a.db_prefix,
               "--redis-url", a.redis_url, "--outputs", str(int(n <= a.outputs_max)), "--methods", *a.methods] + (["--keep"] if a.keep else [])
        subprocess.run(cmd, check=False)


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


class Clock:
    """Wall and CPU of a block: this process, its children, and the Postgres backend serving it."""

    def __init__(self, backend_pid: int | None) -> None:
        self.pid = backend_pid

    def _cpu(self) -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
        if self.pid:
            try:
                fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
                cpu += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError, ValueError):
                pass
        return cpu

    def __enter__(self) -> Clock:
        self.w0, self.c0 = time.perf_counter(), self._cpu()
        return self

    def __exit__(self, *exc) -> None:
        self.wall, self.cpu = time.perf_counter() - self.w0, self._cpu() - self.c0

    def __str__(self) -> str:
        return f"{self.wall:.2f} s wall, {self.cpu:.2f} s CPU"


def one() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--one", type=int)
    p.add_argument("--models", type=int)
    p.add_argument("--repeat", type=int)
    p.add_argument("--limit", type=float)
    p.add_argument("--fragility-baseline", type=int)
    p.add_argument("--methods", nargs="+")
    p.add_argument("--db-prefix")
    p.add_argument("--redis-url")
    p.add_argument("--outputs", type=int)
    p.add_argument("--keep", action="store_true")
    a = p.parse_args()
    n = a.one
    global OUTPUTS
    OUTPUTS = bool(a.outputs)
    db = f"{a.db_prefix}_{n // 1000}k"
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{db}"
    os.environ["REDIS_URL"] = a.redis_url
    os.environ.pop("RATINGS_LIVE_METHODS", None)  # the default: which methods are live is part of what is measured
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # services + DEBUG off need both
    os.environ.setdefault("ARENA_IP_SALT", secrets.token_urlsafe(32))
    sys.path.insert(0, str(ROOT))
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc"]
    exists = subprocess.run(psql + [f"SELECT 1 FROM pg_database WHERE datname='{db}'"], capture_output=True,
                            text=True).stdout.strip() == "1"
    if not exists:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", db], check=True)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from arena.models import Vote

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]

    def clock() -> Clock:
        return Clock(backend)

    print(f"\n== {n:,} votes, {a.models} models (database {db}); {_load()} ==", flush=True)
    have = Vote.objects.count()
    if have < n:
        _fill(connection, n, a.models, clock)
    else:
        print(f"  reusing {have:,} votes", flush=True)

    from ratings import services
    from ratings.boardcells import board_fit_input, board_update
    from ratings.models import BoardCells, LeaderboardSnapshot
    from ratings.votesource import comparisons_of

    board = {"modality": "text", "category": "overall"}
    params = services.method_params("bt")
    if "bt" in a.methods:
        with clock() as c_read:
            cells, rankings, counts, clusters = comparisons_of(**board)
        with clock() as c_fit:
            services.fit_bt_board(cells, rankings, clusters, params, counts)
        print(f"  baseline, full-scan recompute (every counted vote grouped in SQL, clustered by voter, the same fit): "
              f"{c_read.wall + c_fit.wall:.2f} s wall, {c_read.cpu + c_fit.cpu:.2f} s CPU "
              f"(read {c_read}; fit {c_fit}); {_load()}", flush=True)
        del cells, rankings, counts, clusters

        if not BoardCells.objects.filter(**board).exists():
            with clock() as c:
                board_update(**board)
            print(f"  bt: first build of the incremental cells (once per board): {c}", flush=True)
        if not BoardCells.objects.get(**board).cluster_votes:
            with clock() as c:
                services.board_cluster_refresh(**board)
            print(f"  bt: the board's first voter clustering: {c}", flush=True)
        # Due again (by time): run 0 asks for a refresh, which runs as its own task (here: right after,
        # timed on its own) while the recompute goes on with the last factors; run 1 carries the new ones.
        BoardCells.objects.filter(**board).update(cluster_at=0.0)

        timed: dict[str, float] = {}
        real_fragility = services._fragility
        real_request = services._request_cluster_refresh
        requested: list[tuple[str, str]] = []
        services._request_cluster_refresh = lambda *args: requested.append(args)

        def fragility_timed(*args, **kw):
            t = time.perf_counter()
            try:
                return real_fragility(*args, **kw)
            finally:
                timed["fragility"] = time.perf_counter() - t

        services._fragility = fragility_timed
        for r in range(a.repeat + 1):
            _new_votes(connection, 1000, a.models)
            _exclude(100, r)
            timed.clear()
            requested.clear()
            with clock() as c:
                snap = services.leaderboard_recompute(method="bt", **board)
            refresh = ""
            if requested:
                with clock() as c_refresh:
                    services.board_cluster_refresh(**board)
                refresh = f"\n      voter-clustering refresh it asked for, a task of its own (off the leaderboard's path): {c_refresh}"
            # The phases alone, on the state it left (nothing new to absorb now).
            with clock() as c_up:
                state = board_update(**board)
            with clock() as c_read:
                cells, rankings, counts, clusters = board_fit_input(state, 0)
            with clock() as c_fit:
                services.fit_bt_board(cells, rankings, clusters, params, counts,
                                      interval_scale=[state.cluster_factors.get(m, 1.0) for m in cells.models])
            pb = snap.extra.get("position_bias", {})
            frag = snap.extra.get("fragility") or []
            what = ("the voter clustering due: asks for its refresh" if requested
                    else "new clustering factors: fragility recomputed" if "fragility" in timed
                    else "steady state (clustering factors and fragility carried over)")
            extra = ""
            if "fragility" in timed:
                tied = sum(f["tied"] for f in frag)
                extra = f"; fragility {timed['fragility']:.2f} s wall ({len(frag)} adjacent pairs, {tied} shown as tied)"
            print(f"  bt run {r}, after 1,000 new votes and 100 excluded, {what}: end to end {c}{extra}{refresh}\n"
                  f"      phases alone: cells update {c_up}; read {c_read} ({len(cells.i):,} cells); fit {c_fit}; "
                  f"{snap.vote_count:,} votes, leader {snap.rows[0]['model']}, position bias "
                  f"{pb.get('points', float('nan')):+.1f} points; {_load()}", flush=True)
        services._fragility = real_fragility
        services._request_cluster_refresh = real_request
        print("  bt target: < 1.5 s end to end at 10M; < 5 s at 1M", flush=True)
        if a.fragility_baseline:
            _fragility_versus_old(snap, a.fragility_baseline, clock)

    from ratings.pages import NOT_LIVE

    live = services.live_methods()
    for method in [m for m in a.methods if m != "bt"]:
        word = "live" if method in live else f"not live (RATINGS_LIVE_METHODS={','.join(live)}); its page says: {NOT_LIVE.get(method, '')!r}"
        if method not in live and n > 1_000_000:
            print(f"  {method}: not run at this size: {word}", flush=True)
            continue
        LeaderboardSnapshot.objects.filter(method=method).delete()
        try:
            code = subprocess.run([sys.executable, __file__, "--child", method], timeout=a.limit, capture_output=True,
                                  text=True, check=False)
            said = [line for line in code.stdout.splitlines() if line.startswith("CHILD ")]
            ok, why = code.returncode == 0 and bool(said), code.stderr[-300:]
            took = said[0][len("CHILD "):] if said else ""
        except subprocess.TimeoutExpired:
            ok, why, took = False, f"stopped at the {a.limit:.0f} s limit", f"over {a.limit:.0f} s"
        print(f"  {method}: full recompute {took}{'' if ok else ' (' + why + ')'}; {word}; {_load()}", flush=True)
    connection.close()
    if not a.keep:
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", db], check=True)


def _fragility_versus_old(snap, pairs: int, clock) -> None:
    """The previous fragility (f15e43b: refits with full Newton, support taken again every round) on the
    first ``pairs`` adjacent pairs of the same cells, beside today's."""
    import importlib.util
    import tempfile

    from ratings import services
    from ratings.boardcells import board_fit_input, board_update
    from ratings.engine.fragility import fragility

    src = subprocess.run(["git", "show", "f15e43b:ratings/engine/fragility.py"], cwd=ROOT, capture_output=True, text=True)
    if src.returncode != 0:
        print("  fragility baseline: the previous version is not in this checkout's history", flush=True)
        return
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(src.stdout)
    spec = importlib.util.spec_from_file_location("fragility_old", f.name)
    old = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(old)
    os.unlink(f.name)
    state = board_update(modality="text", category="overall")
    cells, *_ = board_fit_input(state, 0)
    order = [r["model"] for r in sorted(snap.rows, key=lambda r: -r["rating"])][: services.FRAGILITY_PAIRS + 1]
    with clock() as c_new:
        new = fragility(cells, order)
    with clock() as c_old:
        was = old.fragility(cells, order[: pairs + 1])
    print(f"  fragility, {len(new)} adjacent pairs: {c_new}; the previous algorithm on the first {len(was)}: {c_old} "
          f"(x{len(new) / max(len(was), 1):.0f} for all pairs: ~{c_old.wall * len(new) / max(len(was), 1):.0f} s wall, "
          f"~{c_old.cpu * len(new) / max(len(was), 1):.0f} s CPU)", flush=True)
    for o, nw in zip(was, new):
        print(f"      {o['upper']} > {o['lower']}: previous {o['votes_to_swap']} votes, now {nw['votes_to_swap']} "
              f"(one step {nw['one_step']}), tied {o['tied']} / {nw['tied']}", flush=True)


def _fill(connection, n_votes: int, n_models: int, clock) -> None:
    """Voters, prompts, competitors, battles, slots and votes in SQL, the secondary indexes built after."""
    import numpy as np

    rng = np.random.default_rng(0)
    theta = rng.normal(0, 1, n_models)
    n_voters = max(n_votes // 5, 100)
    tables = ["arena_vote", "arena_slot", "arena_battle", "arena_turn", "arena_generation"]
    with clock() as c_all, connection.cursor() as cur:
        cur.execute("TRUNCATE arena_generation, arena_turn, arena_vote, arena_slot, arena_battle, arena_competitor, arena_prompt, arena_voter RESTART IDENTITY CASCADE")
        cats = "ARRAY[" + ",".join(f"'{c}'" for c, _ in CATEGORIES) + "]"
        # One prompt per category x language (the battle's first prompt; the vote carries both).
        _insert(cur, "arena_prompt", "text, modality, category, language, source, input_media, created",
                f"SELECT 'bench ' || c || ' ' || l, 'text', c, l, 'user', '', now() FROM unnest({cats}) c, "
                f"unnest(ARRAY[{','.join(repr(x) for x, _ in LANGUAGES)}]) l", [])
        for m in range(n_models):
            _insert(cur, "arena_competitor", "slug, name, organization, modality, adapter, adapter_config, identity_words, active,"
                    " sampling_weight, max_concurrency, healthy, consecutive_failures, last_failure, created",
                    "SELECT %s, %s, 'bench', 'text', 'demo_text', '{}', '[]', true, 1, 0, true, 0, '', now()",
                    [f"model-{m:03d}", f"Model {m:03d}"])
        _theta(cur, theta)
        cur.execute("SELECT setseed(0.42)")
        # While filling: no secondary index to maintain row by row, no foreign-key trigger per row.
        cur.execute("SELECT indexdef, indexname, tablename FROM pg_indexes WHERE tablename = ANY(%s) AND indexname NOT IN"
                    " (SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u', 'x'))", [tables])
        plain = cur.fetchall()
        cur.execute("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
                    " WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('u', 'x')", [tables])
        unique = cur.fetchall()
        for _, name, table in plain:
            cur.execute(f'DROP INDEX "{name}"')
        for table, name, _ in unique:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        cur.execute("SET session_replication_role = replica")
        with clock() as c_rows:
            for first in range(1, n_votes + 1, CHUNK):
                _insert_votes(cur, first, min(CHUNK, n_votes - first + 1), n_models, n_voters)
        # The voters, after their votes (no foreign-key check yet): their counts in the same statement.
        _insert(cur, "arena_voter", "id, public_id, first_seen, last_seen, battles_count, votes_count",
                "SELECT g, 'v' || g, now(), now(), coalesce(c.n, 0), coalesce(c.n, 0) FROM generate_series(1, %s) g"
                " LEFT JOIN (SELECT voter_id, count(*) AS n FROM arena_vote GROUP BY voter_id) c ON c.voter_id = g",
                [n_voters])
        cur.execute("SELECT setval('arena_voter_id_seq', %s)", [n_voters])
        cur.execute("SET session_replication_role = DEFAULT")
        with clock() as c_idx:
            cur.execute("SET maintenance_work_mem = '512MB'")
            for table, name, definition in unique:
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
            for definition, _, _ in plain:
                cur.execute(definition)
            cur.execute("ANALYZE")
    print(f"  filled {n_votes:,} votes in {c_all} (rows {c_rows.wall:.0f} s; {len(plain) + len(unique)} indexes built "
          f"in {c_idx.wall:.0f} s); {_load()}", flush=True)


def _insert(cur, table: str, columns: str, select: str, params: list) -> None:
    """INSERT ... SELECT, with the columns later migrations added filled with their model defaults."""
    from django.apps import apps

    from common import model_defaults  # bench/ is on sys.path: a sibling module

    cols = [c.strip() for c in columns.split(",")]
    extra, values = model_defaults(table, cols)
    model = next(m for m in apps.get_models() if m._meta.db_table == table)
    types = {f.column: f.db_type(cur.db) for f in model._meta.concrete_fields}
    casts = "".join(f", %s::{types[c]}" for c in extra)
    select = select.replace(" FROM ", f"{casts} FROM ", 1) if " FROM " in select else select + casts
    cur.execute(f"INSERT INTO {table} ({', '.join(cols + extra)}) {select}", [*params, *values] if " FROM " not in select
                else _params_around(select, params, values))


def _params_around(select: str, params: list, values: list) -> list:
    """Params in statement order: the defaults come right after the select list, before FROM's own."""
    head = select.split(" FROM ", 1)[0]
    k = head.count("%s") - len(values)
    return [*params[:k], *values, *params[k:]]


def _theta(cur, theta) -> None:
    cur.execute("CREATE TEMP TABLE IF NOT EXISTS theta (id int PRIMARY KEY, t float8)")
    cur.execute("TRUNCATE theta")
    cur.executemany("INSERT INTO theta VALUES (%s, %s)", [(m + 1, float(t)) for m, t in enumerate(theta)])


def _weighted(values: list[tuple[str, float]], u: str) -> str:
    """A SQL CASE picking values[k] with its probability from the uniform ``u``."""
    parts, acc = [], 0.0
    for v, p in values[:-1]:
        acc += p
        parts.append(f"WHEN {u} < {acc:.6f} THEN '{v}'")
    return f"CASE {' '.join(parts)} ELSE '{values[-1][0]}' END"


def _insert_votes(cur, first: int, n: int, n_models: int, n_voters: int) -> None:
    """Votes first..first+n-1 (battle id = vote id), then their battles and slots from them: voter =
    1 + floor(V · u^2.5) (the busiest 1% cast ~16%), slot A shown first with a +0.1 logit advantage,
    10% ties, 10% with a follow-up turn, categories and languages as CATEGORIES and LANGUAGES."""
    cols = ("id, battle_id, voter_id, outcome, ranking, best_only, criteria, feedback, listen_ms, network_hash,"
            " idempotency_key, counted, weight, exclusion_reason, exclusion_detail, created, modality, mode, category,"
            " language, n_turns, model_a_id, model_b_id")
    _insert(cur, "arena_vote", cols, (
        "SELECT p.g, p.g, p.voter, p.o, CASE p.o WHEN 'a' THEN '[1, 2]' WHEN 'b' THEN '[2, 1]' ELSE '[1, 1]' END::jsonb,"
        " false, '{}', '', '{}', 'net' || (p.voter %% 5000), '', true, 1.0, '', '',"
        " '2026-01-01'::timestamptz + p.g * interval '1 second', 'text', 'pairwise', p.cat, p.lang, p.turns, p.a, p.b"
        " FROM (SELECT s.*, CASE WHEN s.v < 0.1 THEN 'tie' WHEN s.u < 1 / (1 + exp(tb.t - ta.t - 0.1)) THEN 'a' ELSE 'b' END AS o"
        "       FROM (SELECT g, a, 1 + ((a + floor(random() * (%s - 1))::int) %% %s) AS b, random() AS u, random() AS v,"
        "                    1 + floor(%s * power(random(), 2.5))::int AS voter, "
        f"                   {_weighted(CATEGORIES, 'random()')} AS cat, {_weighted(LANGUAGES, 'random()')} AS lang,"
        "                    CASE WHEN random() < 0.1 THEN 2 ELSE 1 END AS turns"
        "             FROM (SELECT g, 1 + floor(random() * %s)::int AS a FROM generate_series(%s, %s) g) z) s"
        "       JOIN theta ta ON ta.id = s.a JOIN theta tb ON tb.id = s.b) p"),
        [n_models, n_models, n_voters, n_models, first, first + n - 1])
    _insert(cur, "arena_battle", "id, public_id, mode, k, anonymous, modality, voter_id, prompt_id, status, void_reason, n_turns, created",
            "SELECT v.id, 'b' || v.id, 'pairwise', 2, true, 'text', v.voter_id, pr.id, 'voted', '', v.n_turns, v.created"
            " FROM arena_vote v JOIN arena_prompt pr ON pr.category = v.category AND pr.language = v.language"
            " WHERE v.id BETWEEN %s AND %s", [first, first + n - 1])
    _insert(cur, "arena_slot", "battle_id, position, competitor_id",
            "SELECT id, 0, model_a_id FROM arena_vote WHERE id BETWEEN %s AND %s"
            " UNION ALL SELECT id, 1, model_b_id FROM arena_vote WHERE id BETWEEN %s AND %s",
            [first, first + n - 1, first, first + n - 1])
    if OUTPUTS:  # each turn's outputs, with the style counts the output stream stores (meta.style)
        _insert(cur, "arena_turn", "battle_id, index, prompt_id, created",
                "SELECT b.id, t.k, b.prompt_id, b.created FROM arena_battle b, generate_series(0, 1) t(k)"
                " WHERE b.id BETWEEN %s AND %s AND t.k < b.n_turns", [first, first + n - 1])
        _insert(cur, "arena_generation", "slot_id, turn_id, status, text, media_name, media_mime, error, meta, queued_at,"
                " started_at, first_token_at, finished_at",
                "SELECT s.id, t.id, 'done', 'bench output', '', '', '', jsonb_build_object('style', jsonb_build_object("
                " 'tokens', floor((150 + 40 * (s.competitor_id %% 10)) * (0.3 + 1.4 * random())),"
                " 'headers', floor(random() * random() * (s.competitor_id %% 4 + 1)),"
                " 'lists', floor(random() * random() * 6), 'bold', floor(random() * random() * (s.competitor_id %% 3 + 2)))),"
                " t.created, t.created, t.created, t.created"
                " FROM arena_slot s JOIN arena_turn t ON t.battle_id = s.battle_id"
                " WHERE s.battle_id BETWEEN %s AND %s AND t.battle_id BETWEEN %s AND %s",
                [first, first + n - 1, first, first + n - 1])
    cur.execute("SELECT setval('arena_battle_id_seq', (SELECT max(id) FROM arena_battle))")
    cur.execute("SELECT setval('arena_vote_id_seq', (SELECT max(id) FROM arena_vote))")


def _new_votes(connection, n: int, n_models: int) -> None:
    """n more votes, as the live app adds them (indexes and foreign keys in place)."""
    import numpy as np

    from django.db import transaction

    from arena.models import Vote, Voter

    with transaction.atomic(), connection.cursor() as cur:  # the foreign keys (deferred) are checked at commit
        _theta(cur, np.random.default_rng(0).normal(0, 1, n_models))  # the same strengths as the fill's
        top = Vote.objects.order_by("-id").values_list("id", flat=True).first() or 0
        _insert_votes(cur, top + 1, n, n_models, Voter.objects.count())


def _exclude(n: int, r: int) -> None:
    from arena.models import Vote
    from arena.services.exclusions import votes_exclude

    ids = list(Vote.objects.filter(counted=True).order_by("id").values_list("id", flat=True)[r * n * 7: r * n * 7 + n])
    votes_exclude(votes=ids, reason="fraud:bench", detail="bench", by_kind="detector", by="bench")


def child(method: str) -> None:
    """One full recompute of ``method`` in its own process (the parent can stop it at its limit), timed
    from after Django's start-up: wall, and CPU of this process and its Postgres backend."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from ratings.services import leaderboard_recompute

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    with Clock(backend) as c:
        snap = leaderboard_recompute(modality="text", category="overall", method=method)
    print(f"CHILD {c} ({snap.vote_count:,} votes, leader {snap.rows[0]['model']})", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "bench"))
    if "--child" in sys.argv:
        child(sys.argv[sys.argv.index("--child") + 1])
    elif "--one" in sys.argv:
        one()
    else:
        main()
