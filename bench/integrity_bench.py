"""Vote-integrity benchmark: planted attackers on a synthetic board, caught or not, and what the
exclusions do to the target's rank. Prints figures per seed and their summary; asserts nothing.

    .venv/bin/python bench/integrity_bench.py [--seeds 0 1 2 3 4] [--honest 3000]

The board: 40 models with true ratings evenly over 400 points, 20% ties. The honest crowd's vote
counts are heavy-tailed (lognormal; the busiest 1% cast ~15% of the votes) and its voters are not
textbook: each has a personal agreement with the board (temperature), a personal lean to the left
output, a personal tie rate, personal tastes per model and a personal reading speed; 10% of them
share network addresses (campuses, mobile carriers). Eight weeks of votes; matchmaking is uniform
and every battle served (voted or abandoned) counts in the exposure the audit compares against.
Planted in the last week, all with human reading times, each on its own network unless said:
- always-left: 100 accounts x 25 votes (always the left output);
- random: 100 x 50 (ties at the crowd's rate, otherwise a coin flip);
- target-only: 100 x 100 (abandon every battle without the target, then vote for it);
- camouflaged: 20 x 200 (honest votes, but the target always wins when it is there);
- sybil ring: 20 accounts x 350 target-only votes, 50 a day for a week, behind 2 network hashes.
The target is the mid-table model (true rank 20 of 40). Scenario "full" plants all of them;
scenario "camouflage" plants only the camouflaged accounts, to measure what they alone can shift.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ratings.engine.audit import audit  # noqa: E402
from ratings.engine.bt import fit_bt  # noqa: E402
from ratings.engine.integrity import VoteLog  # noqa: E402
from ratings.engine.votes import votes_from_names  # noqa: E402

M = 40
DAY = 86400.0
WEEKS = 8
TARGET = 19  # 0-based index of the true order, best first: true rank 20 of 40
WINNERS = np.array(["model_a", "model_b", "tie"])


class Board:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        ratings = np.linspace(1200, 800, M)  # best first
        self.theta = (ratings - 1000) * math.log(10) / 400
        self.names = [f"m{k:02d}" for k in range(M)]
        self.rows: list[tuple] = []  # voter, a, b, outcome, time, dwell, network
        self.kind: dict[str, str] = {}
        self.served = np.zeros(M)

    def pair(self) -> tuple[int, int]:
        a, b = self.rng.choice(M, 2, replace=False)
        self.served[[a, b]] += 1
        return int(a), int(b)

    def dwell(self, speed: float) -> float:
        return float(self.rng.lognormal(math.log(20000), 0.6) * speed)

    def add(self, voter, a, b, outcome, t, speed, net) -> None:
        self.rows.append((voter, a, b, outcome, t, self.dwell(speed), net))


def honest_crowd(board: Board, n_voters: int, start_days: tuple[float, float] = (0, WEEKS * 7)) -> None:
    rng = board.rng
    counts = np.ceil(rng.lognormal(0.0, 1.3, n_voters) * 12).astype(int)
    shared = [f"nat{k}" for k in range(40)]
    for v in range(n_voters):
        name = f"honest{v}"
        board.kind[name] = "honest"
        gamma = rng.lognormal(0.0, 0.25)
        lean = rng.normal(0.05, 0.1)
        tie = rng.beta(2, 8)
        taste = rng.normal(0.0, 0.1, M)
        speed = rng.lognormal(0.0, 0.3)
        net = shared[rng.integers(len(shared))] if rng.random() < 0.1 else f"net-{name}"
        first = rng.uniform(*start_days)
        last = min(first + 14, WEEKS * 7)
        for t in np.sort(rng.uniform(first, last, counts[v])):
            a, b = board.pair()
            if rng.random() < tie:
                o = 2
            else:
                x = gamma * (board.theta[a] + taste[a] - board.theta[b] - taste[b]) + lean
                o = 0 if rng.random() < 1 / (1 + math.exp(-x)) else 1
            board.add(name, a, b, o, t * DAY, speed, net)


def _attack_times(rng, n: int, per_day: float | None = None) -> np.ndarray:
    last = WEEKS * 7
    if per_day is None:
        start = rng.uniform(last - 7, last - 1)
        return np.sort(rng.uniform(start, min(start + 2, last), n))
    return np.sort(np.concatenate([d + rng.uniform(0, 1, int(per_day)) for d in range(last - 7, last)]))[:n]


def target_battle(board: Board) -> tuple[int, int]:
    """The attacker creates battles until the target is in one (the others are abandoned)."""
    while True:
        a, b = board.pair()
        if TARGET in (a, b):
            return a, b


def attackers(board: Board, kind: str, n: int, votes: int, net: str | None = None, per_day: float | None = None) -> None:
    rng = board.rng
    for k in range(n):
        name = f"{kind}{k}"
        board.kind[name] = kind
        speed = rng.lognormal(0.0, 0.3)
        network = net.format(k=k) if net else f"net-{name}"
        for t in _attack_times(rng, votes, per_day):
            if kind in ("target_only", "ring"):
                a, b = target_battle(board)
                o = 0 if a == TARGET else 1
            else:
                a, b = board.pair()
                if kind == "always_left":
                    o = 0
                elif kind == "random":
                    o = 2 if rng.random() < 0.2 else int(rng.integers(2))
                elif TARGET in (a, b):  # camouflaged: the target always wins
                    o = 0 if a == TARGET else 1
                elif rng.random() < 0.2:
                    o = 2
                else:
                    o = 0 if rng.random() < 1 / (1 + math.exp(-(board.theta[a] - board.theta[b]))) else 1
            board.add(name, a, b, o, t * DAY, speed, network)


def build(seed: int, scenario: str, n_honest: int) -> Board:
    board = Board(np.random.default_rng(seed))
    honest_crowd(board, n_honest)
    if scenario == "full":
        attackers(board, "always_left", 100, 25)
        attackers(board, "random", 100, 50)
        attackers(board, "target_only", 100, 100)
        attackers(board, "camouflaged", 20, 200)
        attackers(board, "ring", 20, 350, net="ring-{k}", per_day=50)
        board.rows = [r if not r[6].startswith("ring-") else (*r[:6], f"ring-{int(r[6][5:]) % 2}") for r in board.rows]
    elif scenario == "camouflage":
        attackers(board, "camouflaged", 20, 200)
    board.rows.sort(key=lambda r: r[4])
    return board


def rank_of_target(board: Board, keep: np.ndarray) -> tuple[int, float]:
    """The target's rank and rating on the Bradley-Terry board of the kept votes."""
    rows = [r for r, k in zip(board.rows, keep) if k]
    lb = fit_bt(votes_from_names([board.names[r[1]] for r in rows], [board.names[r[2]] for r in rows],
                                 [WINNERS[r[3]] for r in rows]), ci="none")
    order = np.argsort(-np.asarray(lb.rating))
    k = int(np.flatnonzero(np.asarray(lb.models)[order] == board.names[TARGET])[0])
    return k + 1, float(np.asarray(lb.rating)[order][k])


