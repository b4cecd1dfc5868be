"""The votes of a release, raw, batch by batch in vote-id order, straight from the database, never
one Python object per row: on Postgres one statement per batch (one snapshot) returns the votes'
small columns as JSON lines and each part's rows as a few bytea values (sort keys, lengths, texts
end to end: no escaping, no message per row); elsewhere (the embedded SQLite default) the same
parts come from a few ORM queries per batch.

A batch (``RawBatch``) holds:

- ``votes``: JSON lines with the release's columns except judge, chain, models, model_a/model_b and
  the conversations (releases.rows derives them), plus ``voter`` (the voter's primary key, turned
  into the pseudonym) and ``opted_out``;
- ``slots``: (vote, model slug), each battle's models in the order shown;
- ``prompts``: (vote, text), the user's message of each turn in order (the battle's prompt when it
  has no turn rows), for votes whose voter did not opt out;
- ``answers``: (vote, content), for the same votes, each model's (in the order shown) answer to each
  turn in order: its text, '' when missing, or ``media/<file>`` for a media output.

Text is not scrubbed yet.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from django.db import connection, transaction

from arena.models import LETTERS, Competitor, Generation, Slot, Turn, Vote
from releases.schema import criteria_type

OUTCOME_TO_WINNER = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "both_bad"}
TEXT_PART = pa.schema([("vote", pa.int64()), ("text", pa.string())])


def raw_schema(criteria: list[str]) -> pa.Schema:
    """The columns of ``RawBatch.votes``."""
    return pa.schema([
        ("id", pa.int64()), ("timestamp", pa.timestamp("us", tz="UTC")), ("modality", pa.string()),
        ("mode", pa.string()), ("turn", pa.int32()), ("language", pa.string()), ("category", pa.string()),
        ("counted", pa.bool_()), ("exclusion_reason", pa.string()), ("exclusion_detail", pa.string()),
        ("weight", pa.float64()), ("voter", pa.int64()), ("opted_out", pa.bool_()), ("winner", pa.string()),
        ("ranking", pa.list_(pa.int32())), ("criteria", criteria_type(criteria)),
        ("feedback", pa.string()), ("listen_ms", pa.list_(pa.int64())),
    ])


@dataclass
class RawBatch:
    votes: bytes
    slots: pa.Table
    prompts: pa.Table
    answers: pa.Table


def withheld_count(last_id: int) -> int:
    """Votes up to last_id on a battle with a model that is not public."""
    return Vote.objects.filter(id__lte=last_id, battle__slots__competitor__public=False).values("id").distinct().count()


def raw_batches(*, last_id: int, full: bool, batch: int) -> Iterator[RawBatch]:
    if connection.vendor == "postgresql":
        yield from _pg_batches(last_id=last_id, full=full, batch=batch)
    else:
        yield from _orm_batches(last_id=last_id, full=full, batch=batch)


# One statement per piece (one snapshot): the piece's votes (vv, in id order), then each part as a
# few bytea values aggregated in one pass over its sorted rows: the rows' sort keys (8-byte
# integers: vote id and place, strictly increasing, checked), the texts' lengths in bytes (4-byte)
# and the texts end to end. Postgres neither escapes the text nor sends a message per row; the
# client cuts nothing (the lengths are Arrow's offsets).
_PG_BATCH = """
WITH vv AS MATERIALIZED (
  SELECT v.id, v.battle_id, v.created, v.modality, v.mode, v.n_turns, v.language, v.category, v.counted,
         v.exclusion_reason, v.exclusion_detail, v.weight, v.voter_id, vo.release_opt_out AS opted, v.outcome, v.ranking,
         v.criteria, v.feedback, v.listen_ms
  FROM arena_vote v JOIN arena_voter vo ON vo.id = v.voter_id
  WHERE v.id > {after} AND v.id <= {last_id} {hidden}
  ORDER BY v.id LIMIT {limit})
