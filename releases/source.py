"""The votes of a release, raw, batch by batch in vote-id order, straight from the database, never
one Python object per row: on Postgres a few flat queries per batch streamed with COPY (the votes'
small columns as JSON lines; each battle's models, prompts and answers as CSV rows of plain text,
which Postgres need not escape as JSON and pyarrow parses in C++); elsewhere (the embedded SQLite
default) the same parts from a few ORM queries per batch.

A batch (``RawBatch``) holds:

- ``votes``: JSON lines with the release's columns except judge, chain, models, model_a/model_b and
  the conversations (releases.rows derives them), plus ``voter`` (the voter's primary key, turned
  into the pseudonym) and ``opted_out``;
- ``slots``: (vote, model slug), each battle's models in the order shown;
- ``prompts``: (vote, text), the user's message of each turn in order (the battle's prompt when it
  has no turn rows), for votes whose voter did not opt out;
- ``answers``: (vote, content), for the same votes, each model's (in the order shown) answer to each
  turn in order: its text, '' when missing, or ``media/<file>`` for a media output.

Text is not scrubbed yet. The parts are read in one snapshot (REPEATABLE READ) per batch.
"""
from __future__ import annotations

import io
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.csv as pacsv
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
    slots: bytes | pa.Table
    prompts: bytes | pa.Table
    answers: bytes | pa.Table

    @staticmethod
    def part(data: bytes | pa.Table) -> pa.Table:
        """A (vote, text) part as a table (CSV as Postgres writes it, parsed in C++)."""
        if isinstance(data, pa.Table):
            return data
        if not data:
            return TEXT_PART.empty_table()
        return pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=TEXT_PART.names, block_size=len(data) + 1, use_threads=False),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types=TEXT_PART, strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False),
        )


def withheld_count(last_id: int) -> int:
    """Votes up to last_id on a battle with a model that is not public."""
    return Vote.objects.filter(id__lte=last_id, battle__slots__competitor__public=False).values("id").distinct().count()


def raw_batches(*, last_id: int, full: bool, batch: int) -> Iterator[RawBatch]:
    if connection.vendor == "postgresql":
        yield from _pg_batches(last_id=last_id, full=full, batch=batch)
    else:
        yield from _orm_batches(last_id=last_id, full=full, batch=batch)


