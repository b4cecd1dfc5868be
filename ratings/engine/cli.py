"""``python -m ratings fit VOTES [options]``: the researcher's entry point (and ``python -m ratings
verify votes.parquet [--previous MANIFEST]``, a release's hash-chain check: ratings.engine.verify).

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
                   help="interval method (default: bootstrap; bayes reports its posterior)")
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
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "verify":
            return _verify(args)
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
    ci = args.ci or "bootstrap"
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

        return fit_bt(votes, ci=ci, rounds=rounds, seed=args.seed, level=args.level, anchor=anchor, progress=True)
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
