#!/usr/bin/env python
"""Matchmaking policies in simulated arenas: median votes to the target, and time per vote.

  .venv/bin/python bench/matchmaking_bench.py [--seeds 5] [--first-seed 0] [--only ksort bt placement]
                                              [--bt-seeds 3] [--jobs 2] [--policies active uniform]

For each experiment (ratings.engine.simulate), the votes `active`, `ksort-ucb` and `uniform` (with
the same Bradley-Terry MAP as `active`) need, as the median over the seeds (a run that never gets
there counts as more than its vote limit), each seed's figure, and the ratio against the peer the
issue names:
  ksort      K-Sort Arena's experiment, 50 models, K=4, exact order held 50 votes: noise-free and
             5% of votes with two places swapped.   goal: active >= 1.5x fewer than ksort-ucb
  bt         40 models, strengths ~ N(0, 0.6), Bradley-Terry pairwise votes (and Plackett-Luce
             K=4), Kendall tau >= 0.9 held 200 votes. goal: active >= 1.5x fewer than uniform
             (pairwise), beside the ceiling of any choice of pairs: the best fixed allocation of
             votes over pairs, knowing the true strengths (simulate.bt_design_ceiling)
  placement  a new model in a converged 50-model arena, K=4; rank within 1 of the truth, held
             50 votes.                              goal: within 30 votes
and the milliseconds per vote (propose + observe + order) with 50 models (goal: under 5 ms).
Default: ~3-4 minutes on two busy cores; --seeds/--bt-seeds for more, --policies to run fewer.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from statistics import median

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ratings.engine.simulate import DEFAULTS, bt_design_ceiling, run  # noqa: E402

POLICIES = ("active", "ksort-ucb", "uniform")
CASES = [  # (section, label, experiment, params, peer, goal ratio or vote limit)
    ("ksort", "K-Sort, noise-free", "ksort", {"noise": 0.0}, "ksort-ucb", 1.5),
    ("ksort", "K-Sort, 5% noise", "ksort", {"noise": 0.05}, "ksort-ucb", 1.5),
    ("bt", "BT arena, pairwise", "bt", {"k": 2}, "uniform", 1.5),
    ("bt", "BT arena, K=4 (PL)", "bt", {"k": 4}, "uniform", 1.5),
    ("placement", "new model, K=4", "placement", {}, None, 30),
]


def _one(job: tuple[str, str, int, dict]):
    experiment, policy, seed, params = job
    if policy == "ceiling":
        bt = DEFAULTS["bt"]
        return bt_design_ceiling(seed, models=bt["models"], spread=bt["spread"], tau=bt["tau"])
    return run(experiment, policy, seed, **{**DEFAULTS[experiment], **params})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5, help="seeds for ksort and placement (default 5)")
    ap.add_argument("--bt-seeds", type=int, default=3, help="seeds for the BT arena (default 3; slower)")
    ap.add_argument("--first-seed", type=int, default=0, help="first seed (others: re-check on unseen seeds)")
    ap.add_argument("--only", nargs="+", choices=["ksort", "bt", "placement"], default=None)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--policies", nargs="+", choices=POLICIES, default=list(POLICIES),
                    help="policies to run (default all; a goal is judged only where active and its peer ran)")
    a = ap.parse_args()
    started = time.perf_counter()
    print(f"matchmaking bench: seeds {a.first_seed}..{a.first_seed + a.seeds - 1} "
          f"(BT arena: {a.first_seed}..{a.first_seed + a.bt_seeds - 1}), load average {os.getloadavg()[0]:.1f}")
    cases = [c for c in CASES if a.only is None or c[0] in a.only]
    jobs = []
    for section, _, exp, params, _, _ in cases:
        n = a.bt_seeds if section == "bt" else a.seeds
        jobs += [(exp, pol, seed, params) for pol in a.policies for seed in range(a.first_seed, a.first_seed + n)]
        if exp == "bt" and params["k"] == 2:
            jobs += [(exp, "ceiling", seed, params) for seed in range(a.first_seed, a.first_seed + n)]
    with ProcessPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        results = list(pool.map(_one, jobs))
    by = {}
    for job, r in zip(jobs, results):
        by.setdefault((job[0], tuple(sorted(job[3].items())), job[1]), []).append(r)
    ms_50 = []
    for section, label, exp, params, peer, goal in cases:
        limit = {**DEFAULTS[exp], **params}["max_votes"]
        print(f"\n{label}  ({exp}, {', '.join(f'{k}={v}' for k, v in {**DEFAULTS[exp], **params}.items())})")
        print(f"  {'policy':<10} {'median votes':>12} {'ms/vote':>8}  per seed")
        med = {}
        for pol in a.policies:
            rs = by[(exp, tuple(sorted(params.items())), pol)]
            med[pol] = median(r.votes if r.votes is not None else math.inf for r in rs)
            ms = median(r.ms_per_vote for r in rs)
            if exp in ("ksort", "placement"):
                ms_50.append((pol, ms))
            shown = f">{limit}" if med[pol] == math.inf else f"{med[pol]:g}"
            each = " ".join("-" if r.votes is None else str(r.votes) for r in rs)
            print(f"  {pol:<10} {shown:>12} {ms:>8.3f}  {each}")
        if exp == "bt" and params["k"] == 2:
            ceil = by[(exp, tuple(sorted(params.items())), "ceiling")]
            gain = median(u / b for u, b in ceil)
            print(f"  ceiling: the best fixed choice of pairs, knowing the true strengths, needs {gain:.2f}x fewer "
                  f"votes than uniform\n    (expected misordered pairs at the truth, median; per seed: "
                  f"{' '.join(f'{u / b:.2f}' for u, b in ceil)})")
        if "active" not in med or (peer and peer not in med):
            continue
        if peer:
            ratio = med[peer] / med["active"] if med["active"] else math.inf
            verdict = "met" if ratio >= goal else "NOT met"
            print(f"  active needs {ratio:.2f}x fewer votes than {peer} (goal >= {goal}x: {verdict})")
        else:
            verdict = "met" if med["active"] <= goal else "NOT met"
            print(f"  active places a new model in {med['active']:g} votes (median; goal <= {goal}: {verdict})")
    if ms_50:
        print("\nms per vote with 50 models (propose + observe + order), median over runs:")
        for pol in a.policies:
            vals = [ms for p, ms in ms_50 if p == pol]
            if vals:
                print(f"  {pol:<10} {median(vals):.3f} ms  (goal < 5 ms)")
    print(f"\nwall time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
