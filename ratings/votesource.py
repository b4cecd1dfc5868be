"""Counted votes of one leaderboard, read from the arena's tables: aggregated in SQL (GROUP BY
into (model_a, model_b, outcome) cells with weight sums), never by looping over pairwise rows in
Python; K-wise rankings and order-dependent methods read per-vote rows.

A leaderboard is (modality, category), where category is one of:
  overall | category:<prompt category> | language:<code> | turns:single | turns:multi |
  votes:pairwise | votes:kwise | criterion:<name>
"""
from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
from django.db import connection
from django.db.models import Count, F, FilteredRelation, Max, Q, QuerySet, Sum
from django.db.models.fields.json import KT

from arena.models import Battle, Competitor, Vote
from ratings.engine import PairCells, Rankings, Votes
from ratings.engine.cells import Clusters, clusters_of, comparisons
from ratings.engine.votes import WINNER_CODES

OUTCOME_TO_WINNER = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "both_bad"}


class UnknownCategory(ValueError):
    pass


def category_filter(category: str) -> tuple[Q, str | None]:
    """(filter on Vote, criterion name or None) for a leaderboard category."""
    kind, _, value = category.partition(":")
    if category == "overall":
        return Q(), None
    if kind == "category" and value:
        return Q(category=value), None
    if kind == "language" and value:
        return Q(language=value), None
    if category == "turns:single":
        return Q(n_turns=1), None
    if category == "turns:multi":
        return Q(n_turns__gt=1), None
    if category == "votes:pairwise":
        return Q(mode=Battle.MODE_PAIRWISE), None
    if category == "votes:kwise":
        return Q(mode=Battle.MODE_KWISE), None
    if kind == "criterion" and value:
        return Q(mode=Battle.MODE_PAIRWISE, **{f"criteria__{value}__isnull": False}), value
    raise UnknownCategory(f"unknown leaderboard category {category!r}")


def counted_votes(modality: str, category: str) -> QuerySet[Vote]:
    """The leaderboard's votes. Named side-by-side votes are never counted (arena.services.votes),
    so `counted` alone keeps them out. One table, no join: the grouping columns live on Vote."""
    q, _ = category_filter(category)
    return Vote.objects.filter(q, counted=True, weight__gt=0, modality=modality)


@dataclass(frozen=True)
class Fingerprint:
    count: int
    max_id: int
    hash: str


def fingerprint(qs: QuerySet[Vote]) -> Fingerprint:
    """Count, highest id and a hash of the (id, weight) pairs of the votes in ``qs``: the same
    fingerprint a leaderboard's incremental cells keep (ratings.boardcells), by a full scan."""
    from ratings.boardcells import _fingerprint_delta, _signed

    d = _fingerprint_delta(qs)
    top = qs.aggregate(top=Max("id"))["top"] or 0
    digest = hashlib.sha1(f"{d.count}:{_signed(d.xor)}:{d.total}".encode()).hexdigest()
    return Fingerprint(count=d.count, max_id=top, hash=digest)


def _with_slots(qs: QuerySet[Vote], k: int) -> QuerySet[Vote]:
    rel = {
        f"s{p}": FilteredRelation("battle__slots", condition=Q(battle__slots__position=p)) for p in range(k)
    }
    return qs.annotate(**rel)


def pair_rows(modality: str, category: str) -> list[tuple[str, str, str, float, int, float, int]]:
    """(model_a, model_b, outcome, weight sum, count, squared-weight sum, voter), one per voter and
    cell; model_a is the model shown first (slot A), which the position-bias parameter needs."""
    qs = counted_votes(modality, category).filter(mode=Battle.MODE_PAIRWISE)
    _, criterion = category_filter(category)
    outcome = KT(f"criteria__{criterion}") if criterion else F("outcome")
    rows = (
        qs.annotate(o=outcome)
        .values("voter_id", "model_a_id", "model_b_id", "o")
        .annotate(w=Sum("weight"), n=Count("id"), w2=Sum(F("weight") * F("weight")))
        .order_by()
    )
    slug = dict(Competitor.objects.values_list("pk", "slug"))
    return [(slug[r["model_a_id"]], slug[r["model_b_id"]], r["o"], r["w"], r["n"], r["w2"], r["voter_id"]) for r in rows]


def kwise_rows(modality: str, category: str) -> list[tuple[int, list[str], list[int], float, int]]:
    """(vote id, models by position, places, weight, voter) of counted K-wise votes, in vote order."""
    qs = counted_votes(modality, category).filter(mode=Battle.MODE_KWISE)
    out = []
    for k in qs.values_list("battle__k", flat=True).distinct().order_by():
        names = [f"s{p}__competitor__slug" for p in range(k)]
        for row in _with_slots(qs.filter(battle__k=k), k).values_list("id", "ranking", "weight", "voter_id", *names).order_by("id"):
            out.append((row[0], list(row[4:]), list(row[1]), row[2], row[3]))
    out.sort(key=lambda r: r[0])
    return out


def comparisons_of(modality: str, category: str) -> tuple[PairCells, Rankings, dict[str, int], Clusters]:
    """Cells (oriented: model_a shown first), rankings and voter clusters exactly as the engine builds
    them from the exported file of the same votes (same sorted model list, same rank-breaking, one
    cluster per voter), and the counted votes each model took part in (from the same rows)."""
    return board_comparisons(pair_rows(modality, category), kwise_rows(modality, category))


