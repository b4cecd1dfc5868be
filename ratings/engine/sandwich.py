"""Sandwich (robust) covariance of the Bradley-Terry / Plackett-Luce parameters.

cov = H⁻¹ G H⁻¹ with H the negative Hessian of the log-likelihood at the estimate and G the sum of
squared scores. Without clusters every vote is independent and G needs only each cell's sum of squared
weights; with clusters (one voter's votes, the pairs of one tied K-wise vote) the scores are summed
within each cluster before squaring (the cluster-robust sandwich, Liang & Zeger 1986).

H is the textbook one: the likelihood's flat "shift every θ" direction is removed by the centring
penalty of each connected part, whose direction G never sees (every vote's score sums to zero over
the models), so H⁻¹ G H⁻¹ equals the sum-to-zero sandwich exactly. ``reg=ARENA_RANK_REG`` adds
arena-rank's 1e-5 × (total weight) to H's diagonal instead, which makes the intervals of models with
few votes in a big arena far too narrow (a 30-vote model in a 1M-vote arena: 0.42× the honest width);
it is kept only to compare with LMArena's published bounds (``--hessian-reg arena-rank``).
"""
from __future__ import annotations

import numpy as np

from ratings.engine import pairlik, pl
from ratings.engine.bt import Objective
from ratings.engine.cells import Clusters, PairCells, Rankings

ARENA_RANK_REG = 1e-5
HESSIAN_REG = 0.0  # the default: the textbook sandwich


def covariance(obj: Objective, cells: PairCells, rankings: Rankings, p: np.ndarray, reg: float = HESSIAN_REG,
               clusters: Clusters | None = None) -> np.ndarray:
    """(D, D) sandwich covariance of the parameters of ``obj`` fitted at ``p``."""
    _, h = obj.grad_hess(p)
    h[np.diag_indices(obj.m)] += reg * obj.total_weight
    sd, sl = pairlik.vote_scores(obj.ties, obj.logit(p), obj._lam(p))
    if clusters is None:
        w2 = cells.w2
        dd = (w2 * sd * sd).sum(axis=1)
        dl = None if sl is None else (w2 * sd * sl).sum(axis=1)
        lls = None if sl is None else (w2 * sl * sl).sum(axis=1)
        meat = obj.assemble(dd, dl, lls)
        for k, (items, w) in rankings.groups.items():
            meat[: obj.m, : obj.m] += pl.score_outer(p[: obj.m], items, w * w / rankings.count(k))
    else:
        meat = _clustered_meat(obj, cells, rankings, p, clusters, sd, sl)
    h_inv = np.linalg.inv(h)
    h_inv = 0.5 * (h_inv + h_inv.T)
    return h_inv @ meat @ h_inv


def _clustered_meat(obj: Objective, cells: PairCells, rankings: Rankings, p: np.ndarray, clusters: Clusters,
                    sd: np.ndarray, sl: np.ndarray | None) -> np.ndarray:
    """Σ_c u_c u_cᵀ, u_c = the summed score of cluster c's votes (plain numpy: no scipy import)."""
    m, dim = obj.m, obj.dim
    r = clusters.cell_index(cells)
    o = clusters.outcome
    c = clusters.cluster
    v = clusters.w * sd[r, o]
    rows = [c, c]
    cols = [cells.i[r], cells.j[r]]
    vals = [v, -v]
    if obj.beta is not None:
        rows.append(c), cols.append(np.full(len(c), obj.beta)), vals.append(v * cells.pos[r])
    if obj.lam is not None:
        rows.append(c), cols.append(np.full(len(c), obj.lam)), vals.append(clusters.w * sl[r, o])
    for k, (items, w) in rankings.groups.items():
        if k not in clusters.rank_cluster:
            raise ValueError("clustered rankings need a cluster per ranking row")
        sc = pl.scores(p[:m], items) * w[:, None]
        rows.append(np.repeat(clusters.rank_cluster[k], k)), cols.append(items.ravel()), vals.append(sc.ravel())
    meat = _sum_of_outer(np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), dim)
    g = clusters.n_clusters
    meat *= g / max(g - 1, 1)  # CR1: G/(G-1)
    if clusters.partial:  # the other votes: independent, as without clusters
        _, _, w2 = clusters.light(cells)
        dd = (w2 * sd * sd).sum(axis=1)
        dl = None if sl is None else (w2 * sd * sl).sum(axis=1)
        lls = None if sl is None else (w2 * sl * sl).sum(axis=1)
        meat += obj.assemble(dd, dl, lls)
    return meat


_SMALL = 24  # clusters with at most this many nonzero score entries: outer products pair by pair
_PAIRS = 1 << 21  # pairs of entries formed at a time (memory: a few dozen bytes each)


def _sum_of_outer(cluster: np.ndarray, col: np.ndarray, val: np.ndarray, dim: int) -> np.ndarray:
    """Σ_c u_c u_cᵀ for sparse vectors u_c given as (cluster, column, value) entries (duplicates add):
    small clusters (most voters) by their pairs of entries, large ones (heavy voters) as dense blocks."""
    key, inv = np.unique(cluster * dim + col, return_inverse=True)
    val = np.bincount(inv, val, len(key))
    cl, col = key // dim, key % dim  # sorted by cluster
    starts = np.flatnonzero(np.r_[True, cl[1:] != cl[:-1]])
    sizes = np.diff(np.r_[starts, len(cl)])
    out = np.zeros(dim * dim)
    small = sizes <= _SMALL
    # Small clusters: every (entry, entry) pair inside each cluster, a bounded number of pairs at a
    # time (a million voters of ~20 entries each would otherwise need 400M pairs at once).
    s_starts, s_sizes = starts[small], sizes[small]
    pairs = np.cumsum(s_sizes * s_sizes)
    lo = 0
    while lo < len(s_starts):
        hi = max(int(np.searchsorted(pairs, (pairs[lo - 1] if lo else 0) + _PAIRS, "right")), lo + 1)
        st, sz = s_starts[lo:hi], s_sizes[lo:hi]
        entry = np.repeat(st, sz) + (np.arange(sz.sum()) - np.repeat(np.cumsum(sz) - sz, sz))
        reps = np.repeat(sz, sz)  # each entry pairs with every entry of its cluster
        left = np.repeat(entry, reps)
        first = np.repeat(np.repeat(st, sz), reps)
        offset = np.arange(len(left)) - np.repeat(np.cumsum(reps) - reps, reps)
        right = first + offset
        out += np.bincount(col[left] * dim + col[right], val[left] * val[right], dim * dim)
        lo = hi
    out = out.reshape(dim, dim)
    # Large clusters: dense rows, 512 clusters at a time.
    big = np.flatnonzero(~small)
    for chunk in range(0, len(big), 512):
        sel = big[chunk: chunk + 512]
        u = np.zeros((len(sel), dim))
        for row, (a, n) in enumerate(zip(starts[sel], sizes[sel])):
            u[row, col[a: a + n]] = val[a: a + n]
        out += u.T @ u
    return out
