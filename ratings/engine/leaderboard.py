"""The result every method returns: ratings, intervals, rank intervals, per-model statistics.

    lb.rows()      # list of dicts, best first within each part of the comparison graph:
                   # model, rating, lower, upper, rank, rank_upper, votes, win_rate (+ part, flags)
    lb.to_dict()   # JSON-ready: {"method", "ci", "votes", "models": rows, "parts", "notes", ...}
    lb.win_matrix  # (M, M) share of i's points against j (ties half), NaN where they never met
    lb.battle_matrix  # (M, M) number of votes in which i and j were compared

Ranks follow Chatbot Arena: rank = 1 + number of models whose lower bound is above this model's
upper bound (the best rank the data allow); rank_upper = the worst one, M_part minus the number of
models whose upper bound is below this model's lower bound. Ranks only compare models within one
connected part of the comparison graph: across parts the ratings have no common zero.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ratings.engine.cells import PairCells, Rankings, broken_pairs
from ratings.engine.errors import RatingDataError


@dataclass
class Leaderboard:
    method: str
    ci: str
    level: float
    models: list[str]
    rating: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rank: np.ndarray
    rank_upper: np.ndarray
    votes: np.ndarray  # votes in which each model took part
    win_rate: np.ndarray  # share of points won (ties half), NaN if none
    part: np.ndarray  # connected part of the comparison graph, 0 = largest
    win_matrix: np.ndarray
    battle_matrix: np.ndarray
    n_votes: float
    flags: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    # Models below the preliminary vote count: rated and listed, never ranked among the others.
    provisional: np.ndarray | None = None
    tier: np.ndarray | None = None  # max-t tier (1 = top) of each ranked model, 0 = none

    def __post_init__(self) -> None:
        if self.provisional is None:
            self.provisional = np.zeros(len(self.models), dtype=bool)
        if self.tier is None:
            self.tier = np.zeros(len(self.models), dtype=np.int64)

    @property
    def parts(self) -> list[list[str]]:
        return [[self.models[k] for k in np.flatnonzero(self.part == p)] for p in range(int(self.part.max()) + 1)]

    def order(self) -> np.ndarray:
        """Ranked models (by part, then rating), then the provisional ones (by rating)."""
        return np.lexsort((np.array(self.models), -self.rating, self.part, self.provisional))

    def rows(self) -> list[dict[str, Any]]:
        several = self.part.max() > 0
        out = []
        for k in self.order():
            row = {
                "model": self.models[k],
                "rating": float(self.rating[k]),
                "lower": float(self.lower[k]),
                "upper": float(self.upper[k]),
                "rank": None if self.provisional[k] else int(self.rank[k]),
                "rank_upper": None if self.provisional[k] else int(self.rank_upper[k]),
                "votes": _num(self.votes[k]),
                "win_rate": None if math.isnan(self.win_rate[k]) else float(self.win_rate[k]),
            }
            if several:
                row["part"] = int(self.part[k]) + 1
            if self.provisional[k]:
                row["provisional"] = True
            if self.tier[k]:
                row["tier"] = int(self.tier[k])
            if self.flags[k]:
                row["flags"] = list(self.flags[k])
            out.append(row)
        return out

    def to_dict(self, matrices: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"method": self.method, "ci": self.ci, "level": self.level,
                             "votes": _num(self.n_votes), "models": self.rows()}
        if self.part.max() > 0:
            d["parts"] = self.parts
        d["notes"] = list(self.notes)
        d.update({k: _jsonable(v) for k, v in self.extra.items() if v is not None})
        if matrices:
            order = self.order()
            d["matrix_models"] = [self.models[k] for k in order]
            d["win_matrix"] = _jsonable(self.win_matrix[np.ix_(order, order)])
            d["battle_matrix"] = _jsonable(self.battle_matrix[np.ix_(order, order)])
        return d


def _num(x: float) -> float | int:
    x = float(x)
    return int(x) if x.is_integer() else x


def _jsonable(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()] if v.ndim else _jsonable(v.item())
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (np.floating, np.integer)):
        return _jsonable(v.item())
    return v


def rank_intervals(lower: np.ndarray, upper: np.ndarray, part: np.ndarray,
                   ranked: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rank intervals within each part, among the ``ranked`` models only (the others get 0)."""
    rank = np.zeros(len(lower), dtype=np.int64)
    worst = np.zeros(len(lower), dtype=np.int64)
    ranked = np.ones(len(lower), dtype=bool) if ranked is None else ranked
    for p in np.unique(part):
        idx = np.flatnonzero((part == p) & ranked)
        if not len(idx):
            continue
        lo, up = lower[idx], upper[idx]
        rank[idx] = 1 + (lo[None, :] > up[:, None]).sum(axis=1)
        worst[idx] = len(idx) - (up[None, :] < lo[:, None]).sum(axis=1)
    return rank, worst


