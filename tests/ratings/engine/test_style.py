"""Style control: contextual Bradley-Terry recovers a known length effect and the strengths."""
from __future__ import annotations

import numpy as np
import pytest

from ratings.engine import RatingDataError, fit_bt, fit_style
from ratings.engine.bt import SCALE
from ratings.engine.style import style_features
from ratings.engine.votes import Votes


def _styled_votes(rng, n: int = 6000, beta_length: float = 0.8):
    theta = np.array([0.6, 0.2, -0.2, -0.6])
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(1, 4, n)) % 4
    counts = rng.integers(1, 60, size=(n, 8)).astype(float)
    counts[:, 0] *= 1 + (a == 3) * 2  # the weakest model writes longer answers...
    counts[:, 4] *= 1 + (b == 3) * 2
    x = style_features(counts)
    beta = np.array([beta_length, 0.0, 0.0, 0.0])
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + x @ beta)))
    outcome = np.where(rng.random(n) < p, 0, 1).astype(np.int8)
    votes = Votes([f"m{k}" for k in range(4)], a.astype(np.int32), b.astype(np.int32), outcome, style=counts)
    return votes, theta


def test_recovers_the_length_effect_and_the_strengths(rng):
    votes, theta = _styled_votes(rng)
    lb = fit_style(votes, ci="sandwich")
    coef = lb.extra["style_coefficients"]
    lo, hi = lb.extra["style_coefficient_intervals"]["length"]
    assert lo < 0.8 < hi and abs(coef["length"] - 0.8) < 0.1
    assert all(abs(coef[k]) < 0.1 for k in ("headers", "lists", "bold"))
    truth = SCALE * (theta - theta.mean()) + 1000
    assert np.all(np.abs(lb.rating - truth) < 3 * (lb.upper - lb.lower) / 3.92 + 1e-9)
    # ...so plain BT, which credits the style to the model, rates it higher than style control does.
    plain = fit_bt(Votes(votes.models, votes.a, votes.b, votes.outcome), ci="none")
    assert plain.rating[3] > lb.rating[3]


def test_bootstrap_agrees_with_sandwich(rng):
    votes, _ = _styled_votes(rng, n=3000)
    sw = fit_style(votes, ci="sandwich")
    bs = fit_style(votes, ci="bootstrap", rounds=120, seed=2)
    assert np.allclose(sw.rating, bs.rating)
    assert np.allclose(bs.upper - bs.lower, sw.upper - sw.lower, rtol=0.3)


def test_needs_style_counts():
    votes = Votes(["a", "b"], np.array([0], np.int32), np.array([1], np.int32), np.array([0], np.int8))
    with pytest.raises(RatingDataError, match="style"):
        fit_style(votes)
