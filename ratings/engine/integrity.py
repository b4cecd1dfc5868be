"""Vote-integrity detectors: pure functions over vote arrays (numpy + scipy, no Django).

    from ratings.engine.integrity import VoteLog, audit
    log = VoteLog.build(voters=[...], model_a=[...], model_b=[...], winner=[...], time=..., dwell_ms=..., network=...)
    result = audit(log, exposure={"model": battles_served, ...})   # AuditResult
    result.to_dict()  # {"voters": [{"voter", "votes", "flagged", "score", "reasons", "tests"}], "models": [...]}

Each detector tests one voter (or one pooled group of voters) against an *interval* null
hypothesis: "this voter behaves like an honest voter who may lean up to a stated amount" (odds
60:40 for the left output at equal strength, a third of the crowd's agreement with the board, twice a model's served
exposure, ...). A point null (exactly the crowd) would flag every heavy voter with a mild personal
taste as soon as they have enough votes; an interval null is never rejected by volume alone, only
by behaviour beyond the allowance. Tail probabilities of sums of unequal Bernoulli trials use
the binomial with the same mean, which bounds them from above (Hoeffding 1956), so every p-value
is conservative. Multiple testing: Benjamini-Hochberg over every (voter, detector) p-value at
``q`` (default 1%), each detector's own p-value already Bonferroni-corrected across models.

Detectors (names are the ``fraud:<name>`` exclusion reasons in the live arena):
- ``position_bias``  the left (first shown) output wins far more than the board and a 60:40 lean allow;
- ``random``         agreement with the current Bradley-Terry fit below a third of the crowd's (coin flips);
- ``likelihood``     two-sided test of the votes' log-likelihood under the current fit (Min et al. 2025),
                     with a margin of 0.05 nats per vote so that only large departures count;
- ``target_concentration``  one model appears in the voter's votes far more often than matchmaking
                     served it (more than twice its exposure);
- ``outcome_bias``   one model wins (or loses) in the voter's votes far beyond the fit plus a 2:1 lean;
- ``dwell``          well over half the votes faster than all but the crowd's fastest 2%;
- ``network``        several pseudonyms behind one network hash whose pooled votes fail a test above;
- ``cohort_divergence``  a model's results among new voters differ from those among established
                     voters. Two screens per model, each Bonferroni at family-wise 2.5%: the aggregate
                     (its win share among new voters differs by more than 3 points of win rate) and the
                     sparse one (more new voters each favour or disfavour it beyond a 3:2 lean in their
                     own votes than chance allows: a Berk-Jones statistic over their discrete
                     p-values, which other new voters cannot dilute); then the new voters who drive a
                     screened model, each against a 5:4 lean (discrete BH, step-down, at 5q, at most
                     5%: the screen already established that some new voters drive the model).
The audit runs twice: after the first pass the fit and the exposure are re-estimated without the
flagged voters, so an attack that moved the board is judged against the board without it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from ratings.engine.errors import RatingDataError

A_WINS, B_WINS, TIE = 0, 1, 2

# The allowances of the interval nulls (see the module docstring), and the FDR level.
POSITION_ODDS = 1.5          # an honest voter may prefer the left output up to 60:40 (LMArena: a few points)
AGREEMENT_MIN = 1.0 / 3.0    # ... and may follow the board only a third as strongly as the crowd
LIKELIHOOD_MARGIN = 0.05     # nats per decisive vote
EXPOSURE_RATIO = 2.0         # ... and may see a model up to twice as often as it was served
FAVOUR_ODDS = 2.0            # ... and may favour (or disfavour) one model with odds up to 2:1
FAST_SHARE = 0.50            # ... and may vote faster than the crowd's 2% quantile on half their votes
FAST_QUANTILE = 0.02
COHORT_MARGIN = 0.03         # a model's win rate may differ by 3 points between new and old voters
COHORT_ALPHA = 0.05          # the per-model screens: family-wise 5% over models (Bonferroni, half each)
COHORT_LEAN_ODDS = 1.5       # the sparse screen: each new voter may favour a model with odds up to 3:2
COHORT_VOTER_ODDS = 1.25     # ... and the voters of a screened model are tested against a 5:4 lean for (against) it
COHORT_Q = 0.05              # ... at FDR five times q, at most 5% (q if larger): see ratings.engine.audit._cohort_stage
NETWORK_MIN_PSEUDONYMS = 3
DEFAULT_Q = 0.01
DETECTORS = ("position_bias", "random", "likelihood", "target_concentration", "outcome_bias", "dwell",
             "network", "cohort_divergence")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass
class VoteLog:
    """Votes with their voter, as pairwise rows: a pairwise vote is one row (``a`` the output shown
    first, left); a K-wise vote (K outputs ranked) is rank-broken into its K(K-1)/2 pairs, ``a`` the
    one shown earlier, all rows of one vote together and sharing its ``unit``. The tests count a
    K-wise vote as one unit (never as K(K-1)/2 independent votes): see the weights below."""

    models: list[str]
    voters: list[str]
    voter: np.ndarray            # (N,) int index into voters
    a: np.ndarray                # (N,) int index into models
    b: np.ndarray
    outcome: np.ndarray          # (N,) A_WINS | B_WINS | TIE (both_bad counts as a tie)
    time: np.ndarray | None = None      # (N,) seconds (any origin)
    dwell: np.ndarray | None = None     # (N,) ms from the outputs shown to the vote, nan = unknown
    network: np.ndarray | None = None   # (N,) int index into networks, -1 = unknown
    networks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unit: np.ndarray | None = None      # (N,) the vote a row belongs to (its order among all votes); None: row = vote
    size: np.ndarray | None = None      # (N,) K of the row's vote (2 for pairwise); None: all pairwise
    lead: np.ndarray | None = None      # (N,) the row pairs the vote's first-shown output (a) with another

    @classmethod
    def build(cls, *, voters=(), model_a=(), model_b=(), winner=(), time=None, dwell_ms=None, network=None,
              seq=None, rankings: dict | None = None) -> VoteLog:
        """Pairwise votes from aligned lists; K-wise votes from ``rankings``: a dict of aligned lists
        ``voters``, ``models`` (each vote's models in the order shown), ``places`` (1 = best, equal =
        tie) and optionally ``time``, ``dwell_ms``, ``network``. ``seq`` (and ``rankings["seq"]``):
        the votes' order (e.g. file rows), so that "the last votes" means the same with both kinds."""
        from ratings.engine.votes import encode_winners

        kw = _KwiseRows.expand(rankings) if rankings else _KwiseRows.empty()
        np_ = len(model_a)
        vnames, voter = np.unique(np.concatenate([np.asarray(voters, dtype=str).reshape(-1), kw.voters]),
                                  return_inverse=True)
        ma, mb = np.asarray(model_a, dtype=str).reshape(-1), np.asarray(model_b, dtype=str).reshape(-1)
        models, idx = np.unique(np.concatenate([ma, mb, kw.a, kw.b]), return_inverse=True)
        a = np.concatenate([idx[:np_], idx[2 * np_:2 * np_ + kw.a.size]])
        b = np.concatenate([idx[np_:2 * np_], idx[2 * np_ + kw.a.size:]])
        outcome = np.concatenate([encode_winners(list(winner)), kw.outcome]).astype(np.int8)
        log = cls(models=models.tolist(), voters=vnames.tolist(), voter=voter.astype(np.int64),
                  a=a.astype(np.int64), b=b.astype(np.int64), outcome=outcome)
        if kw.a.size:
            # Votes in their given order (pairwise then K-wise when no order is given).
            order = np.concatenate([np.arange(np_) if seq is None else np.asarray(seq, np.float64),
                                    (np_ + np.arange(kw.n_votes)) if kw.seq is None else kw.seq])
            rank = np.empty(order.size, np.int64)
            rank[np.argsort(order, kind="stable")] = np.arange(order.size)
            log.unit = np.concatenate([rank[:np_], rank[np_:][kw.vote]])
            log.size = np.concatenate([np.full(np_, 2, np.int64), kw.size])
            log.lead = np.concatenate([np.ones(np_, bool), kw.lead])
        elif seq is not None:
            rank = np.empty(np_, np.int64)
            rank[np.argsort(np.asarray(seq, np.float64), kind="stable")] = np.arange(np_)
            log.unit = rank

        def per_row(pair_values, kw_values, dtype):
            """A per-vote column (pairwise votes', K-wise votes') repeated on each vote's rows."""
            if pair_values is None and kw_values is None:
                return None
            fill = np.nan if dtype is np.float64 else None
            pv = np.full(np_, fill, dtype=dtype) if pair_values is None else np.asarray(pair_values, dtype=dtype)
            kv = np.full(kw.n_votes, fill, dtype=dtype) if kw_values is None else np.asarray(kw_values, dtype=dtype)
            return np.concatenate([pv.reshape(-1), kv.reshape(-1)[kw.vote]])

        log.time = per_row(time, kw.time, np.float64)  # None (a missing value): nan
        log.dwell = per_row(dwell_ms, kw.dwell, np.float64)
        net = per_row(network, kw.network, object)
        if net is not None:  # small integer codes, one name per distinct network
            codes: dict[str, int] = {}
            log.network = np.fromiter(
                (-1 if x is None or x == "" or (isinstance(x, float) and x != x) else codes.setdefault(str(x), len(codes))
                 for x in net), dtype=np.int64, count=net.size)
            log.networks = list(codes)
        return log

    @property
    def n(self) -> int:
        """Rows (pairs): a K-wise vote of K outputs is K(K-1)/2 of them."""
        return int(self.a.shape[0])

    @property
    def kwise(self) -> np.ndarray:
        """(N,) rows that come from a K-wise vote (K > 2)."""
        return np.zeros(self.n, bool) if self.size is None else self.size > 2

    @property
    def units(self) -> np.ndarray:
        return np.arange(self.n) if self.unit is None else self.unit

    @property
    def head(self) -> np.ndarray:
        """(N,) the first row of each vote (one row per vote)."""
        if self.unit is None:
            return np.ones(self.n, bool)
        return np.r_[True, self.unit[1:] != self.unit[:-1]] if self.n else np.zeros(0, bool)

    @property
    def n_votes(self) -> int:
        return int(self.head.sum())

    def w_model(self) -> np.ndarray:
        """(N,) 1/(K-1): summed over a vote's rows with one model, one per vote."""
        return np.ones(self.n) if self.size is None else 1.0 / (self.size - 1)

    def w_fit(self) -> np.ndarray:
        """(N,) 2/K: the usual rank-breaking weight of a K-wise vote's pairs in the fit."""
        return np.ones(self.n) if self.size is None else 2.0 / self.size

    def is_lead(self) -> np.ndarray:
        return np.ones(self.n, bool) if self.lead is None else self.lead

    def subset(self, mask: np.ndarray) -> VoteLog:
        """Rows by a mask that keeps or drops whole votes (e.g. a voter's)."""
        pick = lambda x: None if x is None else x[mask]  # noqa: E731
        return VoteLog(self.models, self.voters, self.voter[mask], self.a[mask], self.b[mask], self.outcome[mask],
                       pick(self.time), pick(self.dwell), pick(self.network), self.networks, list(self.notes),
                       pick(self.unit), pick(self.size), pick(self.lead))


