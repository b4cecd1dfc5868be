"""How fragile is the order of a Bradley-Terry leaderboard: for each adjacent pair of the ranking,
about the fewest votes whose removal would swap them (Broderick, Giordano & Meager's approximate
maximum influence perturbation, as Huang et al. 2025 applied it to Chatbot Arena, where removing
0.02% of the votes changed the #1). Pure numpy; the cost depends on the number of models and
cells (pairs x outcomes), never on the number of votes.

    rows = fragility(cells, order=["best", "second", ...])
    # [{"upper", "lower", "votes_to_swap", "one_step", "share", "tied"}], tied when share < TIED_SHARE

Method, from the cells (pair, outcome) counts:
1. One fit of the whole board (θ, and its information matrix J, inverted once for all pairs).
2. One step (the influence approximation): removing one vote of cell k with outcome o moves the
   gap θ_upper − θ_lower by about −(s_o − p_k)(v_i − v_j), v = J⁻¹(e_upper − e_lower). The votes that
   hold the gap open most are removed first, greedily; the one-step count is how many of them it
   takes for their summed influence to reach the gap (``one_step``; a vector sort per pair).
3. Checked by refits: the same removal order, refitted (a chord Newton iteration that reuses J⁻¹,
   so a refit costs O(cells + models²), falling back to full Newton when the removal moves the fit
   far), and the least count that really swaps the pair found by a bracketed secant search (a few
   refits; the first-order count is where it starts). If removing every supporting vote still does
   not swap the pair, the influences are taken again at that fit and the search goes on.
The count is an upper bound on the fewest (the search is greedy) and, in practice, close to it.
"""
from __future__ import annotations

import numpy as np

from ratings.engine.cells import PairCells

TIED_SHARE = 0.005  # under 0.5% of the votes: the pair is shown as tied
SCORES = np.array([1.0, 0.0, 0.5])  # i won, j won, tie (both_bad counts as a tie)
_FLIP = [1, 0, 2]
HEAD = 2048  # cell-outcomes of the removal order sorted first (more only when the search needs them)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # plain numpy: no scipy import for the fits


