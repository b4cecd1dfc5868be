"""Style control: contextual Bradley-Terry with LMArena's four style features.

    lb = fit_style(votes, ci="bootstrap" | "sandwich" | "none", rounds=100, seed=0)
    lb.extra["style_coefficients"]  # {"length": β, "headers": β, "lists": β, "bold": β}

logit P(a beats b) = θa - θb + βᵀx, where for each feature (response tokens, markdown headers, list
items, bold spans) x = (count_a - count_b) / (count_a + count_b), 0 when both are 0, then
standardised over the votes (as LMArena's style control does). β is the effect of one standard
deviation of that difference in log-odds; θ is the strength with style held equal, reported on the
same 400/ln10·θ + 1000 scale. The features vary per vote, so this fit works on rows, not cells:
Newton on the (M+4)-dimensional log-likelihood, a sandwich with per-vote scores, and a Poisson
bootstrap on rows solved for all replicas at once by the same chord method as ``bootstrap.py``.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from ratings.engine.bt import PRIOR_NOTE, laplacian, maximize, to_rating
from ratings.engine.cells import comparisons, components, needs_prior
from ratings.engine.errors import RatingDataError
from ratings.engine.kernels import Scatter, log_sigmoid, percentile_interval, sigmoid, z_value
from ratings.engine.leaderboard import Leaderboard, build_leaderboard
from ratings.engine.sandwich import HESSIAN_REG
from ratings.engine.votes import A_WINS, STYLE_FEATURES, TIE, Votes


def style_features(counts: np.ndarray) -> np.ndarray:
    """(N, 8) raw counts (a's four, then b's) -> (N, 4) standardised normalised differences."""
    a, b = counts[:, :4].astype(np.float64), counts[:, 4:].astype(np.float64)
    total = a + b
    x = np.divide(a - b, total, out=np.zeros_like(a), where=total > 0)
    std = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)


class StyleObjective:
    def __init__(self, m: int, a: np.ndarray, b: np.ndarray, s: np.ndarray, w: np.ndarray, x: np.ndarray,
                 prior: bool = False, parts: np.ndarray | None = None) -> None:
        self.m, self.a, self.b, self.s, self.w, self.x = m, a, b, s, w, x
        self.prior = 1.0 if prior else 0.0  # one virtual tie per model when an MLE is infinite (see bt.py)
        # Centre each connected part's θ exactly, as bt.Objective does (the prior fixes it when present).
        self.parts = None if prior or parts is None else parts
        self.kappa = max(float(w.sum()), 1.0) / m
        self.by_part = None if self.parts is None else Scatter(self.parts, int(self.parts.max()) + 1)
        self.dim = m + x.shape[1]
        self.to_a, self.to_b = Scatter(a, m), Scatter(b, m)
        self.total_weight = float(w.sum())
        self.ridge = 1e-9 * max(self.total_weight, 1.0)

    def logits(self, p: np.ndarray) -> np.ndarray:
        """θa - θb + βᵀx per vote; p is (dim,) or (dim, R) for a batch of replicas."""
        return p[self.a] - p[self.b] + self.x @ p[self.m:]

    def grad_data(self, r: np.ndarray) -> np.ndarray:
        """Σ r_v d_v for rows d_v = [e_a - e_b, x_v]; r is (N,) or (N, R)."""
        return np.concatenate([self.to_a(r) - self.to_b(r), self.x.T @ r])

    def value(self, p: np.ndarray) -> float:
        z = self.logits(p)
        th = p[: self.m]
        prior = self.prior * 0.5 * float(np.sum(log_sigmoid(th) + log_sigmoid(-th)))
        if self.by_part is not None:
            prior -= 0.5 * self.kappa * float(np.sum(self.by_part(th) ** 2))
        return float(self.w @ (self.s * z + log_sigmoid(-z))) + prior - 0.5 * self.ridge * float(p @ p)

    def prior_grad(self, p: np.ndarray) -> np.ndarray:
        """Gradient of the virtual-tie prior and the centring penalty (θ rows only)."""
        g = np.zeros_like(p)
        th = p[: self.m]
        if self.prior:
            g[: self.m] = self.prior * (0.5 - sigmoid(th))
        if self.by_part is not None:
            g[: self.m] -= self.kappa * self.by_part(th)[self.parts]
        return g

    def assemble(self, v: np.ndarray) -> np.ndarray:
        """Σ v_r d_r d_rᵀ for rows d_r = [e_a - e_b, x_r]: a Hessian or sandwich meat."""
        m, a, b, x = self.m, self.a, self.b, self.x
        out = np.zeros((self.dim, self.dim))
        out[:m, :m] = laplacian(m, a, b, v)
        vx = v[:, None] * x
        cross = np.stack([np.bincount(a, vx[:, k], m) - np.bincount(b, vx[:, k], m) for k in range(x.shape[1])], 1)
        out[:m, m:] = cross
        out[m:, :m] = cross.T
        out[m:, m:] = x.T @ vx
        return out

    def grad_hess(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = sigmoid(self.logits(p))
        g = self.grad_data(self.w * (self.s - q)) - self.ridge * p + self.prior_grad(p)
        h = self.assemble(self.w * q * (1.0 - q))
        h[np.diag_indices(self.dim)] += self.ridge
        if self.prior:
            e = sigmoid(p[: self.m])
            h[np.arange(self.m), np.arange(self.m)] += self.prior * e * (1.0 - e)
        if self.by_part is not None:
            h[: self.m, : self.m] += self.kappa * (self.parts[:, None] == self.parts[None, :])
        return g, h

    def sandwich(self, p: np.ndarray) -> np.ndarray:
        q = sigmoid(self.logits(p))
        _, h = self.grad_hess(p)
        h[np.diag_indices(self.dim)] += HESSIAN_REG * self.total_weight
        meat = self.assemble((self.w * (self.s - q)) ** 2)
        h_inv = np.linalg.inv(h)
        return h_inv @ meat @ h_inv

    def bootstrap(self, p_hat: np.ndarray, rounds: int, seed: int) -> np.ndarray:
        _, h0 = self.grad_hess(p_hat)
        h0_inv = np.linalg.inv(h0)
        n = len(self.a)
        size = int(max(4, min(rounds, 3_000_000 // max(n, 1))))
        sizes = [min(size, rounds - k) for k in range(0, rounds, size)]
        seeds = np.random.SeedSequence(seed).spawn(len(sizes))

        def run(k: int) -> np.ndarray:
            rng = np.random.default_rng(seeds[k])
            w = self.w[:, None] * rng.poisson(1.0, size=(n, sizes[k]))
            p = np.repeat(p_hat[:, None], sizes[k], axis=1)
            for _ in range(50):
                g = self.grad_data(w * (self.s[:, None] - sigmoid(self.logits(p)))) - self.ridge * p + self.prior_grad(p)
                step = h0_inv @ g
                p += step
                if np.abs(step).max() < 1e-9:
                    break
            else:
                for col in np.flatnonzero(~(np.abs(step).max(axis=0) < 1e-9)):
                    single = StyleObjective(self.m, self.a, self.b, self.s, w[:, col], self.x, self.prior > 0,
                                            self.parts)
                    p[:, col] = maximize(single, p_hat)
            return p.T

        with ThreadPoolExecutor(max_workers=max(1, min(len(sizes), os.cpu_count() or 1))) as pool:
            return np.vstack(list(pool.map(run, range(len(sizes)))))


def fit_style(
    votes: Votes,
    *,
    ci: str = "bootstrap",
    rounds: int = 100,
    seed: int = 0,
    level: float = 0.95,
    anchor: tuple[str, float] | None = None,
) -> Leaderboard:
    if votes.style is None:
        raise RatingDataError("style control needs the style counts (load the votes with style=True)")
    if ci not in ("bootstrap", "sandwich", "none"):
        raise RatingDataError(f"unknown ci {ci!r}; use bootstrap, sandwich or none")
    if votes.n_pairwise == 0:
        raise RatingDataError("style control needs pairwise votes")
    if ci == "bootstrap" and rounds < 1:
        raise RatingDataError("bootstrap rounds must be at least 1")
    m = len(votes.models)
    s = np.where(votes.outcome == A_WINS, 1.0, np.where(votes.outcome == TIE, 0.5, 0.0))
    x = style_features(votes.style)
    cells, rankings = comparisons(Votes(votes.models, votes.a, votes.b, votes.outcome, votes.weight))
    prior = needs_prior(cells, rankings)
    parts = components(cells, rankings)
    obj = StyleObjective(m, votes.a.astype(np.int64), votes.b.astype(np.int64), s, votes.pair_weight(), x, prior,
                         parts)
    p = maximize(obj)
    z = z_value(level)
    lower = upper = None
    coef_lo = coef_hi = None
    if ci == "sandwich":
        se = np.sqrt(np.maximum(np.diag(obj.sandwich(p)), 0.0))
        lower, upper = p - z * se, p + z * se
    elif ci == "bootstrap":
        reps = obj.bootstrap(p, rounds, seed)
        lower, upper = percentile_interval(reps, level)
    if lower is not None:
        coef_lo, coef_hi = lower[m:], upper[m:]
    rating = to_rating(p[:m])
    lb = build_leaderboard(method="bt", ci=ci, level=level, cells=cells, rankings=rankings, rating=rating,
                           lower=rating if lower is None else to_rating(lower[:m]),
                           upper=rating if upper is None else to_rating(upper[:m]),
                           parts=parts, anchor=anchor, n_votes=votes.n_pairwise,
                           model_votes=np.bincount(votes.a, minlength=m) + np.bincount(votes.b, minlength=m),
                           notes=list(votes.notes) + ([PRIOR_NOTE] if prior else []))
    lb.extra["style_control"] = True
    lb.extra["interval"] = {"sandwich": f"{level:.0%} CI (sandwich (robust) normal interval)",
                            "bootstrap": f"{level:.0%} CI (bootstrap percentile interval)"}.get(ci, "no interval")
    lb.extra["style_coefficients"] = dict(zip(STYLE_FEATURES, p[m:].tolist()))
    if coef_lo is not None:
        lb.extra["style_coefficient_intervals"] = {
            k: [lo, hi] for k, lo, hi in zip(STYLE_FEATURES, coef_lo.tolist(), coef_hi.tolist())}
    return lb