def run(seed: int, scenario: str, n_honest: int) -> dict:
    board = build(seed, scenario, n_honest)
    cols = list(zip(*board.rows))
    log = VoteLog.build(voters=cols[0], model_a=[board.names[a] for a in cols[1]],
                        model_b=[board.names[b] for b in cols[2]], winner=[WINNERS[o] for o in cols[3]],
                        time=cols[4], dwell_ms=cols[5], network=cols[6])
    started = time.perf_counter()
    res = audit(log, exposure=dict(zip(board.names, board.served.tolist())))
    seconds = time.perf_counter() - started
    flagged = res.flagged
    kinds = np.array([board.kind[v] for v in log.voters])
    votes_per = np.bincount(log.voter, minlength=len(log.voters))
    out = {"seed": seed, "scenario": scenario, "votes": log.n, "voters": len(log.voters), "audit_s": seconds}
    for kind in ("honest", "always_left", "random", "target_only", "camouflaged", "ring"):
        members = [v for v, k in zip(log.voters, kinds) if k == kind]
        if members:
            out[kind] = sum(v in flagged for v in members) / len(members)
    heavy = [v for v, k, n in zip(log.voters, kinds, votes_per) if k == "honest" and n >= 200]
    out["heavy_honest"] = (sum(v in flagged for v in heavy), len(heavy))
    top = np.sort(votes_per[kinds == "honest"])[::-1]
    out["top1_share"] = top[: max(1, len(top) // 100)].sum() / top.sum()
    honest_votes = np.array([board.kind[r[0]] == "honest" for r in board.rows])
    keep = ~res.vote_mask()
    out["rank_honest"], honest_rating = rank_of_target(board, honest_votes)
    out["rank_attacked"], attacked_rating = rank_of_target(board, np.ones(len(board.rows), bool))
    out["rank_after"], after_rating = rank_of_target(board, keep)
    out["lift_attacked"], out["lift_after"] = attacked_rating - honest_rating, after_rating - honest_rating
    if scenario == "full":
        from ratings.engine.cells import PairCells
        from ratings.engine.fragility import fragility

        rows = [r for r, k in zip(board.rows, honest_votes) if k]
        cells = PairCells.from_indices(board.names, np.array([r[1] for r in rows]), np.array([r[2] for r in rows]),
                                       np.array([r[3] for r in rows]), None)
        lb = fit_bt(votes_from_names([board.names[r[1]] for r in rows], [board.names[r[2]] for r in rows],
                                     [WINNERS[r[3]] for r in rows]), ci="none")
        order = [lb.models[k] for k in np.argsort(-np.asarray(lb.rating))]
        started = time.perf_counter()
        frag = fragility(cells, order)
        out["fragility"] = (time.perf_counter() - started, sum(f["tied"] for f in frag), len(frag),
                            frag[0]["votes_to_swap"], len(rows))
    out["reasons"] = {}
    for k in np.flatnonzero(res.flagged_mask):
        for r in res.reasons[k]:
            out["reasons"][r["detector"]] = out["reasons"].get(r["detector"], 0) + 1
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--honest", type=int, default=3000, help="honest voters")
    args = ap.parse_args()
    full, camo = [], []
    for seed in args.seeds:
        r = run(seed, "full", args.honest)
        full.append(r)
        print(f"seed {seed} full: {r['votes']} votes, {r['voters']} voters (busiest 1% of honest cast "
              f"{100 * r['top1_share']:.1f}%), audit {r['audit_s']:.1f} s")
        print(f"  honest flagged {100 * r['honest']:.2f}% (heavy >=200 votes: {r['heavy_honest'][0]} of "
              f"{r['heavy_honest'][1]}); caught: always-left {100 * r['always_left']:.0f}%, random "
              f"{100 * r['random']:.0f}%, target-only {100 * r['target_only']:.0f}%, camouflaged "
              f"{100 * r['camouflaged']:.0f}%, ring {100 * r['ring']:.0f}%")
        print(f"  target rank: honest {r['rank_honest']}, attacked {r['rank_attacked']}, after exclusions "
              f"{r['rank_after']} (rating {r['lift_attacked']:+.1f} -> {r['lift_after']:+.1f} points against the honest "
              f"board); reasons {r['reasons']}")
        ft = r["fragility"]
        print(f"  fragility of the honest board ({ft[4]} votes): {ft[0]:.2f} s for {ft[2]} adjacent pairs; #1/#2 swap "
              f"after removing {ft[3]} votes; {ft[1]} of {ft[2]} pairs under 0.5% (shown as tied)")
        c = run(seed, "camouflage", args.honest)
        camo.append(c)
        print(f"seed {seed} camouflage only: honest flagged {100 * c['honest']:.2f}%, camouflaged caught "
              f"{100 * c['camouflaged']:.0f}%; target rank honest {c['rank_honest']}, attacked "
              f"{c['rank_attacked']}, after exclusions {c['rank_after']} (remaining shift "
              f"{c['rank_honest'] - c['rank_after']:+d} ranks; rating {c['lift_attacked']:+.1f} -> {c['lift_after']:+.1f} points)")
    print("\nsummary over seeds", args.seeds, "(per goal: the value per seed, then min / median / max)")

    def line(label: str, values: list[float], goal: str, pct: bool = True) -> None:
        v = np.asarray(values, float) * (100 if pct else 1)
        fmt = (lambda x: f"{x:.2f}%") if pct else (lambda x: f"{x:g}")  # noqa: E731
        print(f"  {label}: {' '.join(fmt(x) for x in v)}; min {fmt(v.min())} / median {fmt(float(np.median(v)))} / "
              f"max {fmt(v.max())} ({goal})")

    line("honest voters flagged (full)", [r["honest"] for r in full], "goal <= 1%")
    line("honest voters flagged (camouflage only)", [c["honest"] for c in camo], "goal <= 1%")
    line("always-left caught at 25 votes", [r["always_left"] for r in full], "goal >= 99%")
    line("random caught at 50 votes", [r["random"] for r in full], "no goal")
    line("target-only caught at 100 votes", [r["target_only"] for r in full], "goal >= 90%")
    line("sybil ring caught", [r["ring"] for r in full], "goal >= 90%")
    line("camouflaged caught (full)", [r["camouflaged"] for r in full], "no goal")
    line("camouflaged caught (camouflage only)", [c["camouflaged"] for c in camo], "no goal")
    print(f"  heavy honest voters (>= 200 votes) flagged: {sum(r['heavy_honest'][0] for r in full)} of "
          f"{sum(r['heavy_honest'][1] for r in full)}")
    shifts = [abs(r["rank_after"] - r["rank_honest"]) for r in full]
    print(f"  full attack, target rank honest/attacked/after: "
          f"{[(r['rank_honest'], r['rank_attacked'], r['rank_after']) for r in full]}")
    line("full attack, |target rank after exclusions - honest rank|", shifts, "goal <= 1", pct=False)
    print(f"  full attack, target within one rank of honest after exclusions in {sum(s <= 1 for s in shifts)} of "
          f"{len(shifts)} seeds")
    line("full attack, target rating lift left after exclusions (points)", [round(r["lift_after"], 1) for r in full],
         f"adjacent models are {400 / (M - 1):.1f} points apart", pct=False)
    cs = [abs(c["rank_honest"] - c["rank_after"]) for c in camo]
    print(f"  camouflage only, honest/attacked/after: {[(c['rank_honest'], c['rank_attacked'], c['rank_after']) for c in camo]}")
    line("camouflage only, |remaining shift| (ranks)", cs, "goal <= 1", pct=False)
    print(f"  camouflage only, within one rank in {sum(s <= 1 for s in cs)} of {len(cs)} seeds")
    line("camouflage only, target rating lift attacked (points)", [round(c["lift_attacked"], 1) for c in camo], "", pct=False)
    line("camouflage only, target rating lift after exclusions (points)", [round(c["lift_after"], 1) for c in camo],
         f"adjacent models are {400 / (M - 1):.1f} points apart", pct=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
