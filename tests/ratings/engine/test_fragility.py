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
