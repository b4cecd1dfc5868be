"""The votes of a release as raw JSON lines, batch by batch in vote-id order, straight from the
database: on Postgres one query per batch builds every row (conversations included) as JSON and
streams it with COPY, so no row ever becomes a Python object; elsewhere (the embedded SQLite
default) the same lines are assembled from a few ORM queries per batch.

A raw row has the release's columns except judge, chain, model_a/model_b and conversation_a/b
(releases.rows derives them), plus ``voter`` (the voter's primary key, turned into the pseudonym)
and ``opted_out``. Text is not scrubbed yet; an opted-out voter's text is already left out.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator

import pyarrow as pa
from django.db import connection

from arena.models import LETTERS, Competitor, Generation, Slot, Turn, Vote
from releases.schema import CONVERSATION, criteria_type

OUTCOME_TO_WINNER = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "both_bad"}


def raw_schema(criteria: list[str]) -> pa.Schema:
    return pa.schema([
        ("id", pa.int64()), ("timestamp", pa.timestamp("us", tz="UTC")), ("modality", pa.string()),
        ("mode", pa.string()), ("turn", pa.int32()), ("language", pa.string()), ("category", pa.string()),
        ("counted", pa.bool_()), ("exclusion_reason", pa.string()), ("exclusion_detail", pa.string()),
        ("weight", pa.float64()), ("voter", pa.int64()), ("opted_out", pa.bool_()), ("winner", pa.string()),
        ("models", pa.list_(pa.string())), ("ranking", pa.list_(pa.int32())), ("criteria", criteria_type(criteria)),
        ("feedback", pa.string()), ("listen_ms", pa.list_(pa.int64())), ("conversations", pa.list_(CONVERSATION)),
    ])


def withheld_count(last_id: int) -> int:
    """Votes up to last_id on a battle with a model that is not public."""
    return Vote.objects.filter(id__lte=last_id, battle__slots__competitor__public=False).values("id").distinct().count()


def raw_batches(*, last_id: int, full: bool, batch: int) -> Iterator[bytes]:
    if connection.vendor == "postgresql":
        yield from _pg_batches(last_id=last_id, full=full, batch=batch)
    else:
        yield from _orm_batches(last_id=last_id, full=full, batch=batch)


# One row per vote, as JSON text. Pairwise outcomes become the public winner values; the first
# turn's prompt stands in for battles stored without turn rows.
_PG_ROW = """
SELECT json_build_object(
  'id', v.id,
  'timestamp', to_char(v.created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
  'modality', v.modality, 'mode', v.mode, 'turn', v.n_turns, 'language', v.language, 'category', v.category,
  'counted', v.counted, 'exclusion_reason', NULLIF(v.exclusion_reason, ''),
  'exclusion_detail', {detail},
  'weight', v.weight, 'voter', v.voter_id, 'opted_out', vo.release_opt_out,
  'winner', CASE WHEN v.mode = 'pairwise' THEN
      CASE v.outcome WHEN 'a' THEN 'model_a' WHEN 'b' THEN 'model_b' ELSE NULLIF(v.outcome, '') END END,
  'models', (SELECT json_agg(c.slug ORDER BY s.position) FROM arena_slot s JOIN arena_competitor c ON c.id = s.competitor_id
             WHERE s.battle_id = v.battle_id),
  'ranking', CASE WHEN v.mode <> 'pairwise' THEN v.ranking END,
  'criteria', (SELECT json_object_agg(e.key, CASE e.value WHEN 'a' THEN 'model_a' WHEN 'b' THEN 'model_b' ELSE e.value END)
               FROM jsonb_each_text(v.criteria) e),
  'feedback', CASE WHEN vo.release_opt_out THEN NULL ELSE NULLIF(v.feedback, '') END,
  'listen_ms', CASE WHEN v.listen_ms <> '{{}}'::jsonb THEN
      (SELECT json_agg((v.listen_ms ->> chr(65 + s.position))::bigint ORDER BY s.position) FROM arena_slot s
       WHERE s.battle_id = v.battle_id) END,
  'conversations', CASE WHEN vo.release_opt_out THEN NULL ELSE (
      SELECT json_agg((
          SELECT json_agg(x.m ORDER BY tt.idx, x.ord)
          FROM (SELECT t.index AS idx, t.id AS tid, p.text AS ptext FROM arena_turn t JOIN arena_prompt p ON p.id = t.prompt_id
                WHERE t.battle_id = v.battle_id
                UNION ALL
                SELECT 0, NULL, bp.text WHERE NOT EXISTS (SELECT 1 FROM arena_turn t2 WHERE t2.battle_id = v.battle_id)) tt
          LEFT JOIN arena_generation g ON g.slot_id = s.id AND g.turn_id = tt.tid
          CROSS JOIN LATERAL (VALUES
              (0, json_build_object('role', 'user', 'content', tt.ptext)),
              (1, json_build_object('role', 'assistant', 'content',
                  CASE WHEN g.media_name <> '' THEN 'media/' || g.media_name ELSE coalesce(g.text, '') END))) x(ord, m)
      ) ORDER BY s.position)
      FROM arena_slot s WHERE s.battle_id = v.battle_id) END
)::text
FROM arena_vote v
JOIN arena_voter vo ON vo.id = v.voter_id
JOIN arena_battle b ON b.id = v.battle_id
JOIN arena_prompt bp ON bp.id = b.prompt_id
WHERE v.id > {after} AND v.id <= {last_id} {hidden}
ORDER BY v.id
LIMIT {limit}
"""
_HIDDEN = ("AND NOT EXISTS (SELECT 1 FROM arena_slot hs JOIN arena_competitor hc ON hc.id = hs.competitor_id "
           "WHERE hs.battle_id = v.battle_id AND NOT hc.public)")


def _pg_batches(*, last_id: int, full: bool, batch: int) -> Iterator[bytes]:
    after = 0
    with connection.cursor() as c:
        cur = c.cursor  # psycopg's own cursor: COPY streams the rows as bytes
        while True:
            sql = _PG_ROW.format(detail="NULLIF(v.exclusion_detail, '')" if full else "NULL", after=int(after),
                                 last_id=int(last_id), hidden="" if full else _HIDDEN, limit=int(batch))
            # CSV with a delimiter and quote that JSON text never holds: each line is the raw JSON.
            parts = []
            with cur.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')") as cp:
                for block in cp:
                    parts.append(bytes(block))
            blob = b"".join(parts)
            if not blob:
                return
            last_line = blob.rstrip(b"\n").rsplit(b"\n", 1)[-1]
            after = json.loads(last_line)["id"]
            yield blob


def _orm_batches(*, last_id: int, full: bool, batch: int) -> Iterator[bytes]:
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
        for (vid, created, modality, mode, category, language, n_turns, outcome, ranking, crit, feedback, listen, counted,
             reason, detail, weight, voter, bid, first_prompt, opted_out) in rows:
            if hidden and hidden.intersection(slots[bid]):
                continue
            k = len(slots[bid])
            conversations = None
            if not opted_out:
                prompts = turns.get(bid) or {0: first_prompt}
                conversations = [
                    [m for t in sorted(prompts) for m in ({"role": "user", "content": prompts[t]},
                                                          {"role": "assistant", "content": outputs.get((bid, p, t), "")})]
                    for p in range(k)
                ]
            pairwise = mode == "pairwise"
            lines.append(json.dumps({
                "id": vid, "timestamp": created.isoformat(), "modality": modality, "mode": mode, "turn": n_turns,
                "language": language, "category": category, "counted": counted, "exclusion_reason": reason or None,
                "exclusion_detail": (detail or None) if full else None, "weight": weight, "voter": voter,
                "opted_out": opted_out, "winner": OUTCOME_TO_WINNER.get(outcome) if pairwise else None,
                "models": [slugs[c] for c in slots[bid]], "ranking": None if pairwise else ranking,
                "criteria": {c: OUTCOME_TO_WINNER.get(v, v) for c, v in crit.items()} if crit else None,
                "feedback": None if opted_out else (feedback or None),
                "listen_ms": [listen.get(LETTERS[p]) for p in range(k)] if listen else None,
                "conversations": conversations,
            }, ensure_ascii=False))
        if lines:
            yield ("\n".join(lines) + "\n").encode("utf-8")