@dataclass
class _KwiseRows:
    """K-wise votes rank-broken into rows (vectorised per K)."""

    voters: np.ndarray
    a: np.ndarray
    b: np.ndarray
    outcome: np.ndarray
    vote: np.ndarray       # (R,) index of the K-wise vote each row comes from
    size: np.ndarray
    lead: np.ndarray
    n_votes: int = 0
    seq: np.ndarray | None = None
    time: list | None = None
    dwell: list | None = None
    network: list | None = None

    @classmethod
    def empty(cls) -> _KwiseRows:
        z = np.zeros(0, np.int64)
        return cls(np.zeros(0, str), np.zeros(0, str), np.zeros(0, str), np.zeros(0, np.int8), z, z, np.zeros(0, bool))

    @classmethod
    def expand(cls, r: dict) -> _KwiseRows:
        models, places, voters = list(r["models"]), list(r["places"]), list(r["voters"])
        nk = len(models)
        if not (len(places) == len(voters) == nk):
            raise RatingDataError("K-wise votes: voters, models and places must be aligned lists")
        ks = np.array([len(m) for m in models], np.int64)
        for j, (m, p) in enumerate(zip(models, places)):
            if len(m) != len(p) or len(m) < 2 or len(set(m)) != len(m):
                raise RatingDataError(f"K-wise vote {j + 1}: models and places must be lists of the same length >= 2, "
                                      "each model once")
        parts: list[tuple] = []
        for k in np.unique(ks).tolist():
            rows = np.flatnonzero(ks == k)
            items = np.array([models[j] for j in rows], dtype=str).reshape(len(rows), k)
            pl = np.array([places[j] for j in rows], dtype=np.float64).reshape(len(rows), k)
            x, y = np.triu_indices(k, 1)
            px, py = pl[:, x], pl[:, y]
            out = np.where(px == py, TIE, np.where(px < py, A_WINS, B_WINS)).astype(np.int8)
            parts.append((np.repeat(rows, len(x)), items[:, x].ravel(), items[:, y].ravel(), out.ravel(),
                          np.tile(x == 0, len(rows)), np.full(len(rows) * len(x), k)))
        vote = np.concatenate([p[0] for p in parts])
        order = np.argsort(vote, kind="stable")  # each vote's rows together, votes in their given order
        cat = lambda i: np.concatenate([p[i] for p in parts])[order]  # noqa: E731
        vnames = np.asarray(voters, dtype=str)
        return cls(voters=vnames[vote[order]], a=cat(1), b=cat(2), outcome=cat(3), vote=vote[order], size=cat(5),
                   lead=cat(4), n_votes=nk, seq=None if r.get("seq") is None else np.asarray(r["seq"], np.float64),
                   time=r.get("time"), dwell=r.get("dwell_ms"), network=r.get("network"))


