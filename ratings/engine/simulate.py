"""Simulated arenas for the matchmaking policies (``python -m ratings simulate``).

The simulator owns the truth, the noise and the seeds; a policy only sees the votes it asked for.

- ``ksort``: K-Sort Arena's experiment. 50 models in a true order, K=4 rankings by the true order;
  with ``noise`` > 0 that share of votes has two random places swapped. Votes until ``order()``
  equals the truth and stays so for ``stay`` (50) votes.
- ``bt``: a realistic arena. 40 models, strengths ~ N(0, 0.6) on the logit scale; pairwise votes
  drawn from Bradley-Terry probabilities (k=2) or K-wise rankings from Plackett-Luce (k>2, by the
  Gumbel trick). Votes until Kendall tau(order, truth) >= 0.9 and stays so for 200 votes.
- ``placement``: a converged 50-model noise-free arena (each policy's own K=4 votes until its
  order is the truth for ``stay`` votes), then one new model at a random true rank;
  K=4 votes until its rank is within 1 of its true rank and stays so for ``stay`` votes.

Each run returns the vote count at which the target was first reached for good (``None`` if not
within ``max_votes``) and the policy's time per vote (propose + observe + order).

``bt_design_ceiling`` says how much any choice of pairs could gain in the ``bt`` arena at all: the
pairwise votes a uniform design and the best fixed allocation of votes over pairs, chosen knowing
the true strengths, need before the expected number of misordered pairs (Laplace approximation of
the same MAP, at the truth) is down to what Kendall tau ``tau`` allows.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ratings.engine.matchmaking import (PRIOR_SD, comparison_information, contrast_drops, laplacian, make_policy,
                                        pair_variances)

EXPERIMENTS = ("ksort", "bt", "placement")
DEFAULTS = {
    "ksort": {"models": 50, "k": 4, "noise": 0.0, "stay": 50, "max_votes": 5000},
    "bt": {"models": 40, "k": 2, "spread": 0.6, "tau": 0.9, "stay": 200, "max_votes": 60000},
    "placement": {"models": 50, "k": 4, "noise": 0.0, "stay": 50, "max_votes": 1000},
}


@dataclass
class Result:
    experiment: str
    policy: str
    seed: int
    votes: int | None  # None: target not reached within max_votes
    ms_per_vote: float
    total_votes: int

    def to_dict(self) -> dict:
        return {"experiment": self.experiment, "policy": self.policy, "seed": self.seed, "votes": self.votes,
                "ms_per_vote": round(self.ms_per_vote, 4), "simulated_votes": self.total_votes}


def kendall_tau(order: list[str], rank_of: dict[str, int]) -> float:
    """tau between an estimated order (best first) and the true ranks (0 = best), no ties."""
    r = np.array([rank_of[m] for m in order])
    s = np.sign(r[None, :] - r[:, None])  # +1 where the later one is truly worse: concordant
    iu = np.triu_indices(len(r), 1)
    return float(s[iu].sum() / len(iu[0]))


def _names(n: int, rng: np.random.Generator, prefix: str = "m") -> list[str]:
    """Model names in a random order, so that no policy can lean on the order it is given."""
    names = [f"{prefix}{i:03d}" for i in range(n)]
    rng.shuffle(names)
    return names


def _places_by_truth(models: list[str], rank_of: dict[str, int]) -> list[int]:
    order = sorted(range(len(models)), key=lambda x: rank_of[models[x]])
    places = [0] * len(models)
    for place, x in enumerate(order, 1):
        places[x] = place
    return places


def run_ksort(policy: str, seed: int, *, models: int = 50, k: int = 4, noise: float = 0.0, stay: int = 50,
              max_votes: int = 5000) -> Result:
    rng = np.random.default_rng([seed, 1])
    truth = _names(models, rng)  # truth[0] is the best
    rank_of = {m: r for r, m in enumerate(truth)}
    offered = list(truth)
    rng.shuffle(offered)
    p = make_policy(policy, offered, k=k, seed=seed)
    votes, ms, t = _until(p, rng, rank_of, noise, stay, max_votes, lambda est: est == truth)
    return Result("ksort", policy, seed, votes, ms, t)


def _until(p, rng: np.random.Generator, rank_of: dict[str, int], noise: float, stay: int, max_votes: int,
           done) -> tuple[int | None, float, int]:
    """K-wise votes by the true order (with ``noise``: that share with two places swapped) until
    ``done(order())`` holds for ``stay`` votes in a row: (the vote it first held for good, or None;
    ms per vote for propose + observe + order; votes cast)."""
    streak, spent, t = 0, 0.0, 0
    for t in range(1, max_votes + 1):
        start = time.perf_counter()
        battle = p.propose()
        spent += time.perf_counter() - start
        places = _places_by_truth(battle, rank_of)
        if noise and rng.random() < noise:
            x, y = rng.choice(len(battle), size=2, replace=False)
            places[x], places[y] = places[y], places[x]
        start = time.perf_counter()
        p.observe(battle, places)
        ok = done(p.order())
        spent += time.perf_counter() - start
        streak = streak + 1 if ok else 0
        if streak >= stay:
            return t - stay + 1, 1000 * spent / t, t
    return None, 1000 * spent / max(t, 1), t


def _bt_truth(seed: int, models: int, spread: float) -> tuple[dict[str, float], np.random.Generator]:
    """The true strengths of the bt arena of this seed, and the generator that goes on to draw its votes."""
    rng = np.random.default_rng([seed, 2])
    names = _names(models, rng)
    return dict(zip(names, rng.normal(0.0, spread, models))), rng


def run_bt(policy: str, seed: int, *, models: int = 40, k: int = 2, spread: float = 0.6, tau: float = 0.9,
           stay: int = 200, max_votes: int = 60000) -> Result:
    theta, rng = _bt_truth(seed, models, spread)
    names = list(theta)
    truth = sorted(names, key=lambda m: -theta[m])
    rank_of = {m: r for r, m in enumerate(truth)}
    p = make_policy(policy, names, k=k, seed=seed)
    streak, spent, t = 0, 0.0, 0
    for t in range(1, max_votes + 1):
        start = time.perf_counter()
        battle = p.propose()
        spent += time.perf_counter() - start
        # Plackett-Luce by the Gumbel trick (k = 2: Bradley-Terry): sort skill + Gumbel noise.
        noisy = [theta[m] + g for m, g in zip(battle, rng.gumbel(size=len(battle)))]
        order = sorted(range(len(battle)), key=lambda x: -noisy[x])
        places = [0] * len(battle)
        for place, x in enumerate(order, 1):
            places[x] = place
        start = time.perf_counter()
        p.observe(battle, places)
        est = p.order()
        spent += time.perf_counter() - start
        streak = streak + 1 if kendall_tau(est, rank_of) >= tau else 0
        if streak >= stay:
            return Result("bt", policy, seed, t - stay + 1, 1000 * spent / t, t)
    return Result("bt", policy, seed, None, 1000 * spent / max(t, 1), t)


def run_placement(policy: str, seed: int, *, models: int = 50, k: int = 4, noise: float = 0.0, stay: int = 50,
                  max_votes: int = 1000) -> Result:
    rng = np.random.default_rng([seed, 3])
    everyone = _names(models + 1, rng)
    newcomer = everyone[int(rng.integers(len(everyone)))]
    truth_all = everyone  # everyone[0] is the best
    old = [m for m in truth_all if m != newcomer]
    rank_old = {m: r for r, m in enumerate(old)}
    offered = list(old)
    rng.shuffle(offered)
    p = make_policy(policy, offered, k=k, seed=seed)
    # A converged arena: the policy's own noise-free K-wise votes until its order is the truth
    # (and stays so for `stay` votes), as in the K-Sort experiment.
    streak = 0
    for _ in range(20000):
        battle = p.propose()
        p.observe(battle, _places_by_truth(battle, rank_old))
        streak = streak + 1 if p.order() == old else 0
        if streak >= stay:
            break
    rank_all = {m: r for r, m in enumerate(truth_all)}
    target = rank_all[newcomer]
    p.add(newcomer)
    votes, ms, t = _until(p, rng, rank_all, noise, stay, max_votes, lambda est: abs(est.index(newcomer) - target) <= 1)
    return Result("placement", policy, seed, votes, ms, t)


def _misordered(d: np.ndarray, f: np.ndarray, design: np.ndarray, lam: float) -> tuple[float, np.ndarray]:
    """Expected misordered pairs of a design (votes per pair, symmetric) and its gradient."""
    from scipy.special import ndtr

    m = len(d)
    cov = np.linalg.inv(laplacian(design * f) + lam * np.eye(m))
    s2 = pair_variances(cov)
    z = np.abs(d) / np.sqrt(s2)
    expected = float(ndtr(-z[np.triu_indices(m, 1)]).sum())
    # d/d design_ab = -f_ab sum_ij dPhi(-z_ij)/d s2_ij (c_ij' C e_ab)^2, and dPhi/ds2 = phi(z) z / (2 s2)
    g = np.exp(-0.5 * z * z) * z / (2.0 * s2 * math.sqrt(2.0 * math.pi))
    np.fill_diagonal(g, 0.0)
    return expected, -f * contrast_drops(cov, g)


def bt_design_ceiling(seed: int, *, models: int = 40, spread: float = 0.6, tau: float = 0.9,
                      iterations: int = 200) -> tuple[float, float]:
    """(votes a uniform design needs, votes the best fixed design needs) in the ``bt`` arena of this
    seed, to bring the expected misordered pairs down to (1 - tau) / 2 of all pairs. The best design
    is found by exponentiated gradient over the share of votes of each pair, at the true strengths:
    a ceiling for what choosing pairs can gain, not a policy (no policy knows the truth)."""
    theta = np.array(sorted(_bt_truth(seed, models, spread)[0].values()))
    d = theta[:, None] - theta[None, :]
    f = comparison_information(theta)
    lam = 1.0 / PRIOR_SD ** 2
    iu = np.triu_indices(models, 1)
    target = (1.0 - tau) / 2.0 * len(iu[0])

    def votes_needed(share: np.ndarray) -> float:
        lo, hi = 10.0, 1e7
        for _ in range(40):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if _misordered(d, f, mid * share, lam)[0] > target else (lo, mid)
        return hi

    uniform = np.ones((models, models)) / len(iu[0])
    np.fill_diagonal(uniform, 0.0)
    n_uniform = votes_needed(uniform)
    share, n = uniform.copy(), n_uniform
    for _ in range(2):  # optimise for the budget it will need, then for the budget that turned out
        for _ in range(iterations):
            grad = _misordered(d, f, n * share, lam)[1]
            share = share * np.exp(-0.3 * grad / np.abs(grad[iu]).max())
            share = 0.5 * (share + share.T)
            np.fill_diagonal(share, 0.0)
            share /= share[iu].sum()
        n = votes_needed(share)
    return n_uniform, n


RUNNERS = {"ksort": run_ksort, "bt": run_bt, "placement": run_placement}


def run(experiment: str, policy: str, seed: int, **params) -> Result:
    return RUNNERS[experiment](policy, seed, **params)
