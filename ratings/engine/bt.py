"""Bradley-Terry (+ Plackett-Luce) maximum likelihood on the LMArena scale, with intervals.

    lb = fit_bt(votes_or_cells, ci="bootstrap" | "sandwich" | "none", rounds=1000, seed=0)
    lb.rows()  # [{"model", "rating", "lower", "upper", "rank", "rank_upper", "votes", "win_rate"}, ...]

θ maximises Σ_pairs [s_ij (θi-θj) - n_ij log(1+e^(θi-θj))] + Σ_rankings PL log-likelihood, where s_ij
counts wins of i with ties (and both_bad) as half a win each side; rating = 400/ln10·θ + 1000. The
likelihood only fixes differences, so a penalty on each connected part's sum of θ pins its mean to
0 (mean rating 1000) without touching any difference, as arena-rank's unregularised L-BFGS from zero
does; a negligible ridge (1e-9 × total weight) only guards bootstrap replicas that lose every game.

When some MLE is infinite (a model won or lost every game, or more generally the win graph is not
strongly connected) every model gets one virtual tie against a 1000-rated opponent: ratings stay
finite, and the leaderboard says so and flags the models concerned.
"""
from __future__ import annotations

import math

import numpy as np
from ratings.engine import pl
from ratings.engine.cells import PairCells, Rankings, comparisons, components, needs_prior
from ratings.engine.errors import RatingDataError
from ratings.engine.kernels import Scatter, log_sigmoid, percentile_interval, sigmoid, solve_pd, z_value
from ratings.engine.leaderboard import Leaderboard, build_leaderboard
from ratings.engine.votes import Votes

SCALE = 400.0 / math.log(10.0)  # rating points per unit of θ (natural log odds)
OFFSET = 1000.0
PRIOR_NOTE = ("the maximum-likelihood rating is infinite for some models (a model won or lost every game it "
              "played, or a group of models beat all others); each model got one virtual tie against a "
              "1000-rated opponent to keep ratings finite: treat flagged ratings as bounds")


