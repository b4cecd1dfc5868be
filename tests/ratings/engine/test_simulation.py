"""Simulation: 95% intervals cover the true strength about 95% of the time; more votes, better order.

A modest version of bench/ratings_coverage.py (more replications, printed figures): 100 small
leaderboards drawn from known strengths without ties, as make_votes.py --tie 0 draws them.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau

from ratings.engine import fit_bt
from ratings.engine.bt import SCALE

from .conftest import simulate_pairs


def _coverage(ci: str, reps: int, rounds: int = 0) -> float:
    rng = np.random.default_rng(2024)
    hits = total = 0
    for r in range(reps):
        theta = rng.normal(0, 1, 8)
        votes = simulate_pairs(rng, theta, 2000)
        lb = fit_bt(votes, ci=ci, rounds=rounds, seed=r)
        truth = SCALE * (theta - theta.mean()) + 1000.0  # the fit is centred: compare centred truth
        hits += int(np.sum((lb.lower <= truth) & (truth <= lb.upper)))
        total += len(theta)
    return hits / total


def test_sandwich_intervals_cover_about_95_percent():
    assert 0.88 <= _coverage("sandwich", reps=100) <= 0.99


def test_bootstrap_intervals_cover_about_95_percent():
    assert 0.88 <= _coverage("bootstrap", reps=60, rounds=200) <= 0.99


def test_kendall_tau_to_the_truth_rises_with_votes():
    rng = np.random.default_rng(7)
    taus = []
    for n in (200, 2000, 20000):
        per = []
        for _ in range(8):
            theta = rng.normal(0, 1, 20)
            lb = fit_bt(simulate_pairs(rng, theta, n), ci="none")
            per.append(kendalltau(lb.rating, theta)[0])
        taus.append(float(np.mean(per)))
    assert taus[0] < taus[1] < taus[2]
    assert taus[2] > 0.9
