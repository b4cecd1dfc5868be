"""How fragile is the order of a Bradley-Terry leaderboard: for each adjacent pair of the ranking,
about the fewest votes whose removal would swap them (Broderick, Giordano & Meager's approximate
maximum influence perturbation, as Huang et al. 2025 applied it to Chatbot Arena, where removing
0.02% of the votes changed the #1). Pure numpy.

    rows = fragility(cells, order=["best", "second", ...])
    # [{"upper", "lower", "votes_to_swap", "share", "tied"}], tied when share < TIED_SHARE

Method: at the fit, one vote's removal moves the gap θ_upper − θ_lower by about −cᵀJ⁻¹g (J the
Fisher information, g the vote's score, c = e_upper − e_lower); the votes that support the gap
most are removed first, as many as the first-order change says close it; then the model is refitted
without them and, if the pair has not swapped, the step repeats from the new fit. Votes are taken
from aggregated cells (pair, outcome), so the cost does not grow with the number of votes. The
count found is an upper bound on the fewest (it is a greedy search) and, in practice, close to it.
"""
from __future__ import annotations

import numpy as np

from ratings.engine.cells import PairCells

TIED_SHARE = 0.005  # under 0.5% of the votes: the pair is shown as tied
SCORES = np.array([1.0, 0.0, 0.5])  # i won, j won, tie (both_bad counts as a tie)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _fit(m: int, i: np.ndarray, j: np.ndarray, n: np.ndarray, theta: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """BT MLE over cells with counts n (P, 3); one virtual tie per model against 0 keeps it finite
    (and pins the mean). Returns (theta, information matrix)."""
    s = n @ SCORES
    tot = n.sum(axis=1)
    x = np.zeros(m) if theta is None else theta.copy()
    for _ in range(100):
        p = _sigmoid(x[i] - x[j])
        r = s - tot * p
        grad = np.bincount(i, r, m) - np.bincount(j, r, m) + (0.5 - _sigmoid(x))
        h = tot * p * (1 - p)
        info = np.zeros((m, m))
        info[i, j] = -h  # cells are distinct unordered pairs: no repeated index
        info[j, i] = -h
        info[np.arange(m), np.arange(m)] = np.bincount(i, h, m) + np.bincount(j, h, m) + _sigmoid(x) * (1 - _sigmoid(x))
        info[np.arange(m), np.arange(m)] += 1e-9
        step = np.linalg.solve(info, grad)
        big = np.max(np.abs(step))
        if big > 1.0:  # damped: a full Newton step from a far start can overshoot the logistic
            step /= big
        x += step
        if np.max(np.abs(step)) < 1e-7:
            break
    return x, info


def _swapped(theta: np.ndarray, upper: int, lower: int) -> bool:
    return theta[upper] - theta[lower] <= 1e-9


def votes_to_swap(cells: PairCells, upper: int, lower: int, max_rounds: int = 30) -> int:
    """About the fewest (unit) votes whose removal puts `lower` at or above `upper`."""
    m = cells.m
    n = np.floor(cells.n.astype(float))
    theta, info = _fit(m, cells.i, cells.j, n)
    if _swapped(theta, upper, lower):
        return 0
    removed = 0
    c = np.zeros(m)
    c[upper], c[lower] = 1.0, -1.0
    for _ in range(max_rounds):
        v = np.linalg.solve(info, c)
        p = _sigmoid(theta[cells.i] - theta[cells.j])
        # support[k, o]: how much one vote of cell k with outcome o holds the gap open.
        support = ((SCORES[None, :] - p[:, None]) * (v[cells.i] - v[cells.j])[:, None]).ravel()
        avail = n.ravel()
        order = [k for k in np.argsort(-support) if support[k] > 0 and avail[k] >= 1]
        if not order:
            return -1  # nothing holds the gap open (cannot happen for a fitted gap > 0)
        # The removal sequence, vote by vote in order of support, as (cell-outcome, count) runs.
        gap = theta[upper] - theta[lower]
        counts = np.array([avail[k] for k in order])
        cum = np.cumsum(counts * support[order])
        # First-order estimate of how many to take; then the exact answer by refits within it.
        reach = int(np.searchsorted(cum, gap))
        budget = int(counts[: reach + 1].sum()) if reach < len(order) else int(counts.sum())

        def removal(t: int) -> np.ndarray:
            take = np.zeros_like(avail)
            left = t
            for k, cnt in zip(order, counts):
                if left <= 0:
                    break
                take[k] = min(cnt, left)
                left -= take[k]
            return take.reshape(n.shape)

        trial, trial_info = _fit(m, cells.i, cells.j, n - removal(budget), theta)
        if not _swapped(trial, upper, lower):
            n = n - removal(budget)
            removed += budget
            theta, info = trial, trial_info
            continue
        lo, hi = 0, budget  # hi swaps; find the least that does
        while hi - lo > 1:
            mid = (lo + hi) // 2
            th, _ = _fit(m, cells.i, cells.j, n - removal(mid), theta)
            lo, hi = (lo, mid) if _swapped(th, upper, lower) else (mid, hi)
        return removed + hi
    return removed


def fragility(cells: PairCells, order: list[str], tied_share: float = TIED_SHARE) -> list[dict]:
    """For each adjacent pair of `order` (model names, best first): votes_to_swap, its share of
    all votes, and whether the pair is to be shown as tied."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # many small solves: BLAS threads only spin
        return _fragility(cells, order, tied_share)


def _fragility(cells: PairCells, order: list[str], tied_share: float) -> list[dict]:
    index = {name: k for k, name in enumerate(cells.models)}
    total = float(cells.n.sum())
    out = []
    for hi, lo in zip(order, order[1:]):
        if hi not in index or lo not in index or total <= 0:
            continue
        k = votes_to_swap(cells, index[hi], index[lo])
        if k < 0:
            continue
        out.append({"upper": hi, "lower": lo, "votes_to_swap": k, "share": round(k / total, 6),
                    "tied": k / total < tied_share})
    return out
