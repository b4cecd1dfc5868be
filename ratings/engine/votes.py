"""Row-level votes in memory: what a file or the server hands to the engine before aggregation.

``Votes`` holds pairwise votes as parallel integer arrays over one sorted model-name list, and
K-wise votes as (models, places) lists, each with its position in the original vote order
(``*_seq``) so that order-dependent methods (online Elo, the Bayesian updater) replay the votes
as they were cast, and so that error messages can name a line.

Outcome codes for pairwise votes: ``A_WINS = 0``, ``B_WINS = 1``, ``TIE = 2``. ``both_bad`` is
coded as a tie on purpose: like LMArena we count it as half a win each side.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ratings.engine.errors import RatingDataError

A_WINS, B_WINS, TIE = 0, 1, 2

# The public arena schema, plus the older "tie (bothbad)" spelling found in earlier dumps.
WINNER_CODES: dict[str, int] = {
    "model_a": A_WINS,
    "model_b": B_WINS,
    "tie": TIE,
    "both_bad": TIE,
    "tie (bothbad)": TIE,
}

# The four LMArena style features, per side, in the column order of ``Votes.style``.
STYLE_FEATURES = ("length", "headers", "lists", "bold")


@dataclass
class Votes:
    """Votes over ``models`` (sorted names); indices in ``a``, ``b`` and ``kw_items`` point into it."""

    models: list[str]
    a: np.ndarray  # (N,) int32 index of model_a
    b: np.ndarray  # (N,) int32 index of model_b
    outcome: np.ndarray  # (N,) int8: A_WINS, B_WINS, TIE
    weight: np.ndarray | None = None  # (N,) float64; None means all 1
    seq: np.ndarray | None = None  # (N,) int64 position in the vote order
    # K-wise votes: model indices and their places (1 = best, equal places = tie).
    kw_items: list[np.ndarray] = field(default_factory=list)
    kw_places: list[np.ndarray] = field(default_factory=list)
    kw_weight: np.ndarray | None = None  # (NK,) float64
    kw_seq: np.ndarray | None = None  # (NK,) int64
    # (N, 8) raw style counts: the four STYLE_FEATURES of side a, then of side b.
    style: np.ndarray | None = None
    # Who cast each vote (integer codes of a voter / judge pseudonym), when known: votes of one voter
    # are clustered in the intervals.
    voter: np.ndarray | None = None  # (N,) int64
    kw_voter: np.ndarray | None = None  # (NK,) int64
    notes: list[str] = field(default_factory=list)

    @property
    def n_pairwise(self) -> int:
        return int(self.a.shape[0])

    @property
    def n_kwise(self) -> int:
        return len(self.kw_items)

    @property
    def n_votes(self) -> int:
        return self.n_pairwise + self.n_kwise

    def pair_weight(self) -> np.ndarray:
        return np.ones(self.n_pairwise) if self.weight is None else self.weight

    def kwise_weight(self) -> np.ndarray:
        return np.ones(self.n_kwise) if self.kw_weight is None else self.kw_weight

    def model_votes(self) -> np.ndarray:
        """Number of votes each model took part in (a K-wise vote counts once per model in it)."""
        m = len(self.models)
        out = np.bincount(self.a, minlength=m) + np.bincount(self.b, minlength=m)
        if self.kw_items:
            out = out + np.bincount(np.concatenate(self.kw_items), minlength=m)
        return out.astype(np.float64)


def votes_from_names(
    model_a: list[str] | np.ndarray,
    model_b: list[str] | np.ndarray,
    winner: list[str] | np.ndarray,
    weight: list[float] | np.ndarray | None = None,
) -> Votes:
    """Pairwise votes from plain name lists (the server's rows, a test's fixture)."""
    ma = np.asarray(model_a, dtype=object)
    mb = np.asarray(model_b, dtype=object)
    models = sorted(set(ma.tolist()) | set(mb.tolist()))
    index = {m: k for k, m in enumerate(models)}
    a = np.fromiter((index[m] for m in ma), dtype=np.int32, count=len(ma))
    b = np.fromiter((index[m] for m in mb), dtype=np.int32, count=len(mb))
    return Votes(
        models=models,
        a=a,
        b=b,
        outcome=encode_winners(list(winner)),
        weight=None if weight is None else check_weights(np.asarray(weight, dtype=np.float64)),
        seq=np.arange(len(a), dtype=np.int64),
    )


def encode_winners(values: list[str | None], line_of: Callable[[int], str] | None = None) -> np.ndarray:
    """Winner strings to outcome codes; an unknown value names its first line."""
    uniq = {v for v in values}
    bad = [v for v in uniq if v not in WINNER_CODES]
    if bad:
        first = min(k for k, v in enumerate(values) if v in bad)
        where = line_of(first) if line_of else f"vote {first + 1}"
        raise RatingDataError(
            f"{where}: unknown winner value {values[first]!r}; expected one of "
            "model_a, model_b, tie, both_bad"
        )
    lut = {v: WINNER_CODES[v] for v in uniq}
    return np.fromiter((lut[v] for v in values), dtype=np.int8, count=len(values))


def check_weights(weight: np.ndarray) -> np.ndarray:
    if not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise RatingDataError("weight must be a finite number >= 0 on every vote")
    return weight
