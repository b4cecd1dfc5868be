"""Small numeric kernels shared by the fits, in plain numpy.

Plain numpy on purpose: importing scipy.stats / sparse / special costs more than a second of the
3-second budget for a million-vote leaderboard, and these few operations are all the fits need.
"""
from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function 1 / (1 + e^-x), in place on a temporary: the bootstrap's hottest line.

    e^-x overflows to inf for x < -709, which gives exactly 0: the right limit, so the warning is muted.
    """
    with np.errstate(over="ignore"):
        out = np.exp(-x)
    out += 1.0
    return np.reciprocal(out, out=out)


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    return -np.logaddexp(0.0, -x)


def z_value(level: float) -> float:
    """Two-sided normal quantile for a confidence level (1.96 for 0.95)."""
    from ratings.engine.errors import RatingDataError

    if not 0.0 < level < 1.0:
        raise RatingDataError(f"confidence level must be between 0 and 1, got {level}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def percentile_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed bootstrap interval per column of (rounds, M) samples."""
    alpha = (1.0 - level) / 2.0
    lower, upper = np.quantile(samples, [alpha, 1.0 - alpha], axis=0)
    return lower, upper


def solve_pd(h: np.ndarray, g: np.ndarray) -> np.ndarray:
    """Solve h x = g for a symmetric positive definite h (Cholesky, falling back to LU)."""
    try:
        c = np.linalg.cholesky(h)
        return np.linalg.solve(c.T, np.linalg.solve(c, g))
    except np.linalg.LinAlgError:
        return np.linalg.solve(h, g)


class Scatter:
    """Sum rows of an (n, R) block into m bins by a fixed index: out[idx[k]] += v[k].

    Sorting once and using np.add.reduceat makes each call a gather plus a contiguous reduction,
    far faster than np.add.at, and it works for a whole batch of bootstrap replicas at once.
    """

    def __init__(self, idx: np.ndarray, m: int) -> None:
        self.m = m
        self.order = np.argsort(idx, kind="stable")
        sorted_idx = idx[self.order]
        self.starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]]) if len(idx) else np.zeros(0, int)
        self.bins = sorted_idx[self.starts] if len(idx) else np.zeros(0, int)
        self.identity = bool(len(idx)) and bool(np.all(self.order == np.arange(len(idx))))

    def __call__(self, v: np.ndarray) -> np.ndarray:
        out = np.zeros((self.m,) + v.shape[1:])
        if len(self.order):
            rows = v if self.identity else v[self.order]
            out[self.bins] = np.add.reduceat(rows, self.starts, axis=0)
        return out


def components_of(m: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Connected-component label of each of m nodes (undirected edges src-dst), by min-label spreading."""
    labels = np.arange(m)
    if len(src) == 0:
        return labels
    while True:
        low = np.minimum(labels[src], labels[dst])
        new = labels.copy()
        np.minimum.at(new, src, low)
        np.minimum.at(new, dst, low)
        new = new[new]  # pointer jumping: labels point at labels, shortening long chains quickly
        if np.array_equal(new, labels):
            return labels
        labels = new


def reachable(m: int, src: np.ndarray, dst: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Nodes reachable from the boolean mask ``start`` along directed edges src -> dst."""
    seen = start.copy()
    while True:
        nxt = seen.copy()
        nxt[dst[seen[src]]] = True
        if np.array_equal(nxt, seen):
            return seen
        seen = nxt


def t_quantile(q: float, df: float) -> float:
    """Quantile q (> 0.5) of Student's t with df degrees of freedom (no scipy on the hot path):
    a Cornish-Fisher series for large df, else the density integrated on a sinh grid."""
    z = NormalDist().inv_cdf(q)
    if df >= 200:
        return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
    u = np.linspace(0.0, 9.0, 40_001)
    x = np.sinh(u)
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    dens = np.exp(log_c - (df + 1) / 2 * np.log1p(x * x / df)) * np.cosh(u)  # dx = cosh(u) du
    cdf = 0.5 + np.concatenate([[0.0], np.cumsum((dens[1:] + dens[:-1]) * 0.5 * np.diff(u))])
    return float(np.interp(q, cdf, x))


def small_sample_factor(n: np.ndarray, level: float) -> np.ndarray:
    """How much wider than the normal-quantile interval a model's interval is drawn when it rests on
    n independent votes (or voters): sqrt(n/(n-1)) · t_{n-1} / z, the small-sample correction of a
    mean's standard error and quantile (Hesterberg's "expanded" bootstrap percentile uses the same).
    It is 1.06 at 30 votes, 1.01 at 150 and → 1 for well-measured models."""
    z = z_value(level)
    n = np.maximum(np.asarray(n, dtype=np.float64), 2.0)
    cache: dict[float, float] = {}
    out = np.empty_like(n)
    for k, v in enumerate(n):
        if v not in cache:
            cache[v] = math.sqrt(v / (v - 1.0)) * t_quantile(0.5 + level / 2.0, v - 1.0) / z
        out[k] = cache[v]
    return out


def normal_cdf(x: np.ndarray) -> np.ndarray:
    nd = NormalDist()
    return np.array([nd.cdf(float(v)) for v in np.ravel(x)]).reshape(np.shape(x))


def percentile_interval_per_column(samples: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval per column at its own tail probability alpha[k] (each side)."""
    lower = np.empty(samples.shape[1])
    upper = np.empty(samples.shape[1])
    for k in range(samples.shape[1]):
        lower[k], upper[k] = np.quantile(samples[:, k], [alpha[k], 1.0 - alpha[k]])
    return lower, upper
