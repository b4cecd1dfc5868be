#!/usr/bin/env python3
"""Rating-engine benchmark: speed, agreement with arena-rank, interval coverage, Bayesian update cost.

    .venv/bin/python bench/ratings_bench.py                    # everything (about 10 minutes on 2 cores)
    .venv/bin/python bench/ratings_bench.py --only speed peer  # sections: speed peer coverage bayes

speed     ``python -m ratings fit`` as a user runs it, timed from process start to JSON written (best and
          median of --repeat runs, with the load average: other work on the machine inflates wall
          times), with the child's peak memory: 1M pairwise votes / 100 models (bootstrap 1,000 rounds; sandwich) and
          10M / 200 (bootstrap 1,000 rounds). Vote files come from ../shared/bench/make_votes.py and
          are cached in --data-dir.
peer      arena-rank (the package behind the LMArena leaderboard) on the same 1M file, in its own
          virtualenv (bench/.peer-venv, created on first use, or --peer-python): its sandwich and its
          100-round bootstrap (worker pool started with spawn: under fork it hangs), the speed ratio,
          and the largest rating / sandwich-bound differences after removing one common shift.
coverage  share of 95% intervals (sandwich and bootstrap) that cover the true strength, over
          make_votes.py files drawn with --tie 0 and different seeds; Kendall's tau to the truth
          as the number of votes grows.
bayes     microseconds per BayesRater.update (pairwise and 4-wise).

Figures only: nothing here is a test, and nothing asserts a time.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAKE_VOTES = REPO / ".." / "shared" / "bench" / "make_votes.py"
PEER_VENV = REPO / "bench" / ".peer-venv"
PEER_PIN = "arena-rank==0.1.1"

PEER_SCRIPT = textwrap.dedent('''
    import json, sys, time
    import multiprocessing as mp

    def main():
        path, out, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
        import pandas as pd
        from arena_rank.models.bradley_terry import BradleyTerry
        from arena_rank.utils.data_utils import PairDataset
        result = {}
        t0 = time.perf_counter()
        df = pd.read_csv(path)
        data = PairDataset.from_pandas(df)
        model = BradleyTerry(n_competitors=len(data.competitors))
        sw = model.compute_ratings_and_cis(data, ci_method="sandwich")
        result["sandwich_s"] = time.perf_counter() - t0
        result["competitors"] = list(sw["competitors"])
        result["rating"] = [float(x) for x in sw["ratings"]]
        result["lower"] = [float(x) for x in sw["rating_lower"]]
        result["upper"] = [float(x) for x in sw["rating_upper"]]
        if rounds:
            t0 = time.perf_counter()
            df = pd.read_csv(path)
            data = PairDataset.from_pandas(df)
            model = BradleyTerry(n_competitors=len(data.competitors))
            bs = model.compute_ratings_and_cis(data, ci_method="bootstrap", num_bootstrap=rounds)
            result["bootstrap_s"] = time.perf_counter() - t0
            result["boot_lower"] = [float(x) for x in bs["rating_lower"]]
            result["boot_upper"] = [float(x) for x in bs["rating_upper"]]
        with open(out, "w") as f:
            json.dump(result, f)

    if __name__ == "__main__":
        mp.set_start_method("spawn", force=True)  # arena-rank's pool hangs under fork (jax threads)
        main()
''')


def make_votes(data_dir: Path, votes: int, models: int, tie: float | None = None, seed: int = 0) -> Path:
    name = f"votes_{votes}_{models}" + (f"_tie{tie}" if tie is not None else "") + f"_s{seed}.csv"
    path = data_dir / name
    if not path.exists():
        args = [sys.executable, str(MAKE_VOTES), "--votes", str(votes), "--models", str(models),
                "--seed", str(seed), "--out", str(path)]
        if tie is not None:
            args += ["--tie", str(tie)]
        print(f"  generating {path.name} ...", file=sys.stderr, flush=True)
        subprocess.run(args, check=True)
    return path


def run_child(args: list[str], env: dict | None = None) -> tuple[float, float, int]:
    """(wall seconds, peak RSS in MiB, exit status) of one child process; its stderr is shown on failure."""
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage: its peak memory, not ours
        wall = time.perf_counter() - t0
        rc = os.waitstatus_to_exitcode(status)
        if rc != 0:
            err.seek(0)
            print(err.read().decode(errors="replace")[-3000:], file=sys.stderr)
    return wall, usage.ru_maxrss / 1024.0, rc


# Our fit as arena-rank does it, for a like-for-like comparison: no position-bias parameter, no
# clusters, no small-sample widening, and its 1e-5 x N Hessian term in the sandwich.
AS_ARENA_RANK = ["--no-position-bias", "--cluster", "none", "--no-small-sample", "--hessian-reg", "arena-rank"]


def ours(path: Path, ci: str, rounds: int, out: Path, extra: list[str] | None = None) -> dict:
    wall, rss, rc = run_child([sys.executable, "-m", "ratings", "fit", str(path), "--ci", ci,
                               "--rounds", str(rounds), "--seed", "0", "--out", str(out), *(extra or [])])
    if rc != 0:
        raise SystemExit(f"python -m ratings failed on {path} (exit {rc})")
    return {"wall": wall, "rss": rss, "json": json.loads(out.read_text())}


def load_note() -> str:
    """The 1-minute load average: other processes on the machine inflate every wall time."""
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def section_speed(data_dir: Path, tmp: Path, repeat: int) -> dict:
    print(f"\n== speed: python -m ratings fit (process start to JSON written), best and median of {repeat} ==")
    results = {}
    one_m = make_votes(data_dir, 1_000_000, 100)
    ten_m = make_votes(data_dir, 10_000_000, 200)
    for label, path, ci, rounds, target in (
        ("1M/100 bootstrap 1000", one_m, "bootstrap", 1000, "3 s"),
        ("1M/100 sandwich", one_m, "sandwich", 1000, "1.5 s"),
        ("10M/200 bootstrap 1000", ten_m, "bootstrap", 1000, "20 s, < 2 GiB"),
    ):
        before = load_note()
        runs = sorted((ours(path, ci, rounds, tmp / "ours.json") for _ in range(repeat)), key=lambda r: r["wall"])
        r = runs[0]
        results[label] = r
        print(f"  {label:<24} {r['wall']:6.2f} s wall (median {runs[len(runs) // 2]['wall']:.2f})  "
              f"{max(x['rss'] for x in runs):5.0f} MiB peak   (target {target}; {before})")
    return results


def peer_python(arg: str | None) -> Path | None:
    if arg:
        return Path(arg)
    py = PEER_VENV / "bin" / "python"
    if py.exists():
        return py
    print(f"  creating {PEER_VENV} with {PEER_PIN} ...", file=sys.stderr, flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", PEER_PIN], check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        print(f"  arena-rank could not be installed ({exc}); skipping the comparison")
        return None
    return py


def section_peer(data_dir: Path, tmp: Path, peer: str | None, peer_rounds: int, speed: dict | None) -> None:
    print(f"\n== peer: arena-rank ({PEER_PIN}) on the 1M/100 file ==")
    py = peer_python(peer)
    if py is None:
        print("  NOT RUN: arena-rank is not available; our own figures above stand alone")
        return
    path = make_votes(data_dir, 1_000_000, 100)
    script = tmp / "peer.py"
    script.write_text(PEER_SCRIPT)
    out = tmp / "peer.json"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    wall, rss, rc = run_child([str(py), str(script), str(path), str(out), str(peer_rounds)], env=env)
    if rc != 0:
        print(f"  NOT RUN: arena-rank exited with status {rc}; our own figures above stand alone")
        return
    p = json.loads(out.read_text())
    sw = ours(path, "sandwich", 1000, tmp / "o_sw.json", AS_ARENA_RANK)
    bs = ours(path, "bootstrap", 1000, tmp / "o_bs.json", AS_ARENA_RANK)
    ours_sw = {r["model"]: r for r in sw["json"]["models"]}
    names = p["competitors"]
    import numpy as np

    d_rating = np.array([ours_sw[n]["rating"] for n in names]) - np.array(p["rating"])
    shift = float(np.mean(d_rating))
    d_lower = np.array([ours_sw[n]["lower"] for n in names]) - np.array(p["lower"]) - shift
    d_upper = np.array([ours_sw[n]["upper"] for n in names]) - np.array(p["upper"]) - shift
    print(f"  ({load_note()} after the arena-rank run)")
    print(f"  arena-rank sandwich        {p['sandwich_s']:7.2f} s (in-process: read CSV, fit, CIs)")
    print(f"  ours sandwich              {sw['wall']:7.2f} s (whole process)   ratio {p['sandwich_s'] / sw['wall']:6.1f}x")
    if "bootstrap_s" in p:
        print(f"  arena-rank bootstrap {peer_rounds:>4}  {p['bootstrap_s']:7.2f} s (spawn pool, {os.cpu_count()} workers)")
        print(f"  ours bootstrap 1000        {bs['wall']:7.2f} s (whole process)   ratio {p['bootstrap_s'] / bs['wall']:6.1f}x "
              f"(per round: {p['bootstrap_s'] / peer_rounds / (bs['wall'] / 1000):.0f}x)")
    print(f"  common shift {shift:+.4f}; max |rating diff| {np.max(np.abs(d_rating - shift)):.4f}  "
          f"max |lower diff| {np.max(np.abs(d_lower)):.4f}  max |upper diff| {np.max(np.abs(d_upper)):.4f}  (limit 0.05)")
    if "boot_lower" in p:
        ours_bs = {r["model"]: r for r in bs["json"]["models"]}
        w_ours = np.array([ours_bs[n]["upper"] - ours_bs[n]["lower"] for n in names])
        w_peer = np.array(p["boot_upper"]) - np.array(p["boot_lower"])
        print(f"  bootstrap 95% widths: ours mean {w_ours.mean():.2f}, arena-rank mean {w_peer.mean():.2f} "
              f"(different rounds and draws: Monte-Carlo noise, not a bias)")


def section_coverage(data_dir: Path, reps: int, rounds: int) -> None:
    import numpy as np

    sys.path.insert(0, str(REPO))
    from ratings.engine import fit_bt, load_votes
    from ratings.engine.bt import SCALE

    print(f"\n== coverage: 95% intervals vs true strength, make_votes.py --tie 0, {reps} files "
          f"of 20,000 votes / 20 models, bootstrap {rounds} rounds ==")
    cover = {"sandwich": [], "bootstrap": []}
    for seed in range(reps):
        path = make_votes(data_dir, 20_000, 20, tie=0.0, seed=seed)
        truth_map = json.loads(Path(str(path) + ".truth.json").read_text())
        votes = load_votes(path)
        theta = np.array([truth_map[m] for m in votes.models])
        truth = SCALE * (theta - theta.mean()) + 1000.0  # ratings are centred; so is the truth
        for ci in cover:
            lb = fit_bt(votes, ci=ci, rounds=rounds, seed=seed)
            cover[ci].append(np.mean((lb.lower <= truth) & (truth <= lb.upper)))
    for ci, vals in cover.items():
        vals = np.array(vals)
        print(f"  {ci:<10} coverage {vals.mean():.3f}  (± {1.96 * vals.std(ddof=1) / np.sqrt(len(vals)):.3f}, "
              f"{len(vals) * 20} intervals)")
    from scipy.stats import kendalltau

    print("  Kendall's tau to the truth (50 models, make_votes.py --tie 0, mean of 3 seeds):")
    for n in (1_000, 10_000, 100_000, 1_000_000):
        taus = []
        for seed in range(3):
            path = make_votes(data_dir, n, 50, tie=0.0, seed=100 + seed)
            truth_map = json.loads(Path(str(path) + ".truth.json").read_text())
            lb = fit_bt(load_votes(path), ci="none")
            taus.append(kendalltau(lb.rating, [truth_map[m] for m in lb.models])[0])
        print(f"    {n:>9,} votes  tau {np.mean(taus):.3f}")


def section_tail(reps: int) -> None:
    """Intervals of models with 20-35 votes inside a 1M-vote arena: coverage, and width vs textbook."""
    import numpy as np

    sys.path.insert(0, str(REPO))
    from ratings.engine import fit_bt
    from ratings.engine.bt import SCALE
    from ratings.engine.sandwich import ARENA_RANK_REG
    from ratings.engine.synthetic import arena_with_tail as _tail_arena

    print(f"\n== tail: models with 20-35 votes beside 1,000,000 votes among 30 models, {reps} arenas x 10 tail models ==")
    cover = {"sandwich (default)": [], "bootstrap 1000 (default)": [], "sandwich, arena-rank's 1e-5 N term": [],
             "sandwich, no small-sample widening": [], "bootstrap, no small-sample widening": []}
    for seed in range(reps):
        rng = np.random.default_rng(1000 + seed)
        votes, truth = _tail_arena(rng, 1_000_000, rng.integers(20, 36, 10))
        fits = {
            "sandwich (default)": fit_bt(votes, ci="sandwich"),
            "bootstrap 1000 (default)": fit_bt(votes, ci="bootstrap", rounds=1000, seed=seed),
            "sandwich, arena-rank's 1e-5 N term": fit_bt(votes, ci="sandwich", hessian_reg=ARENA_RANK_REG, small_sample=False),
            "sandwich, no small-sample widening": fit_bt(votes, ci="sandwich", small_sample=False),
            "bootstrap, no small-sample widening": fit_bt(votes, ci="bootstrap", rounds=1000, seed=seed, small_sample=False),
        }
        for k, lb in fits.items():
            cover[k].append(((lb.lower <= truth) & (truth <= lb.upper))[30:])
    for k, v in cover.items():
        x = np.concatenate(v)
        print(f"  {k:<40} coverage {x.mean():.3f}  (± {1.96 * np.sqrt(x.mean() * (1 - x.mean()) / len(x)):.3f}, "
              f"{len(x)} intervals; goal >= 0.94)")
    # A 30-vote model's half-width against the textbook sandwich (known opponents: Σ(o-p)² / (Σ p(1-p))²).
    ratios, old = [], []
    for seed in range(20):
        rng = np.random.default_rng(5000 + seed)
        votes, _ = _tail_arena(rng, 1_000_000, [30])
        k = 30
        lb = fit_bt(votes, ci="sandwich")
        theta = (lb.rating - 1000.0) / SCALE
        mine = (votes.a == k) | (votes.b == k)
        sign = np.where(votes.a[mine] == k, 1.0, -1.0)
        p = 1 / (1 + np.exp(-sign * (theta[votes.a[mine]] - theta[votes.b[mine]])))
        won = np.where(votes.a[mine] == k, votes.outcome[mine] == 0, votes.outcome[mine] == 1).astype(float)
        m = len(votes.models)
        textbook = 1.959964 * SCALE * np.sqrt(np.sum((won - p) ** 2)) / np.sum(p * (1 - p)) * (m - 1) / m
        ratios.append((lb.upper[k] - lb.lower[k]) / 2 / textbook)
        lb_old = fit_bt(votes, ci="sandwich", hessian_reg=ARENA_RANK_REG, small_sample=False)
        old.append((lb_old.upper[k] - lb_old.lower[k]) / 2 / textbook)
    print(f"  30-vote model, half-width / textbook sandwich at 1M votes: default {np.mean(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f}; goal within 0.90-1.10), arena-rank's term {np.mean(old):.3f}")


def section_small(tmp: Path, repeat: int) -> None:
    """A 12-vote, 5-model file: the 1000-round bootstrap against the sandwich, whole process."""
    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp / "small.csv"
    lines = ["model_a,model_b,winner"]
    for _ in range(12):
        x, y = rng.choice(5, 2, replace=False)
        lines.append(f"m{x},m{y},{rng.choice(['model_a', 'model_b', 'tie'])}")
    path.write_text("\n".join(lines) + "\n")
    print(f"\n== small: a 12-vote file with 5 models, python -m ratings fit, median of {repeat} ==")
    med = {}
    for ci in ("sandwich", "bootstrap"):
        walls = sorted(ours(path, ci, 1000, tmp / f"{ci}.json")["wall"] for _ in range(repeat))
        med[ci] = walls[len(walls) // 2]
        print(f"  {ci:<10} {med[ci]:.2f} s (best {walls[0]:.2f})")
    print(f"  bootstrap / sandwich = {med['bootstrap'] / med['sandwich']:.2f} (goal <= 2; {load_note()})")


def section_bayes() -> None:
    sys.path.insert(0, str(REPO))
    from ratings.engine import BayesRater

    print("\n== bayes: one BayesRater.update ==")
    r = BayesRater([f"m{k}" for k in range(100)])
    n = 50_000
    votes = [(f"m{k % 100}", f"m{(k * 7 + 1) % 100}" if k % 100 != (k * 7 + 1) % 100 else "m99",
              ("model_a", "model_b", "tie")[k % 3]) for k in range(n)]
    votes = [v if v[0] != v[1] else (v[0], "m0" if v[0] != "m0" else "m1", v[2]) for v in votes]
    t0 = time.perf_counter()
    for v in votes:
        r.update(v)
    pair = (time.perf_counter() - t0) / n * 1e6
    t0 = time.perf_counter()
    for k in range(10_000):
        r.update({"models": [f"m{k % 97}", f"m{(k + 1) % 97}", f"m{(k + 2) % 97}", f"m{(k + 3) % 97}"],
                  "ranking": [1, 2, 3, 4]})
    four = (time.perf_counter() - t0) / 10_000 * 1e6
    print(f"  pairwise vote {pair:6.1f} µs   4-wise vote {four:6.1f} µs   (budget: well under 1,000 µs)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", nargs="*", default=["speed", "peer", "coverage", "tail", "small", "bayes"],
                   choices=["speed", "peer", "coverage", "tail", "small", "bayes"])
    p.add_argument("--tail-reps", type=int, default=100)
    p.add_argument("--data-dir", default=os.path.join(tempfile.gettempdir(), "arena-ratings-bench"))
    p.add_argument("--peer-python", default=None, help="python of an environment with arena-rank installed")
    p.add_argument("--peer-rounds", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3, help="runs per speed figure (best and median printed)")
    p.add_argument("--coverage-reps", type=int, default=200)
    p.add_argument("--coverage-rounds", type=int, default=1000)
    a = p.parse_args()
    data_dir = Path(a.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; python {sys.version.split()[0]}; data in {data_dir}")
    with tempfile.TemporaryDirectory() as tmp:
        speed = section_speed(data_dir, Path(tmp), a.repeat) if "speed" in a.only else None
        if "peer" in a.only:
            section_peer(data_dir, Path(tmp), a.peer_python, a.peer_rounds, speed)
    if "coverage" in a.only:
        section_coverage(data_dir, a.coverage_reps, a.coverage_rounds)
    if "tail" in a.only:
        section_tail(a.tail_reps)
    if "small" in a.only:
        with tempfile.TemporaryDirectory() as tmp:
            section_small(Path(tmp), max(a.repeat, 5))
    if "bayes" in a.only:
        section_bayes()


if __name__ == "__main__":
    main()
