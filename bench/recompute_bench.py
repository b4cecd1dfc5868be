#!/usr/bin/env python
"""Leaderboard recompute on a large vote table in Postgres: query + fit + snapshot write.

  .venv/bin/python bench/recompute_bench.py [--votes 1000000] [--models 100] [--rounds 1000] [--keep]

Creates a scratch database (arena_bench_recompute), fills it with COPY (battles, slots, votes
drawn from known Bradley-Terry strengths), then times leaderboard_recompute for the overall
text leaderboard: fingerprint query, GROUP BY aggregation, bootstrap fit, snapshot write.
Prints each phase and the total; the issue's target is at most 5 s for 1M votes / 100 models.
"""
from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB = "arena_bench_recompute"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--votes", type=int, default=1_000_000)
    p.add_argument("--models", type=int, default=100)
    p.add_argument("--rounds", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--keep", action="store_true", help="keep (and reuse) the scratch database")
    a = p.parse_args()

    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{DB}"
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/12")
    os.environ["RATINGS_BOOTSTRAP_ROUNDS"] = str(a.rounds)
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # services + DEBUG off need both
    os.environ.setdefault("ARENA_IP_SALT", secrets.token_urlsafe(32))
    sys.path.insert(0, str(ROOT))
    exists = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname='{DB}'"],
                            capture_output=True, text=True).stdout.strip() == "1"
    if exists and not a.keep:
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", DB], check=True)
        exists = False
    if not exists:
        subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", DB], check=True)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from arena.models import Vote

    if Vote.objects.count() != a.votes:
        t = time.perf_counter()
        _fill(connection, a.votes, a.models)
        print(f"filled {a.votes:,} votes among {a.models} models in {time.perf_counter() - t:.1f} s", flush=True)

    from ratings.models import LeaderboardSnapshot
    from ratings import services
    from ratings.votesource import comparisons_of, counted_votes, fingerprint

    print(f"recompute of the overall text leaderboard, BT with {a.rounds}-round bootstrap:")
    for i in range(a.repeat):
        LeaderboardSnapshot.objects.all().delete()
        t0 = time.perf_counter()
        fingerprint(counted_votes("text", "overall"))
        t1 = time.perf_counter()
        cells, rankings, _ = comparisons_of("text", "overall")
        t2 = time.perf_counter()
        from ratings.engine import fit_bt

        fit_bt(cells, rankings, ci="bootstrap", rounds=a.rounds, seed=0)
        t3 = time.perf_counter()
        LeaderboardSnapshot.objects.all().delete()
        t4 = time.perf_counter()
        snap = services.leaderboard_recompute(modality="text", category="overall", method="bt")
        t5 = time.perf_counter()
        print(f"  run {i + 1}: end to end {t5 - t4:.2f} s  (phases alone: fingerprint {t1 - t0:.2f} s, "
              f"aggregate {t2 - t1:.2f} s [{len(cells.i)} cells], fit {t3 - t2:.2f} s)  -> snapshot {snap.pk}, "
              f"{snap.vote_count:,} votes, leader {snap.rows[0]['model']}", flush=True)
    print("target: <= 5 s end to end")
    if not a.keep:
        connection.close()
        subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", DB], check=True)


def _fill(connection, n_votes: int, n_models: int) -> None:
    """Battles, slots and votes: BT outcomes from known strengths, 10% ties."""
    import numpy as np

    rng = np.random.default_rng(0)
    theta = rng.normal(0, 1, n_models)
    with connection.cursor() as cur:
        cur.execute("TRUNCATE arena_vote, arena_slot, arena_battle, arena_competitor, arena_prompt, arena_voter RESTART IDENTITY CASCADE")
        cur.execute("INSERT INTO arena_voter (public_id, first_seen, last_seen, battles_count, votes_count) VALUES ('v_bench', now(), now(), 0, 0)")
        cur.execute("INSERT INTO arena_prompt (text, modality, category, language, source, input_media, created) VALUES ('bench', 'text', 'other', 'en', 'user', '', now())")
        for m in range(n_models):
            cur.execute(
                "INSERT INTO arena_competitor (slug, name, organization, modality, adapter, adapter_config, identity_words, active,"
                " sampling_weight, max_concurrency, healthy, consecutive_failures, last_failure, created)"
                " VALUES (%s, %s, 'bench', 'text', 'demo_text', '{}', '[]', true, 1, 0, true, 0, '', now())",
                [f"model-{m:03d}", f"Model {m:03d}"],
            )
    # Everything else in SQL (generate_series): seconds instead of minutes of Python rows.
    with connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE theta (id int PRIMARY KEY, t float8)")
        cur.executemany("INSERT INTO theta VALUES (%s, %s)", [(m + 1, float(t)) for m, t in enumerate(theta)])
        cur.execute("SELECT setseed(0.42)")
        cur.execute(
            "CREATE TEMP TABLE pick AS SELECT g AS id, a, 1 + ((a - 1 + 1 + floor(random() * (%s - 1))::int) %% %s) AS b,"
            " random() AS u, random() AS v FROM (SELECT g, 1 + floor(random() * %s)::int AS a FROM generate_series(1, %s) g) s",
            [n_models, n_models, n_models, n_votes],
        )
        cur.execute(
            "INSERT INTO arena_battle (id, public_id, mode, k, anonymous, modality, voter_id, prompt_id, status, void_reason, n_turns, created)"
            " SELECT id, 'b' || id, 'pairwise', 2, true, 'text', 1, 1, 'voted', '', 1, '2026-01-01' FROM pick"
        )
        cur.execute("INSERT INTO arena_slot (battle_id, position, competitor_id) SELECT id, 0, a FROM pick UNION ALL SELECT id, 1, b FROM pick")
        cur.execute(
            "INSERT INTO arena_vote (battle_id, voter_id, outcome, ranking, best_only, criteria, feedback, listen_ms, network_hash,"
            " idempotency_key, counted, weight, exclusion_reason, exclusion_detail, created, modality, mode, category, language,"
            " n_turns, model_a_id, model_b_id)"
            " SELECT p.id, 1, o, CASE o WHEN 'a' THEN '[1, 2]' WHEN 'b' THEN '[2, 1]' ELSE '[1, 1]' END::jsonb, false, '{}', '',"
            " '{}', '', '', true, 1.0, '', '', '2026-01-01', 'text', 'pairwise', 'other', 'en', 1, p.a, p.b"
            " FROM (SELECT p.*, CASE WHEN p.v < 0.1 THEN 'tie' WHEN p.u < 1 / (1 + exp(ta.t - tb.t)) THEN 'a' ELSE 'b' END AS o"
            "       FROM pick p JOIN theta ta ON ta.id = p.a JOIN theta tb ON tb.id = p.b) p"
        )
        cur.execute("SELECT setval('arena_battle_id_seq', %s)", [n_votes])
    with connection.cursor() as cur:
        cur.execute("ANALYZE")


if __name__ == "__main__":
    main()
