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
                     voters by more than 3 points of win rate (a screen per model, Bonferroni at
                     family-wise 5%); then the new voters who drive it (Tarone-screened BH at q).
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
COHORT_ALPHA = 0.05          # the per-model screen: family-wise 5% across models (Bonferroni); then BH on voters
NETWORK_MIN_PSEUDONYMS = 3
DEFAULT_Q = 0.01
DETECTORS = ("position_bias", "random", "likelihood", "target_concentration", "outcome_bias", "dwell",
             "network", "cohort_divergence")


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass
class VoteLog:
    """Pairwise votes with their voter; ``a`` is the output shown first (left)."""

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

    @classmethod
    def build(cls, *, voters, model_a, model_b, winner, time=None, dwell_ms=None, network=None) -> VoteLog:
        from ratings.engine.votes import encode_winners

        vnames, voter = np.unique(np.asarray(voters, dtype=str), return_inverse=True)
        ma, mb = np.asarray(model_a, dtype=str), np.asarray(model_b, dtype=str)
        models, idx = np.unique(np.concatenate([ma, mb]), return_inverse=True)
        n = len(ma)
        log = cls(models=models.tolist(), voters=vnames.tolist(), voter=voter.astype(np.int64),
                  a=idx[:n].astype(np.int64), b=idx[n:].astype(np.int64), outcome=encode_winners(list(winner)))
        if time is not None:
            log.time = np.asarray(time, dtype=np.float64)
        if dwell_ms is not None:
            log.dwell = np.asarray(dwell_ms, dtype=np.float64)
        if network is not None:
            net = np.asarray([("" if x is None else str(x)) for x in network], dtype=str)
            names, inv = np.unique(net, return_inverse=True)
            log.networks = names.tolist()
            log.network = np.where(net == "", -1, inv).astype(np.int64)
        return log

    @property
    def n(self) -> int:
        return int(self.a.shape[0])

    def subset(self, mask: np.ndarray) -> VoteLog:
        pick = lambda x: None if x is None else x[mask]  # noqa: E731
        return VoteLog(self.models, self.voters, self.voter[mask], self.a[mask], self.b[mask], self.outcome[mask],
                       pick(self.time), pick(self.dwell), pick(self.network), self.networks, list(self.notes))


@dataclass
class Reference:
    """The current Bradley-Terry fit: strengths (natural log odds) and the left-position advantage."""

    theta: np.ndarray
    beta: float = 0.0


def fit_reference(log: VoteLog, mask: np.ndarray | None = None, iters: int = 50) -> Reference:
    """Bradley-Terry with a left-position term (ties half a win), by Newton on the aggregated
    (left, right) cells. One virtual tie per model against the mean keeps it finite."""
    m = len(log.models)
    sel = np.ones(log.n, bool) if mask is None else mask
    a, b, o = log.a[sel], log.b[sel], log.outcome[sel]
    s = np.where(o == A_WINS, 1.0, np.where(o == B_WINS, 0.0, 0.5))
    cell = a * m + b
    n_ab = np.bincount(cell, minlength=m * m).reshape(m, m)
    s_ab = np.bincount(cell, weights=s, minlength=m * m).reshape(m, m)
    i, j = np.nonzero(n_ab)
    n, w = n_ab[i, j].astype(float), s_ab[i, j]
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


