"""Synthetic vote sets with known truths, for checking intervals (the test suite and
bench/ratings_bench.py draw the same arenas)."""
from __future__ import annotations

import numpy as np

from ratings.engine.bt import SCALE
from ratings.engine.votes import Votes


def arena_with_tail(rng: np.random.Generator, big: int, tail_votes, m_big: int = 30) -> tuple[Votes, np.ndarray]:
    """``big`` pairwise votes among ``m_big`` well-known models, plus one tail model per entry of
    ``tail_votes`` with that many votes (each against a random well-known model). Strengths are
    N(0, 1) logits, outcomes drawn from Bradley-Terry, sides shuffled. Models are named m000,
    m001, ... (the tail ones after the well-known ones). Returns the votes and the true ratings
    on the leaderboard's scale (centred at 1000)."""
    m = m_big + len(tail_votes)
    theta = rng.normal(0, 1, m)
    a = rng.integers(0, m_big, big)
    b = (a + rng.integers(1, m_big, big)) % m_big
    ta, tb = [a], [b]
    for k, n in enumerate(tail_votes):
        ta.append(np.full(n, m_big + k))
        tb.append(rng.integers(0, m_big, n))
    a, b = np.concatenate(ta), np.concatenate(tb)
    flip = rng.random(len(a)) < 0.5
    a, b = np.where(flip, b, a), np.where(flip, a, b)
    p = 1 / (1 + np.exp(-(theta[a] - theta[b])))
    out = np.where(rng.random(len(a)) < p, 0, 1).astype(np.int8)
    votes = Votes(models=[f"m{k:03d}" for k in range(m)], a=a.astype(np.int32), b=b.astype(np.int32), outcome=out)
    return votes, SCALE * (theta - theta.mean()) + 1000.0
