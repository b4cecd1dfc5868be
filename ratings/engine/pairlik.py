"""The likelihood of one pairwise cell, as a function of its logit d = θi - θj (+ β if i was shown
first) and, for Davidson's tie model, λ = log ν.

Two tie models:
- ``half`` (LMArena's): a tie is half a win each side; P(i beats j) = σ(d).
- ``davidson`` (Davidson 1970): P(i) ∝ e^{d/2}, P(j) ∝ e^{-d/2}, P(tie) ∝ ν; so P(i | not a tie) = σ(d)
  and θ stays on the Bradley-Terry scale, while ties are modelled instead of split.

Every function takes the cell's weight sums of i-wins, j-wins and ties (``wi``, ``wj``, ``wt``; any
shape, e.g. (P,) or (P, R) for bootstrap replicas) and returns per-cell quantities; the objective
spreads them onto models with the design row x = e_i - e_j + pos · e_β.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ratings.engine.kernels import log_sigmoid, sigmoid

TIE_MODELS = ("half", "davidson")


@dataclass
class CellTerms:
    """Derivatives of Σ cell log-likelihood: ``ld`` = ∂/∂d, ``ll`` = ∂/∂λ, and the negative second
    derivatives ``hdd``, ``hdl``, ``hll`` (``ll``, ``hdl``, ``hll`` are None for the half model)."""

    ld: np.ndarray
    hdd: np.ndarray
    ll: np.ndarray | None = None
    hdl: np.ndarray | None = None
    hll: np.ndarray | None = None


def _davidson_parts(d: np.ndarray, lam):
    h = 0.5 * np.abs(d)
    a = np.exp(0.5 * d - h)
    b = np.exp(-0.5 * d - h)
    nu = np.exp(lam - h)
    z = a + b + nu
    return h, a / z, b / z, nu / z, np.log(z)


def value(ties: str, d: np.ndarray, lam, wi: np.ndarray, wj: np.ndarray, wt: np.ndarray) -> float:
    if ties == "half":
        return float(np.sum((wi + 0.5 * wt) * d + (wi + wj + wt) * log_sigmoid(-d)))
    h, _, _, _, log_z = _davidson_parts(d, lam)
    log_norm = h + log_z
    return float(np.sum(wi * 0.5 * d - wj * 0.5 * d + wt * lam - (wi + wj + wt) * log_norm))


def terms(ties: str, d: np.ndarray, lam, wi: np.ndarray, wj: np.ndarray, wt: np.ndarray) -> CellTerms:
    n = wi + wj + wt
    if ties == "half":
        p = sigmoid(d)
        return CellTerms(ld=wi + 0.5 * wt - n * p, hdd=n * p * (1.0 - p))
    _, pa, pb, pt, _ = _davidson_parts(d, lam)
    m1 = 0.5 * (pa - pb)  # E[∂ log P / ∂d]-part: ∂ log Z / ∂d
    return CellTerms(
        ld=0.5 * (wi - wj) - n * m1,
        hdd=n * (0.25 * (pa + pb) - m1 * m1),
        ll=wt - n * pt,
        hdl=-n * m1 * pt,
        hll=n * pt * (1.0 - pt),
    )


def vote_scores(ties: str, d: np.ndarray, lam) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-vote scores (∂ log P / ∂d and ∂ log P / ∂λ) for each outcome: (P, 3) arrays for i wins,
    j wins, tie; the second is None for the half model."""
    if ties == "half":
        p = sigmoid(d)[:, None]
        return np.array([1.0, 0.0, 0.5])[None, :] - p, None
    _, pa, pb, pt, _ = _davidson_parts(d, lam)
    m1 = 0.5 * (pa - pb)
    sd = np.stack([0.5 - m1, -0.5 - m1, -m1], axis=1)
    sl = np.stack([-pt, -pt, 1.0 - pt], axis=1)
    return sd, sl