def _upper(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    """P(X >= k) for X ~ Binomial(n, p): an upper bound for a sum of Bernoulli trials of mean p."""
    out = np.ones_like(p, dtype=float)
    ok = (n > 0) & (k > 0)
    out[ok] = stats.binom.sf(k[ok] - 1, n[ok], np.clip(p[ok], 1e-12, 1 - 1e-12))
    return out


def _pb_sf(probs: np.ndarray, k: int) -> float:
    """Exact P(S >= k) for S a sum of independent Bernoulli(probs) (Poisson-binomial), by dynamic
    programming; O(n^2), so used only where the binomial bound already says "small"."""
    dist = np.zeros(len(probs) + 2)
    dist[0] = 1.0
    for j, p in enumerate(probs):
        dist[1:j + 2] = dist[1:j + 2] * (1 - p) + dist[:j + 1] * p
        dist[0] *= 1 - p
    return float(min(1.0, dist[k:].sum()))


def _refine_upper(pval: np.ndarray, g: np.ndarray, probs: np.ndarray, k: np.ndarray, below: float = 0.05) -> np.ndarray:
    """Replace the binomial bound by the exact Poisson-binomial tail for groups where it is small:
    each vote's own probability, not their mean, so e.g. a left output that wins although it is
    much the weaker model counts for more."""
    out = pval.copy()
    cand = np.flatnonzero(pval < below)
    if cand.size == 0:
        return out
    order = np.argsort(g, kind="stable")
    starts = np.searchsorted(g[order], cand)
    ends = np.searchsorted(g[order], cand, side="right")
    for c, s0, e0 in zip(cand, starts, ends):
        if e0 - s0 <= 5000:
            out[c] = min(out[c], _pb_sf(probs[order[s0:e0]], int(k[c])))
    return out


def _lower(k: np.ndarray, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    out = np.ones_like(p, dtype=float)
    ok = n > 0
    out[ok] = stats.binom.cdf(k[ok], n[ok], np.clip(p[ok], 1e-12, 1 - 1e-12))
    return out


def _sums(g: np.ndarray, ng: int, values: np.ndarray | None = None) -> np.ndarray:
    return np.bincount(g, weights=values, minlength=ng).astype(float)


def test_position(log: VoteLog, ref: Reference, g: np.ndarray, ng: int):
    dec = log.outcome != TIE
    d = ref.theta[log.a] - ref.theta[log.b]
    n = _sums(g[dec], ng)
    k = _sums(g[dec], ng, (log.outcome[dec] == A_WINS).astype(float))
    p0 = _sums(g[dec], ng, _sigmoid(d[dec] + math.log(POSITION_ODDS)))
    pbar = np.divide(p0, n, out=np.full(ng, 0.5), where=n > 0)
    pval = _refine_upper(_upper(k, n, pbar), g[dec], _sigmoid(d[dec] + math.log(POSITION_ODDS)), k)
    return pval, {"decisive": n, "left_wins": k}


def test_random(log: VoteLog, ref: Reference, g: np.ndarray, ng: int):
    d = ref.theta[log.a] - ref.theta[log.b] + ref.beta
    use = (log.outcome != TIE) & (np.abs(d) >= 0.2)  # near coin-flip pairs say nothing about agreement
    fav = np.where(d >= 0, log.outcome == A_WINS, log.outcome == B_WINS)
    n = _sums(g[use], ng)
    k = _sums(g[use], ng, fav[use].astype(float))
    p0 = _sums(g[use], ng, _sigmoid(AGREEMENT_MIN * np.abs(d[use])))
    pbar = np.divide(p0, n, out=np.full(ng, 0.5), where=n > 0)
    return _lower(k, n, pbar), {"informative": n, "agreed": k}


def test_likelihood(log: VoteLog, ref: Reference, g: np.ndarray, ng: int):
    """Min et al.'s test: the votes' log-likelihood under the fit against its expectation, both
    ways (too unlike the board, or too exactly like it), beyond a margin per vote."""
    dec = log.outcome != TIE
    x = (ref.theta[log.a] - ref.theta[log.b] + ref.beta)[dec]
    p = _sigmoid(x)
    y = log.outcome[dec] == A_WINS
    ll = np.where(y, np.log(p + 1e-300), np.log(1 - p + 1e-300))
    e = p * np.log(p + 1e-300) + (1 - p) * np.log(1 - p + 1e-300)
    v = p * (1 - p) * x * x
    gd = g[dec]
    n, t, mu, var = _sums(gd, ng), _sums(gd, ng, ll), _sums(gd, ng, e), _sums(gd, ng, v)
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
    """exposure[m] = share of served battles that included m (per-battle inclusion probability)."""
    counts = _model_counts(log, g, ng)
    n = _sums(g, ng)
    q = np.minimum(1.0, EXPOSURE_RATIO * exposure)[None, :]
    pm = np.ones_like(counts)
    ok = (counts > 0) & (q < 1)
    nn = np.broadcast_to(n[:, None], counts.shape)
    pm[ok] = stats.binom.sf(counts[ok] - 1, nn[ok], np.broadcast_to(q, counts.shape)[ok])
    best = np.argmin(pm, axis=1)
    pval = np.minimum(1.0, pm[np.arange(ng), best] * len(log.models))
    share = np.divide(counts[np.arange(ng), best], n, out=np.zeros(ng), where=n > 0)
    return pval, {"model": best, "share": share, "served_share": exposure[best]}


def _favour(log: VoteLog, ref: Reference, g: np.ndarray, ng: int, lean: float):
    """Per (group, model): decisive votes with the model, its wins, and the expected wins under a
    lean of `lean` log-odds for (+) or against (-) it."""
    dec = log.outcome != TIE
    d = ref.theta[log.a] - ref.theta[log.b] + ref.beta
    win_a, win_b = (log.outcome == A_WINS).astype(float), (log.outcome == B_WINS).astype(float)
    n = _model_counts(log, g, ng, sel=dec)
    wins = _model_counts(log, g, ng, win_a, win_b, sel=dec)
    exp = _model_counts(log, g, ng, _sigmoid(d + lean), _sigmoid(-d + lean), sel=dec)
    return n, wins, exp


def test_outcome(log: VoteLog, ref: Reference, g: np.ndarray, ng: int):
    lean = math.log(FAVOUR_ODDS)
    n, wins, hi = _favour(log, ref, g, ng, lean)
    _, _, lo = _favour(log, ref, g, ng, -lean)
    p_hi = _upper(wins, n, np.divide(hi, n, out=np.full_like(n, 0.5), where=n > 0))
    p_lo = _lower(wins, n, np.divide(lo, n, out=np.full_like(n, 0.5), where=n > 0))
    pm = np.minimum(p_hi, p_lo)
    best = np.argmin(pm, axis=1)
    r = np.arange(ng)
    pval = np.minimum(1.0, pm[r, best] * 2 * len(log.models))
    return pval, {"model": best, "wins": wins[r, best], "decisive": n[r, best], "boost": p_hi[r, best] <= p_lo[r, best]}


def test_dwell(log: VoteLog, g: np.ndarray, ng: int):
    if log.dwell is None or not np.isfinite(log.dwell).any():
        return np.ones(ng), {}
    known = np.isfinite(log.dwell)
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


def tarone_bh(p: np.ndarray, pmin: np.ndarray, q: float) -> np.ndarray:
    """Benjamini-Hochberg for discrete tests with Tarone's screen (Gilbert 2005): a hypothesis whose
    smallest attainable p-value (e.g. a voter with two votes) could never be rejected is left out
    of the count, found as the least K with at most K hypotheses attaining q/K. Returns adjusted
    p-values (1 for those left out)."""
    p, pmin = np.asarray(p, float), np.asarray(pmin, float)
    m = p.size
    if m == 0:
        return np.ones(0)
    srt = np.sort(pmin)
    ks = np.arange(1, m + 1)
    # R(K) = #{pmin <= q/K}, non-increasing in K; the least K with R(K) <= K.
    r = np.searchsorted(srt, q / ks, side="right")
    k = int(ks[np.argmax(r <= ks)]) if np.any(r <= ks) else m
    keep = pmin <= q / k
    out = np.ones(m)
    out[keep] = bh(p[keep], q)
    return out