@dataclass
class Reference:
    """The current Bradley-Terry fit: strengths (natural log odds) and the left-position advantage."""

    theta: np.ndarray
    beta: float = 0.0


def fit_reference(log: VoteLog, mask: np.ndarray | None = None, iters: int = 50) -> Reference:
    """Bradley-Terry with a left-position term (ties half a win), by Newton on the aggregated
    (left, right) cells; a K-wise vote's pairs weigh 2/K each (rank-breaking; ``a`` shown earlier).
    One virtual tie per model against the mean keeps it finite."""
    m = len(log.models)
    sel = np.ones(log.n, bool) if mask is None else mask
    a, b, o, fw = log.a[sel], log.b[sel], log.outcome[sel], log.w_fit()[sel]
    s = np.where(o == A_WINS, 1.0, np.where(o == B_WINS, 0.0, 0.5))
    cell = a * m + b
    n_ab = np.bincount(cell, weights=fw, minlength=m * m).reshape(m, m)
    s_ab = np.bincount(cell, weights=s * fw, minlength=m * m).reshape(m, m)
    i, j = np.nonzero(n_ab)
    n, w = n_ab[i, j], s_ab[i, j]
    x = np.zeros(m + 1)  # theta..., beta
    for _ in range(iters):
        theta, beta = x[:m], x[m]
        p = _sigmoid(theta[i] - theta[j] + beta)
        r = w - n * p
        grad = np.zeros(m + 1)
        np.add.at(grad, i, r)
        np.add.at(grad, j, -r)
        grad[m] = r.sum()
        grad[:m] += 0.5 - _sigmoid(theta) - 0.0  # the virtual tie: d/dθ [0.5 log σ(θ) + 0.5 log σ(-θ)]
        h = n * p * (1 - p)
        hess = np.zeros((m + 1, m + 1))
        np.add.at(hess, (i, i), h)
        np.add.at(hess, (j, j), h)
        np.add.at(hess, (i, j), -h)
        np.add.at(hess, (j, i), -h)
        hess[m, m] = h.sum() + 1e-9
        np.add.at(hess[m, :m], i, h)
        np.add.at(hess[m, :m], j, -h)
        hess[:m, m] = hess[m, :m]
        hess[np.arange(m), np.arange(m)] += _sigmoid(theta) * (1 - _sigmoid(theta)) + 1e-9
        step = np.linalg.solve(hess, grad)
        x += step
        if np.max(np.abs(step)) < 1e-9:
            break
    theta = x[:m] - x[:m].mean()
    return Reference(theta=theta, beta=float(x[m]))


