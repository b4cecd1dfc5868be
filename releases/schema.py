"""The columns of a vote release: the public arena conventions (lmarena-ai/arena-human-preference
dumps), so existing notebooks work, plus the K-wise columns, `chain` and `weight`.

One row per vote. Pairwise rows fill model_a, model_b, winner, conversation_a, conversation_b;
K-wise rows fill models, ranking and conversations (and leave those null).
"""
from __future__ import annotations

import pyarrow as pa

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
CONVERSATION = pa.list_(MESSAGE)

# (name, type, meaning): the dataset card and schema.json are written from this list.
COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("id", pa.int64(), "vote id (increasing in the order votes were cast; the chain follows it)"),
    ("model_a", pa.string(), "pairwise: the model shown as A (its slug)"),
    ("model_b", pa.string(), "pairwise: the model shown as B"),
    ("winner", pa.string(), "pairwise: model_a | model_b | tie | both_bad"),
    ("models", pa.list_(pa.string()), "K-wise: the K models in the order shown (A, B, C, ...)"),
    ("ranking", pa.list_(pa.int32()), "K-wise: place of each model in `models` (1 = best; equal places = tie)"),
    ("judge", pa.string(), "the voter's pseudonym: HMAC under a secret of this release only (stable within it, "
                           "unlinkable across releases)"),
    ("modality", pa.string(), "text | image | audio | video | 3d"),
    ("mode", pa.string(), "pairwise | kwise"),
    ("turn", pa.int32(), "number of turns (user messages) before the vote"),
    ("language", pa.string(), "detected language of the first prompt (ISO 639-1, `und` if unknown)"),
    ("category", pa.string(), "category of the prompt (from its prompt set, else `other`)"),
    ("conversation_a", CONVERSATION, "pairwise: model A's conversation, a list of {role, content}; media outputs "
                                     "are files of this release and `content` is their relative path (media/...). "
                                     "null when the voter chose not to release their conversations"),
    ("conversation_b", CONVERSATION, "pairwise: model B's conversation (as conversation_a)"),
    ("conversations", pa.list_(CONVERSATION), "K-wise: one conversation per model, in the order of `models`"),
    ("timestamp", pa.timestamp("us", tz="UTC"), "when the vote was cast (UTC)"),
    ("counted", pa.bool_(), "whether the vote counts for the leaderboards (`python -m ratings fit` leaves "
                            "counted=false rows out unless told otherwise)"),
    ("exclusion_reason", pa.string(), "why a vote is not counted (identity_leak, named_mode, fraud:<detector>, ...)"),
    ("criteria", None, "pairwise: per-criterion verdicts {criterion: model_a | model_b | tie | both_bad}"),
    ("feedback", pa.string(), "the voter's free-text feedback (PII scrubbed; null when withheld or empty)"),
    ("listen_ms", pa.list_(pa.int64()), "audio/video: milliseconds each output was played, in model order"),
    ("weight", pa.float64(), "the vote's weight in the leaderboard fit (1 unless an admin changed it)"),
    ("chain", pa.string(), "sha256(previous row's chain || this row's canonical bytes), hex: see MANIFEST.json"),
]


def criteria_type(criteria: list[str]) -> pa.DataType:
    return pa.struct([(c, pa.string()) for c in criteria])


DETAIL = ("exclusion_detail", pa.string(), "staff full exports only: the detail of an exclusion")


def arrow_schema(criteria: list[str], *, full: bool = False) -> pa.Schema:
    """The explicit schema of votes.parquet for a release whose votes judge these criteria."""
    fields = [pa.field(name, typ if typ is not None else criteria_type(criteria)) for name, typ, _ in COLUMNS]
    if full:
        fields.insert(len(fields) - 1, pa.field(DETAIL[0], DETAIL[1]))
    return pa.schema(fields, metadata={b"arena.release.schema": b"1"})


def json_schema(criteria: list[str], *, full: bool = False) -> dict:
    """schema.json: each column's Arrow type and meaning."""
    schema = arrow_schema(criteria, full=full)
    doc = {name: meaning for name, _, meaning in [*COLUMNS, DETAIL]}
    return {
        "version": 1,
        "row": "one vote",
        "columns": [{"name": f.name, "type": str(f.type), "nullable": True, "description": doc[f.name]} for f in schema],
    }
