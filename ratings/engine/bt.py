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
from statistics import NormalDist

import numpy as np
from ratings.engine import pairlik, pl
from ratings.engine.cells import Clusters, PairCells, Rankings, comparisons, components, needs_prior
from ratings.engine.errors import RatingDataError
from ratings.engine.kernels import (Scatter, log_sigmoid, percentile_interval, percentile_interval_per_column, sigmoid,
                                    small_sample_factor, solve_pd, z_value)
from ratings.engine.leaderboard import Leaderboard, build_leaderboard
from ratings.engine.votes import Votes

SCALE = 400.0 / math.log(10.0)  # rating points per unit of θ (natural log odds)
OFFSET = 1000.0
PRIOR_NOTE = ("the maximum-likelihood rating is infinite for some models (a model won or lost every game it "
              "played, or a group of models beat all others); each model got one virtual tie against a "
              "1000-rated opponent to keep ratings finite: treat flagged ratings as bounds")


class Objective:
    """Penalised log-likelihood over p = [θ (M), β (position bias, optional), λ (log ν, Davidson ties,
    optional)]: pairwise cells (i, j, weights of i-wins / j-wins / ties, pos) plus rankings grouped by K.

    A cell's logit is d = θi - θj + β·pos (pos = 1 when i was shown first). β and λ get a weak
    N(0, 10²) prior so that they stay finite on degenerate data (e.g. the first-shown always won)."""

    PARAM_PRIOR = 0.01

    def __init__(self, m: int, i: np.ndarray, j: np.ndarray, w3: np.ndarray,
                 groups: list[tuple[np.ndarray, np.ndarray]], prior: bool | float, parts: np.ndarray | None = None,
                 pos: np.ndarray | None = None, position_bias: bool = False, ties: str = "half",
                 centre: bool | None = None) -> None:
        self.m, self.i, self.j = m, i, j
        self.w3 = np.asarray(w3, dtype=np.float64)
        self.pos = np.zeros(len(i)) if pos is None else np.asarray(pos, dtype=np.float64)
        self.ties = ties
        self.beta = m if position_bias else None
        self.lam = (m + (1 if position_bias else 0)) if ties == "davidson" else None
        self.dim = m + (self.beta is not None) + (self.lam is not None)
        self.groups = [(items, w) for items, w in groups if len(w)]
        n = self.w3.sum(axis=1)
        total = float(n.sum()) + sum(float(w.sum()) * (items.shape[1] - 1) for items, w in self.groups)
        self.total_weight = total
        self.ridge = 1e-9 * max(total, 1.0)
        self.prior = float(prior) if not isinstance(prior, bool) else (1.0 if prior else 0.0)  # virtual-tie weight
        # Centring penalty κ/2 Σ_parts (Σ θ)²: fixes the free shift of each part exactly (a full prior
        # fixes it when present). κ ~ the Hessian's diagonal keeps Newton steps well conditioned.
        if centre is None:
            centre = not prior
        self.parts = parts if centre and parts is not None else None
        self.kappa = max(total, 1.0) / m
        self.by_part = None if self.parts is None else Scatter(self.parts, int(self.parts.max()) + 1)
        # Pair-to-model sums, prepared once: the bootstrap calls them for every chord iteration.
        self.to_i = Scatter(i, m)
        self.to_j = Scatter(j, m)

    @property
    def s(self) -> np.ndarray:
        return self.w3[:, 0] + 0.5 * self.w3[:, 2]

    @property
    def n(self) -> np.ndarray:
        return self.w3.sum(axis=1)

    @classmethod
    def from_cells(cls, cells: PairCells, rankings: Rankings, prior: bool, parts: np.ndarray | None = None,
                   position_bias: bool = False, ties: str = "half") -> Objective:
        return cls(cells.m, cells.i, cells.j, cells.w, list(rankings.groups.values()), prior, parts,
                   pos=cells.pos, position_bias=position_bias, ties=ties)

    def with_weights(self, w3: np.ndarray, groups_w: list[np.ndarray], prior: float) -> Objective:
        """The same model on other cell weights (a bootstrap replica), keeping the centring."""
        return Objective(self.m, self.i, self.j, w3, [(items, w) for (items, _), w in zip(self.groups, groups_w)],
                         max(self.prior, prior), self.parts, pos=self.pos, position_bias=self.beta is not None,
                         ties=self.ties, centre=self.parts is not None)

    def logit(self, p: np.ndarray) -> np.ndarray:
        d = p[self.i] - p[self.j]
        if self.beta is not None:
            d = d + (self.pos[:, None] * p[self.beta] if p.ndim == 2 else self.pos * p[self.beta])
        return d

    def _lam(self, p: np.ndarray):
        return p[self.lam] if self.lam is not None else 0.0

    def value(self, p: np.ndarray) -> float:
        m = self.m
        theta = p[:m]
        w = self.w3
        f = pairlik.value(self.ties, self.logit(p), self._lam(p), w[:, 0], w[:, 1], w[:, 2])
        f += sum(pl.log_likelihood(theta, items, wt) for items, wt in self.groups)
        if self.prior:
            f += self.prior * 0.5 * float(np.sum(log_sigmoid(theta) + log_sigmoid(-theta)))
        if self.by_part is not None:
            f -= 0.5 * self.kappa * float(np.sum(self.by_part(theta) ** 2))
        f -= 0.5 * self.PARAM_PRIOR * float(np.sum(p[m:] ** 2))
        return f - 0.5 * self.ridge * float(p @ p)

    def spread(self, ld: np.ndarray, ll: np.ndarray | None) -> np.ndarray:
        """Σ_cells ld·x + ll·e_λ for design rows x = e_i - e_j + pos·e_β; ld (P,) or (P, R)."""
        g = np.zeros((self.dim,) + ld.shape[1:])
        g[: self.m] = self.to_i(ld) - self.to_j(ld)
        if self.beta is not None:
            g[self.beta] = self.pos @ ld
        if self.lam is not None:
            g[self.lam] = ll.sum(axis=0)
        return g

    def assemble(self, dd: np.ndarray, dl: np.ndarray | None = None, lls: np.ndarray | None = None) -> np.ndarray:
        """Σ_cells dd·x xᵀ + dl·(x e_λᵀ + e_λ xᵀ) + lls·e_λ e_λᵀ: a Hessian or a sandwich meat."""
        m, i, j, pos = self.m, self.i, self.j, self.pos
        h = np.zeros((self.dim, self.dim))
        h[:m, :m] = laplacian(m, i, j, dd)
        if self.beta is not None:
            c = np.bincount(i, dd * pos, m) - np.bincount(j, dd * pos, m)
            h[:m, self.beta] = h[self.beta, :m] = c
            h[self.beta, self.beta] = float(dd @ (pos * pos))
        if self.lam is not None:
            c = np.bincount(i, dl, m) - np.bincount(j, dl, m)
            h[:m, self.lam] = h[self.lam, :m] = c
            h[self.lam, self.lam] = float(lls.sum())
            if self.beta is not None:
                h[self.beta, self.lam] = h[self.lam, self.beta] = float(dl @ pos)
        return h

    def grad_hess(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient and negative Hessian (positive definite thanks to the ridge)."""
        m = self.m
        theta = p[:m]
        w = self.w3
        t = pairlik.terms(self.ties, self.logit(p), self._lam(p), w[:, 0], w[:, 1], w[:, 2])
        g = self.spread(t.ld, t.ll)
        h = self.assemble(t.hdd, t.hdl, t.hll)
        for items, wt in self.groups:
            gk, hk = pl.grad_hess(theta, items, wt)
            g[:m] += gk
            h[:m, :m] += hk
        if self.prior:
            q = sigmoid(theta)
            g[:m] += self.prior * (0.5 - q)
            h[np.arange(m), np.arange(m)] += self.prior * q * (1.0 - q)
        if self.by_part is not None:
            g[:m] -= self.kappa * self.by_part(theta)[self.parts]
            h[:m, :m] += self.kappa * (self.parts[:, None] == self.parts[None, :])
        g[m:] -= self.PARAM_PRIOR * p[m:]
        h[np.arange(m, self.dim), np.arange(m, self.dim)] += self.PARAM_PRIOR
        g -= self.ridge * p
        h[np.diag_indices(self.dim)] += self.ridge
        return g, h

    def grad_batch(self, p: np.ndarray, w3: np.ndarray, group_w: list[np.ndarray],
                   batched_pl: list[pl.BatchedPL]) -> np.ndarray:
        """Gradients for replicas: p (D, R), cell weights w3 (P, 3, R), group weights (N_k, R) -> (D, R)."""
        m = self.m
        lam = p[self.lam] if self.lam is not None else 0.0
        t = pairlik.terms(self.ties, self.logit(p), lam, w3[:, 0], w3[:, 1], w3[:, 2])
        g = self.spread(t.ld, t.ll)
        theta = p[:m]
        for bp, wt in zip(batched_pl, group_w):
            g[:m] += bp.grad(theta, wt)
        if self.prior:
            g[:m] += self.prior * (0.5 - sigmoid(theta))
        if self.by_part is not None:
            g[:m] -= self.kappa * self.by_part(theta)[self.parts]
        g[m:] -= self.PARAM_PRIOR * p[m:]
        return g - self.ridge * p


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


# The published leaderboard's method (and the CLI's defaults): what a release's recorded leaderboards
# and `python -m ratings fit` use unless told otherwise.
PUBLISHED = {"cluster": True, "position_bias": True, "ties": "half", "hessian_reg": 0.0, "small_sample": True}

# A cluster-robust variance needs many clusters: with a handful of voters it is itself too noisy.
MIN_CLUSTERS = 30


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
    clusters: Clusters | None = None,
    cluster: bool = True,
    position_bias: bool = False,
    ties: str = "half",
    hessian_reg: float = 0.0,
    small_sample: bool = True,
    min_votes: int = 0,
    model_votes: np.ndarray | None = None,
    interval_scale: np.ndarray | None = None,
) -> Leaderboard:
    """Fit BT (pairwise cells + PL rankings) and return a Leaderboard with ``ci`` intervals.

    ``clusters``: which votes belong together (given with cells; built from ``Votes`` when ``cluster``
    is true: by voter when the votes carry one, and the pairs of each tied K-wise vote).
    ``position_bias``: estimate the first-shown (left) advantage β as a parameter (reported in
    ``extra["position_bias"]``, never in the ratings); needs oriented cells (model_a shown first).
    ``ties``: ``half`` (half a win each side) or ``davidson``. ``hessian_reg``: arena-rank's 1e-5 × N
    term on the sandwich's Hessian (0: the textbook sandwich). ``small_sample``: widen each model's
    interval by its small-sample factor (kernels.small_sample_factor; 1.06 at 30 votes).
    ``min_votes``: models with fewer votes are provisional: rated, but not ranked. ``model_votes``: the
    votes each model took part in, when ``data`` are cells (a tied K-wise vote is one vote, not one per pair).
    ``interval_scale``: a factor per model on the uncertainty of θ (the server's cached voter-clustering
    factors between two refreshes).
    """
    from ratings.engine import bootstrap, sandwich  # local: keeps module graph acyclic
    from ratings.engine.cells import clusters_of
    from ratings.engine.tiers import adjacent_tiers

    if ci not in ("bootstrap", "sandwich", "none"):
        raise RatingDataError(f"unknown ci {ci!r}; use bootstrap, sandwich or none")
    if ties not in pairlik.TIE_MODELS:
        raise RatingDataError(f"unknown tie model {ties!r}; use half or davidson")
    if isinstance(data, Votes):
        cells, rankings = comparisons(data, oriented=position_bias)
        if cluster:
            clusters = clusters_of(data, oriented=position_bias)
    else:
        cells, rankings = data, rankings or Rankings()
    if cells.m < 2:
        raise RatingDataError("ratings need two or more models")
    if cells.total.sum() <= 0 and not rankings:
        raise RatingDataError("no votes with positive weight")
    notes: list[str] = []
    if clusters is not None and clusters.units(cells) < MIN_CLUSTERS:
        notes.append(f"only {clusters.units(cells):g} voters: too few to cluster the intervals by voter "
                     f"(at least {MIN_CLUSTERS} needed); votes are treated as independent")
        clusters = None
    if position_bias and not np.any(cells.pos > 0):
        position_bias = False
        notes.append("no pairwise vote records which model was shown first: no position bias estimated")
    if ties == "davidson" and cells.w[:, 2].sum() <= 0:
        raise RatingDataError("--ties davidson needs some tied votes; there are none")
    prior = needs_prior(cells, rankings)
    parts = components(cells, rankings)
    obj = Objective.from_cells(cells, rankings, prior, parts, position_bias=position_bias, ties=ties)
    p_hat = maximize(obj)
    theta = p_hat[: cells.m]
    if prior:
        notes.append(PRIOR_NOTE)
    z = z_value(level)
    if isinstance(data, Votes):
        model_votes = data.model_votes()
    elif model_votes is None:
        from ratings.engine.leaderboard import pair_statistics

        model_votes = pair_statistics(cells, rankings)[2]
    model_votes = np.asarray(model_votes, dtype=np.float64)
    units = clusters.per_model(cells.m, rankings, cells) if clusters is not None else model_votes
    factor = small_sample_factor(units, level) if small_sample else np.ones(cells.m)
    lower = upper = None
    samples = cov = None
    se_all = None
    if ci == "sandwich":
        cov = sandwich.covariance(obj, cells, rankings, p_hat, reg=hessian_reg, clusters=clusters)
        if interval_scale is not None:
            s = np.r_[np.asarray(interval_scale, dtype=np.float64), np.ones(obj.dim - cells.m)]
            cov = cov * np.outer(s, s)
        se_all = np.sqrt(np.maximum(np.diag(cov), 0.0))
        half = z * factor * se_all[: cells.m]
        lower, upper = theta - half, theta + half
    elif ci == "bootstrap":
        samples = bootstrap.replicas(obj, cells, rankings, p_hat, rounds=rounds, seed=seed, progress=progress,
                                     clusters=clusters)
        if interval_scale is not None:
            samples[:, : cells.m] = theta + np.asarray(interval_scale)[None, :] * (samples[:, : cells.m] - theta)
        alpha = np.array([NormalDist().cdf(-z * f) for f in factor])
        lower, upper = percentile_interval_per_column(samples[:, : cells.m], alpha)
    rating = to_rating(theta)
    lb = build_leaderboard(
        method="bt", ci=ci, level=level, cells=cells, rankings=rankings,
        rating=rating,
        lower=rating if lower is None else to_rating(lower),
        upper=rating if upper is None else to_rating(upper),
        parts=parts, notes=notes, anchor=anchor,
        n_votes=data.n_votes if isinstance(data, Votes) else None,
        model_votes=model_votes,
        min_votes=min_votes,
    )
    lb.extra["rounds"] = rounds if ci == "bootstrap" else None
    lb.extra["seed"] = seed if ci == "bootstrap" else None
    lb.extra["clustered"] = clusters is not None and ci != "none"
    if clusters is not None and ci != "none":
        lb.extra["clusters"] = clusters.n_clusters
    lb.extra["ties"] = ties
    lb.extra["interval"] = interval_label(ci, level, clustered=clusters is not None, voters=cluster_by_voter(data, clusters))
    if position_bias:
        k = obj.beta
        beta = float(p_hat[k])
        pb = {"points": SCALE * beta, "first_wins": float(sigmoid(np.array([beta]))[0])}
        if se_all is not None:
            pb.update(lower=float(SCALE * (beta - z * se_all[k])), upper=float(SCALE * (beta + z * se_all[k])))
        elif samples is not None:
            lo, hi = percentile_interval(samples[:, k: k + 1], level)
            pb.update(lower=SCALE * float(lo[0]), upper=SCALE * float(hi[0]))
        lb.extra["position_bias"] = pb
    if ties == "davidson":
        lb.extra["davidson_nu"] = float(np.exp(p_hat[obj.lam]))
    if ci != "none":
        _tiers(lb, theta, cov, samples, level, seed, adjacent_tiers)
    return lb


def cluster_by_voter(data, clusters) -> bool:
    return clusters is not None and (not isinstance(data, Votes) or data.voter is not None)


def interval_label(ci: str, level: float, *, clustered: bool = False, voters: bool = False) -> str:
    """What a method's interval is, in words, for tables, pages and plots."""
    if ci == "none":
        return "no interval"
    kind = {"sandwich": "sandwich (robust) normal interval", "bootstrap": "bootstrap percentile interval"}[ci]
    if clustered:
        kind += ", clustered by voter" if voters else ", tied K-wise votes clustered"
    return f"{level:.0%} CI ({kind})"


def _tiers(lb: Leaderboard, theta: np.ndarray, cov, samples, level: float, seed: int, adjacent_tiers) -> None:
    """Max-t tiers over the ranked (non-provisional) models of the largest part."""
    ranked = np.flatnonzero((lb.part == 0) & ~lb.provisional & (lb.votes > 0))
    if len(ranked) < 2:
        return
    order = ranked[np.argsort(-theta[ranked], kind="stable")]
    m = len(theta)
    tiers, crit = adjacent_tiers(theta, order, level=level,
                                 cov=None if cov is None else cov[:m, :m],
                                 samples=None if samples is None else samples[:, :m], seed=seed)
    lb.tier[order] = tiers
    lb.extra["tiers"] = {"critical_value": crit, "level": level,
                         "groups": [[lb.models[k] for k in order[tiers == t]] for t in range(1, int(tiers.max()) + 1)]}
