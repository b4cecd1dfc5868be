"""Small simulated vote sets, generated in-test with numpy (fast, no files, no subprocess)."""
from __future__ import annotations

import numpy as np
import pytest

from ratings.engine.votes import Votes


def simulate_pairs(rng: np.random.Generator, theta: np.ndarray, n: int, tie: float = 0.0) -> Votes:
    """Bradley-Terry votes among len(theta) models, uniform exposure, as make_votes.py draws them."""
    m = len(theta)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    p = 1.0 / (1.0 + np.exp(-(theta[a] - theta[b])))
    outcome = np.where(rng.random(n) < p, 0, 1).astype(np.int8)
    outcome[rng.random(n) < tie] = 2
    return Votes(models=[f"m{k:02d}" for k in range(m)], a=a.astype(np.int32), b=b.astype(np.int32),
                 outcome=outcome, seq=np.arange(n))


def simulate_rankings(rng: np.random.Generator, theta: np.ndarray, n: int, k: int) -> list[list[int]]:
    """Plackett-Luce rankings (best first) of k distinct models, by Gumbel-perturbed strengths."""
    m = len(theta)
    out = []
    for _ in range(n):
        pick = rng.choice(m, k, replace=False)
        out.append(pick[np.argsort(-(theta[pick] + rng.gumbel(size=k)))].tolist())
    return out


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)