def pair_statistics(cells: PairCells, rankings: Rankings) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Win-share and battle-count matrices, and per-model votes and win rate."""
    m = cells.m
    points = np.zeros((m, m))
    weight = np.zeros((m, m))
    battles = np.zeros((m, m))
    np.add.at(points, (cells.i, cells.j), cells.score)
    np.add.at(points, (cells.j, cells.i), cells.w[:, 1] + 0.5 * cells.w[:, 2])
    np.add.at(weight, (cells.i, cells.j), cells.total)
    np.add.at(battles, (cells.i, cells.j), cells.n.sum(axis=1))
    votes = np.bincount(cells.i, cells.n.sum(axis=1), m) + np.bincount(cells.j, cells.n.sum(axis=1), m).astype(float)
    bi, bj = broken_pairs(rankings)
    if len(bi):
        # broken_pairs lists each group's (x, y) position pairs in turn, every vote within each.
        bw = np.concatenate([np.tile(w * 2.0 / k, k * (k - 1) // 2) for k, (_, w) in rankings.groups.items()])
        np.add.at(points, (bi, bj), bw)
        np.add.at(weight, (bi, bj), bw)
        np.add.at(battles, (bi, bj), np.concatenate([np.tile(rankings.count(k), k * (k - 1) // 2)
                                                     for k in rankings.groups]))
        for k, (items, _) in rankings.groups.items():
            votes += np.bincount(items.ravel(), weights=np.repeat(rankings.count(k), k), minlength=m)
    weight = weight + weight.T
    battles = battles + battles.T
    with np.errstate(invalid="ignore", divide="ignore"):
        win_matrix = np.where(weight > 0, points / weight, np.nan)
        win_rate = np.where(weight.sum(1) > 0, points.sum(1) / weight.sum(1), np.nan)
    return win_matrix, battles, votes, win_rate


def build_leaderboard(
    *,
    method: str,
    ci: str,
    level: float,
    cells: PairCells,
    rankings: Rankings,
    rating: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    parts: np.ndarray,
    notes: list[str] | None = None,
    anchor: tuple[str, float] | None = None,
    n_votes: float | None = None,
    model_votes: np.ndarray | None = None,
    min_votes: float = 0,
) -> Leaderboard:
    """Assemble a Leaderboard: statistics, flags, parts (largest first), anchor, rank intervals."""
    notes = list(notes or [])
    m = cells.m
    if not (np.all(np.isfinite(rating)) and np.all(np.isfinite(lower)) and np.all(np.isfinite(upper))):
        raise RatingDataError("the fit did not produce finite ratings; the data are too degenerate to rate")
    sizes = np.bincount(parts)
    relabel = np.empty_like(sizes)
    relabel[np.lexsort((np.arange(len(sizes)), -sizes))] = np.arange(len(sizes))
    part = relabel[parts]
    if anchor is not None:
        name, value = anchor
        if name not in cells.models:
            raise RatingDataError(f"--anchor: model {name!r} is not in the votes")
        k = cells.models.index(name)
        shift = value - rating[k]
        same = part == part[k]  # an anchor says nothing about the zero of another part
        rating, lower, upper = (x + shift * same for x in (rating, lower, upper))
    win_matrix, battles, votes, win_rate = pair_statistics(cells, rankings)
    if model_votes is not None:  # exact per-model counts; cells count a tied K-wise vote once per pair
        votes = np.asarray(model_votes, dtype=np.float64)
    flags: list[list[str]] = [[] for _ in range(m)]
    for k in range(m):
        if votes[k] == 0:
            flags[k].append("no votes")
        elif win_rate[k] == 1.0:
            flags[k].append("won every game: rating is a lower bound")
        elif win_rate[k] == 0.0:
            flags[k].append("lost every game: rating is an upper bound")
    voted_parts = np.unique(part[votes > 0])
    if len(voted_parts) > 1:
        groups = "; ".join(f"part {p + 1}: " + ", ".join(cells.models[k] for k in np.flatnonzero(part == p))
                           for p in voted_parts)
        notes.insert(0, f"the comparison graph has {len(voted_parts)} disconnected parts; ratings and ranks "
                        f"are comparable only within a part ({groups})")
    if np.any(votes == 0):  # e.g. a model the server lists before anyone voted on it: alone, unrated
        notes.append("no votes yet: " + ", ".join(cells.models[k] for k in np.flatnonzero(votes == 0)))
    provisional = (votes < min_votes) if min_votes else np.zeros(m, dtype=bool)
    if provisional.any():
        notes.append(f"provisional (fewer than {min_votes:g} votes; rated but not ranked): "
                     + ", ".join(cells.models[k] for k in np.flatnonzero(provisional)))
    rank, rank_upper = rank_intervals(lower, upper, part, ~provisional)
    return Leaderboard(method=method, ci=ci, level=level, models=list(cells.models), rating=rating,
                       lower=lower, upper=upper, rank=rank, rank_upper=rank_upper, votes=votes,
                       win_rate=win_rate, part=part, win_matrix=win_matrix, battle_matrix=battles,
                       n_votes=float(cells.n.sum()) + rankings.n_votes if n_votes is None else n_votes,
                       flags=flags, notes=notes, provisional=provisional)
