"""The hash chain of a vote release: every row carries ``chain = sha256(previous chain || the
row's canonical bytes)``, in vote-id order, so an edited, inserted or removed row breaks it.

Canonical bytes of a row: its JSON with sorted keys, no spaces, UTF-8 (``ensure_ascii=False``),
over every column except the ones listed in ``NOT_CHAINED``: ``judge`` (a pseudonym that changes
with every release by design), ``counted`` and ``exclusion_reason`` (decisions that may change
later; they are chained in the exclusion-decision log instead) and ``chain`` itself. Timestamps
are written ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC); a struct of criteria keeps only the criteria
that have a verdict (``null`` when none).

Pure Python (hashlib, json): the release writer and ``python -m ratings verify`` share it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

NOT_CHAINED = frozenset({"judge", "counted", "exclusion_reason", "chain"})
# The chain of the first row of the first release starts from this value.
GENESIS = hashlib.sha256(b"arena vote release chain v1").hexdigest()
DECISIONS_GENESIS = hashlib.sha256(b"arena exclusion decision log v1").hexdigest()

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def timestamp_text(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalize(row: dict[str, Any]) -> dict[str, Any]:
    """A row as read back from Parquet (datetimes, criteria structs with null fields) in the
    form its canonical bytes were computed from."""
    out = {}
    for k, v in row.items():
        if k in NOT_CHAINED:
            continue
        if isinstance(v, dt.datetime):
            v = timestamp_text(v)
        elif k == "criteria" and isinstance(v, dict):
            v = {c: w for c, w in v.items() if w is not None} or None
        out[k] = v
    return out


def canonical_bytes(row: dict[str, Any]) -> bytes:
    """The bytes the chain hashes for this row (columns in NOT_CHAINED left out)."""
    return _dumps(normalize(row)).encode("utf-8")


def link(previous: str, canonical: bytes) -> str:
    """sha256(previous chain (32 bytes) || canonical bytes), as hex."""
    h = hashlib.sha256(bytes.fromhex(previous))
    h.update(canonical)
    return h.hexdigest()


def decision_bytes(decision: dict[str, Any]) -> bytes:
    """Canonical bytes of one exclusion decision (every field but its own chain)."""
    return _dumps({k: (timestamp_text(v) if isinstance(v, dt.datetime) else v)
                   for k, v in decision.items() if k != "chain"}).encode("utf-8")
