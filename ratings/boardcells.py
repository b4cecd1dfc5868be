"""Incremental cells of a leaderboard, kept inside the recompute pipeline (never in the vote's
request): a recompute costs the same at 10M votes as at 10k.

Each board (modality, category) keeps
- ``BoardCell``: its counted pairwise votes summed per (model shown first, model shown second,
  outcome): weight, count and squared weight, all a Bradley-Terry fit with position bias needs;
- ``BoardVoter``: counted pairwise votes per voter (the heaviest voters' votes are clustered);
- in ``BoardCells``: the fingerprint of its counted votes (count, XOR and sum of 64-bit hashes of
  (id, weight)), and two watermarks: the votes and the exclusion decisions absorbed so far.

An update absorbs what came since:
1. exclusion decisions (arena.ExclusionDecision, append-only) after the last one seen: each flips
   one already-absorbed vote in or out (undo flips it back);
2. votes after the last id seen, each counted as it is now, except that decisions not yet absorbed
   are undone in the same statement (a vote's original state XOR the parity of its unabsorbed
   decisions), so that a decision committing while we read is absorbed exactly once, next time.
Ids are handed out before commit, so a vote (or decision) with a lower id can commit after a higher
one: ids missing at a scan are kept as gaps and looked for again; a gap older than
RATINGS_GAP_TTL_S is a rolled-back transaction and dropped.
"""
from __future__ import annotations

import hashlib
import time
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

import numpy as np

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Count, F, FilteredRelation, IntegerField, Max, Min, OuterRef, Q, QuerySet, Subquery, Sum, Value, When
from django.db.models.fields.json import KT
from django.db.models.functions import Coalesce, Mod

from arena.models import Battle, ExclusionDecision, Vote
from ratings.models import BoardCell, BoardCells, BoardVoter
from ratings.votesource import Fingerprint, category_filter

_MASK = (1 << 64) - 1


def _board_votes(modality: str, category: str) -> QuerySet[Vote]:
    """Every vote of the board whatever its `counted` (weight > 0: a zero weight never counts)."""
    q, _ = category_filter(category)
    return Vote.objects.filter(q, modality=modality, weight__gt=0)


def _outcome(category: str):
    _, criterion = category_filter(category)
    return KT(f"criteria__{criterion}") if criterion else F("outcome")


Gap = tuple[int, int, float]  # ids a..b (inclusive) missing at a scan, first seen at t (unix s)


def _gaps(stored: list[list[float]]) -> list[Gap]:
    """The stored gaps as ranges ([id, t] from before ranges: one id)."""
    return [(int(g[0]), int(g[0]), g[1]) if len(g) == 2 else (int(g[0]), int(g[1]), g[2]) for g in stored]


def _in_ranges(field: str, ranges) -> Q:
    q = Q()
    for a, b, *_ in ranges:
        q |= Q(**{field: a}) if a == b else Q(**{f"{field}__range": (a, b)})
    return q


def _missing(model, lo: int, hi: int) -> list[tuple[int, int]]:
    """Ranges of ids in (lo, hi] not (yet) in the table: in-flight or rolled-back transactions.
    Found as the holes between committed ids by one index scan in the database, and kept as ranges:
    a table whose ids start high (truncated, restored) is one range, not a million ids."""
    if hi <= lo:
        return []
    agg = model.objects.filter(id__gt=lo, id__lte=hi).aggregate(n=Count("id"), first=Min("id"))
    if agg["n"] == hi - lo:
        return []
    first = agg["first"] or hi + 1
    out = [(lo + 1, first - 1)] if first > lo + 1 else []
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cur:
        cur.execute(f"SELECT prev, id FROM (SELECT id, LAG(id) OVER (ORDER BY id) AS prev FROM {table} "
                    f"WHERE id > %s AND id <= %s) AS w WHERE id - prev > 1 ORDER BY id", [lo, hi])
        out += [(prev + 1, nxt - 1) for prev, nxt in cur.fetchall()]
    return out


