"""Online Elo, as the first Chatbot Arena leaderboards computed it, for comparison with them.

    lb = fit_elo(votes, ci="bootstrap" | "none", rounds=100, seed=0)

Votes are replayed in the order they were cast: every model starts at 1000, and a vote moves
r_a by K·w·(s_a - E_a) with E_a = 1 / (1 + 10^((r_b - r_a)/400)), K = 4, s_a ∈ {1, 0, ½}
(ties and both_bad are half a point). A K-wise vote is rank-broken into its pairs, each with
K·2/k so that the vote moves ratings as much as k-1 pairwise votes. Online Elo depends on the vote
order and never converges to the MLE, which is why the LMArena leaderboard moved to Bradley-Terry;
the interval is a bootstrap over resampled, reshuffled vote orders (rows drawn with replacement in
random order, as in the Chatbot Arena notebook), replayed for all rounds at once, one vote at a time.
"""
from __future__ import annotations

import math

import numpy as np

from ratings.engine.cells import components, comparisons
from ratings.engine.errors import RatingDataError
from ratings.engine.kernels import percentile_interval, z_value
from ratings.engine.leaderboard import Leaderboard, build_leaderboard
from ratings.engine.votes import A_WINS, TIE, Votes

K_FACTOR, BASE, SCALE, START = 4.0, 10.0, 400.0, 1000.0


def vote_sequence(votes: Votes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, score of a, weight) per pairwise step in vote order, K-wise votes rank-broken."""
    score = np.where(votes.outcome == A_WINS, 1.0, np.where(votes.outcome == TIE, 0.5, 0.0))
    a, b, w = votes.a.astype(np.int64), votes.b.astype(np.int64), votes.pair_weight()
    seq = np.arange(votes.n_pairwise) if votes.seq is None else votes.seq
    if votes.n_kwise:
        ka, kb, ks, kw, kq = [], [], [], [], []
        kseq = np.arange(votes.n_kwise) if votes.kw_seq is None else votes.kw_seq
        for items, places, wt, q in zip(votes.kw_items, votes.kw_places, votes.kwise_weight(), kseq):
            k = len(items)
            for x in range(k):
                for y in range(x + 1, k):
                    ka.append(items[x]), kb.append(items[y]), kw.append(wt * 2.0 / k), kq.append(q)
                    ks.append(0.5 if places[x] == places[y] else float(places[x] < places[y]))
        a, b = np.r_[a, ka].astype(np.int64), np.r_[b, kb].astype(np.int64)
        score, w, seq = np.r_[score, ks], np.r_[w, kw], np.r_[seq, kq]
        order = np.argsort(seq, kind="stable")
        a, b, score, w = a[order], b[order], score[order], w[order]
    return a, b, score, w


def online_elo(m: int, a: np.ndarray, b: np.ndarray, score: np.ndarray, weight: np.ndarray,
               k: float = K_FACTOR) -> np.ndarray:
    """One replay in the given order (plain Python floats: faster than numpy per step)."""
    r = [START] * m
    scale = math.log(BASE) / SCALE
    for x, y, s, w in zip(a.tolist(), b.tolist(), score.tolist(), weight.tolist()):
        e = 1.0 / (1.0 + math.exp((r[y] - r[x]) * scale))
        d = k * w * (s - e)
        r[x] += d
        r[y] -= d
    return np.array(r)


def elo_replicas(m: int, a: np.ndarray, b: np.ndarray, score: np.ndarray, weight: np.ndarray,
                 rounds: int, seed: int, k: float = K_FACTOR, progress: bool = False) -> np.ndarray:
    """(rounds, M) ratings, each from a bootstrap resample of the votes in a random order."""
    rng = np.random.default_rng(seed)
    n = len(a)
    r = np.full((rounds, m), START)
    cols = np.arange(rounds)
    scale = math.log(BASE) / SCALE
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc="elo bootstrap", unit="vote", delay=1.0, leave=False, disable=None, mininterval=0.5)
    block = max(1, 2_000_000 // rounds)  # draw the resample a block of steps at a time: bounded memory
    for start in range(0, n, block):
        pick = rng.integers(0, n, size=(min(block, n - start), rounds))  # row t: each replica's t-th vote
        ra, rb, rs, rw = a[pick], b[pick], score[pick], k * weight[pick]
        for t in range(pick.shape[0]):
            x, y = ra[t], rb[t]
            e = 1.0 / (1.0 + np.exp((r[cols, y] - r[cols, x]) * scale))
            d = rw[t] * (rs[t] - e)
            r[cols, x] += d
            r[cols, y] -= d
        if bar is not None:
            bar.update(pick.shape[0])
    if bar is not None:
        bar.close()
    return r


def fit_elo(
    votes: Votes,
    *,
    ci: str = "bootstrap",
    rounds: int = 100,
    seed: int = 0,
    level: float = 0.95,
    k: float = K_FACTOR,
    anchor: tuple[str, float] | None = None,
    progress: bool = False,
) -> Leaderboard:
    if ci not in ("bootstrap", "none"):
        raise RatingDataError(f"online Elo supports --ci bootstrap or none, not {ci!r}")
    z_value(level)  # validates the level
    if ci == "bootstrap" and rounds < 1:
        raise RatingDataError("bootstrap rounds must be at least 1")
    if votes.n_votes == 0:
        raise RatingDataError("no votes")
    a, b, score, w = vote_sequence(votes)
    m = len(votes.models)
    rating = online_elo(m, a, b, score, w, k)
    lower = upper = rating
    if ci == "bootstrap":
        reps = elo_replicas(m, a, b, score, w, rounds, seed, k, progress)
        lower, upper = percentile_interval(reps, level)
    cells, rankings = comparisons(votes)
    lb = build_leaderboard(method="elo", ci=ci, level=level, cells=cells, rankings=rankings, rating=rating,
                           lower=lower, upper=upper, parts=components(cells, rankings), anchor=anchor,
                           n_votes=votes.n_votes, model_votes=votes.model_votes(),
                           notes=["online Elo depends on vote order; prefer Bradley-Terry for publication"])
    lb.extra.update(k_factor=k, rounds=rounds if ci == "bootstrap" else None, seed=seed if ci == "bootstrap" else None,
                    interval=f"{level:.0%} bootstrap interval over resampled vote orders" if ci == "bootstrap" else "no interval")
    return lb