def _unordered(cells: PairCells) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, n) with one row per unordered pair (i < j): oriented cells (who was shown first) of the
    same pair summed, whole vote counts (P, 3) i won / j won / tie."""
    m = cells.m
    n = np.floor(np.asarray(cells.n, dtype=np.float64))
    flip = cells.i > cells.j
    a = np.where(flip, cells.j, cells.i)
    b = np.where(flip, cells.i, cells.j)
    n = np.where(flip[:, None], n[:, _FLIP], n)
    uniq, inv = np.unique(a * m + b, return_inverse=True)
    out = np.zeros((len(uniq), 3))
    for c in range(3):
        out[:, c] = np.bincount(inv, n[:, c], len(uniq))
    keep = out.sum(axis=1) > 0
    return (uniq // m)[keep], (uniq % m)[keep], out[keep]


def _grad(m: int, i: np.ndarray, j: np.ndarray, s: np.ndarray, tot: np.ndarray, x: np.ndarray) -> np.ndarray:
    r = s - tot * _sigmoid(x[i] - x[j])
    return np.bincount(i, r, m) - np.bincount(j, r, m) + (0.5 - _sigmoid(x))


def _info(m: int, i: np.ndarray, j: np.ndarray, tot: np.ndarray, x: np.ndarray) -> np.ndarray:
    p = _sigmoid(x[i] - x[j])
    h = tot * p * (1 - p)
    info = np.zeros((m, m))
    np.add.at(info, (i, j), -h)
    np.add.at(info, (j, i), -h)
    q = _sigmoid(x)
    info[np.arange(m), np.arange(m)] = np.bincount(i, h, m) + np.bincount(j, h, m) + q * (1 - q) + 1e-9
    return info


def _fit(m: int, i: np.ndarray, j: np.ndarray, n: np.ndarray, theta: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """BT MLE over unordered cells with counts n (P, 3); one virtual tie per model against 0 keeps it
    finite (and pins the mean). Full Newton. Returns (theta, information matrix)."""
    s = n @ SCORES
    tot = n.sum(axis=1)
    x = np.zeros(m) if theta is None else theta.copy()
    for _ in range(100):
        info = _info(m, i, j, tot, x)
        step = np.linalg.solve(info, _grad(m, i, j, s, tot, x))
        big = np.max(np.abs(step))
        if big > 1.0:  # damped: a full Newton step from a far start can overshoot the logistic
            step /= big
        x += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return x, _info(m, i, j, tot, x)


def _swapped(theta: np.ndarray, upper: int, lower: int) -> bool:
    return theta[upper] - theta[lower] <= 1e-9


class _Board:
    """The whole board's fit, its inverse information, and cheap refits after removals."""

    def __init__(self, m: int, i: np.ndarray, j: np.ndarray, n: np.ndarray) -> None:
        self.m, self.i, self.j, self.n = m, i, j, n
        self.theta, info = _fit(m, i, j, n)
        self.jinv = np.linalg.inv(info)
        self.refits = 0

    def refit(self, n: np.ndarray, start: np.ndarray | None = None, pair: tuple[int, int] | None = None) -> np.ndarray:
        """θ of the board with counts n: chord Newton (the full board's J⁻¹ kept), full Newton when
        that does not converge quickly (a removal that changes the information a lot). With ``pair``,
        it stops as soon as the sign of that pair's gap is settled."""
        self.refits += 1
        m, i, j = self.m, self.i, self.j
        s, tot = n @ SCORES, n.sum(axis=1)
        x = (self.theta if start is None else start).copy()
        last = np.inf
        for _ in range(40):
            step = self.jinv @ _grad(m, i, j, s, tot, x)
            big = float(np.max(np.abs(step)))
            if big > 1.0 or big > 0.7 * last:  # far from the start, or converging too slowly
                break
            x += step
            if big < 1e-11 or (pair is not None and big < 1e-8 and abs(x[pair[0]] - x[pair[1]]) > 1e-5):
                return x
            last = big
        return _fit(m, i, j, n, x if np.all(np.isfinite(x)) else None)[0]

    def support(self, theta: np.ndarray, jinv: np.ndarray, upper: int, lower: int) -> np.ndarray:
        """(P·3,): how much one vote of each cell and outcome holds the gap open (first order)."""
        v = jinv[:, upper] - jinv[:, lower]
        p = _sigmoid(theta[self.i] - theta[self.j])
        return ((SCORES[None, :] - p[:, None]) * (v[self.i] - v[self.j])[:, None]).ravel()


