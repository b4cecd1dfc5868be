"""Matchmaking policies: which models meet in the next blind battle. Pure Python + numpy, no Django.

    from ratings.engine.matchmaking import make_policy
    p = make_policy("active", models, k=4, seed=0)   # "uniform" | "ksort-ucb" | "active" (default)
    p.propose()                  # k distinct models for the next blind battle
    p.observe(models, ranking)   # the vote: places, 1 = best, ties allowed (pairwise: k = 2)
    p.order()                    # current estimate of the order, best first
    p.add(model); p.remove(model)

The arena (arena.services.matchmaking), the simulator (ratings.engine.simulate) and anyone offline
use this one interface.

- ``uniform``: every k-set of the available models equally likely; ``order()`` is the same estimator
  as ``active``'s (the Bradley-Terry MAP below with its transitivity pass), so that the two differ
  only in which models meet.
- ``ksort-ucb``: K-Sort Arena's rule (Li et al., 2024): the least-compared model is the pivot; its
  k-1 opponents maximise closeness of skill plus the exploration bonus sqrt(ln n / n_iq);
  Bayesian Thurstone-Mosteller skills (ratings.engine.bayes.BayesRater); order by mu - 3 sigma.
- ``active`` (ours): a Bradley-Terry / Plackett-Luce posterior (rank-broken votes, Gaussian prior
  of standard deviation 2 on the logit scale, Laplace covariance, refreshed by a Newton step per
  vote) and a choice by expected information about the order: for every pair of models, how much
  one more comparison of a and b would shrink the uncertainty of every pairwise order that is
  still in doubt. A pair (i, j) is in doubt by phi(z_ij), z_ij = |Thompson draw of theta_i -
  theta_j| / s_ij, s_ij = sd(theta_i - theta_j); a comparison of (a, b) adds Fisher information p(1-p) along
  e_a - e_b, which lowers var(theta_i - theta_j) by p(1-p) ((S(e_a - e_b))_i - (...)_j)^2 /
  (1 + p(1-p) s_ab^2). Summed over all (i, j) with weights phi(z_ij)/s_ij (phi times the drop of s_ij) this is a quadratic
  form (e_a - e_b)' S L S (e_a - e_b) with L the Laplacian of the weights: every pair scored in
  one O(M^3) step. The best pair starts the battle; a K-wise battle adds, one at a time, the model
  with the most information against those already in. A new model (no votes yet) has a wide
  posterior and is therefore drawn against opponents near its current estimate: binary search.
  Its ``order()`` (shared with ``uniform``) is the MAP order, with adjacent models swapped where their
  head-to-head record contradicts it (transitivity of the vote graph: a noise-free arena's exact
  order needs it).

Guard rails, for every policy (keyword arguments of make_policy):
- ``floor`` f in [0, 1]: with probability f the battle is a uniform draw, so every available model
  appears in at least f times its uniform share of battles (no model starved, exploration never
  stops);
- ``cap`` c >= 1: a model whose recent share of battles (exponentially weighted over the last
  ~10 M/k battles) is above c times the uniform share sits out the informed draws until it is
  back under;
- ``boost`` b in [0, 1]: a new model (fewer than ``placement_votes`` votes and under half the
  typical count, or a posterior variance over twice the typical one) is put in an informed draw
  with probability b, until placed (active policy);
- ``propose(k=None, among=None)`` may ask for another k or restrict to the models available right
  now (healthy, able to answer the prompt); ``probabilities(k)`` estimates each model's chance to
  be in the next battle by drawing from a copy of the state.
"""
from __future__ import annotations

import copy
import math
import random
from collections.abc import Iterable, Sequence

import numpy as np

from ratings.engine.bayes import BayesRater