# One row per vote, as JSON text (the small columns). Pairwise outcomes become the public winner
# values.
_PG_VOTES = """
SELECT json_build_object(
  'id', v.id,
  'timestamp', to_char(v.created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
  'modality', v.modality, 'mode', v.mode, 'turn', v.n_turns, 'language', v.language, 'category', v.category,
  'counted', v.counted, 'exclusion_reason', NULLIF(v.exclusion_reason, ''),
  'exclusion_detail', {detail},
  'weight', v.weight, 'voter', v.voter_id, 'opted_out', vo.release_opt_out,
  'winner', CASE WHEN v.mode = 'pairwise' THEN
      CASE v.outcome WHEN 'a' THEN 'model_a' WHEN 'b' THEN 'model_b' ELSE NULLIF(v.outcome, '') END END,
  'ranking', CASE WHEN v.mode <> 'pairwise' THEN v.ranking END,
  'criteria', CASE WHEN v.criteria <> '{{}}'::jsonb THEN
      (SELECT json_object_agg(e.key, CASE e.value WHEN 'a' THEN 'model_a' WHEN 'b' THEN 'model_b' ELSE e.value END)
       FROM jsonb_each_text(v.criteria) e) END,
  'feedback', CASE WHEN vo.release_opt_out THEN NULL ELSE NULLIF(v.feedback, '') END,
  'listen_ms', CASE WHEN v.listen_ms <> '{{}}'::jsonb THEN
      (SELECT json_agg((v.listen_ms ->> chr(65 + s.position))::bigint ORDER BY s.position) FROM arena_slot s
       WHERE s.battle_id = v.battle_id) END
)::text
FROM arena_vote v
JOIN arena_voter vo ON vo.id = v.voter_id
WHERE v.id > {after} AND v.id <= {last_id} {hidden}
ORDER BY v.id
LIMIT {limit}
"""
# A vote on a battle with a model not public (their ids, read once per release) is left out.
_HIDDEN = "AND NOT EXISTS (SELECT 1 FROM arena_slot hs WHERE hs.battle_id = v.battle_id AND hs.competitor_id IN ({ids}))"
_PG_SLOTS = """
SELECT v.id, c.slug FROM arena_vote v
JOIN arena_slot s ON s.battle_id = v.battle_id JOIN arena_competitor c ON c.id = s.competitor_id
WHERE v.id > {after} AND v.id <= {last} ORDER BY v.id, s.position
"""
# The prompt of each turn; the battle's own prompt for a battle stored without turn rows.
_PG_PROMPTS = """
SELECT v.id, coalesce(p.text, bp.text) FROM arena_vote v
JOIN arena_voter vo ON vo.id = v.voter_id
JOIN arena_battle b ON b.id = v.battle_id JOIN arena_prompt bp ON bp.id = b.prompt_id
LEFT JOIN (arena_turn t JOIN arena_prompt p ON p.id = t.prompt_id) ON t.battle_id = v.battle_id
WHERE v.id > {after} AND v.id <= {last} AND NOT vo.release_opt_out ORDER BY v.id, t.index
"""
_PG_ANSWERS = """
SELECT v.id, CASE WHEN g.media_name <> '' THEN 'media/' || g.media_name ELSE coalesce(g.text, '') END
FROM arena_vote v
JOIN arena_voter vo ON vo.id = v.voter_id
JOIN arena_slot s ON s.battle_id = v.battle_id
LEFT JOIN arena_turn t ON t.battle_id = v.battle_id
LEFT JOIN arena_generation g ON g.slot_id = s.id AND g.turn_id = t.id
WHERE v.id > {after} AND v.id <= {last} AND NOT vo.release_opt_out ORDER BY v.id, s.position, t.index
"""


def _copy(cur, sql: str, fmt: str = "") -> bytes:
    buf = bytearray()
    with cur.copy(f"COPY ({sql}) TO STDOUT {fmt}") as cp:
        for block in cp:
            buf += block
    return bytes(buf)


def _pg_batches(*, last_id: int, full: bool, batch: int) -> Iterator[RawBatch]:
    hidden = "" if full else ",".join(str(int(pk)) for pk in Competitor.objects.filter(public=False).values_list("pk", flat=True))
    hidden = _HIDDEN.format(ids=hidden) if hidden else ""
    after = 0
    while True:
        # One snapshot per batch: its parts agree with each other (outside a caller's transaction).
        outer = connection.in_atomic_block
        with transaction.atomic(), connection.cursor() as c:
            cur = c.cursor  # psycopg's own cursor: COPY streams the rows as bytes
            if not outer:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                # A batch is a few thousand votes: nested loops over the indexes, in vote-id order,
                # not hash joins over whole tables (the planner's guess), nor parallel workers.
                cur.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; "
                            "SET LOCAL max_parallel_workers_per_gather = 0")
            votes = _copy(cur, _PG_VOTES.format(detail="NULLIF(v.exclusion_detail, '')" if full else "NULL",
                                                after=int(after), last_id=int(last_id), hidden=hidden, limit=int(batch)),
                          r"(FORMAT csv, DELIMITER E'\x02', QUOTE E'\x01')")  # each line: the raw JSON
            if not votes:
                return
            start = votes.rfind(b"\n", 0, len(votes) - 1) + 1
            last = json.loads(votes[start:])["id"]
            parts = [_copy(cur, q.format(after=int(after), last=int(last)), "(FORMAT csv)")
                     for q in (_PG_SLOTS, _PG_PROMPTS, _PG_ANSWERS)]
        after = last
        yield RawBatch(votes, *parts)


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
