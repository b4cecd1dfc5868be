"""Raw vote rows (releases.source) to release rows, column-wise with pyarrow: PII scrubbed from
every message and the feedback, the voter turned into this release's pseudonym, pairwise rows
split into model_a/model_b and conversation_a/conversation_b, and the hash chain."""
from __future__ import annotations

import hashlib
import hmac
from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

from ratings.engine.chain import canonical_array, chain_rows
from releases.scrub import scrub_array


def _offsets(arr: pa.ListArray) -> pa.Array:
    off = arr.offsets
    return pc.subtract(off, off[0]) if off[0].as_py() else off


def scrub_messages(messages: pa.StructArray, counts: dict[str, Counter], counting: pa.Array
                   ) -> tuple[pa.StructArray, set[str]]:
    """Scrub the content of every message: the user's under "prompt", the models' under
    "response" (only messages where ``counting`` is true are counted: each model's conversation
    repeats the prompts); a media file's path is left as it is (and returned)."""
    role = messages.field("role")
    content = messages.field("content")
    media = pc.fill_null(pc.starts_with(content, "media/"), False)
    is_user = pc.fill_null(pc.equal(role, "user"), False)
    paths = set(pc.filter(content, pc.and_(media, pc.invert(is_user))).to_pylist())
    out = content
    model = pc.and_(pc.invert(is_user), pc.invert(media))
    for mask, tally in ((pc.and_(is_user, counting), counts["prompt"]), (pc.and_(is_user, pc.invert(counting)), Counter()),
                        (model, counts["response"])):
        idx = pc.indices_nonzero(mask)
        if len(idx):
            out = pc.replace_with_mask(out, mask, scrub_array(pc.take(content, idx), tally))
    return pa.StructArray.from_arrays([role, out], fields=list(messages.type)), paths


def scrub_conversations(conv: pa.Array, counts: dict[str, Counter]) -> tuple[pa.Array, set[str]]:
    """conversations: list (per model) of list (per message) of {role, content}."""
    conv = conv.combine_chunks() if isinstance(conv, pa.ChunkedArray) else conv
    inner = conv.flatten()
    if len(inner) == 0:
        return conv, set()
    # each model's conversation's place in its vote (0 = the first model: its prompts are counted)
    place = pc.subtract(pa.array(range(len(inner)), pa.int64()),
                        pc.take(_offsets(conv).cast(pa.int64()), pc.list_parent_indices(conv)))
    first = pc.equal(pc.take(place, pc.list_parent_indices(inner)), 0)
    messages, paths = scrub_messages(inner.flatten(), counts, first)
    inner = pa.ListArray.from_arrays(_offsets(inner), messages, mask=pc.is_null(inner))
    return pa.ListArray.from_arrays(_offsets(conv), inner, mask=pc.is_null(conv)), paths


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


def release_rows(raw: pa.Table, *, schema: pa.Schema, judges: Pseudonyms, previous: str, counts: dict[str, Counter]
                 ) -> tuple[pa.Table, set[str], str]:
    """(rows in the release schema with their chain, media paths referenced, the chain head)."""
    table, paths, canonical = release_unchained(raw, schema=schema, judges=judges, counts=counts)
    table, head = chained(table, canonical, schema=schema, previous=previous)
    return table, paths, head


def chained(table: pa.Table, canonical: pa.Array, *, schema: pa.Schema, previous: str) -> tuple[pa.Table, str]:
    """The rows with their chain column after ``previous`` (the one sequential step), and the head."""
    chains = chain_rows(canonical, previous)
    table = table.append_column(schema.field("chain"), pa.array(chains, pa.string()))
    return table, chains[-1] if chains else previous


def release_unchained(raw: pa.Table, *, schema: pa.Schema, judges: Pseudonyms, counts: dict[str, Counter]
                      ) -> tuple[pa.Table, set[str], pa.Array]:
    """(rows in the release schema without their chain, media paths, each row's canonical bytes):
    everything but the chain, which needs the previous batch's head; a batch can be transformed
    while the one before it is still being chained and written."""
    raw = raw.combine_chunks()
    conv, paths = scrub_conversations(raw["conversations"], counts)
    feedback = scrub_array(raw["feedback"].combine_chunks(), counts["feedback"])
    pairwise = pc.equal(raw["mode"], "pairwise")
    models = raw["models"].combine_chunks()
    null_str = pa.scalar(None, pa.string())
    cols = {
        "id": raw["id"],
        "model_a": pc.if_else(pairwise, pc.list_element(models, 0), null_str),
        "model_b": pc.if_else(pairwise, pc.list_element(models, 1), null_str),
        "winner": raw["winner"],
        "models": pc.if_else(pairwise, pa.scalar(None, models.type), models),
        "ranking": raw["ranking"],
        "judge": judges.of(raw["voter"].combine_chunks()),
        "modality": raw["modality"], "mode": raw["mode"], "turn": raw["turn"], "language": raw["language"],
        "category": raw["category"],
        "conversation_a": pc.if_else(pairwise, pc.list_element(conv, 0), pa.scalar(None, conv.type.value_type)),
        "conversation_b": pc.if_else(pairwise, pc.list_element(conv, 1), pa.scalar(None, conv.type.value_type)),
        "conversations": pc.if_else(pairwise, pa.scalar(None, conv.type), conv),
        "timestamp": raw["timestamp"], "counted": raw["counted"], "exclusion_reason": raw["exclusion_reason"],
        "criteria": raw["criteria"], "feedback": feedback, "listen_ms": raw["listen_ms"], "weight": raw["weight"],
    }
    if "exclusion_detail" in schema.names:
        cols["exclusion_detail"] = raw["exclusion_detail"]
    names = [n for n in schema.names if n != "chain"]
    table = pa.Table.from_arrays([cols[n] for n in names], schema=pa.schema([schema.field(n) for n in names]))
    return table, paths, canonical_array(table)