POLICIES = ("active", "ksort-ucb", "uniform")
DEFAULT_POLICY = "active"
PRIOR_SD = 2.0  # prior of the skills (logit scale): small enough to keep noise-free MAPs finite
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Policy:
    """Shared roster, guard rails and share tracking; subclasses choose and estimate."""

    name = "base"

    def __init__(self, models: Sequence[str], k: int = 4, seed: int | None = 0, *, floor: float = 0.0,
                 cap: float | None = None, boost: float = 0.5, placement_votes: int = 10,
                 rng: random.Random | None = None) -> None:
        if k < 2:
            raise ValueError("a battle needs k >= 2 models")
        if not 0.0 <= floor <= 1.0:
            raise ValueError("floor must be between 0 and 1 (a fraction of the uniform share)")
        if cap is not None and cap < 1.0:
            raise ValueError("cap must be at least 1 (a multiple of the uniform share)")
        if not 0.0 <= boost <= 1.0:
            raise ValueError("boost must be between 0 and 1")
        self.k, self.floor, self.cap, self.boost, self.placement_votes = k, floor, cap, boost, placement_votes
        self.rng = rng if rng is not None else random.Random(seed)
        self.np_rng = np.random.default_rng(self.rng.getrandbits(64))
        self.names: list[str] = []
        self.index: dict[str, int] = {}
        self.available: list[bool] = []
        self.n_votes: list[int] = []  # votes each model took part in
        self._shown = np.zeros(0)      # exponentially weighted appearances
        self._battles = 0.0            # exponentially weighted battles
        self.total_votes = 0
        for m in models:
            self.add(m)

    # ---- roster ------------------------------------------------------------------------------
    def add(self, model: str) -> None:
        """A competitor joins (or comes back: what was learnt about it is kept)."""
        if model in self.index:
            self.available[self.index[model]] = True
            return
        i = len(self.names)
        self.names.append(model)
        self.index[model] = i
        self.available.append(True)
        self.n_votes.append(0)
        self._shown = np.append(self._shown, self._battles * self.k / max(1, self._n_available()))
        self._grow(i)

    def remove(self, model: str) -> None:
        """A competitor leaves (inactive, unhealthy): never proposed until added again."""
        if model in self.index:
            self.available[self.index[model]] = False

    def _n_available(self) -> int:
        return sum(self.available)

    def _grow(self, i: int) -> None:  # subclasses extend their state for a new model
        pass

    # ---- votes -------------------------------------------------------------------------------
    def observe(self, models: Sequence[str], ranking: Sequence[int], weight: float = 1.0) -> None:
        """One vote: ``ranking[i]`` is the place of ``models[i]`` (1 = best, equal = tie)."""
        self._absorb(models, ranking, weight)
        self._refresh()

    def observe_many(self, votes: Iterable[tuple]) -> None:
        """Many votes at once (a rebuild from stored votes): one refit at the end. Each item is
        (models, ranking, weight) or (models, ranking, weight, count): ``count`` equal votes whose
        weights sum to ``weight`` (an aggregated cell)."""
        for vote in votes:
            self._absorb(*vote)
        self._refresh(full=True)

    def _absorb(self, models: Sequence[str], ranking: Sequence[int], weight: float, count: int = 1) -> None:
        if len(models) < 2 or len(models) != len(ranking) or len(set(models)) != len(models):
            raise ValueError("a vote needs two or more distinct models and one place each")
        for m in models:
            if m not in self.index:
                self.add(m)
                self.remove(m)  # a model seen only in old votes is known, not proposed
            self.n_votes[self.index[m]] += count
        self.total_votes += count
        self._count([self.index[m] for m in models], [int(r) for r in ranking], float(weight), count)

    def _count(self, idx: list[int], places: list[int], weight: float, count: int) -> None:
        raise NotImplementedError

    def _refresh(self, full: bool = False) -> None:
        pass

    def order(self) -> list[str]:
        raise NotImplementedError

    # ---- proposals ---------------------------------------------------------------------------
    def propose(self, k: int | None = None, among: Iterable[str] | None = None) -> list[str]:
        """k distinct available models (restricted to ``among`` if given) for the next battle."""
        k = self.k if k is None else int(k)
        pool = [i for i, ok in enumerate(self.available) if ok]
        if among is not None:
            allowed = set(among)
            pool = [i for i in pool if self.names[i] in allowed]
        if k < 2 or len(pool) < k:
            raise ValueError(f"need {k} models, only {len(pool)} available")
        if len(pool) == k:
            chosen = list(pool)
            self.rng.shuffle(chosen)
        elif self.floor > 0 and self.rng.random() < self.floor:
            chosen = self.rng.sample(pool, k)
        else:
            open_ = self._under_cap(pool, k)
            chosen = self._choose(open_ if len(open_) >= k else pool, k)
        self._record(chosen, k, len(pool))
        return [self.names[i] for i in chosen]

    def _under_cap(self, pool: list[int], k: int) -> list[int]:
        if self.cap is None or self._battles < 1.0:
            return pool
        limit = self.cap * k / len(pool)
        share = self._shown / self._battles
        return [i for i in pool if share[i] <= limit]

    def _record(self, chosen: list[int], k: int, n_pool: int) -> None:
        decay = 1.0 - k / (10.0 * max(n_pool, k))  # a window of ~10 M/k battles: each model ~10 times
        self._shown *= decay
        self._battles = self._battles * decay + 1.0
        self._shown[chosen] += 1.0

    def _choose(self, pool: list[int], k: int) -> list[int]:
        raise NotImplementedError

    def probabilities(self, k: int | None = None, draws: int = 2000, among: Iterable[str] | None = None,
                      seed: int = 0) -> dict[str, float]:
        """Each available model's chance to be in the next battle, estimated by ``draws`` proposals
        from a copy of the state (nothing here changes)."""
        twin = copy.deepcopy(self)
        twin.rng = random.Random(seed)
        twin.np_rng = np.random.default_rng(seed)
        counts = dict.fromkeys((n for n, ok in zip(self.names, self.available) if ok), 0)
        if among is not None:
            counts = {n: 0 for n in counts if n in set(among)}
        for _ in range(draws):
            for m in twin.propose(k, among):
                counts[m] += 1
        return {m: c / draws for m, c in counts.items()}

    def describe(self) -> str:
        """The policy in words, for the public page."""
        return ""


