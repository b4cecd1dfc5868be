"""``python -m ratings fit VOTES [options]``: the researcher's entry point; ``python -m ratings
verify votes.parquet [--previous MANIFEST]`` checks a release's hash chain (ratings.engine.verify);
``python -m ratings audit VOTES [--exposure FILE.json] [--q 0.01] [--out FILE.json]`` flags
anomalous voters (ratings.engine.audit).

    python -m ratings fit votes.parquet --method bt --ci bootstrap --rounds 1000 --seed 0 \\
        [--filter language=en] [--style-control] [--criterion NAME] [--anchor MODEL=RATING] \\
        [--out leaderboard.json] [--matrices]

Writes ``{"method", "ci", "votes", "models": [{"model", "rating", "lower", "upper", "rank",
"rank_upper", "votes", "win_rate"}], "notes", ...}`` to --out, or a table to stdout. Problems with
the data exit with status 2 and one line on stderr, never a traceback; progress goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from ratings.engine.errors import RatingDataError

if TYPE_CHECKING:
    from ratings.engine.leaderboard import Leaderboard

_DEFAULT_ROUNDS = {"bt": 1000, "elo": 100, "bayes": 0, "style": 100}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ratings", description="Arena rating engine")
    sub = p.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fit", help="fit ratings to a vote file (CSV, JSONL or Parquet)")
    f.add_argument("votes", metavar="VOTES", help="vote file: .csv, .jsonl or .parquet")
    f.add_argument("--method", choices=["bt", "elo", "bayes"], default="bt")
    f.add_argument("--ci", choices=["sandwich", "bootstrap", "none"], default=None,
                   help="interval method (default: sandwich for bt, as the published leaderboard; bootstrap for "
                        "elo and style control; bayes reports its posterior)")
    f.add_argument("--cluster", choices=["auto", "none"], default="auto",
                   help="auto (default): votes of one voter (a 'voter' or 'judge' column) and the pairs of one tied "
                        "K-wise vote are clustered in the intervals; none: every vote independent")
    f.add_argument("--position-bias", action=argparse.BooleanOptionalAction, default=True,
                   help="bt: estimate the first-shown (model_a) advantage as a parameter, kept out of the ratings "
                        "(default on, as the published leaderboard)")
    f.add_argument("--ties", choices=["half", "davidson"], default="half",
                   help="bt: a tie is half a win each side (default), or Davidson's tie model")
    f.add_argument("--hessian-reg", choices=["textbook", "arena-rank"], default="textbook",
                   help="bt sandwich: the textbook Hessian (default) or arena-rank's 1e-5 x N diagonal term "
                        "(too narrow for models with few votes; only to compare with LMArena)")
    f.add_argument("--small-sample", action=argparse.BooleanOptionalAction, default=True,
                   help="bt: widen each interval by its model's small-sample factor (default on)")
    f.add_argument("--min-votes", type=int, default=0, metavar="N",
                   help="bt: models with fewer votes are provisional: rated but not ranked (the server uses "
                        "RATINGS_PRELIMINARY_VOTES)")
    f.add_argument("--rounds", type=int, default=None, help="bootstrap rounds (default 1000 for bt, 100 for elo "
                                                             "and style control)")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals")
    f.add_argument("--filter", action="append", default=[], metavar="COLUMN=VALUE",
                   help="keep votes whose COLUMN equals VALUE (repeatable; dotted paths reach struct fields)")
    f.add_argument("--style-control", action="store_true", help="contextual BT with the four style features")
    f.add_argument("--criterion", default=None, help="rate on criteria[NAME] instead of the overall winner")
    f.add_argument("--anchor", default=None, metavar="MODEL=RATING", help="shift ratings so MODEL has RATING")
    f.add_argument("--out", default=None, metavar="FILE.json", help="write JSON here instead of a table")
    f.add_argument("--matrices", action="store_true", help="include win-share and battle-count matrices in JSON")
    f.add_argument("--include-uncounted", action="store_true",
                   help="keep rows with counted = false (a release's excluded votes; left out by default)")
    v = sub.add_parser("verify", help="check a release's hash chain: name any changed, inserted or removed row")
    v.add_argument("votes", metavar="VOTES", help="a release's votes.parquet (MANIFEST.json and exclusions.jsonl "
                                                   "beside it are checked too)")
    v.add_argument("--previous", default=None, metavar="MANIFEST",
                   help="an earlier release's MANIFEST.json (or its votes.parquet, to name each row)")
    _simulate_parser(sub)
    a = sub.add_parser("audit", help="flag anomalous voters in a vote file with a voter column")
    a.add_argument("votes", metavar="VOTES", help="vote file as for fit, plus voter (and optional timestamp, "
                                                  "dwell_ms or shown_at/voted_at, network) columns")
    a.add_argument("--exposure", default=None, metavar="FILE.json",
                   help='battles matchmaking served per model, {"model": n}; default: the votes themselves')
    a.add_argument("--q", type=float, default=0.01, help="false discovery rate across voters and detectors")
    a.add_argument("--filter", action="append", default=[], metavar="COLUMN=VALUE", help="as for fit")
    a.add_argument("--out", default=None, metavar="FILE.json", help="write JSON here instead of a summary")
    return p


def _simulate_parser(sub) -> None:
    s = sub.add_parser("simulate", help="simulate an arena to compare matchmaking policies",
                       description="Votes a policy needs in a simulated arena (the simulator owns truth, noise and "
                                   "seeds). Experiments: ksort (K-Sort Arena's: 50 models, K=4, exact order), bt "
                                   "(40 models, Bradley-Terry votes, Kendall tau), placement (a new model in a "
                                   "converged arena).")
    s.add_argument("--experiment", choices=["ksort", "bt", "placement"], default="ksort")
    s.add_argument("--policy", action="append", default=None, metavar="NAME",
                   help="uniform, ksort-ucb or active (repeatable; default: all three)")
    s.add_argument("--seeds", type=int, default=5, help="runs per policy, seeds first-seed .. first-seed+N-1")
    s.add_argument("--first-seed", type=int, default=0)
    s.add_argument("--models", type=int, default=None, help="number of models (default: 50; bt: 40)")
    s.add_argument("--k", type=int, default=None, help="models per battle (default 4; bt: 2)")
    s.add_argument("--noise", type=float, default=None, help="ksort/placement: share of votes with two places "
                                                            "swapped (default 0)")
    s.add_argument("--spread", type=float, default=None, help="bt: sd of the true strengths, logit scale (0.6)")
    s.add_argument("--tau", type=float, default=None, help="bt: Kendall tau to reach (0.9)")
    s.add_argument("--stay", type=int, default=None, help="votes the target must hold (ksort 50, bt 200, "
                                                          "placement 50)")
    s.add_argument("--max-votes", type=int, default=None, help="give up after this many votes")
    s.add_argument("--out", default=None, metavar="FILE.json", help="also write every run as JSON")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "verify":
            return _verify(args)
        if args.command == "simulate":
            return _simulate(args)
        if args.command == "audit":
            return _audit(args)
        return _fit(args)
    except RatingDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _verify(args: argparse.Namespace) -> int:
    from ratings.engine.verify import verify

    rep = verify(args.votes, previous=args.previous)
    for note in rep.notes:
        print(f"note: {note}", file=sys.stderr)
    if rep.problems:
        for line in rep.problems:
            print(line)
        print(f"FAILED: {len(rep.problems)} problem(s) in {rep.rows} rows", file=sys.stderr)
        return 1
    print(f"OK: {rep.rows} rows, chain head {rep.head}")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from ratings.engine.audit import audit
    from ratings.engine.audit_io import load_exposure, load_vote_log

    if not 0.0 < args.q < 1.0:
        raise RatingDataError(f"--q {args.q}: the false discovery rate must be between 0 and 1")
    log = load_vote_log(args.votes, filters=args.filter)
    exposure = load_exposure(args.exposure) if args.exposure else None
    result = audit(log, exposure=exposure, q=args.q).to_dict()
    result.update(file=str(args.votes), filters=list(args.filter))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1, allow_nan=False)
            fh.write("\n")
        print(f"wrote {args.out} ({result['voters_flagged']} of {len(result['voters'])} voters flagged)", file=sys.stderr)
    else:
        print(f"{result['voters_flagged']} of {len(result['voters'])} voters flagged (FDR {args.q:g}), {result['votes']} votes")
        for v in result["voters"]:
            if v["flagged"]:
                why = "; ".join(f"{r['detector']}: {r['detail']}" for r in v["reasons"])
                print(f"  {v['voter']}  {v['votes']} votes  score {v['score']:.1f}  {why}")
        for m in result["models"]:
            if m["suspicious_votes"] or m["cohort_flagged"]:
                print(f"  model {m['model']}: {100 * m['suspicious_share']:.1f}% of its votes from flagged voters"
                      + (f", new voters diverge (z={m['cohort_z']}, sparse p={m['cohort_sparse_p']:.3g})"
                         if m["cohort_flagged"] else ""))
    for note in result["notes"]:
        print(f"note: {note}", file=sys.stderr)
    return 0


def _anchor(spec: str | None) -> tuple[str, float] | None:
    if spec is None:
        return None
    name, sep, value = spec.rpartition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name, float(value)
    except ValueError:
        raise RatingDataError(f"--anchor {spec!r}: expected MODEL=RATING, e.g. gpt-4o=1200") from None


def _fit(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    method = "style" if args.style_control else args.method
    if args.style_control and args.method != "bt":
        raise RatingDataError("--style-control is a Bradley-Terry model; use it with --method bt")
    ci = args.ci or ("sandwich" if method == "bt" else "bootstrap")
    rounds = _DEFAULT_ROUNDS[method] if args.rounds is None else args.rounds
    anchor = _anchor(args.anchor)
    if anchor is not None and method == "bayes":
        raise RatingDataError("--anchor applies to bt and elo ratings, not to bayes scores")
    stage = _stages()
    try:
        lb = _run(args, method, ci, rounds, anchor, stage)
    finally:
        stage(None)  # the bar is gone before any message or table is printed
    result = lb.to_dict(matrices=args.matrices)
    result.update(file=str(args.votes), filters=list(args.filter), criterion=args.criterion,
                  seconds=round(time.perf_counter() - started, 3))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=1, allow_nan=False)
            fh.write("\n")
        print(f"wrote {args.out} ({len(lb.models)} models, {result['votes']} votes)", file=sys.stderr)
        for note in lb.notes:
            print(f"note: {note}", file=sys.stderr)
    else:
        from ratings.engine.report import format_table

        print(format_table(lb))
    return 0


def _run(args: argparse.Namespace, method: str, ci: str, rounds: int, anchor: tuple[str, float] | None,
         stage: Callable[[str | None], None]) -> Leaderboard:
    from ratings.engine.io import load_votes

    stage("reading votes")
    votes = load_votes(args.votes, filters=args.filter, criterion=args.criterion, style=args.style_control,
                       counted_only=not args.include_uncounted)
    stage("fitting")
    lb = _fit_method(args, method, ci, rounds, anchor, votes)
    lb.notes[:0] = [n for n in votes.notes if n not in lb.notes]  # what loading decided (rows left out, ...)
    return lb


def _fit_method(args: argparse.Namespace, method: str, ci: str, rounds: int, anchor: tuple[str, float] | None,
                votes) -> Leaderboard:
    if method == "bt":
        from ratings.engine.bt import fit_bt

        from ratings.engine.sandwich import ARENA_RANK_REG

        return fit_bt(votes, ci=ci, rounds=rounds, seed=args.seed, level=args.level, anchor=anchor, progress=True,
                      cluster=args.cluster == "auto", position_bias=args.position_bias, ties=args.ties,
                      hessian_reg=ARENA_RANK_REG if args.hessian_reg == "arena-rank" else 0.0,
                      small_sample=args.small_sample, min_votes=args.min_votes)
    if method == "style":
        from ratings.engine.style import fit_style

        return fit_style(votes, ci=ci, rounds=rounds, seed=args.seed, level=args.level, anchor=anchor)
    if method == "elo":
        from ratings.engine.elo import fit_elo

        return fit_elo(votes, ci=ci, rounds=rounds, seed=args.seed, level=args.level, anchor=anchor, progress=True)
    from ratings.engine.bayes import fit_bayes

    if args.ci not in (None, "none"):
        print("note: --method bayes reports its posterior (mu -/+ 3 sigma); --ci is ignored", file=sys.stderr)
    return fit_bayes(votes, progress=True)


def _simulate(args: argparse.Namespace) -> int:
    from statistics import median

    from ratings.engine.matchmaking import POLICIES
    from ratings.engine.simulate import DEFAULTS, run

    exp = args.experiment
    params = dict(DEFAULTS[exp])
    for key in ("models", "k", "noise", "spread", "tau", "stay", "max_votes"):
        value = getattr(args, key)
        if value is None:
            continue
        if key not in params:
            raise RatingDataError(f"--{key.replace('_', '-')} does not apply to the {exp} experiment")
        params[key] = value
    policies = args.policy or ["active", "ksort-ucb", "uniform"]
    for name in policies:
        if name not in POLICIES:
            raise RatingDataError(f"--policy {name!r}: choose one of {', '.join(POLICIES)}")
    if args.seeds < 1:
        raise RatingDataError("--seeds must be at least 1")
    if params["models"] < 3:
        raise RatingDataError("--models must be at least 3")
    if not 2 <= params["k"] <= params["models"]:
        raise RatingDataError(f"--k must be between 2 and the number of models ({params['models']})")
    if not 0.0 <= params.get("noise", 0.0) <= 1.0:
        raise RatingDataError("--noise is a share of votes, between 0 and 1")
    if params.get("spread", 1.0) <= 0:
        raise RatingDataError("--spread must be positive")
    if not 0.0 < params.get("tau", 0.5) <= 1.0:
        raise RatingDataError("--tau must be in (0, 1]")
    if params["stay"] < 1 or params["max_votes"] < 1:
        raise RatingDataError("--stay and --max-votes must be at least 1")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    runs = []
    print(f"{exp}: " + ", ".join(f"{k}={v}" for k, v in params.items()))
    print(f"{'policy':<10} {'median votes':>12} {'ms/vote':>8}  votes per seed ({seeds.start}..{seeds.stop - 1})")
    for name in policies:
        results = [run(exp, name, seed, **params) for seed in seeds]
        runs += [r.to_dict() for r in results]
        # a run that never got there counts as more than max_votes: the median stays honest
        med = median(r.votes if r.votes is not None else math.inf for r in results)
        ms = median(r.ms_per_vote for r in results)
        shown = f">{params['max_votes']}" if med == math.inf else f"{med:g}"
        each = " ".join("-" if r.votes is None else str(r.votes) for r in results)
        print(f"{name:<10} {shown:>12} {ms:>8.3f}  {each}", flush=True)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump({"experiment": exp, "params": params, "runs": runs}, fh, indent=1)
            fh.write("\n")
    return 0


def _stages():
    """A stage bar on stderr that appears only if the whole run passes one second."""
    from tqdm import tqdm

    bar = tqdm(total=2, desc="ratings", delay=1.0, leave=False, disable=None, bar_format="{desc}: {n}/{total} {postfix}")

    started = []

    def stage(name: str | None) -> None:
        if name is None:
            bar.close()
            return
        if started:
            bar.update(1)
        started.append(name)
        bar.set_postfix_str(name, refresh=False)  # refresh would draw the bar before its delay

    return stage
