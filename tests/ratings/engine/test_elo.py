"""Online Elo (K = 4, base 10, scale 400, start 1000) replayed in vote order."""
from __future__ import annotations

import numpy as np
import pytest

from ratings.engine import RatingDataError, fit_elo, votes_from_names, votes_from_records


def test_two_votes_by_hand():
    lb = fit_elo(votes_from_names(["a", "a"], ["b", "b"], ["model_a", "tie"]), ci="none")
    r = dict(zip(lb.models, lb.rating))
    # Vote 1: E = 0.5, a gains 4 · 0.5 = 2. Vote 2 (tie): E_a = 1 / (1 + 10^(-4/400)).
    e = 1 / (1 + 10 ** ((998 - 1002) / 400))
    assert r["a"] == pytest.approx(1002 + 4 * (0.5 - e))
    assert r["b"] == pytest.approx(998 - 4 * (0.5 - e))


def test_order_matters_and_kwise_votes_are_rank_broken():
    fwd = fit_elo(votes_from_names(["a", "b"], ["b", "a"], ["model_a", "model_a"]), ci="none")
    rev = fit_elo(votes_from_names(["b", "a"], ["a", "b"], ["model_a", "model_a"]), ci="none")
    assert not np.allclose(fwd.rating, rev.rating)
    kw = fit_elo(votes_from_records([{"models": ["a", "b", "c"], "ranking": [1, 2, 3]}]), ci="none")
    r = dict(zip(kw.models, kw.rating))
    # Pairs in order (a,b), (a,c), (b,c), each with K · 2/3.
    assert r["a"] > 1000 > r["c"] and sum(r.values()) == pytest.approx(3000)


def test_bootstrap_brackets_the_rating(rng):
    theta = np.array([1.0, 0.0, -1.0])
    a = rng.integers(0, 3, 3000)
    b = (a + rng.integers(1, 3, 3000)) % 3
    win = rng.random(3000) < 1 / (1 + np.exp(-(theta[a] - theta[b])))
    names = np.array(["x", "y", "z"])
    lb = fit_elo(votes_from_names(names[a], names[b], np.where(win, "model_a", "model_b")), rounds=50, seed=3)
    assert lb.rows()[0]["model"] == "x" and lb.rows()[-1]["model"] == "z"
    assert np.all(lb.lower < lb.upper)


def test_sandwich_is_refused_for_elo():
    with pytest.raises(RatingDataError, match="bootstrap or none"):
        fit_elo(votes_from_names(["a"], ["b"], ["tie"]), ci="sandwich")
