"""Sandwich (robust) covariance of the Bradley-Terry / Plackett-Luce θ, as arena-rank computes it.

cov = H⁻¹ G H⁻¹ with H the negative Hessian of the log-likelihood at θ̂ and G the sum over votes of
w² · score scoreᵀ. For pairwise cells the score of one vote is (o - p)(e_i - e_j) with o ∈ {1, 0, ½},
so G needs only each cell's sum of squared weights. H gets 1e-5 × (total weight) on its diagonal,
as arena-rank does: the likelihood is flat along "shift every θ", and this both makes H invertible
and keeps our bounds comparable with the LMArena leaderboard's to a few hundredths of a point.
"""
from __future__ import annotations

import numpy as np

from ratings.engine import pl
from ratings.engine.bt import Objective, laplacian
from ratings.engine.kernels import sigmoid
from ratings.engine.cells import PairCells, Rankings

HESSIAN_REG = 1e-5
_OUTCOME_VALUE = np.array([1.0, 0.0, 0.5])  # i won, j won, tie: i's share of the point


def covariance(obj: Objective, cells: PairCells, rankings: Rankings, theta: np.ndarray) -> np.ndarray:
    """(M, M) sandwich covariance of θ̂ for the Objective ``obj`` fitted at ``theta``."""
    m = cells.m
    _, h = obj.grad_hess(theta)
    h[np.diag_indices(m)] += HESSIAN_REG * obj.total_weight
    p = sigmoid(theta[cells.i] - theta[cells.j])
    v = (cells.w2 * (_OUTCOME_VALUE[None, :] - p[:, None]) ** 2).sum(axis=1)
    meat = laplacian(m, cells.i, cells.j, v)
    for k, (items, w) in rankings.groups.items():
        meat += pl.score_outer(theta, items, w * w / rankings.count(k))  # Σ w² of the votes in each row
    h_inv = np.linalg.inv(h)
    h_inv = 0.5 * (h_inv + h_inv.T)
    return h_inv @ meat @ h_inv
