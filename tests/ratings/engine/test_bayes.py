"""K-Sort Arena's Bayesian ratings: the Thurstone-Mosteller full-pairing update on worked examples."""
from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pytest

from ratings.engine import BayesRater, RatingDataError, fit_bayes, votes_from_records

N = NormalDist()
MU, S, BETA, EPS = 25.0, 25.0 / 3.0, 25.0 / 6.0, 0.1


def test_one_pairwise_win_by_hand():
    # Both at N(25, (25/3)^2): c = sqrt(2σ² + 2β²) = 13.1762, t = ε/c = 0.0075895, x = 0.
    c = math.sqrt(2 * S * S + 2 * BETA * BETA)
    t = EPS / c
    v = N.pdf(-t) / N.cdf(-t)  # v(0, t) = φ(-t) / Φ(-t) = 0.80272
    w = v * (v - t)  # w(0, t) = v (v + x - t)
    omega = S * S / c * v  # 4.23072
    delta = (S / c) * (S * S / c) / c * w  # γ σ²/c² w with γ = σ/c: 0.161471
    r = BayesRater()
    r.update({"model_a": "a", "model_b": "b", "winner": "model_a"})
    assert r.mu["a"] == pytest.approx(MU + omega, abs=1e-12) == pytest.approx(29.230719, abs=1e-6)
    assert r.mu["b"] == pytest.approx(MU - omega, abs=1e-12)
    assert r.sigma["a"] == pytest.approx(S * math.sqrt(1 - delta), abs=1e-12) == pytest.approx(7.630935, abs=1e-6)
    assert r.sigma["b"] == pytest.approx(r.sigma["a"])
    assert r.score("a") == pytest.approx(r.mu["a"] - 3 * r.sigma["a"])


def test_a_tie_between_equals_moves_no_mean_and_shrinks_sigma():
    c = math.sqrt(2 * S * S + 2 * BETA * BETA)
    t = EPS / c
    b = N.cdf(t) - N.cdf(-t)
    w_draw = (t * N.pdf(t) + t * N.pdf(-t)) / b  # w̃(0, t); ṽ(0, t) = 0
    delta = (S / c) * (S * S / c) / c * w_draw
    r = BayesRater()
    r.update(("a", "b", "both_bad"))
    assert r.mu == {"a": MU, "b": MU}
    assert r.sigma["a"] == pytest.approx(S * math.sqrt(1 - delta), abs=1e-12)


def test_three_way_ranking_pairs_every_model_with_every_other():
    r = BayesRater()
    r.rate(["a", "b", "c"], [1, 2, 3])
    # a beat two equals, c lost to two equals, b won one and lost one: symmetric, so b stays put.
    assert r.mu["a"] - MU == pytest.approx(MU - r.mu["c"])
    assert r.mu["b"] == pytest.approx(MU)
    c = math.sqrt(2 * S * S + 2 * BETA * BETA)
    v = N.pdf(-EPS / c) / N.cdf(-EPS / c)
    assert r.mu["a"] == pytest.approx(MU + 2 * S * S / c * v)  # one win term per beaten opponent


def test_state_round_trips_through_json_and_matches_a_batch_replay(rng):
    records = []
    names = ["a", "b", "c", "d"]
    for k in range(300):
        if k % 3:
            x, y = rng.choice(4, 2, replace=False)
            records.append({"model_a": names[x], "model_b": names[y], "winner": ["model_a", "model_b", "tie"][k % 3]})
        else:
            records.append({"models": names, "ranking": (rng.permutation(4) + 1).tolist()})
    live = BayesRater()
    for rec in records[:150]:
        live.update(rec)
    live = BayesRater.from_state(json.loads(json.dumps(live.to_state())))
    for rec in records[150:]:
        live.update(rec)
    batch = fit_bayes(votes_from_records(records))
    lb = live.leaderboard()
    assert np.allclose(lb.rating, batch.rating) and lb.models == batch.models
    assert lb.votes.tolist() == batch.votes.tolist()
    assert batch.rows()[0]["rating"] == pytest.approx(max(live.score(m) for m in names))


def test_weight_zero_changes_nothing_and_bad_votes_are_refused():
    r = BayesRater(["a", "b"])
    r.update(("a", "b", "model_a"), weight=0.0)
    assert r.mu == {"a": MU, "b": MU} and r.sigma == {"a": S, "b": S}
    with pytest.raises(RatingDataError):
        r.update(("a", "b", "draw"))
    with pytest.raises(RatingDataError):
        r.rate(["a", "a"], [1, 2])
