"""Human-readable leaderboard tables (the command line's stdout when no --out is given).

One table per connected part of the comparison graph, so ratings that share no common zero are
never printed as a single ranking; notes (disconnected parts, infinite MLEs, flags) come first.
"""
from __future__ import annotations

from ratings.engine.leaderboard import Leaderboard


def format_table(lb: Leaderboard) -> str:
    rows = lb.rows()
    lines = [f"method: {lb.method}   ci: {lb.ci}" + (f" ({lb.level:.0%})" if lb.ci not in ("none", "posterior") else "")
             + f"   votes: {_votes(lb.n_votes)}   models: {len(lb.models)}"]
    for note in lb.notes:
        lines.append(f"note: {note}")
    if lb.extra.get("interval"):
        lines.append(f"interval: {lb.extra['interval']}")
    pb = lb.extra.get("position_bias")
    if pb:
        span = f" ({pb['lower']:+.1f} to {pb['upper']:+.1f})" if "lower" in pb else ""
        lines.append(f"position bias: the first-shown model gains {pb['points']:+.1f} points{span}; "
                     f"it wins {100 * pb['first_wins']:.1f}% of even match-ups (kept out of the ratings)")
    coefficients = lb.extra.get("style_coefficients")
    if coefficients:
        lines.append("style coefficients: " + ", ".join(f"{k} {v:+.4f}" for k, v in coefficients.items()))
    width = max(len("model"), *(len(r["model"]) for r in rows))
    # Rank interval: the best rank the intervals allow (Chatbot Arena's "rank (UB)") to the worst.
    tiers = bool(lb.extra.get("tiers"))
    header = (f"{'rank':>9}  " + (f"{'tier':>4}  " if tiers else "")
              + f"{'model':<{width}}  {'rating':>8}  {'lower':>8}  {'upper':>8}  {'votes':>9}  {'win%':>6}")
    n_parts = int(lb.part.max()) + 1
    for p in range(n_parts):
        part_rows = [r for r in rows if r.get("part", 1) == p + 1 and not r.get("provisional")]
        lines.append("")
        if n_parts > 1:
            lines.append(f"part {p + 1} of {n_parts} (not comparable with the other parts)")
        lines.append(header)
        lines.append("-" * len(header))
        lines.extend(_line(r, width, tiers) for r in part_rows)
    provisional = [r for r in rows if r.get("provisional")]
    if provisional:
        lines.append("")
        lines.append("provisional (too few votes to be ranked)")
        lines.append(header)
        lines.append("-" * len(header))
        lines.extend(_line(r, width, tiers) for r in provisional)
    return "\n".join(lines)


def _line(r: dict, width: int, tiers: bool) -> str:
    win = "" if r["win_rate"] is None else f"{100 * r['win_rate']:.1f}"
    flag = ("  ! " + "; ".join(r["flags"])) if r.get("flags") else ""
    if r["rank"] is None:
        ranks = "-"
    else:
        ranks = f"{r['rank']}" if r["rank"] == r["rank_upper"] else f"{r['rank']}-{r['rank_upper']}"
    tier = (f"{r.get('tier') or '-':>4}  " if tiers else "")
    return (f"{ranks:>9}  {tier}{r['model']:<{width}}  {r['rating']:>8.1f}  "
            f"{r['lower']:>8.1f}  {r['upper']:>8.1f}  {_votes(r['votes']):>9}  {win:>6}{flag}")


def _votes(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:.1f}"
