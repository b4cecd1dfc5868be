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
    coefficients = lb.extra.get("style_coefficients")
    if coefficients:
        lines.append("style coefficients: " + ", ".join(f"{k} {v:+.4f}" for k, v in coefficients.items()))
    width = max(len("model"), *(len(r["model"]) for r in rows))
    # Rank interval: the best rank the intervals allow (Chatbot Arena's "rank (UB)") to the worst.
    header = f"{'rank':>9}  {'model':<{width}}  {'rating':>8}  {'lower':>8}  {'upper':>8}  {'votes':>9}  {'win%':>6}"
    n_parts = int(lb.part.max()) + 1
    for p in range(n_parts):
        part_rows = [r for r in rows if r.get("part", 1) == p + 1]
        lines.append("")
        if n_parts > 1:
            lines.append(f"part {p + 1} of {n_parts} (not comparable with the other parts)")
        lines.append(header)
        lines.append("-" * len(header))
        for r in part_rows:
            win = "" if r["win_rate"] is None else f"{100 * r['win_rate']:.1f}"
            flag = ("  ! " + "; ".join(r["flags"])) if r.get("flags") else ""
            ranks = f"{r['rank']}" if r["rank"] == r["rank_upper"] else f"{r['rank']}-{r['rank_upper']}"
            lines.append(
                f"{ranks:>9}  {r['model']:<{width}}  {r['rating']:>8.1f}  "
                f"{r['lower']:>8.1f}  {r['upper']:>8.1f}  {_votes(r['votes']):>9}  {win:>6}{flag}"
            )
    return "\n".join(lines)


def _votes(x: float) -> str:
    return f"{int(x)}" if float(x).is_integer() else f"{x:.1f}"
