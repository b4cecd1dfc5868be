"""Aggregate votes into the sufficient statistics every Bradley-Terry style fit needs.

A BT fit, its sandwich and its bootstrap need only, for each unordered pair of models
(i < j), the weight of votes i won, j won and tied, never the raw rows. ``PairCells`` holds
exactly that, plus vote counts (the bootstrap redraws counts) and sums of squared weights
(the sandwich's variance of a weighted score)::

    cells = PairCells.from_votes(votes)                      # from row arrays
    cells = PairCells.from_counts(model_a=[...], model_b=[...], outcome=["model_a", ...],
                                  weight=[...], count=[...])  # from SQL GROUP BY rows

K-wise votes without tied places stay whole in ``Rankings`` (fitted by their Plackett-Luce
likelihood); a K-wise vote with tied places is rank-broken into its K(K-1)/2 pairs, each with
weight 2/K, so that one K-wise vote weighs K-1 pairwise votes as its Plackett-Luce likelihood
would (K-1 successive choices); a tied pair counts as a tie. ``comparisons(votes)`` does both.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ratings.engine.errors import RatingDataError
from ratings.engine.kernels import components_of, reachable
from ratings.engine.votes import A_WINS, B_WINS, TIE, WINNER_CODES, Votes

_OUTCOME_ALIASES = {**WINNER_CODES, "a": A_WINS, "b": B_WINS, "model_a_wins": A_WINS, "model_b_wins": B_WINS}


@dataclass
class PairCells:
    """Per unordered pair (i < j): weight sums ``w[:, 0]`` i won, ``w[:, 1]`` j won, ``w[:, 2]`` tie."""

    models: list[str]
    i: np.ndarray  # (P,) int64
    j: np.ndarray  # (P,) int64
    w: np.ndarray  # (P, 3) weight sums
    n: np.ndarray  # (P, 3) vote counts (what the bootstrap redraws)
    w2: np.ndarray  # (P, 3) sums of squared weights (the sandwich's score variance)
    # (P,) 1.0 where i was shown first (left / slot A): "oriented" cells keep who was shown first, so a
    # fit can estimate the position bias; 0.0 for unoriented cells (i < j, e.g. rank-broken K-wise pairs).
    pos: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.pos is None:
            self.pos = np.zeros(len(self.i))

    @property
    def m(self) -> int:
        return len(self.models)

    @property
    def total(self) -> np.ndarray:
        return self.w.sum(axis=1)

    @property
    def score(self) -> np.ndarray:
        """Wins of i, ties counting half."""
        return self.w[:, 0] + 0.5 * self.w[:, 2]

    @classmethod
    def from_votes(cls, votes: Votes, oriented: bool = False) -> PairCells:
        return cls.from_indices(votes.models, votes.a, votes.b, votes.outcome, votes.weight, oriented=oriented)

    @classmethod
    def from_indices(
        cls,
        models: list[str],
        a: np.ndarray,
        b: np.ndarray,
        outcome: np.ndarray,
        weight: np.ndarray | None = None,
        count: np.ndarray | None = None,
        weight_sq: np.ndarray | None = None,
        oriented: bool = False,
    ) -> PairCells:
        """Cells from index arrays; ``count``/``weight_sq`` given when rows are already aggregated.
        ``oriented``: keep (a, b) as (shown first, shown second) instead of sorting each pair."""
        m = len(models)
        a = np.asarray(a)
        b = np.asarray(b)
        o = np.asarray(outcome).astype(np.int8)
        swap = a > b if not oriented else np.zeros(len(a), dtype=bool)
        # Outcome from the lower index's side: swapping a/b swaps who won, never a tie.
        o = np.where(swap & (o != TIE), 1 - o, o)
        # key = ((lo * m + hi) * 3 + outcome), built in place: 10M votes must stay well under 2 GiB.
        key = np.where(swap, b, a).astype(np.int64)
        key *= m
        key += np.where(swap, a, b)
        key *= 3
        key += o
        del swap, o
        plain = weight is None and count is None
        wt = None if weight is None else np.asarray(weight, dtype=np.float64)
        cnt = None if count is None else np.asarray(count, dtype=np.float64)
        if weight_sq is not None:
            w2 = np.asarray(weight_sq, dtype=np.float64)
        elif plain:
            w2 = None
        elif count is None:
            w2 = wt * wt
        else:  # aggregated rows without squared weights: assume equal weights within a row
            w2 = cnt.copy() if wt is None else wt * wt / np.maximum(cnt, 1.0)
        if m * m * 3 <= 30_000_000:  # dense bincount is the fastest path for arena-sized model lists
            size = m * m * 3
            ns = np.bincount(key, weights=cnt, minlength=size).reshape(m * m, 3)
            pair = np.flatnonzero(ns.sum(axis=1) > 0)
            ns = ns[pair].astype(np.float64)
            if plain:  # one vote, weight 1, per row: all three statistics are the counts
                ws, w2s = ns, ns.copy()
            else:
                ws = (ns if wt is None else np.bincount(key, weights=wt, minlength=size).reshape(m * m, 3)[pair])
                w2s = np.bincount(key, weights=w2, minlength=size).reshape(m * m, 3)[pair]
        else:
            pair, inv = np.unique(key // 3, return_inverse=True)
            ws, ns, w2s = (np.zeros((len(pair), 3)) for _ in range(3))
            ones = np.ones(len(key))
            for dst, x in ((ws, wt), (ns, cnt), (w2s, w2)):
                np.add.at(dst, (inv, key % 3), ones if x is None else x)
        pos = np.full(len(pair), 1.0 if oriented else 0.0)
        return cls(models=list(models), i=pair // m, j=pair % m, w=ws, n=ns, w2=w2s, pos=pos)

    @classmethod
    def from_counts(
        cls,
        model_a: list[str],
        model_b: list[str],
        outcome: list[str],
        weight: list[float] | np.ndarray,
        count: list[float] | np.ndarray | None = None,
        weight_sq: list[float] | np.ndarray | None = None,
        models: list[str] | None = None,
        oriented: bool = False,
    ) -> PairCells:
        """Cells from aggregated rows (the server's GROUP BY model_a, model_b, outcome).

        ``outcome`` is model_a / model_b / tie / both_bad (or a / b); ``weight`` the weight sum of
        the row, ``count`` its number of votes (defaults to ``weight``), ``weight_sq`` the sum of
        squared weights (defaults to weight²/count, i.e. equal weights within the row).
        ``models`` fixes the name list (e.g. to keep models that have no votes yet out or in).
        """
        names = sorted(set(model_a) | set(model_b)) if models is None else list(models)
        index = {m: k for k, m in enumerate(names)}
        try:
            a = np.array([index[x] for x in model_a], dtype=np.int64)
            b = np.array([index[x] for x in model_b], dtype=np.int64)
            o = np.array([_OUTCOME_ALIASES[x] for x in outcome], dtype=np.int64)
        except KeyError as exc:
            raise RatingDataError(f"unknown model or outcome {exc.args[0]!r} in aggregated counts") from None
        if np.any(a == b):
            raise RatingDataError("aggregated counts compare a model with itself")
        return cls.from_indices(names, a, b, o, np.asarray(weight, dtype=np.float64),
                                np.asarray(weight if count is None else count, dtype=np.float64),
                                None if weight_sq is None else np.asarray(weight_sq, dtype=np.float64),
                                oriented=oriented)

    def merged(self, other: PairCells) -> PairCells:
        """These cells plus ``other``'s (same model list; an oriented and an unoriented cell of the
        same pair stay apart)."""
        m = self.m
        key = np.concatenate([(self.i * m + self.j) * 2 + (self.pos > 0), (other.i * m + other.j) * 2 + (other.pos > 0)])
        uniq, inv = np.unique(key, return_inverse=True)
        out = [np.zeros((len(uniq), 3)) for _ in range(3)]
        for dst, xs in zip(out, ((self.w, other.w), (self.n, other.n), (self.w2, other.w2))):
            np.add.at(dst, inv, np.concatenate(xs))
        pair = uniq // 2
        return PairCells(self.models, pair // m, pair % m, *out, pos=(uniq % 2).astype(np.float64))


@dataclass
class Rankings:
    """Untied K-wise votes, grouped by K: ``groups[K] = (items best first (N, K), weight (N,))``.

    ``counts[K]`` (default: ones) is how many votes each row stands for when identical rankings were
    aggregated upstream; the weight is then the row's weight sum. The sandwich and the bootstrap
    need it: three votes are not one vote of weight three.
    """

    groups: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    counts: dict[int, np.ndarray] = field(default_factory=dict)

    def count(self, k: int) -> np.ndarray:
        return self.counts[k] if k in self.counts else np.ones(len(self.groups[k][1]))

    @property
    def n_votes(self) -> float:
        return float(sum(self.count(k).sum() for k in self.groups))

    @classmethod
    def from_orders(cls, models: list[str], orders: list[list[str]], weight: list[float] | None = None,
                    count: list[float] | None = None) -> Rankings:
        """Untied rankings given as model names best first, over the same ``models`` list as the
        PairCells (e.g. a GROUP BY over K-wise votes: ``weight`` the row's weight sum, ``count`` its
        number of votes, default = weight)."""
        index = {m: k for k, m in enumerate(models)}
        weights = np.ones(len(orders)) if weight is None else np.asarray(weight, dtype=np.float64)
        counts = weights if count is None else np.asarray(count, dtype=np.float64)
        by_k: dict[int, tuple[list[list[int]], list[float], list[float]]] = {}
        for order, w, c in zip(orders, weights, counts):
            if len(set(order)) != len(order) or len(order) < 2:
                raise RatingDataError(f"a ranking needs two or more distinct models: {order!r}")
            try:
                by_k.setdefault(len(order), ([], [], []))[0].append([index[m] for m in order])
            except KeyError as exc:
                raise RatingDataError(f"unknown model {exc.args[0]!r} in a ranking") from None
            by_k[len(order)][1].append(float(w))
            by_k[len(order)][2].append(float(c))
        return cls({k: (np.array(its, dtype=np.int64), np.array(ws)) for k, (its, ws, _) in by_k.items()},
                   {k: np.array(cs) for k, (_, _, cs) in by_k.items()})

    def __bool__(self) -> bool:
        return self.n_votes > 0


def _n_distinct(places: np.ndarray) -> int:
    """Number of distinct places of one K-wise vote (a handful: a set, not np.unique's sort)."""
    return len(set(places.tolist() if hasattr(places, "tolist") else places))


def comparisons(votes: Votes, oriented: bool = False) -> tuple[PairCells, Rankings]:
    """Pair cells (pairwise votes + rank-broken tied K-wise votes) and untied rankings.
    ``oriented``: pairwise cells keep which model was shown first (for the position bias)."""
    cells = PairCells.from_votes(votes, oriented=oriented)
    if not votes.n_kwise:
        return cells, Rankings()
    kw_weight = votes.kwise_weight()
    by_k: dict[int, tuple[list[np.ndarray], list[float]]] = {}
    ba, bb, bo, bw = [], [], [], []
    for items, places, wt in zip(votes.kw_items, votes.kw_places, kw_weight):
        k = len(items)
        if _n_distinct(places) == k:
            order = items[np.argsort(places, kind="stable")]
            if k == 2:  # an untied pair is simply a pairwise vote
                ba.append(order[0]), bb.append(order[1]), bo.append(A_WINS), bw.append(wt)
            else:
                by_k.setdefault(k, ([], []))[0].append(order)
                by_k[k][1].append(wt)
            continue
        for x in range(k):
            for y in range(x + 1, k):
                ba.append(items[x]), bb.append(items[y]), bw.append(wt * 2.0 / k)
                px, py = places[x], places[y]
                bo.append(TIE if px == py else (A_WINS if px < py else B_WINS))
    if ba:
        cells = cells.merged(PairCells.from_indices(votes.models, np.array(ba), np.array(bb), np.array(bo),
                                                    np.array(bw)))
    groups = {k: (np.array(its, dtype=np.int64), np.array(ws)) for k, (its, ws) in by_k.items()}
    return cells, Rankings(groups)


def broken_pairs(rankings: Rankings) -> tuple[np.ndarray, np.ndarray]:
    """Every (better, worse) pair inside the rankings, for statistics and graph checks."""
    better, worse = [], []
    for k, (items, _) in rankings.groups.items():
        for x in range(k):
            for y in range(x + 1, k):
                better.append(items[:, x]), worse.append(items[:, y])
    if not better:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(better), np.concatenate(worse)


def components(cells: PairCells, rankings: Rankings) -> np.ndarray:
    """Connected component of each model in the comparison graph (models never compared are alone)."""
    bi, bj = broken_pairs(rankings)
    return components_of(cells.m, np.concatenate([cells.i, bi]), np.concatenate([cells.j, bj]))


def needs_prior(cells: PairCells, rankings: Rankings) -> bool:
    """True when a maximum-likelihood rating is infinite for some model.

    The BT / Plackett-Luce MLE exists iff, inside each connected part, every split of the models
    into two groups has a win (or tie) both ways, i.e. the win graph is strongly connected.
    """
    m = cells.m
    won_i = cells.score > 0  # i beat or tied j
    won_j = (cells.w[:, 1] + 0.5 * cells.w[:, 2]) > 0
    bi, bj = broken_pairs(rankings)
    src = np.concatenate([cells.i[won_i], cells.j[won_j], bi])
    dst = np.concatenate([cells.j[won_i], cells.i[won_j], bj])
    roots = components_of(m, src, dst) == np.arange(m)
    # Strongly connected parts iff each part's root reaches everything forwards and backwards.
    return not (reachable(m, src, dst, roots).all() and reachable(m, dst, src, roots).all())


@dataclass
class Clusters:
    """Votes that are not independent of each other: one voter's votes, or the pairs of one tied
    K-wise vote. Rows give each cluster's weight in a (pair, orientation, outcome) cell; ``rank_cluster[K]``
    the cluster of each untied K-wise ranking row of ``Rankings.groups[K]``. The sandwich then sums
    scores within a cluster before squaring them, and the bootstrap redraws whole clusters."""

    cluster: np.ndarray  # (K,) int64
    i: np.ndarray  # (K,) int64
    j: np.ndarray  # (K,) int64
    pos: np.ndarray  # (K,) 1.0 = oriented (i shown first)
    outcome: np.ndarray  # (K,) 0 i won, 1 j won, 2 tie
    w: np.ndarray  # (K,) weight sum
    rank_cluster: dict[int, np.ndarray] = field(default_factory=dict)
    n: np.ndarray | None = None  # (K,) vote counts (default: one vote per unit of weight)
    w2: np.ndarray | None = None  # (K,) sums of squared weights (default: w²/n)
    # partial: the rows cover only some pairwise votes (e.g. the heaviest voters'); the cells' other
    # votes are independent of each other and of these. Rankings rows are always all in rank_cluster.
    partial: bool = False

    def __post_init__(self) -> None:
        if self.n is None:
            self.n = self.w.copy()
        if self.w2 is None:
            self.w2 = self.w * self.w / np.maximum(self.n, 1.0)

    def light(self, cells: PairCells) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(w, n, w2) of the cells' votes outside the clusters: (P, 3) each (all zero unless partial)."""
        if not self.partial:
            z = np.zeros_like(cells.w)
            return z, z.copy(), z.copy()
        r = self.cell_index(cells)
        out = []
        for total, part in ((cells.w, self.w), (cells.n, self.n), (cells.w2, self.w2)):
            x = total.copy()
            np.add.at(x, (r, self.outcome), -part)
            out.append(np.maximum(x, 0.0))
        return tuple(out)

    def units(self, cells: PairCells) -> float:
        """Independent units: the clusters, plus (when partial) the votes outside them."""
        return self.n_clusters + (float(self.light(cells)[1].sum()) if self.partial else 0.0)

    @property
    def n_clusters(self) -> int:
        parts = [self.cluster] + list(self.rank_cluster.values())
        return int(max((int(p.max()) for p in parts if len(p)), default=-1)) + 1

    @classmethod
    def from_rows(cls, cluster, i, j, pos, outcome, w, rank_cluster=None, n=None, w2=None, partial=False) -> Clusters:
        """Rows with duplicates summed (one row per cluster and cell outcome), clusters numbered 0..G-1."""
        cluster, i, j = (np.asarray(x, dtype=np.int64) for x in (cluster, i, j))
        rank_cluster = {k: np.asarray(c, dtype=np.int64) for k, c in (rank_cluster or {}).items()}
        ids, dense = np.unique(np.concatenate([cluster, *rank_cluster.values()]), return_inverse=True)
        cluster = dense[: len(cluster)]
        at = len(cluster)
        for k in rank_cluster:
            rank_cluster[k] = dense[at: at + len(rank_cluster[k])]
            at += len(rank_cluster[k])
        pos = np.asarray(pos, dtype=np.float64)
        outcome = np.asarray(outcome, dtype=np.int64)
        w = np.asarray(w, dtype=np.float64)
        m = int(max(i.max(initial=0), j.max(initial=0))) + 1
        key = ((cluster * m + i) * m + j) * 6 + (pos > 0) * 3 + outcome
        uniq, inv = np.unique(key, return_inverse=True)
        ws = np.bincount(inv, w, len(uniq))
        ns = np.bincount(inv, w if n is None else np.asarray(n, dtype=np.float64), len(uniq))
        w2s = np.bincount(inv, w * w if w2 is None else np.asarray(w2, dtype=np.float64), len(uniq))
        o = uniq % 3
        rest = uniq // 3
        p = (rest % 2).astype(np.float64)
        rest //= 2
        return cls(cluster=rest // (m * m), i=(rest // m) % m, j=rest % m, pos=p, outcome=o, w=ws,
                   rank_cluster=dict(rank_cluster or {}), n=ns, w2=w2s, partial=partial)

    def cell_index(self, cells: PairCells) -> np.ndarray:
        """Row of ``cells`` each cluster row belongs to."""
        m = cells.m
        ckey = (cells.i * m + cells.j) * 2 + (cells.pos > 0)
        order = np.argsort(ckey, kind="stable")
        rkey = (self.i * m + self.j) * 2 + (self.pos > 0)
        at = np.searchsorted(ckey[order], rkey)
        if len(rkey) and (at.max() >= len(order) or np.any(ckey[order][at] != rkey)):
            raise RatingDataError("cluster rows name a pair the cells do not hold")
        return order[at]

    def per_model(self, m: int, rankings: Rankings, cells: PairCells | None = None) -> np.ndarray:
        """Independent units of evidence per model: the distinct clusters it appears in (plus, when
        partial, its votes outside the clusters)."""
        extra = np.zeros(m)
        if self.partial and cells is not None:
            _, n_light, _ = self.light(cells)
            per_cell = n_light.sum(axis=1)
            extra = np.bincount(cells.i, per_cell, m) + np.bincount(cells.j, per_cell, m)
        cl = [self.cluster, self.cluster]
        md = [self.i, self.j]
        for k, c in self.rank_cluster.items():
            cl.append(np.repeat(c, k))
            md.append(rankings.groups[k][0].ravel())
        keys = np.unique(np.concatenate(cl) * m + np.concatenate(md))
        return np.bincount(keys % m, minlength=m).astype(np.float64) + extra


def clusters_of(votes: Votes, rankings_order: dict[int, np.ndarray] | None = None, oriented: bool = False) -> Clusters | None:
    """Clusters of a vote set: by ``votes.voter`` when given; otherwise each vote is its own cluster,
    which matters only for tied K-wise votes (their rank-broken pairs are one judgement). None when
    every vote is independent and none is a tied K-wise vote (the plain formulas then apply)."""
    has_voter = votes.voter is not None or votes.kw_voter is not None
    tied = [k for k, p in enumerate(votes.kw_places) if _n_distinct(p) < len(p)]
    if not has_voter and not tied:
        return None
    n_pair = votes.n_pairwise
    # Cluster ids: voters' codes, else one fresh id per vote (above every voter code).
    known = [c for c in (votes.voter, votes.kw_voter) if c is not None and len(c)]
    fresh = int(max(int(c.max()) for c in known)) + 1 if known else 0
    pc = votes.voter.astype(np.int64) if votes.voter is not None else fresh + np.arange(n_pair, dtype=np.int64)
    kc = (votes.kw_voter.astype(np.int64) if votes.kw_voter is not None
          else fresh + n_pair + np.arange(votes.n_kwise, dtype=np.int64))
    a, b = votes.a.astype(np.int64), votes.b.astype(np.int64)
    o = votes.outcome.astype(np.int64)
    if not oriented:
        swap = a > b
        a, b = np.where(swap, b, a), np.where(swap, a, b)
        o = np.where(swap & (o != TIE), 1 - o, o)
    cl, ii, jj, pp, oo, ww = [pc], [a], [b], [np.full(n_pair, 1.0 if oriented else 0.0)], [o], [votes.pair_weight()]
    kw_w = votes.kwise_weight()
    rank_cluster: dict[int, list[int]] = {}
    for v, (items, places) in enumerate(zip(votes.kw_items, votes.kw_places)):
        k = len(items)
        if _n_distinct(places) == k:
            if k == 2:  # an untied pair is a pairwise vote (see comparisons): unoriented cell
                order = items[np.argsort(places, kind="stable")]
                x, y = sorted((int(order[0]), int(order[1])))
                cl.append([kc[v]]), ii.append([x]), jj.append([y]), pp.append([0.0])
                oo.append([A_WINS if x == order[0] else B_WINS]), ww.append([kw_w[v]])
            else:
                rank_cluster.setdefault(k, []).append(int(kc[v]))
            continue
        for x in range(k):
            for y in range(x + 1, k):
                lo, hi = (x, y) if items[x] < items[y] else (y, x)
                pl_, ph = places[lo], places[hi]
                cl.append([kc[v]]), ii.append([items[lo]]), jj.append([items[hi]]), pp.append([0.0])
                oo.append([TIE if pl_ == ph else (A_WINS if pl_ < ph else B_WINS)]), ww.append([kw_w[v] * 2.0 / k])
    w = np.concatenate(ww).astype(np.float64)
    return Clusters.from_rows(np.concatenate(cl), np.concatenate(ii), np.concatenate(jj), np.concatenate(pp),
                              np.concatenate(oo), w, {k: np.array(c, dtype=np.int64) for k, c in rank_cluster.items()},
                              n=np.ones(len(w)), w2=w * w)  # one vote (or one broken pair) per row, as the cells count
