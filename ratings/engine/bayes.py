"""Bayesian ratings as K-Sort Arena: Thurstone-Mosteller with full pairing (Weng & Lin, 2011).

Each model has a Gaussian belief N(μ, σ²) (start μ = 25, σ = 25/3; β = 25/6, κ = 1e-4, draw margin
ε = 0.1: the openskill defaults K-Sort Arena builds on). A vote over K models (K = 2 for pairwise)
updates every model i against every other q in the vote, all from the beliefs before the vote:

    c = sqrt(σi² + σq² + 2β²),  x = (μi - μq) / c,  γ = σi / c
    i placed better:  Ω += σi²/c · v(x, ε/c),            Δ += γ σi²/c² · w(x, ε/c)
    i placed worse:   Ω -= σi²/c · v(-x, ε/c),           Δ += γ σi²/c² · w(-x, ε/c)
    same place (tie): Ω += σi²/c · ṽ(x, ε/c),            Δ += γ σi²/c² · w̃(x, ε/c)
    μi ← μi + Ω,      σi ← σi · sqrt(max(1 - Δ, κ))

with v(x, t) = φ(x-t)/Φ(x-t), w = v (v + x - t) and ṽ, w̃ their two-sided (draw) versions. A weight
w scales Ω and Δ (w = 0 leaves the beliefs as they were). The leaderboard score is the conservative
μ - 3σ; a row's rating is that score, lower/upper are μ ∓ 3σ, and ``extra["mu"]``/``["sigma"]`` hold
the beliefs.

The server keeps one ``BayesRater`` per leaderboard and calls ``update`` per vote (a few µs: plain
floats, no numpy), persisting ``to_state()`` as JSON; ``fit_bayes`` replays a whole vote file.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from ratings.engine.cells import PairCells, Rankings, components
from ratings.engine.errors import RatingDataError
from ratings.engine.leaderboard import Leaderboard, build_leaderboard
from ratings.engine.votes import WINNER_CODES, Votes

MU, SIGMA, BETA, KAPPA, EPSILON = 25.0, 25.0 / 3.0, 25.0 / 6.0, 1e-4, 0.1
_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TINY = 1e-12


def _pdf(x: float) -> float:
    return _INV_SQRT_2PI * math.exp(-0.5 * x * x)


def _cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def v_win(x: float, t: float) -> float:
    xt = x - t
    d = _cdf(xt)
    return -xt if d < _TINY else _pdf(xt) / d


def w_win(x: float, t: float) -> float:
    xt = x - t
    d = _cdf(xt)
    if d < _TINY:
        return 1.0 if x < 0 else 0.0
    v = _pdf(xt) / d
    return v * (v + xt)


def v_draw(x: float, t: float) -> float:
    xx = abs(x)
    b = _cdf(t - xx) - _cdf(-t - xx)
    if b < 1e-5:
        return -x - t if x < 0 else -x + t
    a = _pdf(-t - xx) - _pdf(t - xx)
    return (-a if x < 0 else a) / b


def w_draw(x: float, t: float) -> float:
    b = _cdf(t - x) - _cdf(-t - x)
    if b < _TINY:
        return 1.0
    return ((t - x) * _pdf(t - x) + (t + x) * _pdf(-t - x)) / b + v_draw(x, t) ** 2


class BayesRater:
    """Per-leaderboard state for vote-by-vote Bayesian updates (see module docstring)."""

    def __init__(self, models: Sequence[str] = (), *, mu: float = MU, sigma: float = SIGMA, beta: float = BETA,
                 kappa: float = KAPPA, epsilon: float = EPSILON) -> None:
        self.mu0, self.sigma0, self.beta, self.kappa, self.epsilon = mu, sigma, beta, kappa, epsilon
        self.mu: dict[str, float] = {}
        self.sigma: dict[str, float] = {}
        # (lo, hi) -> [weight lo won, weight hi won, weight tied, votes ...] for the leaderboard's statistics.
        self._pairs: dict[tuple[str, str], list[float]] = {}
        self.votes: dict[str, int] = {}  # votes each model took part in
        self.n_votes = 0
        for m in models:
            self._ensure(m)

    def _ensure(self, m: str) -> None:
        if m not in self.mu:
            self.mu[m] = self.mu0
            self.sigma[m] = self.sigma0
            self.votes[m] = 0

    def update(self, vote: Mapping[str, Any] | Sequence[Any], weight: float = 1.0) -> None:
        """Absorb one vote: {"model_a", "model_b", "winner"} or {"models", "ranking"} (or a tuple)."""
        if isinstance(vote, Mapping):
            if "models" in vote:
                self.rate(list(vote["models"]), list(vote["ranking"]), vote.get("weight", weight))
                return
            vote = (vote["model_a"], vote["model_b"], vote["winner"], vote.get("weight", weight))
        a, b, winner = vote[0], vote[1], vote[2]
        if len(vote) > 3:
            weight = vote[3]
        code = WINNER_CODES.get(winner)
        if code is None:
            raise RatingDataError(f"unknown winner value {winner!r}; expected one of model_a, model_b, tie, both_bad")
        self.rate([a, b], [1, 2] if code == 0 else [2, 1] if code == 1 else [1, 1], weight)

    def rate(self, models: Sequence[str], places: Sequence[int], weight: float = 1.0) -> None:
        """Absorb one K-wise vote: places[i] is models[i]'s place (1 = best, equal = tie)."""
        k = len(models)
        if k < 2 or len(places) != k or len(set(models)) != k:
            raise RatingDataError("a vote needs two or more distinct models, one place each")
        for m in models:
            self._ensure(m)
        mus = [self.mu[m] for m in models]
        sig2 = [self.sigma[m] ** 2 for m in models]
        b2 = 2.0 * self.beta ** 2
        eps = self.epsilon
        for i in range(k):
            omega = delta = 0.0
            si2 = sig2[i]
            for q in range(k):
                if q == i:
                    continue
                c = math.sqrt(si2 + sig2[q] + b2)
                x = (mus[i] - mus[q]) / c
                t = eps / c
                s_c = si2 / c
                d_coef = math.sqrt(si2) / c * s_c / c
                if places[i] < places[q]:
                    omega += s_c * v_win(x, t)
                    delta += d_coef * w_win(x, t)
                elif places[i] > places[q]:
                    omega -= s_c * v_win(-x, t)
                    delta += d_coef * w_win(-x, t)
                else:
                    omega += s_c * v_draw(x, t)
                    delta += d_coef * w_draw(x, t)
            m = models[i]
            self.mu[m] = mus[i] + weight * omega
            self.sigma[m] = math.sqrt(si2 * max(1.0 - weight * delta, self.kappa))
            self.votes[m] += 1
        self._count(models, places, weight)
        self.n_votes += 1

    def _count(self, models: Sequence[str], places: Sequence[int], weight: float) -> None:
        k = len(models)
        pw = weight * (1.0 if k == 2 else 2.0 / k)  # as the BT rank-breaking weighs K-wise pairs
        for x in range(k):
            for y in range(x + 1, k):
                a, b, pa, pb = models[x], models[y], places[x], places[y]
                if a > b:
                    a, b, pa, pb = b, a, pb, pa
                cell = self._pairs.setdefault((a, b), [0.0] * 6)
                o = 2 if pa == pb else (0 if pa < pb else 1)
                cell[o] += pw
                cell[3 + o] += 1.0

    def score(self, model: str) -> float:
        return self.mu[model] - 3.0 * self.sigma[model]

    def to_state(self) -> dict[str, Any]:
        return {"params": [self.mu0, self.sigma0, self.beta, self.kappa, self.epsilon], "n_votes": self.n_votes,
                "mu": dict(self.mu), "sigma": dict(self.sigma), "votes": dict(self.votes),
                "pairs": [[a, b, *cell] for (a, b), cell in self._pairs.items()]}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> BayesRater:
        mu, sigma, beta, kappa, epsilon = state["params"]
        r = cls(mu=mu, sigma=sigma, beta=beta, kappa=kappa, epsilon=epsilon)
        r.mu, r.sigma, r.n_votes = dict(state["mu"]), dict(state["sigma"]), int(state["n_votes"])
        votes = state.get("votes", {})  # states saved before per-model counts were kept have none
        r.votes = {m: int(votes.get(m, 0)) for m in r.mu}
        r._pairs = {(row[0], row[1]): list(row[2:]) for row in state["pairs"]}
        return r

    def leaderboard(self) -> Leaderboard:
        models = sorted(self.mu)
        if len(models) < 2:
            raise RatingDataError("ratings need two or more models")
        index = {m: k for k, m in enumerate(models)}
        keys = list(self._pairs)
        cells_arr = np.array([self._pairs[key] for key in keys]).reshape(-1, 6)
        cells = PairCells(models, np.array([index[a] for a, _ in keys], dtype=np.int64),
                          np.array([index[b] for _, b in keys], dtype=np.int64),
                          cells_arr[:, :3], cells_arr[:, 3:], cells_arr[:, :3] ** 2)
        mu = np.array([self.mu[m] for m in models])
        sigma = np.array([self.sigma[m] for m in models])
        lb = build_leaderboard(method="bayes", ci="posterior", level=0.997, cells=cells, rankings=Rankings(),
                               rating=mu - 3 * sigma, lower=mu - 3 * sigma, upper=mu + 3 * sigma,
                               parts=components(cells, Rankings()), n_votes=self.n_votes,
                               model_votes=np.array([self.votes[m] for m in models], dtype=np.float64),
                               notes=["rating is the conservative score mu - 3 sigma; lower/upper are mu -/+ 3 sigma"])
        # μ ± 3σ is a posterior band (about 99.7% under a normal posterior), not a 95% confidence interval.
        lb.extra["interval"] = "μ ± 3σ (posterior band, not a 95% CI)"
        lb.extra["mu"] = {m: self.mu[m] for m in models}
        lb.extra["sigma"] = {m: self.sigma[m] for m in models}
        return lb


