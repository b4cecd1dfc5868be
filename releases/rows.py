"""Raw vote rows (releases.source) to release rows, column-wise with pyarrow: PII scrubbed from
every message and the feedback, the voter turned into this release's pseudonym, pairwise rows
split into model_a/model_b and conversation_a/conversation_b, and the hash chain."""
from __future__ import annotations

import hashlib
import hmac
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ratings.engine.assemble import one_chunk
from ratings.engine.chain import canonical_array, chain_rows
from releases.schema import MESSAGE
from releases.scrub import scrub_array


def _rows_of(ids: np.ndarray, part: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Each part row's vote as its row in the batch, and whether that vote is in the batch."""
    votes = part["vote"].to_numpy()
    if len(ids) == 0 or len(votes) == 0:
        return np.zeros(len(votes), np.int64), np.zeros(len(votes), bool)
    row = np.minimum(np.searchsorted(ids, votes), len(ids) - 1)
    return row, ids[row] == votes


def _text(part: pa.Table, keep: np.ndarray) -> pa.Array:
    text = one_chunk(part["text"])
    return text if keep.all() else text.filter(pa.array(keep))


def _starts(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def scrub_answers(answers: pa.Array, counts: Counter) -> tuple[pa.Array, set[str]]:
    """The models' answers scrubbed (counted under "response"), a media file's path left as it is
    (and returned)."""
    media = pc.fill_null(pc.starts_with(answers, "media/"), False)
    if not pc.any(media).as_py():
        return scrub_array(answers, counts), set()
    paths = set(pc.filter(answers, media).to_pylist())
    text = pc.invert(media)
    idx = pc.indices_nonzero(text)
    if len(idx) == 0:
        return answers, paths
    return pc.replace_with_mask(answers, text, scrub_array(pc.take(answers, idx), counts)), paths


_ROLES = pa.array(["user", "assistant"], pa.string())


def _conversations(src: pa.Array, n_prompts: int, conv_row: np.ndarray, conv_slot: np.ndarray, turns: np.ndarray,
                   pstart: np.ndarray, astart: np.ndarray) -> pa.ListArray:
    """One conversation (list of messages) per (row, slot): each turn's prompt then that model's
    answer. ``src``: the prompts then the answers of the batch."""
    r, s = conv_row, conv_slot
    lens = 2 * turns[r]
    first = _starts(lens)
    conv = np.repeat(np.arange(len(r), dtype=np.int64), lens)
    m = np.arange(int(first[-1]), dtype=np.int64) - first[:-1][conv]
    t, user = m // 2, (m % 2) == 0
    rr = r[conv]
    idx = np.where(user, pstart[rr] + t, n_prompts + astart[rr] + s[conv] * turns[rr] + t)
    messages = pa.StructArray.from_arrays([_ROLES.take(pa.array(m % 2)), src.take(pa.array(idx))], fields=list(MESSAGE))
    return pa.ListArray.from_arrays(pa.array(first, pa.int32()), messages)


def conversations(raw: pa.Table, slots: pa.Table, prompts: pa.Table, answers: pa.Table, counts: dict[str, Counter]
                  ) -> tuple[pa.Array, pa.Array, pa.Array, pa.Array, set[str]]:
    """(models, conversation_a, conversation_b, conversations, media paths) of the batch's rows from
    its parts (releases.source.RawBatch), the text scrubbed: each prompt once (counted once
    though every model's conversation repeats it), each answer once. Pairwise rows fill
    conversation_a/b, K-wise rows conversations; null for a voter who opted out."""
    n = raw.num_rows
    ids = one_chunk(raw["id"]).to_numpy()
    srow, sok = _rows_of(ids, slots)
    k = np.bincount(srow[sok], minlength=n).astype(np.int64)
    models = pa.ListArray.from_arrays(pa.array(_starts(k), pa.int32()), _text(slots, sok), mask=pa.array(k == 0))
    opted = np.asarray(one_chunk(raw["opted_out"]).fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)
    has = ~opted & (k > 0)
    prow, pok = _rows_of(ids, prompts)
    pok &= has[prow]
    arow, aok = _rows_of(ids, answers)
    aok &= has[arow]
    turns = np.bincount(prow[pok], minlength=n).astype(np.int64)
    n_answers = np.bincount(arow[aok], minlength=n).astype(np.int64)
    if (n_answers != k * turns)[has].any() or (turns[has] == 0).any():
        raise ValueError("a battle's answers do not match its models and turns")
    ptext = scrub_array(_text(prompts, pok), counts["prompt"])
    atext, paths = scrub_answers(_text(answers, aok), counts["response"])
    src = pa.concat_arrays([ptext.cast(pa.string()), atext.cast(pa.string())])
    pstart, astart = _starts(turns)[:-1], _starts(n_answers)[:-1]
    pairwise = np.asarray(one_chunk(pc.equal(raw["mode"], "pairwise")).fill_null(False)
                          .to_numpy(zero_copy_only=False), dtype=bool)

    def single(slot: int) -> pa.Array:
        rows = np.flatnonzero(has & pairwise & (k > slot))
        present = np.zeros(n, bool)
        present[rows] = True
        convs = _conversations(src, len(ptext), rows, np.full(len(rows), slot, np.int64), turns, pstart, astart)
        lens = np.zeros(n, np.int64)
        lens[rows] = np.diff(convs.offsets.to_numpy())
        return pa.ListArray.from_arrays(pa.array(_starts(lens), pa.int32()), convs.values, mask=pa.array(~present))

    kw = has & ~pairwise
    rows = np.flatnonzero(kw)
    convs = _conversations(src, len(ptext), np.repeat(rows, k[rows]),
                           np.arange(int(k[rows].sum()), dtype=np.int64) - np.repeat(_starts(k[rows])[:-1], k[rows]),
                           turns, pstart, astart)
    kwise = pa.ListArray.from_arrays(pa.array(_starts(np.where(kw, k, 0)), pa.int32()), convs, mask=pa.array(~kw))
    return models, single(0), single(1), kwise, paths


class Pseudonyms:
    """judge = HMAC-SHA256(release secret, voter id), 20 hex digits; computed once per voter."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._known: dict[int, str] = {}

    def of(self, voters: pa.Array) -> pa.Array:
        uniq = pc.unique(voters)
        names = []
        for v in uniq.to_pylist():
            name = self._known.get(v)
            if name is None:
                name = self._known[v] = hmac.new(self._secret, str(v).encode(), hashlib.sha256).hexdigest()[:20]
            names.append(name)
        return pc.take(pa.array(names, pa.string()), pc.index_in(voters, value_set=uniq))


def release_rows(raw: pa.Table, slots: pa.Table, prompts: pa.Table, answers: pa.Table, *, schema: pa.Schema,
                 judges: Pseudonyms, previous: str, counts: dict[str, Counter]) -> tuple[pa.Table, set[str], str]:
    """(rows in the release schema with their chain, media paths referenced, the chain head)."""
    table, paths, canonical = release_unchained(raw, slots, prompts, answers, schema=schema, judges=judges, counts=counts)
    table, head = chained(table, canonical, schema=schema, previous=previous)
    return table, paths, head


def chained(table: pa.Table, canonical: pa.Array, *, schema: pa.Schema, previous: str) -> tuple[pa.Table, str]:
    """The rows with their chain column after ``previous`` (the one sequential step), and the head."""
    chains = chain_rows(canonical, previous)
    table = table.append_column(schema.field("chain"), pa.array(chains, pa.string()))
    return table, chains[-1] if chains else previous


def release_unchained(raw: pa.Table, slots: pa.Table, prompts: pa.Table, answers: pa.Table, *, schema: pa.Schema,
                      judges: Pseudonyms, counts: dict[str, Counter]) -> tuple[pa.Table, set[str], pa.Array]:
    """(rows in the release schema without their chain, media paths, each row's canonical bytes):
    everything but the chain, which needs the previous batch's head; a batch can be transformed
    while the one before it is still being chained and written."""
    raw = raw.combine_chunks()
    models, conv_a, conv_b, convs, paths = conversations(raw, slots, prompts, answers, counts)
    feedback = scrub_array(one_chunk(raw["feedback"]), counts["feedback"])
    pairwise = pc.equal(raw["mode"], "pairwise")
    null_str = pa.scalar(None, pa.string())
    cols = {
        "id": raw["id"],
        "model_a": pc.if_else(pairwise, pc.list_element(models, 0), null_str),
        "model_b": pc.if_else(pairwise, pc.list_element(models, 1), null_str),
        "winner": raw["winner"],
        "models": pc.if_else(pairwise, pa.scalar(None, models.type), models),
        "ranking": raw["ranking"],
        "judge": judges.of(one_chunk(raw["voter"])),
        "modality": raw["modality"], "mode": raw["mode"], "turn": raw["turn"], "language": raw["language"],
        "category": raw["category"],
        "conversation_a": conv_a, "conversation_b": conv_b, "conversations": convs,
        "timestamp": raw["timestamp"], "counted": raw["counted"], "exclusion_reason": raw["exclusion_reason"],
        "criteria": raw["criteria"], "feedback": feedback, "listen_ms": raw["listen_ms"], "weight": raw["weight"],
    }
    if "exclusion_detail" in schema.names:
        cols["exclusion_detail"] = raw["exclusion_detail"]
    names = [n for n in schema.names if n != "chain"]
    table = pa.Table.from_arrays([cols[n] for n in names], schema=pa.schema([schema.field(n) for n in names]))
    return table, paths, canonical_array(table)