# ---------------------------------------------------------------------------------------------
# Group tests: each returns (p-values, statistics) per group; a group is a voter or a network.
#
# A group's trials are its votes. A pairwise vote is one Bernoulli trial; a K-wise vote's pairs are
# not independent, so a K-wise vote is one trial whose value is the share of its pairs (with the
# model, or informative ones) that go the tested way: a number in [0, 1]. Sums of independent
# [0, 1] trials have the Chernoff-Hoeffding tail exp(-n KL(mean || expected mean)) (Hoeffding 1963,
# Theorem 1), used for groups with K-wise votes; purely pairwise groups keep the binomial bound.


def _kl(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    x, p = np.clip(x, 0.0, 1.0), np.clip(p, 1e-12, 1 - 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = np.where(x > 0, x * np.log(np.maximum(x, 1e-300) / p), 0.0)
        t2 = np.where(x < 1, (1 - x) * np.log(np.maximum(1 - x, 1e-300) / (1 - p)), 0.0)
    return t1 + t2


def _chernoff(k: np.ndarray, n: np.ndarray, p: np.ndarray, upper: bool) -> np.ndarray:
    x = np.divide(k, n, out=np.array(p, dtype=float, copy=True), where=n > 0)
    beyond = (x > p) if upper else (x < p)
    return np.where(beyond & (n > 0), np.exp(-n * _kl(x, p)), 1.0)


def _upper(k: np.ndarray, n: np.ndarray, p: np.ndarray, exact: np.ndarray | None = None) -> np.ndarray:
    """P(X >= k) for X ~ Binomial(n, p): an upper bound for a sum of Bernoulli trials of mean p;
    where ``exact`` is False (groups with K-wise votes), the Chernoff bound for [0, 1] trials."""
    out = np.ones_like(p, dtype=float)
    ex = np.ones(np.shape(p), bool) if exact is None else np.broadcast_to(exact, np.shape(p))
    ok = (n > 0) & (k > 0) & ex
    out[ok] = stats.binom.sf(np.round(k[ok]) - 1, np.round(n[ok]), np.clip(p[ok], 1e-12, 1 - 1e-12))
    if not ex.all():
        out[~ex] = _chernoff(k[~ex], n[~ex], p[~ex], upper=True)
    return out


def _lower(k: np.ndarray, n: np.ndarray, p: np.ndarray, exact: np.ndarray | None = None) -> np.ndarray:
    out = np.ones_like(p, dtype=float)
    ex = np.ones(np.shape(p), bool) if exact is None else np.broadcast_to(exact, np.shape(p))
    ok = (n > 0) & ex
    out[ok] = stats.binom.cdf(np.round(k[ok]), np.round(n[ok]), np.clip(p[ok], 1e-12, 1 - 1e-12))
    if not ex.all():
        out[~ex] = _chernoff(k[~ex], n[~ex], p[~ex], upper=False)
    return out


def _refine_upper(pval: np.ndarray, g: np.ndarray, probs: np.ndarray, k: np.ndarray, below: float = 0.05,
                  exact: np.ndarray | None = None) -> np.ndarray:
    """Replace the binomial bound by the exact Poisson-binomial tail for groups where it is small:
    each vote's own probability, not their mean, so e.g. a left output that wins although it is
    much the weaker model counts for more. Only for groups of Bernoulli trials (``exact``)."""
    out = pval.copy()
    cand = np.flatnonzero((pval < below) & (True if exact is None else exact))
    if cand.size == 0:
        return out
    order = np.argsort(g, kind="stable")
    starts = np.searchsorted(g[order], cand)
    ends = np.searchsorted(g[order], cand, side="right")
    for c, s0, e0 in zip(cand, starts, ends):
        if e0 - s0 <= 5000:
            tail = pb_tail(probs[order[s0:e0]])  # exact, O(n^2): only where the bound already says "small"
            kc = int(round(k[c]))
            out[c] = min(out[c], float(tail[kc]) if kc < tail.size else 0.0)
    return out


def _sums(g: np.ndarray, ng: int, values: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(g, weights=values, minlength=ng).astype(float)


def _pairwise_only(log: VoteLog, g: np.ndarray, ng: int) -> np.ndarray:
    """(ng,) groups without K-wise votes: their trials are Bernoulli (binomial tails apply)."""
    return _sums(g, ng, log.kwise.astype(float)) == 0


def _per_unit(log: VoteLog, rows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum ``values`` of the selected rows over their votes: (first row of each vote, sums)."""
    u = log.units[rows]
    uniq, first, inv = np.unique(u, return_index=True, return_inverse=True)
    return rows[first], np.bincount(inv, weights=values, minlength=uniq.size)


def test_position(log: VoteLog, ref: Reference, g: np.ndarray, ng: int):
    """The first-shown output wins: a pairwise vote for the left output, a K-wise vote that ranks
    the first-shown output alone on top. Null: a 60:40 lean towards it, i.e. its strength times
    POSITION_ODDS in the Plackett-Luce top choice among the vote's outputs (the logistic for two)."""
    rows = np.flatnonzero(log.is_lead())
    o = log.outcome[rows]
    heads, lost = _per_unit(log, rows, (o == B_WINS).astype(float))
    _, tied = _per_unit(log, rows, (o == TIE).astype(float))
    _, others = _per_unit(log, rows, np.exp(ref.theta[log.b[rows]]))
    first = log.a[heads]
    strong = POSITION_ODDS * np.exp(ref.theta[first])
    p_top = strong / (strong + others)
    dec = (lost > 0) | (tied == 0)        # a tie on top with the first-shown output says nothing
    won = (lost == 0) & (tied == 0)
    gu = g[heads][dec]
    n = _sums(gu, ng)
    k = _sums(gu, ng, won[dec].astype(float))
    pbar = np.divide(_sums(gu, ng, p_top[dec]), n, out=np.full(ng, 0.5), where=n > 0)
    pval = _refine_upper(_upper(k, n, pbar), gu, p_top[dec], k)
    return pval, {"decisive": n, "left_wins": k}


def test_random(log: VoteLog, ref: Reference, g: np.ndarray, ng: int):
    d = ref.theta[log.a] - ref.theta[log.b] + ref.beta
    use = (log.outcome != TIE) & (np.abs(d) >= 0.2)  # near coin-flip pairs say nothing about agreement
    fav = np.where(d >= 0, log.outcome == A_WINS, log.outcome == B_WINS)
    rows = np.flatnonzero(use)
    heads, count = _per_unit(log, rows, np.ones(rows.size))
    _, agreed = _per_unit(log, rows, fav[rows].astype(float))
    _, p0 = _per_unit(log, rows, _sigmoid(AGREEMENT_MIN * np.abs(d[rows])))
    gu = g[heads]
    n = _sums(gu, ng)
    k = _sums(gu, ng, agreed / count)
    pbar = np.divide(_sums(gu, ng, p0 / count), n, out=np.full(ng, 0.5), where=n > 0)
    return _lower(k, n, pbar, _pairwise_only(log, g, ng)), {"informative": n, "agreed": k}


def test_likelihood(log: VoteLog, ref: Reference, g: np.ndarray, ng: int):
    """Min et al.'s test: the votes' log-likelihood under the fit against its expectation, both
    ways (too unlike the board, or too exactly like it), beyond a margin per decisive pair. A
    K-wise vote's pairs (rank-breaking; under Plackett-Luce each pair's marginal is the fit's
    logistic, so the expectation is exact) are dependent: the variance of their sum is bounded by
    the square of the sum of their standard deviations (Cauchy-Schwarz), one unit per vote."""
    dec = log.outcome != TIE
    x = (ref.theta[log.a] - ref.theta[log.b] + ref.beta)[dec]
    p = _sigmoid(x)
    y = log.outcome[dec] == A_WINS
    ll = np.where(y, np.log(p + 1e-300), np.log(1 - p + 1e-300))
    e = p * np.log(p + 1e-300) + (1 - p) * np.log(1 - p + 1e-300)
    v = p * (1 - p) * x * x
    rows = np.flatnonzero(dec)
    gd = g[dec]
    if log.unit is not None and log.kwise.any():
        heads, sd = _per_unit(log, rows, np.sqrt(v))
        var = _sums(g[heads], ng, sd * sd)
    else:
        var = _sums(gd, ng, v)
    n, t, mu = _sums(gd, ng), _sums(gd, ng, ll), _sums(gd, ng, e)
    excess = np.abs(t - mu) - LIKELIHOOD_MARGIN * n
    z = np.divide(excess, np.sqrt(var), out=np.zeros(ng), where=var > 0)
    pval = np.where(excess > 0, np.minimum(1.0, 2 * stats.norm.sf(z)), 1.0)
    return pval, {"loglik_per_vote": np.divide(t - mu, n, out=np.zeros(ng), where=n > 0)}


def _model_counts(log: VoteLog, g: np.ndarray, ng: int, values_a=None, values_b=None, sel=None) -> np.ndarray:
    m = len(log.models)
    sel = np.ones(log.n, bool) if sel is None else sel
    out = np.bincount(g[sel] * m + log.a[sel], weights=None if values_a is None else values_a[sel], minlength=ng * m)
    out = out + np.bincount(g[sel] * m + log.b[sel], weights=None if values_b is None else values_b[sel], minlength=ng * m)
    return out.reshape(ng, m).astype(float)


def test_concentration(log: VoteLog, exposure: np.ndarray, g: np.ndarray, ng: int):
    """exposure[m] = model m's share of the outputs served (slots), so a battle of K outputs holds
    m with probability about K * exposure[m]; a K-wise vote counts once for each of its K models."""
    w = log.w_model()
    counts = np.round(_model_counts(log, g, ng, w, w))
    head = log.head
    n = _sums(g[head], ng)
    sizes = np.full(int(head.sum()), 2.0) if log.size is None else log.size[head].astype(float)
    kbar = np.divide(_sums(g[head], ng, sizes), n, out=np.full(ng, 2.0), where=n > 0)
    q = np.minimum(1.0, EXPOSURE_RATIO * kbar[:, None] * exposure[None, :])
    pm = np.ones_like(counts)
    ok = (counts > 0) & (q < 1)
    nn = np.broadcast_to(n[:, None], counts.shape)
    pm[ok] = stats.binom.sf(counts[ok] - 1, nn[ok], q[ok])
    best = np.argmin(pm, axis=1)
    r = np.arange(ng)
    pval = np.minimum(1.0, pm[r, best] * len(log.models))
    share = np.divide(counts[r, best], n, out=np.zeros(ng), where=n > 0)
    return pval, {"model": best, "share": share, "served_share": np.minimum(1.0, kbar * exposure[best])}


def _favour(log: VoteLog, ref: Reference, g: np.ndarray, ng: int, lean: float):
    """Per (group, model): the votes with the model (trials: a decisive pairwise vote, or any
    K-wise vote with it), its wins (a K-wise vote: the share of the others it beat), and the
    expected wins under a lean of `lean` log-odds for (+) or against (-) it."""
    dec = log.outcome != TIE
    w = log.w_model()
    trial = np.where(log.kwise, w, dec.astype(float))
    d = ref.theta[log.a] - ref.theta[log.b] + ref.beta
    win_a, win_b = (log.outcome == A_WINS) * w, (log.outcome == B_WINS) * w
    n = _model_counts(log, g, ng, trial, trial)
    wins = _model_counts(log, g, ng, win_a, win_b, sel=dec)
    exp = _model_counts(log, g, ng, w * _sigmoid(d + lean), w * _sigmoid(-d + lean), sel=dec)
    return n, wins, exp


def test_outcome(log: VoteLog, ref: Reference, g: np.ndarray, ng: int):
    lean = math.log(FAVOUR_ODDS)
    n, wins, hi = _favour(log, ref, g, ng, lean)
    _, _, lo = _favour(log, ref, g, ng, -lean)
    exact = _pairwise_only(log, g, ng)[:, None]
    p_hi = _upper(wins, n, np.divide(hi, n, out=np.full_like(n, 0.5), where=n > 0), exact)
    p_lo = _lower(wins, n, np.divide(lo, n, out=np.full_like(n, 0.5), where=n > 0), exact)
    pm = np.minimum(p_hi, p_lo)
    best = np.argmin(pm, axis=1)
    r = np.arange(ng)
    pval = np.minimum(1.0, pm[r, best] * 2 * len(log.models))
    return pval, {"model": best, "wins": wins[r, best], "decisive": n[r, best], "boost": p_hi[r, best] <= p_lo[r, best]}


def test_dwell(log: VoteLog, g: np.ndarray, ng: int):
    if log.dwell is None or not np.isfinite(log.dwell).any():
        return np.ones(ng), {}
    known = np.isfinite(log.dwell) & log.head  # one per vote
    floor = float(np.quantile(log.dwell[known], FAST_QUANTILE))
    n = _sums(g[known], ng)
    k = _sums(g[known], ng, (log.dwell[known] < floor).astype(float))
    return _upper(k, n, np.full(ng, FAST_SHARE)), {"fast": k, "timed": n, "floor_ms": floor}


def bh(p: np.ndarray, q: float) -> np.ndarray:
    """Benjamini-Hochberg: which hypotheses are rejected at FDR q; and the adjusted p-values."""
    p = np.asarray(p, float)
    m = p.size
    if m == 0:
        return np.zeros(0, bool)
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def pb_tail(probs: np.ndarray) -> np.ndarray:
    """(n + 1,) P(S >= k) for k = 0..n, S a sum of independent Bernoulli(probs) (Poisson-binomial)."""
    dist = np.zeros(len(probs) + 1)
    dist[0] = 1.0
    for j, p in enumerate(probs):
        dist[1:j + 2] = dist[1:j + 2] * (1 - p) + dist[:j + 1] * p
        dist[0] *= 1 - p
    return np.minimum(1.0, np.cumsum(dist[::-1])[::-1])


def discrete_bh(p: np.ndarray, support: list[np.ndarray | None], q: float) -> np.ndarray:
    """Benjamini-Hochberg for discrete tests, step-down with the critical values of Döhler, Durand
    and Roquain (2018, [HSD]): each test j has the attainable p-values ``support[j]`` (None: a
    continuous or conservatively bounded test, F_j(t) = t), F_j(t) the largest of them at or below
    t (the chance, under the null, of reaching p <= t), and the i-th smallest p-value is rejected
    (with all smaller) while sum_j F_j(p_(i)) / (1 - F_j(p_(i))) <= q i. A voter with three votes
    then weighs what three votes can weigh instead of a full test (Tarone's screen, Gilbert 2005,
    would keep or drop it whole). Returns step-down adjusted p-values."""
    p = np.asarray(p, float)
    m = p.size
    if m == 0:
        return np.ones(0)
    cont = sum(1 for s in support if s is None)
    vals, incs = [], []
    for s in support:
        if s is None:
            continue
        v = np.unique(np.clip(np.asarray(s, float), 0.0, 1.0))
        g = np.where(v < 1.0, v / np.maximum(1.0 - v, 1e-300), np.inf)
        vals.append(v)
        incs.append(np.diff(np.r_[0.0, g]))
    if vals:
        v = np.concatenate(vals)
        inc = np.concatenate(incs)
        order = np.argsort(v, kind="stable")
        v, cum = v[order], np.r_[0.0, np.cumsum(inc[order])]
    order = np.argsort(p, kind="stable")
    t = p[order]
    xi = np.zeros(m)
    if cont:
        xi = xi + cont * np.where(t < 1.0, t / np.maximum(1.0 - t, 1e-300), np.inf)
    if vals:
        xi = xi + cum[np.searchsorted(v, t, side="right")]
    adj = np.maximum.accumulate(xi / np.arange(1, m + 1))
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out