# ---- the Bradley-Terry / Plackett-Luce posterior shared by "uniform" and "active" ---------------

def comparison_information(theta: np.ndarray) -> np.ndarray:
    """Fisher information p(1 - p) of one comparison of every pair, at strengths ``theta``."""
    p = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
    return p * (1.0 - p)


def laplacian(w: np.ndarray) -> np.ndarray:
    """The graph Laplacian sum_{i<j} w_ij (e_i - e_j)(e_i - e_j)' of symmetric pair weights."""
    lap = -w
    lap[np.diag_indices(len(w))] = 0.0
    lap[np.diag_indices(len(w))] = -lap.sum(axis=1)
    return lap


def pair_variances(cov: np.ndarray) -> np.ndarray:
    """var(theta_i - theta_j) for every pair, from the covariance of theta."""
    var = np.diag(cov)
    return np.maximum(var[:, None] + var[None, :] - 2.0 * cov, 1e-12)


def contrast_drops(cov: np.ndarray, g: np.ndarray) -> np.ndarray:
    """For every pair (a, b): sum_{i<j} g_ij (c_ij' C e_ab)^2 = e_ab' C L_g C e_ab, the g-weighted sum
    of how much information along e_ab = e_a - e_b lowers every var(theta_i - theta_j) (times the
    Sherman-Morrison factor of the comparison). One O(M^3) step for all pairs."""
    b = cov @ laplacian(g) @ cov
    db = np.diag(b)
    return db[:, None] + db[None, :] - 2.0 * b


class _Posterior:
    """MAP of theta under rank-broken votes (each pair of a ranking a BT comparison, ties half a
    win) and a N(0, PRIOR_SD^2) prior, with the Laplace covariance. Newton steps, warm started."""

    def __init__(self, prior_sd: float = PRIOR_SD) -> None:
        self.lam = 1.0 / prior_sd ** 2
        self.wins = np.zeros((0, 0))  # wins[i, j]: weight of i placed above j (ties: 1/2 each)
        self.theta = np.zeros(0)
        self.cov = np.zeros((0, 0))
        self.dirty = True

    def grow(self) -> None:
        m = len(self.theta) + 1
        w = np.zeros((m, m))
        w[: m - 1, : m - 1] = self.wins
        self.wins = w
        self.theta = np.append(self.theta, 0.0)
        self.dirty = True

    def count(self, idx: list[int], places: list[int], weight: float) -> None:
        for x in range(len(idx)):
            for y in range(x + 1, len(idx)):
                a, b = idx[x], idx[y]
                if places[x] < places[y]:
                    self.wins[a, b] += weight
                elif places[x] > places[y]:
                    self.wins[b, a] += weight
                else:
                    self.wins[a, b] += 0.5 * weight
                    self.wins[b, a] += 0.5 * weight
        self.dirty = True

    def fit(self, steps: int = 1, tol: float = 1e-8) -> None:
        if not self.dirty and steps < 50:
            return
        n = self.wins + self.wins.T
        m = len(self.theta)
        theta = self.theta
        h = np.eye(m)
        for _ in range(steps):
            d = theta[:, None] - theta[None, :]
            p = 1.0 / (1.0 + np.exp(-d))
            g = (self.wins - n * p).sum(axis=1) - self.lam * theta
            c = n * p * (1.0 - p)
            h = -c
            h[np.diag_indices(m)] = c.sum(axis=1) + self.lam
            step = np.linalg.solve(h, g)
            big = np.max(np.abs(step)) if m else 0.0
            if big > 2.0:  # damped: a far step (a new, separable vote) in a few safe strides
                step *= 2.0 / big
            theta = theta + step
            if big < tol:
                break
        self.theta = theta
        self.cov = np.linalg.inv(h) if m else h
        self.dirty = False