SELECT
  (SELECT max(id) FROM vv),
  (SELECT textsend(string_agg(json_build_object(
    'id', v.id,
    'timestamp', to_char(v.created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'modality', v.modality, 'mode', v.mode, 'turn', v.n_turns, 'language', v.language, 'category', v.category,
    'counted', v.counted, 'exclusion_reason', NULLIF(v.exclusion_reason, ''),
    'exclusion_detail', {detail},
    'weight', v.weight, 'voter', v.voter_id, 'opted_out', v.opted,
    'winner', CASE WHEN v.mode = 'pairwise' THEN
        CASE v.outcome WHEN 'a' THEN 'model_a' WHEN 'b' THEN 'model_b' ELSE NULLIF(v.outcome, '') END END,
    'ranking', CASE WHEN v.mode <> 'pairwise' THEN v.ranking END,
    'criteria', CASE WHEN v.criteria <> '{{}}'::jsonb THEN
        (SELECT json_object_agg(e.key, CASE e.value WHEN 'a' THEN 'model_a' WHEN 'b' THEN 'model_b' ELSE e.value END)
         FROM jsonb_each_text(v.criteria) e) END,
    'feedback', CASE WHEN v.opted THEN NULL ELSE NULLIF(v.feedback, '') END,
    'listen_ms', CASE WHEN v.listen_ms <> '{{}}'::jsonb THEN
        (SELECT json_agg((v.listen_ms ->> chr(65 + s.position))::bigint ORDER BY s.position) FROM arena_slot s
         WHERE s.battle_id = v.battle_id) END
  )::text || E'\\n', '')) FROM vv v),
  sl.*, pr.*, an.*
FROM
  (SELECT string_agg(int8send(k), ''::bytea), string_agg(int8send(c), ''::bytea) FROM (
     SELECT (vv.id << 15) | s.position AS k, s.competitor_id AS c
     FROM vv JOIN arena_slot s ON s.battle_id = vv.battle_id ORDER BY 1) x) sl,
  (SELECT string_agg(int8send(k), ''::bytea), string_agg(int4send(octet_length(x)), ''::bytea), textsend(string_agg(x, ''))
   FROM (
     SELECT (vv.id << 15) | coalesce(t.index, 0) AS k,
            coalesce(p.text, (SELECT bp.text FROM arena_battle b JOIN arena_prompt bp ON bp.id = b.prompt_id
                              WHERE b.id = vv.battle_id)) AS x
     FROM vv LEFT JOIN (arena_turn t JOIN arena_prompt p ON p.id = t.prompt_id) ON t.battle_id = vv.battle_id
     WHERE NOT vv.opted ORDER BY 1) x) pr,
  (SELECT string_agg(int8send(k), ''::bytea), string_agg(int4send(octet_length(x)), ''::bytea), textsend(string_agg(x, ''))
   FROM (
     SELECT (vv.id << 18) | (s.position::bigint << 15) | coalesce(t.index, 0) AS k,
            CASE WHEN g.media_name <> '' THEN 'media/' || g.media_name ELSE coalesce(g.text, '') END AS x
     FROM vv JOIN arena_slot s ON s.battle_id = vv.battle_id
     LEFT JOIN arena_turn t ON t.battle_id = vv.battle_id
     LEFT JOIN arena_generation g ON g.slot_id = s.id AND g.turn_id = t.id
     WHERE NOT vv.opted ORDER BY 1) x) an
"""
# A vote on a battle with a model not public (their ids, read once per release) is left out.
_HIDDEN = "AND NOT EXISTS (SELECT 1 FROM arena_slot hs WHERE hs.battle_id = v.battle_id AND hs.competitor_id IN ({ids}))"


def _keys(data: bytes | None, shift: int) -> np.ndarray:
    """The votes of a part's rows from their sort keys, which must be strictly increasing (the
    order the rows were aggregated in is the order asked for)."""
    keys = np.frombuffer(data or b"", dtype=">i8").astype(np.int64)
    if len(keys) > 1 and not (np.diff(keys) > 0).all():
        raise RuntimeError("release rows arrived out of order")
    return keys >> shift


def _texts(lengths: bytes | None, data: bytes | None) -> pa.Array:
    """Texts from their lengths in bytes and their bytes end to end (no copy)."""
    size = np.frombuffer(lengths or b"", dtype=">i4").astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(size)])
    data = data or b""
    if offsets[-1] != len(data) or len(data) >= 2**31:
        raise RuntimeError("release texts do not match their lengths")
    texts = pa.Array.from_buffers(pa.string(), len(size), [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(data)])
    texts.validate()
    return texts


def _part(votes: np.ndarray, texts: pa.Array) -> pa.Table:
    return pa.table([pa.array(votes, pa.int64()), texts], schema=TEXT_PART)


# Postgres is asked for a batch a few hundred votes at a time: its aggregates of a few MB stay in
# the CPU's caches (3,000 votes at once cost it ~1.5x the CPU).
PIECE = 500


def _pg_batches(*, last_id: int, full: bool, batch: int) -> Iterator[RawBatch]:
    import psycopg

    hidden = "" if full else ",".join(str(int(pk)) for pk in Competitor.objects.filter(public=False).values_list("pk", flat=True))
    hidden = _HIDDEN.format(ids=hidden) if hidden else ""
    slugs: dict[int, str] = {}
    after, done = 0, False
    while not done:
        pieces = []
        outer = connection.in_atomic_block
        with transaction.atomic(), connection.cursor() as c:
            if not outer:
                # A piece is a few hundred votes: nested loops over the indexes, in vote-id order,
                # not hash joins over whole tables (the planner's guess), nor parallel workers;
                # its sorts in memory.
                c.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "
                          "SET LOCAL max_parallel_workers_per_gather = 0; SET LOCAL work_mem = '64MB'")
            cur = psycopg.Cursor(c.cursor.connection)  # binary results: bytea as bytes
            got = 0
            while got < batch:
                limit = min(PIECE, batch - got)
                cur.execute(_PG_BATCH.format(detail="NULLIF(v.exclusion_detail, '')" if full else "NULL", after=int(after),
                                             last_id=int(last_id), hidden=hidden, limit=int(limit)), binary=True)
                row = cur.fetchone()
                if row[0] is None:
                    done = True
                    break
                after = row[0]
                pieces.append(row)
                got += limit
            cur.close()
        if not pieces:
            return
        comp = np.frombuffer(b"".join(p[3] or b"" for p in pieces), dtype=">i8").astype(np.int64)
        if not set(np.unique(comp).tolist()) <= slugs.keys():
            slugs = dict(Competitor.objects.values_list("pk", "slug"))
            if not set(np.unique(comp).tolist()) <= slugs.keys():
                raise RuntimeError("a slot's competitor is unknown")
        ids = np.array(sorted(slugs), dtype=np.int64)
        names = pa.array([slugs[i] for i in ids.tolist()], pa.string())

        def part(k: int, shift: int) -> np.ndarray:
            return _keys(b"".join(p[k] or b"" for p in pieces), shift)

        def texts(k: int) -> pa.Array:
            arrays = [_texts(p[k], p[k + 1]) for p in pieces]
            return arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays)

        yield RawBatch(b"".join(p[1] or b"" for p in pieces),
                       _part(part(2, 15), names.take(pa.array(np.searchsorted(ids, comp)))),
                       _part(part(4, 15), texts(5)), _part(part(7, 18), texts(8)))


def _orm_batches(*, last_id: int, full: bool, batch: int) -> Iterator[RawBatch]:
    slugs = dict(Competitor.objects.values_list("pk", "slug"))
    hidden = set() if full else set(Competitor.objects.filter(public=False).values_list("pk", flat=True))
    fields = ("id", "created", "modality", "mode", "category", "language", "n_turns", "outcome", "ranking", "criteria",
              "feedback", "listen_ms", "counted", "exclusion_reason", "exclusion_detail", "weight", "voter_id", "battle_id",
              "battle__prompt__text", "voter__release_opt_out")
    after = 0
    while True:
        rows = list(Vote.objects.filter(id__gt=after, id__lte=last_id).order_by("id").values_list(*fields)[:batch])
        if not rows:
            return
        after = rows[-1][0]
        ids = [r[17] for r in rows]
        slots: dict[int, list[int]] = defaultdict(list)
        for bid, _pos, comp in Slot.objects.filter(battle_id__in=ids).order_by("battle_id", "position").values_list(
                "battle_id", "position", "competitor_id"):
            slots[bid].append(comp)
        turns: dict[int, dict[int, str]] = defaultdict(dict)
        for bid, index, text in Turn.objects.filter(battle_id__in=ids).values_list("battle_id", "index", "prompt__text"):
            turns[bid][index] = text
        outputs: dict[tuple[int, int, int], str] = {}
        for bid, pos, index, text, media in Generation.objects.filter(slot__battle_id__in=ids).values_list(
                "slot__battle_id", "slot__position", "turn__index", "text", "media_name"):
            outputs[(bid, pos, index)] = f"media/{media}" if media else text
        lines = []
        parts: dict[str, tuple[list[int], list[str]]] = {"slots": ([], []), "prompts": ([], []), "answers": ([], [])}
        for (vid, created, modality, mode, category, language, n_turns, outcome, ranking, crit, feedback, listen, counted,
             reason, detail, weight, voter, bid, first_prompt, opted_out) in rows:
            if hidden and hidden.intersection(slots[bid]):
                continue
            k = len(slots[bid])
            for c in slots[bid]:
                parts["slots"][0].append(vid)
                parts["slots"][1].append(slugs[c])
            if not opted_out:
                prompts = turns.get(bid) or {0: first_prompt}
                for t in sorted(prompts):
                    parts["prompts"][0].append(vid)
                    parts["prompts"][1].append(prompts[t])
                for p in range(k):
                    for t in sorted(prompts):
                        parts["answers"][0].append(vid)
                        parts["answers"][1].append(outputs.get((bid, p, t), ""))
            pairwise = mode == "pairwise"
            lines.append(json.dumps({
                "id": vid, "timestamp": created.isoformat(), "modality": modality, "mode": mode, "turn": n_turns,
                "language": language, "category": category, "counted": counted, "exclusion_reason": reason or None,
                "exclusion_detail": (detail or None) if full else None, "weight": weight, "voter": voter,
                "opted_out": opted_out, "winner": OUTCOME_TO_WINNER.get(outcome) if pairwise else None,
                "ranking": None if pairwise else ranking,
                "criteria": {c: OUTCOME_TO_WINNER.get(v, v) for c, v in crit.items()} if crit else None,
                "feedback": None if opted_out else (feedback or None),
                "listen_ms": [listen.get(LETTERS[p]) for p in range(k)] if listen else None,
            }, ensure_ascii=False))
        if lines:
            yield RawBatch(("\n".join(lines) + "\n").encode("utf-8"),
                           *(pa.table([pa.array(v, pa.int64()), pa.array(t, pa.string())], schema=TEXT_PART)
                             for v, t in parts.values()))
