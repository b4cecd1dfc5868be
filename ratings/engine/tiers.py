"""Tiers: groups of neighbouring models that the data cannot tell apart, with simultaneous confidence.

Rank intervals say what each model's own interval allows; tiers answer "is #k really above #k+1?"
for every adjacent pair at once. With ratings sorted best first, the differences δ_k = θ_(k) - θ_(k+1)
and their standard errors s_k, the max-t critical value c is the ``level`` quantile of
max_k |δ*_k - δ_k| / s_k: over bootstrap replicas when there are any, else over draws of a normal
with the sandwich covariance of the differences (fixed seed: the same data give the same tiers).
A pair with δ_k / s_k > c is separated, and a new tier begins there; the probability that any
separation is wrong is at most 1 - level, for all adjacent pairs together (Hothorn et al. 2008).
"""
from __future__ import annotations

import numpy as np


def adjacent_tiers(theta: np.ndarray, order: np.ndarray, *, level: float, cov: np.ndarray | None = None,
                   samples: np.ndarray | None = None, draws: int = 4_000, seed: int = 0) -> tuple[np.ndarray, float]:
    """Tier number (1 = top) of each model in ``order`` (indices, best first), and the critical value."""
    k = len(order)
    tiers = np.ones(k, dtype=np.int64)
    if k < 2:
        return tiers, float("nan")
    hi, lo = order[:-1], order[1:]
    delta = theta[hi] - theta[lo]
    if samples is not None:
        ds = samples[:, hi] - samples[:, lo]
        se = ds.std(axis=0, ddof=1)
        dev = np.abs(ds - delta[None, :])
    else:
        a = np.zeros((k - 1, cov.shape[0]))
        a[np.arange(k - 1), hi] = 1.0
        a[np.arange(k - 1), lo] = -1.0
        c_diff = a @ cov @ a.T
        se = np.sqrt(np.maximum(np.diag(c_diff), 0.0))
        corr = c_diff / np.maximum(np.outer(se, se), 1e-300)
        evals, evecs = np.linalg.eigh(0.5 * (corr + corr.T))
        root = evecs * np.sqrt(np.maximum(evals, 0.0))
        # Standardised differences drawn directly: |Z| with Z ~ N(0, corr).
        dev = np.abs(np.random.default_rng(seed).standard_normal((draws, k - 1)) @ root.T) * se[None, :]
    t = dev / np.maximum(se, 1e-300)[None, :]
    crit = float(np.quantile(t.max(axis=1), level))
    sep = delta / np.maximum(se, 1e-300) > crit
    tiers[1:] = 1 + np.cumsum(sep)
    return tiers, crit
