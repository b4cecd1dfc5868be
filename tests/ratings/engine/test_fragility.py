"""Fragility: the fewest votes whose removal swaps two neighbours of the ranking."""
from __future__ import annotations

import numpy as np

from ratings.engine.cells import PairCells
from ratings.engine.fragility import fragility, votes_to_swap


def _cells(rows):
    a, b, o, n = zip(*rows)
    return PairCells.from_counts(model_a=list(a), model_b=list(b), outcome=list(o), weight=list(n))


def test_head_to_head_counts_are_exact():
    assert votes_to_swap(_cells([("a", "b", "model_a", 51), ("a", "b", "model_b", 49)]), 0, 1) == 2
    assert votes_to_swap(_cells([("a", "b", "model_a", 90), ("a", "b", "model_b", 10)]), 0, 1) == 80
    assert votes_to_swap(_cells([("a", "b", "model_a", 10), ("a", "b", "model_b", 30)]), 0, 1) == 0  # already below


def test_the_count_really_swaps_the_pair_and_one_less_does_not():
    """Checked by brute force on a small board: remove the votes the search names, refit."""
    rng = np.random.default_rng(4)
    theta = np.array([0.6, 0.5, 0.0, -0.5])
    rows = []
    for _ in range(600):
        i, j = rng.choice(4, 2, replace=False)
        p = 1 / (1 + np.exp(-(theta[i] - theta[j])))
        rows.append((f"m{i}", f"m{j}", "tie" if rng.random() < 0.2 else ("model_a" if rng.random() < p else "model_b"), 1))
    cells = _cells(rows)
    from ratings.engine.fragility import _fit, _swapped

    th, _ = _fit(cells.m, cells.i, cells.j, cells.n)
    order = list(np.argsort(-th))
    k = votes_to_swap(cells, order[0], order[1])
    assert k >= 1
    # The cheapest removal of k votes: wins of the upper model over the lower, head to head first.
    # Whatever the search removed, k - 1 of the most supportive single cell never suffice:
    n = cells.n.copy()
    pair = np.flatnonzero(((cells.i == order[0]) & (cells.j == order[1])) | ((cells.i == order[1]) & (cells.j == order[0])))[0]
    col = 0 if cells.i[pair] == order[0] else 1
    n[pair, col] = max(0, n[pair, col] - (k - 1))
    th2, _ = _fit(cells.m, cells.i, cells.j, n)
    assert not _swapped(th2, order[0], order[1])


def test_close_neighbours_are_tied_and_distant_ones_are_not():
    rows = [("a", "b", "model_a", 502), ("a", "b", "model_b", 498),   # a and b: a coin flip apart
            ("b", "c", "model_a", 800), ("b", "c", "model_b", 200)]   # c far below
    out = fragility(_cells(rows), ["a", "b", "c"])
    assert [(f["upper"], f["lower"]) for f in out] == [("a", "b"), ("b", "c")]
    assert out[0]["tied"] and out[0]["votes_to_swap"] < 10
    assert not out[1]["tied"] and out[1]["share"] > 0.1


def _even_board(m=10, step=0.15, per_pair=400):
    """Every pair met per_pair times; wins, losses and 10% ties exactly as the strengths say."""
    theta = np.arange(m)[::-1] * step
    rows = []
    for a in range(m):
        for b in range(a + 1, m):
            p = 1 / (1 + np.exp(-(theta[a] - theta[b])))
            ties = round(0.1 * per_pair)
            wins = round(0.9 * per_pair * p)
            rows += [(f"m{a}", f"m{b}", "model_a", wins), (f"m{a}", f"m{b}", "model_b", per_pair - ties - wins),
                     (f"m{a}", f"m{b}", "tie", ties)]
    return _cells(rows)


def test_the_one_step_approximation_agrees_with_exact_removal():
    """The influence count (no refit) is within 10% of the refitted one on every adjacent pair, and the
    refitted count is exact for its removal order: a full Newton refit without those votes swaps the
    pair, without one vote fewer it does not."""
    from ratings.engine.fragility import _Board, _fit, _order, _removal, _swapped, _unordered, votes_to_swap_one_step

    cells = _even_board()
    board = _Board(cells.m, *_unordered(cells))
    for upper in range(cells.m - 1):
        lower = upper + 1
        exact = votes_to_swap(cells, upper, lower)
        approx = votes_to_swap_one_step(cells, upper, lower)
        assert exact > 50 and abs(approx - exact) <= 0.1 * exact, (upper, exact, approx)
        sup = board.support(board.theta, board.jinv, upper, lower)
        idx, counts, cum, _ = _order(sup, board.n.ravel())
        for k, swaps in ((exact, True), (exact - 1, False)):
            th, _ = _fit(board.m, board.i, board.j, board.n - _removal(board.n.shape, idx, counts, cum, k))
            assert bool(_swapped(th, upper, lower)) == swaps, (upper, k)


def test_cells_kept_by_who_was_shown_first_give_the_same_counts():
    """A board's cells keep (shown first, shown second): both orientations of a pair are one pair here."""
    cells = _even_board(m=6)
    a, b, o, n = [], [], [], []
    flip = {"model_a": "model_b", "model_b": "model_a", "tie": "tie"}
    for i, j, row in zip(cells.i, cells.j, cells.n):
        for code, count in zip(("model_a", "model_b", "tie"), row):
            half = int(count) // 2  # half of the votes with j shown first
            a += [cells.models[i], cells.models[j]]
            b += [cells.models[j], cells.models[i]]
            o += [code, flip[code]]
            n += [count - half, half]
    oriented = PairCells.from_counts(model_a=a, model_b=b, outcome=o, weight=n, oriented=True)
    order = [f"m{k}" for k in range(6)]
    assert [f["votes_to_swap"] for f in fragility(oriented, order)] == [f["votes_to_swap"] for f in fragility(cells, order)]