def board_comparisons(pairs, kwise) -> tuple[PairCells, Rankings, dict[str, int], Clusters]:
    """From per-(voter, cell) rows (model_a, model_b, outcome, w, n, w2, voter) and K-wise vote rows
    (id, models, places, weight, voter): the engine's cells, rankings, vote counts and clusters."""
    counts: Counter[str] = Counter()
    for a, b, _o, _w, n, _w2, _v in pairs:
        counts[a] += n
        counts[b] += n
    for r in kwise:
        counts.update(r[1])
    models = sorted({r[0] for r in pairs} | {r[1] for r in pairs} | {m for r in kwise for m in r[1]})
    outcome = [OUTCOME_TO_WINNER.get(r[2], r[2]) for r in pairs]
    cells = PairCells.from_counts(
        model_a=[r[0] for r in pairs], model_b=[r[1] for r in pairs], outcome=outcome,
        weight=[r[3] for r in pairs], count=[r[4] for r in pairs], weight_sq=[r[5] for r in pairs], models=models,
        oriented=True,
    )
    index = {m: k for k, m in enumerate(models)}
    voters: dict[int, int] = {}
    code = np.array([WINNER_CODES[o] for o in outcome], dtype=np.int64)
    pair_clusters = np.array([voters.setdefault(r[6], len(voters)) for r in pairs], dtype=np.int64)
    rankings = Rankings()
    kv = None
    if kwise:
        empty = np.zeros(0, dtype=np.int32)
        kv = Votes(
            models=models, a=empty, b=empty, outcome=np.zeros(0, dtype=np.int8),
            kw_items=[np.array([index[m] for m in r[1]], dtype=np.int64) for r in kwise],
            kw_places=[np.array(r[2], dtype=np.int64) for r in kwise],
            kw_weight=np.array([r[3] for r in kwise], dtype=np.float64),
            kw_seq=np.arange(len(kwise), dtype=np.int64),
            voter=empty.astype(np.int64),
            kw_voter=np.array([voters.setdefault(r[4], len(voters)) for r in kwise], dtype=np.int64),
        )
        kw_cells, rankings = comparisons(kv)
        cells = cells.merged(kw_cells)
    kw_clusters = clusters_of(kv) if kv is not None else None
    a = np.array([index[r[0]] for r in pairs], dtype=np.int64)
    b = np.array([index[r[1]] for r in pairs], dtype=np.int64)
    parts = [(pair_clusters, a, b, np.ones(len(pairs)), code, np.array([r[3] for r in pairs], dtype=np.float64))]
    if kw_clusters is not None:
        parts.append((kw_clusters.cluster, kw_clusters.i, kw_clusters.j, kw_clusters.pos, kw_clusters.outcome, kw_clusters.w))
    clusters = Clusters.from_rows(*(np.concatenate([p[k] for p in parts]) for k in range(6)),
                                  rank_cluster=kw_clusters.rank_cluster if kw_clusters is not None else {})
    return cells, rankings, dict(counts), clusters


def style_counts(vote_ids: list[int]) -> dict[int, dict[str, float]]:
    """conv_metadata-style counts per vote (summed over turns), from each output's stored style."""
    from arena.models import Generation

    out: dict[int, dict[str, float]] = {}
    rows = Generation.objects.filter(slot__battle__vote__id__in=vote_ids).values_list(
        "slot__battle__vote__id", "slot__position", "meta"
    )
    for vid, pos, meta in rows.iterator(chunk_size=5000):
        side = "a" if pos == 0 else "b"
        st = (meta or {}).get("style") or {}
        d = out.setdefault(vid, {})
        for key, field in (("tokens", f"sum_assistant_{side}_tokens"), ("headers", f"header_count_{side}"),
                           ("lists", f"list_count_{side}"), ("bold", f"bold_count_{side}")):
            d[field] = d.get(field, 0) + float(st.get(key, 0))
    return out


def export_records(modality: str, category: str, *, style: bool = False) -> list[dict]:
    """The leaderboard's counted votes in the engine's input schema, in vote order (what
    `python -m ratings fit` reads; also the public export's core columns)."""
    qs = counted_votes(modality, category)
    _, criterion = category_filter(category)
    records: list[tuple[int, dict]] = []
    pair_qs = qs.filter(mode=Battle.MODE_PAIRWISE)
    for vid, a, b, outcome, weight, crit, cat, lang, turns, voter in pair_qs.values_list(
        "id", "model_a__slug", "model_b__slug", "outcome", "weight", "criteria", "category", "language", "n_turns",
        "voter_id",
    ).order_by("id"):
        winner = OUTCOME_TO_WINNER[(crit or {}).get(criterion) if criterion else outcome]
        records.append((vid, {"vote_id": vid, "model_a": a, "model_b": b, "winner": winner, "weight": weight,
                              "category": cat, "language": lang, "turns": turns, "voter": voter}))
    if style:
        counts = style_counts([vid for vid, _ in records])
        for vid, rec in records:
            rec["conv_metadata"] = counts.get(vid, {})
    for vid, models, places, weight, voter in kwise_rows(modality, category):
        records.append((vid, {"vote_id": vid, "models": models, "ranking": places, "weight": weight, "voter": voter}))
    records.sort(key=lambda r: r[0])
    return [r for _, r in records]


def votes_per_model(records: list[dict]) -> dict[str, int]:
    """Counted votes each model took part in, from exported records (no second scan)."""
    out: Counter[str] = Counter()
    for r in records:
        out.update(r["models"] if "models" in r else (r["model_a"], r["model_b"]))
    return dict(out)


def competitor_names() -> dict[str, tuple[str, str]]:
    return {slug: (name, org) for slug, name, org in Competitor.objects.values_list("slug", "name", "organization")}