class Uniform(Policy):
    """Every k-set of the available models equally likely; order by the Bradley-Terry MAP (with the
    transitivity pass), the estimator ``active`` uses too."""

    name = "uniform"

    def __init__(self, *args, **kwargs) -> None:
        self.post = _Posterior()
        super().__init__(*args, **kwargs)

    def _grow(self, i: int) -> None:
        self.post.grow()

    def _count(self, idx: list[int], places: list[int], weight: float, count: int) -> None:
        self.post.count(idx, places, weight)

    def _refresh(self, full: bool = False) -> None:
        self.post.fit(steps=100 if full else 2)

    def order(self) -> list[str]:
        """The MAP order, shared by "uniform" and "active": their vote counts compare designs, not
        estimators."""
        self.post.fit(steps=2)
        theta = self.post.theta
        order = list(np.argsort(-theta, kind="stable"))
        w = self.post.wins
        # Transitivity: adjacent models whose own head-to-head record says the opposite of the
        # MAP (by more than one vote's worth) trade places; a few passes, as bubble sort would.
        for _ in range(3):
            swapped = False
            for r in range(len(order) - 1):
                a, b = order[r], order[r + 1]
                if w[b, a] - w[a, b] >= 1.0 and w[a, b] == 0.0:
                    order[r], order[r + 1] = b, a
                    swapped = True
            if not swapped:
                break
        return [self.names[i] for i in order]

    def _choose(self, pool: list[int], k: int) -> list[int]:
        return self.rng.sample(pool, k)

    def describe(self) -> str:
        return "uniform: every set of available models is equally likely"


class Active(Uniform):
    """Ours: expected information about the order (see the module docstring)."""

    name = "active"

    def _pair_scores(self, pool: list[int]) -> np.ndarray:
        """Expected information of one comparison of every pair (a, b) of the pool."""
        self.post.fit(steps=2)
        idx = np.array(pool)
        theta = self.post.theta[idx]
        cov = self.post.cov[np.ix_(idx, idx)]
        m = len(idx)
        # Thompson: one draw of the skills, so that near neighbours in doubt take turns.
        try:
            chol = np.linalg.cholesky(cov + 1e-12 * np.eye(m))
            draw = theta + chol @ self.np_rng.standard_normal(m)
        except np.linalg.LinAlgError:
            draw = theta
        s2 = pair_variances(cov)
        z = np.abs(draw[:, None] - draw[None, :]) / np.sqrt(s2)
        s = np.sqrt(s2)
        # Weight of pair (i, j) on its variance drop: phi(z)/s, i.e. (twice) the drop of its sd times
        # how much it is in doubt; pairs already settled (large z) count for nothing.
        g = _INV_SQRT_2PI * np.exp(-0.5 * z * z) / s
        q = contrast_drops(cov, g)
        f = comparison_information(theta)
        score = f * q / (1.0 + f * s2)
        np.fill_diagonal(score, -np.inf)
        return score

    def _unplaced(self, pool: list[int]) -> list[int]:
        """New models: fewer than ``placement_votes`` votes and under half the typical count, or a
        posterior variance over twice the typical one (at the start of an arena every model is new,
        and none is boosted over the others)."""
        typical = float(np.median([self.n_votes[i] for i in pool]))
        var = np.diag(self.post.cov)[pool]
        wide = 2.0 * float(np.median(var))
        return [i for x, i in enumerate(pool)
                if self.n_votes[i] < min(self.placement_votes, 0.5 * typical) or var[x] > wide]

    def _choose(self, pool: list[int], k: int) -> list[int]:
        score = self._pair_scores(pool)
        new = self._unplaced(pool)
        if new and self.boost > 0 and self.rng.random() < self.boost:
            first = pool.index(self.rng.choice(new))  # a new model is in, its opponents by information
            chosen = [first, int(np.argmax(score[first]))]
        else:
            a, b = np.unravel_index(int(np.argmax(score)), score.shape)
            chosen = [int(a), int(b)]
        total = score[chosen[0]] + score[chosen[1]]
        while len(chosen) < k:
            total[chosen] = -np.inf
            c = int(np.argmax(total))
            chosen.append(c)
            total = total + score[c]
        self.rng.shuffle(chosen)
        return [pool[x] for x in chosen]

    def describe(self) -> str:
        return ("active: models whose order is still uncertain meet more often (expected information about "
                "the ranking, from a Bradley-Terry posterior of the counted votes)")