def _scan(model, last: int, gaps: list[list[float]], now: float, field: str = "id") -> tuple[Q, None, int, list[list[float]]]:
    """(Q of the new ids to absorb on ``field``, -, new watermark, new gaps)."""
    hi = model.objects.aggregate(m=Max("id"))["m"] or 0
    hi = max(hi, last)
    old = _gaps(gaps)
    found = sorted(model.objects.filter(_in_ranges("id", old)).values_list("id", flat=True)) if old else []
    ttl = settings.RATINGS_GAP_TTL_S
    new_gaps: list[list[float]] = []
    for a, b, t in old:  # what is still missing of each old gap, until it is too old to wait for
        if now - t >= ttl:
            continue
        for k in found[bisect_left(found, a):bisect_right(found, b)]:
            if k > a:
                new_gaps.append([a, k - 1, t])
            a = k + 1
        if a <= b:
            new_gaps.append([a, b, t])
    missing = _missing(model, last, hi)
    new_gaps += [[a, b, now] for a, b in missing]
    fresh = Q(**{f"{field}__gt": last, f"{field}__lte": hi})
    if missing:
        fresh &= ~_in_ranges(field, missing)
    if found:
        fresh |= Q(**{f"{field}__in": found})
    return fresh, None, hi, new_gaps


def _vote_hash(vid: int, weight: float) -> int:
    return int.from_bytes(hashlib.blake2b(f"{vid}:{weight!r}".encode(), digest_size=8).digest(), "big", signed=True)


@dataclass
class _Delta:
    count: int = 0
    xor: int = 0
    total: int = 0


def _fingerprint_delta(qs: QuerySet, sign_field: str | None = None) -> _Delta:
    """Count, XOR and sum of the hashes of the votes in ``qs`` (with a ±1 sign per row if given)."""
    d = _Delta()
    rows = qs.values_list("id", "weight", *( [sign_field] if sign_field else [])).order_by()
    for row in rows.iterator(chunk_size=100_000):
        h = _vote_hash(row[0], row[1])
        s = int(row[2]) if sign_field else 1
        d.count += s
        d.xor ^= h
        d.total += s * h
    return d


def _upsert_sums(model, board_id: int, grouped: QuerySet, key: dict[str, str], sums: dict[str, str]) -> None:
    """Add grouped rows into ``model``'s table: INSERT ... SELECT over the grouped query, summing
    into the row of the same (board, key) when there is one. ``key``, ``sums``: column -> grouped field."""
    sql, params = grouped.query.sql_with_params()
    table = model._meta.db_table
    cols = {**key, **sums}
    added = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in sums)
    with connection.cursor() as cur:
        cur.execute(
            f"INSERT INTO {table} (board_id, {', '.join(cols)}) SELECT %s, {', '.join(f'g.{f}' for f in cols.values())}"
            f" FROM ({sql}) g WHERE true ON CONFLICT (board_id, {', '.join(key)}) DO UPDATE SET {added}",
            [board_id, *params],
        )


def _upsert_cells(board_id: int, grouped: QuerySet) -> None:
    """Add grouped (model_a_id, model_b_id, o, w, n, w2) rows into BoardCell."""
    _upsert_sums(BoardCell, board_id, grouped, {"model_a_id": "model_a_id", "model_b_id": "model_b_id", "outcome": "o"},
                 {"w": "w", "n": "n", "w2": "w2"})


def _upsert_voters(board_id: int, grouped: QuerySet) -> None:
    """Add grouped (voter_id, n) rows into BoardVoter."""
    _upsert_sums(BoardVoter, board_id, grouped, {"voter_id": "voter_id"}, {"votes": "n"})