def fit_bayes(votes: Votes, *, progress: bool = False, **params: float) -> Leaderboard:
    """Replay every vote in the order cast (pairwise and K-wise interleaved) and return the leaderboard."""
    rater = BayesRater(votes.models, **params)
    names = votes.models
    pseq = np.arange(votes.n_pairwise) if votes.seq is None else votes.seq
    kseq = np.arange(votes.n_kwise) if votes.kw_seq is None else votes.kw_seq
    # (position in vote order, pairwise 0 / K-wise 1, index), replayed in the order the votes were cast.
    events = sorted([(int(q), 0, k) for k, q in enumerate(pseq)] + [(int(q), 1, k) for k, q in enumerate(kseq)])
    a, b, o, w = votes.a.tolist(), votes.b.tolist(), votes.outcome.tolist(), votes.pair_weight().tolist()
    kw = votes.kwise_weight().tolist()
    place_of = ([1, 2], [2, 1], [1, 1])
    it = events
    if progress:
        from tqdm import tqdm

        it = tqdm(events, desc="bayes", unit="vote", delay=1.0, leave=False, disable=None, mininterval=0.5)
    for _, kind, k in it:
        if kind == 0:
            rater.rate((names[a[k]], names[b[k]]), place_of[o[k]], w[k])
        else:
            rater.rate([names[x] for x in votes.kw_items[k].tolist()], votes.kw_places[k].tolist(), kw[k])
    return rater.leaderboard()