class Objective:
    """Penalised log-likelihood over θ ∈ R^M: pairs (i, j, s, n) plus rankings grouped by K."""

    def __init__(self, m: int, i: np.ndarray, j: np.ndarray, s: np.ndarray, n: np.ndarray,
                 groups: list[tuple[np.ndarray, np.ndarray]], prior: bool, parts: np.ndarray | None = None) -> None:
        self.m, self.i, self.j, self.s, self.n = m, i, j, s, n
        self.dim = m
        self.groups = [(items, w) for items, w in groups if len(w)]
        total = float(n.sum()) + sum(float(w.sum()) * (items.shape[1] - 1) for items, w in self.groups)
        self.total_weight = total
        self.ridge = 1e-9 * max(total, 1.0)
        self.prior = 1.0 if prior else 0.0  # weight of each model's virtual tie
        # Centring penalty κ/2 Σ_parts (Σ θ)²: fixes the free shift of each part exactly (the prior fixes
        # it when present). κ ~ the Hessian's diagonal keeps Newton steps well conditioned.
        self.parts = None if prior or parts is None else parts
        self.kappa = max(total, 1.0) / m
        self.by_part = None if self.parts is None else Scatter(self.parts, int(self.parts.max()) + 1)
        # Pair-to-model sums, prepared once: the bootstrap calls them for every chord iteration.
        self.to_i = Scatter(i, m)
        self.to_j = Scatter(j, m)

    @classmethod
    def from_cells(cls, cells: PairCells, rankings: Rankings, prior: bool, parts: np.ndarray | None = None) -> Objective:
        return cls(cells.m, cells.i, cells.j, cells.score, cells.total, list(rankings.groups.values()), prior, parts)

    def value(self, theta: np.ndarray) -> float:
        d = theta[self.i] - theta[self.j]
        f = float(self.s @ d + self.n @ log_sigmoid(-d))  # -log(1+e^d) = log σ(-d)
        f += sum(pl.log_likelihood(theta, items, w) for items, w in self.groups)
        if self.prior:
            f += self.prior * 0.5 * float(np.sum(log_sigmoid(theta) + log_sigmoid(-theta)))
        if self.by_part is not None:
            f -= 0.5 * self.kappa * float(np.sum(self.by_part(theta) ** 2))
        return f - 0.5 * self.ridge * float(theta @ theta)

    def grad_hess(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and negative Hessian (positive definite thanks to the ridge)."""
        m = self.m
        d = theta[self.i] - theta[self.j]
        p = sigmoid(d)
        r = self.s - self.n * p
        g = np.bincount(self.i, r, m) - np.bincount(self.j, r, m).astype(np.float64)
        h = laplacian(m, self.i, self.j, self.n * p * (1.0 - p))
        for items, w in self.groups:
            gk, hk = pl.grad_hess(theta, items, w)
            g += gk
            h += hk
        if self.prior:
            q = sigmoid(theta)
            g += self.prior * (0.5 - q)
            h[np.diag_indices(m)] += self.prior * q * (1.0 - q)
        if self.by_part is not None:
            g -= self.kappa * self.by_part(theta)[self.parts]
            h += self.kappa * (self.parts[:, None] == self.parts[None, :])
        g -= self.ridge * theta
        h[np.diag_indices(m)] += self.ridge
        return g, h

    def grad_batch(self, theta: np.ndarray, s: np.ndarray, n: np.ndarray,
                   group_w: list[np.ndarray], batched_pl: list[pl.BatchedPL]) -> np.ndarray:
        """Gradients for replicas: theta (M, R), s and n (P, R), group weights (N_k, R) -> (M, R)."""
        r = s - n * sigmoid(theta[self.i] - theta[self.j])
        g = self.to_i(r) - self.to_j(r)
        for bp, w in zip(batched_pl, group_w):
            g += bp.grad(theta, w)
        if self.prior:
            g += self.prior * (0.5 - sigmoid(theta))
        if self.by_part is not None:
            g -= self.kappa * self.by_part(theta)[self.parts]
        return g - self.ridge * theta


def laplacian(m: int, i: np.ndarray, j: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Σ v (e_i - e_j)(e_i - e_j)ᵀ as a dense (M, M) matrix."""
    diag = np.bincount(i, v, m) + np.bincount(j, v, m).astype(np.float64)  # float even when empty
    h = np.bincount(i * m + j, v, m * m).astype(np.float64).reshape(m, m)
    h = -(h + h.T)
    h[np.diag_indices(m)] += diag
    return h


def maximize(obj, theta: np.ndarray | None = None, tol: float = 1e-10, max_iter: int = 200) -> np.ndarray:
    """Damped Newton for any concave objective with ``dim``, ``value`` and ``grad_hess`` (BT, style
    control); the objective is concave, so halving a step that lowers it always ends."""
    theta = np.zeros(obj.dim) if theta is None else theta.copy()
    f = obj.value(theta)
    for _ in range(max_iter):
        g, h = obj.grad_hess(theta)
        step = solve_pd(h, g)
        t = 1.0
        while True:
            new = theta + t * step
            f_new = obj.value(new)
            if f_new >= f - 1e-12 * abs(f) or t < 1e-6:
                break
            t *= 0.5
        theta, f = new, f_new
        if np.max(np.abs(t * step)) < tol:
            break
    return theta


def to_rating(theta: np.ndarray) -> np.ndarray:
    return SCALE * theta + OFFSET


def fit_bt(
    data: Votes | PairCells,
    rankings: Rankings | None = None,
    *,
    ci: str = "bootstrap",
    rounds: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    anchor: tuple[str, float] | None = None,
    progress: bool = False,
) -> Leaderboard:
    """Fit BT (pairwise cells + PL rankings) and return a Leaderboard with ``ci`` intervals."""
    from ratings.engine import bootstrap, sandwich  # local: keeps module graph acyclic

    if ci not in ("bootstrap", "sandwich", "none"):
        raise RatingDataError(f"unknown ci {ci!r}; use bootstrap, sandwich or none")
    cells, rankings = comparisons(data) if isinstance(data, Votes) else (data, rankings or Rankings())
    if cells.m < 2:
        raise RatingDataError("ratings need two or more models")
    if cells.total.sum() <= 0 and not rankings:
        raise RatingDataError("no votes with positive weight")
    prior = needs_prior(cells, rankings)
    parts = components(cells, rankings)
    obj = Objective.from_cells(cells, rankings, prior, parts)
    theta = maximize(obj)
    notes: list[str] = []
    if prior:
        notes.append(PRIOR_NOTE)
    z = z_value(level)
    lower = upper = None
    samples = None
    if ci == "sandwich":
        se = np.sqrt(np.maximum(np.diag(sandwich.covariance(obj, cells, rankings, theta)), 0.0))
        lower, upper = theta - z * se, theta + z * se
    elif ci == "bootstrap":
        samples = bootstrap.replicas(obj, cells, rankings, theta, rounds=rounds, seed=seed, progress=progress)
        lower, upper = percentile_interval(samples, level)
    rating = to_rating(theta)
    lb = build_leaderboard(
        method="bt", ci=ci, level=level, cells=cells, rankings=rankings,
        rating=rating,
        lower=rating if lower is None else to_rating(lower),
        upper=rating if upper is None else to_rating(upper),
        parts=parts, notes=notes, anchor=anchor,
        n_votes=data.n_votes if isinstance(data, Votes) else None,
        model_votes=data.model_votes() if isinstance(data, Votes) else None,
    )
    lb.extra["rounds"] = rounds if ci == "bootstrap" else None
    lb.extra["seed"] = seed if ci == "bootstrap" else None
    return lb