def board_update(*, modality: str, category: str) -> BoardCells:
    """Absorb the votes and exclusion decisions that came since the last update; returns the state."""
    now = time.time()
    with transaction.atomic():
        BoardCells.objects.get_or_create(modality=modality, category=category)
        state = BoardCells.objects.select_for_update().get(modality=modality, category=category)
        base = _board_votes(modality, category)
        o = _outcome(category)

        # 1. Decisions after the last one seen, on votes absorbed before: each flips one vote.
        d_fresh, _, d_hi, d_gaps = _scan(ExclusionDecision, state.last_decision_id, state.decision_gaps, now,
                                         field="decisions__id")
        v_before = _absorbed(state)
        flipped = (base.filter(v_before)
                   .annotate(nd=FilteredRelation("decisions", condition=d_fresh))
                   .filter(nd__isnull=False)
                   .annotate(sign=Case(When(nd__counted=True, then=Value(1)), default=Value(-1), output_field=IntegerField())))
        pair_flips = flipped.filter(mode=Battle.MODE_PAIRWISE).annotate(o=o)
        _upsert_cells(state.pk, pair_flips.values("model_a_id", "model_b_id", "o").annotate(
            w=Sum(F("weight") * F("sign")), n=Sum("sign"), w2=Sum(F("weight") * F("weight") * F("sign"))).order_by())
        _upsert_voters(state.pk, pair_flips.values("voter_id").annotate(n=Sum("sign")).order_by())
        delta = _fingerprint_delta(flipped, "sign")
        kw_flips = flipped.filter(mode=Battle.MODE_KWISE).aggregate(n=Sum("sign"))["n"] or 0

        # 2. Votes after the last id seen, as they are now minus decisions not absorbed yet.
        v_fresh, _, v_hi, v_gaps = _scan(Vote, state.last_vote_id, state.vote_gaps, now)
        pending = Q(id__gt=d_hi)
        if d_gaps:
            pending |= _in_ranges("id", _gaps(d_gaps))
        unabsorbed = (ExclusionDecision.objects.filter(pending, vote_id=OuterRef("pk")).order_by()
                      .values("vote_id").annotate(c=Count("id")).values("c")[:1])
        fresh = (base.filter(v_fresh)
                 .annotate(odd=Mod(Coalesce(Subquery(unabsorbed, output_field=IntegerField()), Value(0)), Value(2)))
                 .filter(Q(counted=True, odd=0) | Q(counted=False, odd=1)))
        pairs = fresh.filter(mode=Battle.MODE_PAIRWISE).annotate(o=o)
        _upsert_cells(state.pk, pairs.values("model_a_id", "model_b_id", "o").annotate(
            w=Sum("weight"), n=Count("id"), w2=Sum(F("weight") * F("weight"))).order_by())
        _upsert_voters(state.pk, pairs.values("voter_id").annotate(n=Count("id")).order_by())
        add = _fingerprint_delta(fresh)
        kw_new = fresh.filter(mode=Battle.MODE_KWISE).count()

        state.vote_count += delta.count + add.count
        state.kwise_count += kw_flips + kw_new
        state.hash_xor = _signed(state.hash_xor ^ delta.xor ^ add.xor)
        state.hash_sum = str(int(state.hash_sum) + delta.total + add.total)
        state.last_vote_id, state.vote_gaps = v_hi, v_gaps
        state.last_decision_id, state.decision_gaps = d_hi, d_gaps
        state.save()
    return state


def _absorbed(state: BoardCells) -> Q:
    q = Q(id__lte=state.last_vote_id)
    if state.vote_gaps:
        q &= ~_in_ranges("id", _gaps(state.vote_gaps))
    return q


def _signed(x: int) -> int:
    x &= _MASK
    return x - (1 << 64) if x >= 1 << 63 else x


def fingerprint_of(state: BoardCells) -> Fingerprint:
    """The board's vote-set fingerprint from the incremental state (no scan of the votes)."""
    q, _ = category_filter(state.category)
    top = (Vote.objects.filter(q, modality=state.modality, counted=True, weight__gt=0)
           .order_by("-id").values_list("id", flat=True).first()) or 0
    digest = hashlib.sha1(f"{state.vote_count}:{state.hash_xor}:{state.hash_sum}".encode()).hexdigest()
    return Fingerprint(count=state.vote_count, max_id=top, hash=digest)