class KSortUCB(Policy):
    """K-Sort Arena's matchmaking: pivot = least-compared model; opponents by closeness of skill
    plus the UCB bonus sqrt(ln n / n_iq); Bayesian Thurstone-Mosteller skills, order mu - 3 sigma."""

    name = "ksort-ucb"

    def __init__(self, *args, explore: float = 1.0, **kwargs) -> None:
        self.rater = BayesRater()
        self.explore = explore
        self.pair_n: dict[tuple[int, int], int] = {}
        super().__init__(*args, **kwargs)

    def _grow(self, i: int) -> None:
        self.rater._ensure(self.names[i])

    def _count(self, idx: list[int], places: list[int], weight: float, count: int) -> None:
        # An aggregated cell (count > 1, stored votes) is absorbed as count updates of its mean weight.
        for _ in range(count):
            self.rater.rate([self.names[i] for i in idx], places, weight / count)
        for x in range(len(idx)):
            for y in range(x + 1, len(idx)):
                key = (min(idx[x], idx[y]), max(idx[x], idx[y]))
                self.pair_n[key] = self.pair_n.get(key, 0) + count

    def order(self) -> list[str]:
        score = [self.rater.score(n) for n in self.names]
        return [self.names[i] for i in sorted(range(len(self.names)), key=lambda i: -score[i])]

    def _choose(self, pool: list[int], k: int) -> list[int]:
        least = min(self.n_votes[i] for i in pool)
        pivot = self.rng.choice([i for i in pool if self.n_votes[i] == least])
        mu, sigma = self.rater.mu, self.rater.sigma
        mp = mu[self.names[pivot]]
        n = max(self.n_votes[pivot], 1)
        b2 = 2.0 * self.rater.beta ** 2
        scored = []
        for q in pool:
            if q == pivot:
                continue
            c2 = b2 + sigma[self.names[pivot]] ** 2 + sigma[self.names[q]] ** 2
            dm = mp - mu[self.names[q]]
            closeness = math.sqrt(b2 / c2) * math.exp(-dm * dm / (2.0 * c2))  # TrueSkill match quality
            n_pq = self.pair_n.get((min(pivot, q), max(pivot, q)), 0)
            bonus = self.explore * math.sqrt(math.log(n + 1.0) / (n_pq + 1.0))
            scored.append((closeness + bonus, self.rng.random(), q))
        scored.sort(reverse=True)
        chosen = [pivot] + [q for _, _, q in scored[: k - 1]]
        self.rng.shuffle(chosen)
        return chosen

    def describe(self) -> str:
        return ("ksort-ucb (K-Sort Arena): the least-compared model meets the models closest in skill, "
                "with a bonus for pairs rarely compared")


_CLASSES = {"uniform": Uniform, "ksort-ucb": KSortUCB, "active": Active}


def make_policy(name: str, models: Sequence[str], k: int = 4, seed: int | None = 0, **options) -> Policy:
    """A policy by name ("uniform", "ksort-ucb", "active"); options: floor, cap, boost,
    placement_votes, rng (a random.Random, e.g. SystemRandom in the live arena)."""
    try:
        cls = _CLASSES[name]
    except KeyError:
        raise ValueError(f"unknown matchmaking policy {name!r}; choose one of {', '.join(POLICIES)}") from None
    return cls(models, k, seed, **options)
