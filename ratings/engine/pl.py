"""Plackett-Luce terms for untied K-wise rankings, on the same θ scale as Bradley-Terry.

A ranking (x1 > x2 > ... > xK) has likelihood ∏_k exp θ_xk / Σ_{l>=k} exp θ_xl: K-1 successive
choices, each a softmax over the models not yet placed. For K = 2 this is exactly the BT term,
which is why pairwise and K-wise votes share one scale. These functions return the gradient of
the log-likelihood and its negative Hessian (positive semi-definite), for one θ or for a batch of
bootstrap replicas, so ``bt.Objective`` can add them to the pairwise terms.
"""
from __future__ import annotations

import numpy as np

from ratings.engine.kernels import Scatter


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def log_likelihood(theta: np.ndarray, items: np.ndarray, weight: np.ndarray) -> float:
    t = theta[items]
    total = 0.0
    for k in range(items.shape[1] - 1):
        x = t[:, k:]
        top = x.max(axis=1)
        lse = top + np.log(np.exp(x - top[:, None]).sum(axis=1))
        total += float(weight @ (t[:, k] - lse))
    return total


def grad_hess(theta: np.ndarray, items: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and negative Hessian (M, M) of the weighted PL log-likelihood."""
    m = theta.shape[0]
    g = np.zeros(m)
    h = np.zeros(m * m)
    t = theta[items]
    for k in range(items.shape[1] - 1):
        s = items[:, k:]
        p = _softmax(t[:, k:])
        wp = weight[:, None] * p
        g += np.bincount(items[:, k], weights=weight, minlength=m)
        g -= np.bincount(s.ravel(), weights=wp.ravel(), minlength=m)
        h += np.bincount((s * (m + 1)).ravel(), weights=wp.ravel(), minlength=m * m)
        h -= np.bincount((s[:, :, None] * m + s[:, None, :]).ravel(),
                         weights=(wp[:, :, None] * p[:, None, :]).ravel(), minlength=m * m)
    return g, h.reshape(m, m)


def scores(theta: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Per-vote score (gradient of its own log-likelihood) at each position: (N, K)."""
    t = theta[items]
    out = np.zeros(items.shape, dtype=np.float64)
    for k in range(items.shape[1] - 1):
        out[:, k] += 1.0
        out[:, k:] -= _softmax(t[:, k:])
    return out


def score_outer(theta: np.ndarray, items: np.ndarray, weight_sq: np.ndarray) -> np.ndarray:
    """Σ_votes w² s sᵀ as an (M, M) matrix: the K-wise part of the sandwich's meat."""
    m = theta.shape[0]
    s = scores(theta, items)
    vals = weight_sq[:, None, None] * s[:, :, None] * s[:, None, :]
    idx = items[:, :, None] * m + items[:, None, :]
    return np.bincount(idx.ravel(), weights=vals.ravel(), minlength=m * m).reshape(m, m)


class BatchedPL:
    """PL gradients for many replicas at once, each with its own per-vote weights."""

    def __init__(self, items: np.ndarray, m: int) -> None:
        self.items = items
        # One scatter per position in the ranking: votes -> models, shared by every replica batch.
        self.pick = [Scatter(items[:, pos], m) for pos in range(items.shape[1])]

    def grad(self, theta: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """theta (M, R), weight (N, R) -> gradient (M, R)."""
        k_total = self.items.shape[1]
        # Positions first, (K, N, R): a softmax over positions is then arithmetic between contiguous
        # slabs, many times faster than reducing along a last axis of length K.
        t = np.stack([theta[self.items[:, pos]] for pos in range(k_total)])
        mass = np.zeros_like(t)  # probability each position receives over the stages it is unplaced
        for k in range(k_total - 1):
            x = t[k:]
            e = np.exp(x - x.max(axis=0))
            mass[k:] += e / e.sum(axis=0)
        g = np.zeros_like(theta)
        for pos in range(k_total):
            coef = -mass[pos] * weight
            if pos < k_total - 1:
                coef += weight  # the model placed at this stage was chosen once
            g += self.pick[pos](coef)
        return g
