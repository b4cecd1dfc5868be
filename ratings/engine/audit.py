"""The audit: every detector of ``ratings.engine.integrity`` over a vote log, multiple testing
controlled, in two passes (the fit and exposure re-estimated without the voters flagged first),
then the pooled stages (network clusters, new-voter cohorts). Pure numpy/scipy, no Django.

    result = audit(log, exposure={"model": battles_served}, q=0.01)
    result.flagged            # set of voter names
    result.to_dict()          # what ``python -m ratings audit`` writes
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from ratings.engine import integrity as it
from ratings.engine.integrity import A_WINS, B_WINS, TIE, Reference, VoteLog, bh, fit_reference

VOTER_TESTS = ("position_bias", "random", "likelihood", "target_concentration", "outcome_bias", "dwell")
NEW_WINDOW_S = 7 * 86400.0  # voters first seen in the data's last week are "new"
NEW_SHARE_NO_TIME = 0.10    # without times: voters whose first vote is in the last 10% of rows


@dataclass
class AuditResult:
    log: VoteLog
    q: float
    flagged_mask: np.ndarray                      # (V,) bool
    reasons: list[list[dict[str, Any]]]           # per voter: the rejected tests
    tests: list[dict[str, dict[str, Any]]]        # per voter: every test's p (and statistics)
    score: np.ndarray                             # (V,) -log10 of the smallest adjusted p
    models: list[dict[str, Any]] = field(default_factory=list)
    reference: Reference | None = None

    @property
    def flagged(self) -> set[str]:
        return {v for v, f in zip(self.log.voters, self.flagged_mask) if f}

    def vote_mask(self) -> np.ndarray:
        """(N,) True for the rows (pairwise votes, K-wise votes' pairs) of flagged voters."""
        return self.flagged_mask[self.log.voter]

    def to_dict(self) -> dict[str, Any]:
        counts = np.bincount(self.log.voter[self.log.head], minlength=len(self.log.voters))
        voters = [
            {"voter": name, "votes": int(counts[k]), "flagged": bool(self.flagged_mask[k]),
             "score": round(float(self.score[k]), 3), "reasons": self.reasons[k], "tests": self.tests[k]}
            for k, name in enumerate(self.log.voters)
        ]
        voters.sort(key=lambda r: (-r["score"], r["voter"]))
        return {"q": self.q, "votes": self.log.n_votes, "voters_flagged": int(self.flagged_mask.sum()), "voters": voters,
                "models": self.models, "notes": list(self.log.notes)}


def exposure_shares(log: VoteLog, exposure: dict[str, float] | None, mask: np.ndarray | None = None) -> np.ndarray:
    """Each model's share of the outputs served (a battle of K outputs holds a model with
    probability about K times it): from what matchmaking served (battles per model) or, without
    it, from the votes themselves (unflagged ones; a K-wise vote once per model in it)."""
    m = len(log.models)
    if exposure:
        served = np.array([float(exposure.get(name, 0.0)) for name in log.models])
        total = sum(float(v) for v in exposure.values())
        return np.clip(served / max(total, 1.0), 0.0, 1.0)
    sel = np.ones(log.n, bool) if mask is None else mask
    w = log.w_model()[sel]
    counts = np.bincount(log.a[sel], weights=w, minlength=m) + np.bincount(log.b[sel], weights=w, minlength=m)
    return counts / max(float(counts.sum()), 1.0)


def _run_voter_tests(log: VoteLog, ref: Reference, share: np.ndarray, g: np.ndarray, ng: int):
    p_pos, s_pos = it.test_position(log, ref, g, ng)
    p_rnd, s_rnd = it.test_random(log, ref, g, ng)
    p_ll, s_ll = it.test_likelihood(log, ref, g, ng)
    p_con, s_con = it.test_concentration(log, share, g, ng)
    p_out, s_out = it.test_outcome(log, ref, g, ng)
    p_dw, s_dw = it.test_dwell(log, g, ng)
    pvals = np.column_stack([p_pos, p_rnd, p_ll, p_con, p_out, p_dw])
    return pvals, (s_pos, s_rnd, s_ll, s_con, s_out, s_dw)


def _detail(log: VoteLog, name: str, k: int, st, share: np.ndarray) -> str:
    s_pos, s_rnd, s_ll, s_con, s_out, s_dw = st
    models = log.models
    if name == "position_bias":
        return f"left (first-shown) output won {int(s_pos['left_wins'][k])} of {int(s_pos['decisive'][k])} decisive votes"
    if name == "random":
        return f"agreed with the board on {_num(s_rnd['agreed'][k])} of {int(s_rnd['informative'][k])} informative votes"
    if name == "likelihood":
        return f"log-likelihood {s_ll['loglik_per_vote'][k]:+.3f} nats per vote against its expectation"
    if name == "target_concentration":
        m = int(s_con["model"][k])
        return (f"{models[m]} in {100 * s_con['share'][k]:.0f}% of votes (served in {100 * s_con['served_share'][k]:.1f}% "
                f"of battles)")
    if name == "outcome_bias":
        m = int(s_out["model"][k])
        verb = "won" if s_out["boost"][k] else "lost"
        won = s_out["wins"][k] if s_out["boost"][k] else s_out["decisive"][k] - s_out["wins"][k]
        return f"{models[m]} {verb} {_num(won)} of {_num(s_out['decisive'][k])} decisive votes"
    if name == "dwell":
        return f"{int(s_dw['fast'][k])} of {int(s_dw['timed'][k])} votes faster than {s_dw['floor_ms']:.0f} ms"
    return ""


def _num(x: float) -> str:
    """A count; a K-wise vote counts the share of its comparisons, so it may be fractional."""
    return f"{x:.0f}" if abs(x - round(x)) < 1e-6 else f"{x:.1f}"


def audit(log: VoteLog, *, exposure: dict[str, float] | None = None, q: float = it.DEFAULT_Q,
          reference: Reference | None = None, passes: int = 2) -> AuditResult:
    if log.n == 0:
        from ratings.engine.errors import RatingDataError

        raise RatingDataError("no votes to audit")
    nv = len(log.voters)
    flagged = np.zeros(nv, bool)
    ref = reference
    for _ in range(passes):
        keep = ~flagged[log.voter]
        if reference is None or flagged.any():
            ref = fit_reference(log, keep)
        share = exposure_shares(log, exposure, keep)
        pvals, st = _run_voter_tests(log, ref, share, log.voter, nv)
        adj = bh(pvals.ravel(), q).reshape(pvals.shape)
        new_flags = (adj <= q).any(axis=1)
        if np.array_equal(new_flags, flagged):
            break
        flagged = new_flags
    reasons: list[list[dict[str, Any]]] = [[] for _ in range(nv)]
    tests: list[dict[str, dict[str, Any]]] = [{} for _ in range(nv)]
    for k in range(nv):
        for t, name in enumerate(VOTER_TESTS):
            tests[k][name] = {"p": float(f"{pvals[k, t]:.3g}"), "q": float(f"{adj[k, t]:.3g}")}
            if adj[k, t] <= q:
                reasons[k].append({"detector": name, "p": tests[k][name]["p"], "q": tests[k][name]["q"],
                                   "detail": _detail(log, name, k, st, share)})
    best = adj.min(axis=1)
    _network_stage(log, ref, share, flagged, reasons, best, q)
    models = _cohort_stage(log, flagged, reasons, best, q)
    score = -np.log10(np.clip(best, 1e-300, 1.0))
    result = AuditResult(log=log, q=q, flagged_mask=flagged, reasons=reasons, tests=tests, score=score, reference=ref)
    result.models = _model_rows(log, flagged, models)
    return result


def _network_stage(log, ref, share, flagged, reasons, best, q) -> None:
    """Pseudonyms behind one network hash: pool the votes of the (not yet flagged) voters of each
    network with at least NETWORK_MIN_PSEUDONYMS of them, and test the pool as one voter."""
    if log.network is None:
        return
    nv = len(log.voters)
    # A voter's network is the one most of their votes came from.
    primary = np.full(nv, -1)
    known = log.network >= 0
    if not known.any():
        return
    nn = len(log.networks)
    pairs = np.bincount(log.voter[known] * nn + log.network[known], minlength=nv * nn).reshape(nv, nn)
    has = pairs.sum(axis=1) > 0
    primary[has] = pairs[has].argmax(axis=1)
    free = has & ~flagged
    size = np.bincount(primary[free], minlength=nn)
    eligible = np.flatnonzero(size >= it.NETWORK_MIN_PSEUDONYMS)
    if eligible.size == 0:
        return
    sel = free[log.voter]
    sub = log.subset(sel)
    g = primary[sub.voter]
    pvals, st = _run_voter_tests(sub, ref, share, g, nn)
    pnet = np.minimum(1.0, pvals[eligible].min(axis=1) * pvals.shape[1])
    which = pvals[eligible].argmin(axis=1)
    adj = bh(pnet, q)
    for e, netk in enumerate(eligible):
        if adj[e] > q:
            continue
        members = np.flatnonzero(free & (primary == netk))
        inner = VOTER_TESTS[which[e]]
        detail = (f"{len(members)} pseudonyms behind one network; pooled: {inner}: "
                  f"{_detail(sub, inner, int(netk), st, share)}")
        for v in members:
            flagged[v] = True
            best[v] = min(best[v], adj[e])
            reasons[v].append({"detector": "network", "p": float(f"{pnet[e]:.3g}"), "q": float(f"{adj[e]:.3g}"),
                               "detail": detail, "network": log.networks[netk], "pseudonyms": int(len(members))})


def _new_voters(log: VoteLog) -> np.ndarray:
    nv = len(log.voters)
    if log.time is not None and np.isfinite(log.time).all():
        first = np.full(nv, np.inf)
        np.minimum.at(first, log.voter, log.time)
        return first >= log.time.max() - NEW_WINDOW_S
    first = np.full(nv, np.iinfo(np.int64).max)
    np.minimum.at(first, log.voter, log.units)
    return first >= (1.0 - NEW_SHARE_NO_TIME) * log.n_votes


def _cohort_stage(log, flagged, reasons, best, q) -> list[dict[str, Any]]:
    """Per model: its results among new voters against the board of established voters (both
    without flagged voters). Two screens, each Bonferroni over models at half of COHORT_ALPHA (so
    family-wise 5% for both together):
    - the aggregate: the model's win share among new voters diverges beyond COHORT_MARGIN;
    - the sparse one (``_sparse_screen``): a few new voters each favour (or disfavour) the model
      beyond a lean of COHORT_LEAN_ODDS in their own votes, more of them than chance allows
      (Berk-Jones). It does not depend on the aggregate, so a crowd of other new voters (random
      clickers, honest newcomers) diluting the model's win share cannot hide a handful of boosters.
    Then the new voters whose own results for a screened model drive it are tested: each voter's
    wins with the model against the established board with a lean of COHORT_VOTER_ODDS for it
    (against it, for a model new voters sink), so that a heavy newcomer's mild taste is not
    convicted by volume (pairwise votes: the exact Poisson-binomial law, each vote its own
    chance), discrete BH step-down (``integrity.discrete_bh``) at 5q, at
    most 5%, so a booster with five or six votes on the model counts for what they can show. A
    K-wise vote counts once per model in it (its pairs with the model weigh 1/(K-1)), its variance
    bounded as one unit (Cauchy-Schwarz); voters with K-wise votes keep the Chernoff bound."""
    m = len(log.models)
    new = _new_voters(log)
    rows = [{"cohort_z": 0.0, "cohort_p": 1.0, "cohort_sparse_p": 1.0, "cohort_flagged": False} for _ in range(m)]
    old_votes = ~new[log.voter] & ~flagged[log.voter]
    new_votes = new[log.voter] & ~flagged[log.voter] & (log.outcome != TIE)
    if old_votes.sum() == 0 or new_votes.sum() == 0:
        return rows
    ref = fit_reference(log, old_votes)
    d = ref.theta[log.a] - ref.theta[log.b] + ref.beta
    pa = it._sigmoid(d)
    w = log.w_model()
    ya = (log.outcome == A_WINS).astype(float)
    yb = (log.outcome == B_WINS).astype(float)
    sel = new_votes
    n = np.bincount(log.a[sel], weights=w[sel], minlength=m) + np.bincount(log.b[sel], weights=w[sel], minlength=m)
    resid = np.bincount(log.a[sel], weights=(w * (ya - pa))[sel], minlength=m) + \
        np.bincount(log.b[sel], weights=(w * (yb - (1 - pa)))[sel], minlength=m)
    var = _cohort_var(log, sel, w * np.sqrt(pa * (1 - pa)), m)
    excess = np.abs(resid) - it.COHORT_MARGIN * n
    z = np.divide(excess, np.sqrt(var), out=np.zeros(m), where=var > 0)
    p = np.where(excess > 0, np.minimum(1.0, 2 * stats.norm.sf(z) * m), 1.0)
    p_up, p_down = _sparse_screen(log, new & ~flagged, ref)
    alpha = it.COHORT_ALPHA / 2
    cand_v, cand_m, cand_p = [], [], []
    cand_sup: list[np.ndarray | None] = []
    kw = log.kwise
    for k in range(m):
        sparse = min(p_up[k], p_down[k])
        rows[k].update(cohort_z=round(float(np.sign(resid[k]) * max(z[k], 0.0)), 3), cohort_p=float(f"{p[k]:.3g}"),
                       cohort_sparse_p=float(f"{sparse:.3g}"),
                       cohort_flagged=bool(p[k] <= alpha or sparse <= alpha),
                       new_win_share=round(float((resid[k] + _expected(k, log, sel, pa, w)) / n[k]), 4) if n[k] else None,
                       expected_win_share=round(float(_expected(k, log, sel, pa, w) / n[k]), 4) if n[k] else None)
        directions = set()
        if p[k] <= alpha:
            directions.add(bool(resid[k] > 0))
        if p_up[k] <= alpha:
            directions.add(True)
        if p_down[k] <= alpha:
            directions.add(False)
        if not directions:
            continue
        # The model's new-voter votes, per voter (whichever way it is tested).
        mine = np.flatnonzero(sel & ((log.a == k) | (log.b == k)))
        voters = log.voter[mine]
        wins = np.where(log.a[mine] == k, ya[mine], yb[mine])
        logit = np.log(np.clip(pa[mine], 1e-12, 1)) - np.log(np.clip(1 - pa[mine], 1e-12, 1))
        logit = np.where(log.a[mine] == k, logit, -logit)  # the model's own log-odds of winning
        wm = w[mine]
        vv = np.unique(voters)
        idx = np.searchsorted(vv, voters)
        # Trials: the voter's votes with the model (a K-wise vote's share of them: one trial).
        heads, _ = it._per_unit(log, mine, np.ones(mine.size))
        nn = np.bincount(np.searchsorted(vv, log.voter[heads]), minlength=len(vv)).astype(float)
        won = np.bincount(idx, weights=wm * wins, minlength=len(vv))
        exact = np.bincount(idx, weights=kw[mine].astype(float), minlength=len(vv)) == 0
        order = np.argsort(idx, kind="stable")
        bounds = np.searchsorted(idx[order], np.arange(len(vv) + 1))
        # The null: an honest voter who may lean for (against) the model with odds up to
        # COHORT_VOTER_ODDS, so a heavy newcomer's mild taste is not convicted by volume.
        lean = math.log(it.COHORT_VOTER_ODDS)
        for boost in sorted(directions):
            pk = it._sigmoid(logit + lean) if boost else it._sigmoid(logit - lean)
            ww = won
            ee = np.bincount(idx, weights=wm * pk, minlength=len(vv)) / nn
            if not boost:  # fewer wins than expected = more losses than expected
                ww, ee, pk = nn - ww, 1 - ee, 1 - pk
            pv = it._upper(ww, nn, ee, exact)  # K-wise voters: the Chernoff bound (support: continuous)
            support: list[np.ndarray | None] = [None] * len(vv)
            for j in np.flatnonzero(exact):
                # Pairwise votes only: the exact null law of the wins (each vote its own chance).
                tail = it.pb_tail(pk[order[bounds[j]:bounds[j + 1]]])
                support[j] = tail
                pv[j] = tail[int(round(ww[j]))]
            cand_v += vv.tolist()
            cand_m += [k] * len(vv)
            cand_p += pv.tolist()
            cand_sup += support
    if cand_p:
        # The screen already established (family-wise 5%) that new voters drive these models: among
        # their new voters, a stage-wise FDR of 5% (five times q, or q if larger) costs at most about
        # one honest voter in twenty flagged here. Discrete BH: a voter with few votes on the model
        # counts for what those votes can show (the boosters with five or six votes on it too).
        cq = max(q, min(it.COHORT_Q, 5 * q))
        adj = it.discrete_bh(np.array(cand_p), cand_sup, cq)
        for v, k, pv, a in zip(cand_v, cand_m, cand_p, adj):
            if a <= cq and not any(r["detector"] == "cohort_divergence" and r.get("model") == log.models[k]
                                   for r in reasons[v]):
                flagged[v] = True
                best[v] = min(best[v], a)
                reasons[v].append({"detector": "cohort_divergence", "p": float(f"{pv:.3g}"), "q": float(f"{a:.3g}"),
                                   "model": log.models[k],
                                   "detail": f"{log.models[k]}: its results among new voters diverge "
                                             f"(z={rows[k]['cohort_z']}, sparse p={rows[k]['cohort_sparse_p']:.3g}); "
                                             f"this voter's votes drive it"})
    return rows


def _sparse_screen(log: VoteLog, voters: np.ndarray, ref: Reference) -> tuple[np.ndarray, np.ndarray]:
    """Per model, (p up, p down): do some of the given voters favour (disfavour) it in their own
    votes, more of them and more strongly than chance allows? Each voter's one-sided p-value for
    "the model wins more (less) often among my votes than the board with a lean of COHORT_LEAN_ODDS
    for (against) it predicts" (an interval null, as the voter tests: honest personal tastes and
    agreement with the board stay inside it); then a Berk-Jones statistic over the voters with
    votes on the model (``_berk_jones``). Sensitive to a sparse mixture (a few voters with strong
    evidence each) where the aggregate is diluted by other new voters."""
    m = len(log.models)
    nv = len(log.voters)
    rows = voters[log.voter]
    if not rows.any():
        return np.ones(m), np.ones(m)
    sub = log.subset(rows)
    lean = math.log(it.COHORT_LEAN_ODDS)
    n, wins, hi = it._favour(sub, ref, sub.voter, nv, lean)
    _, _, lo = it._favour(sub, ref, sub.voter, nv, -lean)
    exact = np.broadcast_to(it._pairwise_only(sub, sub.voter, nv)[:, None], n.shape)
    e_hi = np.divide(hi, n, out=np.full_like(n, 0.5), where=n > 0)
    e_lo = np.divide(lo, n, out=np.full_like(n, 0.5), where=n > 0)
    p_hi = it._upper(wins, n, e_hi, exact)
    p_lo = it._lower(wins, n, e_lo, exact)
    up = _berk_jones(p_hi, n, e_hi, exact, upper=True, family=2 * m)
    down = _berk_jones(p_lo, n, e_lo, exact, upper=False, family=2 * m)
    return up, down


def _berk_jones(p: np.ndarray, n: np.ndarray, e: np.ndarray, exact: np.ndarray, *, upper: bool,
                family: int) -> np.ndarray:
    """Per column of p (voters x models; the voters with votes on the model): the least, over the
    observed p-values t = p_(i), of P(at least i of the voters reach p <= t under the null), times
    the number of voters (Bonferroni over i) and ``family``; at most 1. The p-values are discrete
    (a voter with three votes on a model cannot reach 0.01): under the null, voter j reaches p <= t
    with probability at most F_j(t), the largest p-value j can attain at or below t (t itself for
    the Chernoff-bounded K-wise voters), so the count is a sum of independent Bernoulli(F_j(t)),
    bounded by the binomial of the same mean (Hoeffding 1956). Discreteness thus works for the
    test (Tarone's idea), not against it: voters who could never look suspicious do not count."""
    out = np.ones(p.shape[1])
    for k in range(p.shape[1]):
        has = n[:, k] > 0
        nk = int(has.sum())
        if nk == 0:
            continue
        pk = np.sort(p[has, k])
        i = np.arange(1, nk + 1)
        small = pk < 0.5
        if not small.any():
            continue
        t = pk[small]
        ex = exact[has, k]
        # Each exact voter's attainable p-values s_1 >= ... >= s_n (k or more wins, or at most n-k);
        # F_j(t) = sum of the increments of its attainable values up to t.
        nj = np.round(n[has, k][ex]).astype(np.int64)
        ej = np.clip(e[has, k][ex], 1e-12, 1 - 1e-12)
        owner = np.repeat(np.arange(nj.size), nj)
        kk = np.arange(nj.sum()) - np.repeat(np.cumsum(nj) - nj, nj) + 1  # 1..n_j
        if upper:
            s = stats.binom.sf(kk - 1, nj[owner], ej[owner])          # P(wins >= kk)
        else:
            s = stats.binom.cdf(nj[owner] - kk, nj[owner], ej[owner])  # P(wins <= n - kk)
        order = np.lexsort((s, owner))
        s = s[order]
        prev = np.r_[0.0, s[:-1]]
        first = np.r_[True, owner[order][1:] != owner[order][:-1]]
        inc = np.where(first, s, s - prev)
        srt = np.argsort(s, kind="stable")
        cum = np.r_[0.0, np.cumsum(inc[srt])]
        mu = cum[np.searchsorted(s[srt], t, side="right")] + (~ex).sum() * t
        cnt = i[small]
        tail = np.where(cnt >= mu + 1, stats.binom.sf(cnt - 1, nk, np.clip(mu / nk, 0, 1)), 1.0)
        out[k] = min(1.0, float(tail.min()) * nk * family)
    return out


def _cohort_var(log: VoteLog, sel: np.ndarray, sd: np.ndarray, m: int) -> np.ndarray:
    """Per model: the variance bound of its (weighted) results over the selected rows; a K-wise
    vote's rows with the model are one unit (the square of their summed standard deviations)."""
    pair = sel & ~log.kwise
    var = np.bincount(log.a[pair], weights=sd[pair] ** 2, minlength=m) + \
        np.bincount(log.b[pair], weights=sd[pair] ** 2, minlength=m)
    var = var.astype(float)
    kws = np.flatnonzero(sel & log.kwise)
    if kws.size:
        u = log.units[kws].astype(np.int64)
        keys = np.concatenate([u * m + log.a[kws], u * m + log.b[kws]])
        uniq, inv = np.unique(keys, return_inverse=True)
        s = np.bincount(inv, weights=np.concatenate([sd[kws], sd[kws]]), minlength=uniq.size)
        var += np.bincount(uniq % m, weights=s * s, minlength=m)
    return var


def _expected(k: int, log: VoteLog, sel: np.ndarray, pa: np.ndarray, w: np.ndarray) -> float:
    return float((w * pa)[sel & (log.a == k)].sum() + (w * (1 - pa))[sel & (log.b == k)].sum())


def _model_rows(log: VoteLog, flagged: np.ndarray, cohort: list[dict[str, Any]]) -> list[dict[str, Any]]:
    m = len(log.models)
    bad = flagged[log.voter]
    w = log.w_model()  # a K-wise vote once per model in it
    votes = np.round(np.bincount(log.a, weights=w, minlength=m) + np.bincount(log.b, weights=w, minlength=m))
    sus = np.round(np.bincount(log.a[bad], weights=w[bad], minlength=m) + np.bincount(log.b[bad], weights=w[bad], minlength=m))
    rows = []
    for k, name in enumerate(log.models):
        rows.append({"model": name, "votes": int(votes[k]), "suspicious_votes": int(sus[k]),
                     "suspicious_share": round(float(sus[k] / votes[k]), 4) if votes[k] else 0.0, **cohort[k]})
    rows.sort(key=lambda r: (-r["suspicious_share"], r["model"]))
    return rows