def fingerprint_full(*, modality: str, category: str) -> Fingerprint:
    """The same fingerprint by a full scan of the counted votes (for checks and tests)."""
    q, _ = category_filter(category)
    d = _fingerprint_delta(Vote.objects.filter(q, modality=modality, counted=True, weight__gt=0))
    state = BoardCells(modality=modality, category=category, vote_count=d.count, hash_xor=_signed(d.xor),
                       hash_sum=str(d.total))
    return fingerprint_of(state)


# One cell as Postgres' binary send functions write it (big-endian), all cells in one bytea value.
_CELL_BYTES = np.dtype([("a", ">i8"), ("b", ">i8"), ("o", ">i2"), ("w", ">f8"), ("n", ">f8"), ("w2", ">f8")])


def _cell_arrays(state: BoardCells) -> tuple[np.ndarray, ...]:
    """The board's cells as arrays (model_a id, model_b id, outcome code, w, n, w2): ~120k rows at 200
    models whatever the number of votes. On Postgres one value (the rows' binary forms concatenated),
    read without a Python object per row or per value; elsewhere (the embedded SQLite) plain rows."""
    from ratings.engine.cells import _OUTCOME_ALIASES
    from ratings.engine.votes import WINNER_CODES
    from ratings.votesource import OUTCOME_TO_WINNER

    codes = {**_OUTCOME_ALIASES, **{k: WINNER_CODES[v] for k, v in OUTCOME_TO_WINNER.items()}}
    case = "CASE outcome " + " ".join(f"WHEN '{k}' THEN {int(c)}" for k, c in codes.items() if "'" not in k) + " ELSE -1 END"
    where = f"FROM {BoardCell._meta.db_table} WHERE board_id = %s AND n > 0.5"
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute(f"SELECT string_agg(int8send(model_a_id) || int8send(model_b_id) || int2send(CAST({case} AS smallint))"
                        f" || float8send(w) || float8send(n) || float8send(w2), ''::bytea) {where}", [state.pk])
            rows = np.frombuffer(bytes(cur.fetchone()[0] or b""), dtype=_CELL_BYTES)
            return rows["a"], rows["b"], rows["o"], rows["w"], rows["n"], rows["w2"]
        cur.execute(f"SELECT model_a_id, model_b_id, {case}, w, n, w2 {where}", [state.pk])
        table = np.array(cur.fetchall(), dtype=np.float64).reshape(-1, 6)
    return (table[:, 0].astype(np.int64), table[:, 1].astype(np.int64), table[:, 2].astype(np.int16),
            table[:, 3], table[:, 4], table[:, 5])


def heavy_voter_rows(state: BoardCells, heavy: int, slug: dict[int, str]) -> list:
    """(voter, model_a, model_b, outcome, w, n, w2) rows of the ``heavy`` voters with the most counted
    votes in the board (at least 2 each), read from the votes themselves."""
    voters = list(BoardVoter.objects.filter(board=state, votes__gte=2).order_by("-votes", "voter_id")
                  .values_list("voter_id", flat=True)[:heavy])
    if not voters:
        return []
    q, _ = category_filter(state.category)
    qs = (Vote.objects.filter(q, modality=state.modality, counted=True, weight__gt=0, mode=Battle.MODE_PAIRWISE,
                              voter_id__in=voters).annotate(o=_outcome(state.category))
          .values("voter_id", "model_a_id", "model_b_id", "o")
          .annotate(w=Sum("weight"), n=Count("id"), w2=Sum(F("weight") * F("weight"))).order_by())
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cur:  # ~100k rows: plain tuples, no ORM dict and converters per row
        cur.execute(sql, params)
        return [(v, slug[a], slug[b], o, w, n, w2) for v, a, b, o, w, n, w2 in cur.fetchall()]