def _order(support: np.ndarray, avail: np.ndarray, head: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Cell-outcomes that hold the gap open, most first: (flat index, counts, cumulative counts, whole),
    only the ``head`` most supportive when given (whole: False when some were left out)."""
    ok = np.flatnonzero((support > 0) & (avail >= 1))
    whole = head is None or len(ok) <= head
    if not whole:  # the search rarely goes past the first few thousand: no full sort for it
        ok = ok[np.argpartition(-support[ok], head)[:head]]
    idx = ok[np.argsort(-support[ok], kind="stable")]
    counts = avail[idx]
    return idx, counts, np.cumsum(counts), whole


def _removal(shape: tuple[int, int], idx: np.ndarray, counts: np.ndarray, cum: np.ndarray, t: int) -> np.ndarray:
    """Counts (P, 3) of the first t votes of the order."""
    take = np.zeros(shape[0] * shape[1])
    take[idx] = np.clip(t - (cum - counts), 0, counts)
    return take.reshape(shape)


def _one_step_count(support: np.ndarray, counts: np.ndarray, idx: np.ndarray, gap: float) -> int | None:
    """The fewest votes of the order whose summed first-order influence reaches the gap (None: never)."""
    per = support[idx]
    reach = np.cumsum(counts * per)
    k = int(np.searchsorted(reach, gap))  # first run whose votes reach it
    if k >= len(idx):
        return None
    before = reach[k - 1] if k else 0.0
    return int((counts[:k].sum() if k else 0) + max(1, np.ceil((gap - before) / per[k] - 1e-12)))


def votes_to_swap_one_step(cells: PairCells, upper: int, lower: int, board: _Board | None = None) -> int | None:
    """The one-step (influence) approximation of votes_to_swap, from the board's fit alone: no refit.
    None when the first-order influence of every supporting vote does not reach the gap."""
    if board is None:
        i, j, n = _unordered(cells)
        board = _Board(cells.m, i, j, n)
    if _swapped(board.theta, upper, lower):
        return 0
    sup = board.support(board.theta, board.jinv, upper, lower)
    idx, counts, _, _ = _order(sup, board.n.ravel())
    return _one_step_count(sup, counts, idx, board.theta[upper] - board.theta[lower])


def votes_to_swap(cells: PairCells, upper: int, lower: int, max_rounds: int = 30, board: _Board | None = None) -> int:
    """About the fewest (unit) votes whose removal puts `lower` at or above `upper`, checked by refits."""
    return _votes_to_swap(board or _Board(cells.m, *_unordered(cells)), upper, lower, max_rounds)[0]


def _votes_to_swap(board: _Board, upper: int, lower: int, max_rounds: int = 30) -> tuple[int, int | None]:
    """(count checked by refits, one-step count)."""
    theta, jinv, n = board.theta, board.jinv, board.n
    if _swapped(theta, upper, lower):
        return 0, 0
    removed = 0
    first: int | None = None
    head: int | None = HEAD
    rnd = 0
    while rnd < max_rounds:
        sup = board.support(theta, jinv, upper, lower)
        idx, counts, cum, whole = _order(sup, n.ravel(), head)
        if not len(idx):
            return -1, first  # nothing holds the gap open (cannot happen for a fitted gap > 0)
        gap0 = theta[upper] - theta[lower]
        guess = _one_step_count(sup, counts, idx, gap0)
        if guess is None and not whole:  # the head's influence does not reach the gap: the whole order
            head = None
            continue
        if rnd == 0:
            first = guess
        top = int(cum[-1])

        def gap(t: int) -> float:
            th = board.refit(n - _removal(n.shape, idx, counts, cum, t), theta, (upper, lower))
            return th[upper] - th[lower]

        # Bracket: lo does not swap (gap > 1e-9), hi does.
        lo, f_lo, hi, f_hi = 0, gap0, None, None
        t = min(top, guess if guess is not None else top)
        while hi is None:
            f = gap(t)
            if f <= 1e-9:
                hi, f_hi = t, f
            elif t >= top:
                break
            else:  # not yet: the secant through (lo, t) says how much further
                slope = (f_lo - f) / max(t - lo, 1)
                lo, f_lo = t, f
                ahead = int(np.ceil(1.2 * f / slope)) + 1 if slope > 0 else 2 * t
                t = min(top, t + max(1, ahead))
        if hi is None and not whole:  # past the head of the order: the whole order, same round
            head = None
            continue
        rnd += 1
        if hi is None:  # every supporting vote gone and still not swapped: take influences again there
            n = n - _removal(n.shape, idx, counts, cum, top)
            removed += top
            theta = board.refit(n, theta)
            jinv = np.linalg.inv(_info(board.m, board.i, board.j, n.sum(axis=1), theta))
            continue
        bisect = False
        while hi - lo > 1:  # regula falsi on the integer count, a bisection when it stalls
            if bisect:
                mid = (lo + hi) // 2
            else:
                mid = lo + int(np.ceil((f_lo - 1e-9) / max(f_lo - f_hi, 1e-300) * (hi - lo) - 1e-9))
                mid = min(max(mid, lo + 1), hi - 1)
            width = hi - lo
            f = gap(mid)
            if f <= 1e-9:
                hi, f_hi = mid, f
            else:
                lo, f_lo = mid, f
            bisect = not bisect and (hi - lo) > width // 2
        return removed + hi, first
    return removed, first


def fragility(cells: PairCells, order: list[str], tied_share: float = TIED_SHARE) -> list[dict]:
    """For each adjacent pair of `order` (model names, best first): votes_to_swap (checked by
    refits), the one-step approximation, its share of all votes, and whether the pair is to be shown
    as tied."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # many small solves: BLAS threads only spin
        return _fragility(cells, order, tied_share)


def _fragility(cells: PairCells, order: list[str], tied_share: float) -> list[dict]:
    index = {name: k for k, name in enumerate(cells.models)}
    total = float(cells.n.sum())
    out: list[dict] = []
    if total <= 0:
        return out
    board = _Board(cells.m, *_unordered(cells))
    for hi, lo in zip(order, order[1:]):
        if hi not in index or lo not in index:
            continue
        k, first = _votes_to_swap(board, index[hi], index[lo])
        if k < 0:
            continue
        out.append({"upper": hi, "lower": lo, "votes_to_swap": k, "one_step": first, "share": round(k / total, 6),
                    "tied": k / total < tied_share})
    return out