def board_fit_input(state: BoardCells, heavy: int):
    """(cells, rankings, votes per model, clusters) of a board for the published fit: pairwise votes
    from the incremental cells, the ``heavy`` heaviest voters' votes clustered by voter (the others
    independent), K-wise votes read per vote (each a cluster with its voter's other votes)."""
    from arena.models import Competitor
    from ratings.engine import PairCells, RatingDataError, Rankings
    from ratings.engine.cells import Clusters, clusters_of, comparisons
    from ratings.engine.votes import WINNER_CODES, Votes
    from ratings.votesource import OUTCOME_TO_WINNER, kwise_rows

    slug = dict(Competitor.objects.values_list("pk", "slug"))
    ids_a, ids_b, code, w, n, w2 = _cell_arrays(state)
    if (code < 0).any():
        raise RatingDataError("unknown outcome in the board's cells")
    if (ids_a == ids_b).any():
        raise RatingDataError("aggregated counts compare a model with itself")
    heavy_rows = heavy_voter_rows(state, heavy, slug) if heavy else []
    kwise = kwise_rows(state.modality, state.category) if state.kwise_count > 0 else []
    ids, inv = np.unique(np.concatenate([ids_a, ids_b]), return_inverse=True)
    per_id = np.bincount(inv, weights=np.concatenate([n, n]), minlength=len(ids))
    counts: dict[str, float] = {slug[int(k)]: float(c) for k, c in zip(ids, per_id)}
    for r in kwise:
        for m in r[1]:
            counts[m] = counts.get(m, 0) + 1
    models = sorted(counts)
    index = {m: k for k, m in enumerate(models)}
    at = np.array([index[slug[int(k)]] for k in ids], dtype=np.int64)[inv]
    cells = PairCells.from_indices(models, at[: len(ids_a)], at[len(ids_a):], code, weight=w, count=n, weight_sq=w2,
                                   oriented=True)
    voters: dict[int, int] = {}
    rankings = Rankings()
    kw_clusters = None
    if kwise:
        empty = np.zeros(0, dtype=np.int64)
        kv = Votes(models=models, a=empty.astype(np.int32), b=empty.astype(np.int32), outcome=np.zeros(0, np.int8),
                   kw_items=[np.array([index[m] for m in r[1]], dtype=np.int64) for r in kwise],
                   kw_places=[np.array(r[2], dtype=np.int64) for r in kwise],
                   kw_weight=np.array([r[3] for r in kwise], dtype=np.float64), kw_seq=np.arange(len(kwise)),
                   voter=empty, kw_voter=np.array([voters.setdefault(r[4], len(voters)) for r in kwise], dtype=np.int64))
        kw_cells, rankings = comparisons(kv)
        cells = cells.merged(kw_cells)
        kw_clusters = clusters_of(kv)
    parts = []
    if heavy_rows:
        w = np.array([r[4] for r in heavy_rows], dtype=np.float64)
        parts.append((np.array([voters.setdefault(r[0], len(voters)) for r in heavy_rows], dtype=np.int64),
                      np.array([index[r[1]] for r in heavy_rows], dtype=np.int64),
                      np.array([index[r[2]] for r in heavy_rows], dtype=np.int64), np.ones(len(heavy_rows)),
                      np.array([WINNER_CODES[OUTCOME_TO_WINNER.get(r[3], r[3])] for r in heavy_rows], dtype=np.int64), w,
                      np.array([r[5] for r in heavy_rows], dtype=np.float64), np.array([r[6] for r in heavy_rows], dtype=np.float64)))
    if kw_clusters is not None:
        parts.append((kw_clusters.cluster, kw_clusters.i, kw_clusters.j, kw_clusters.pos, kw_clusters.outcome,
                      kw_clusters.w, kw_clusters.n, kw_clusters.w2))
    clusters = None
    if parts:
        cols = [np.concatenate([p[k] for p in parts]) for k in range(8)]
        clusters = Clusters.from_rows(*cols[:6], rank_cluster=kw_clusters.rank_cluster if kw_clusters is not None else {},
                                      n=cols[6], w2=cols[7], partial=True)
    return cells, rankings, {m: int(round(c)) for m, c in counts.items()}, clusters
