"""The hash chain of a vote release: every row carries ``chain = sha256(previous chain || the row's
canonical bytes)``, in vote-id order, so an edited, inserted or removed row breaks it.

Canonical bytes of a row (computed column-wise with pyarrow, so a million rows take seconds):
for every column in the file's order except ``NOT_CHAINED``, ``ns(name)`` followed by ``-`` when
the value is null, else ``ns(text(value))``, where ``ns(s) = len(s in UTF-8 bytes) ":" s``
(a netstring without the comma) and ``text`` is

- a string: itself; an integer: its decimal digits; ``weight``: round(weight x 10^6) in decimal;
- a timestamp: microseconds since 1970-01-01 UTC, in decimal;
- a list: the concatenation of ``ns(text(item))`` (``-`` for a null item);
- a ``{role, content}`` message: ``ns(role) ns(content)``;
- ``criteria``: for each criterion with a verdict, in the order of the struct's fields,
  ``ns(name) ns(verdict)``; a struct without any verdict counts as null.

Left out: ``judge`` (a pseudonym that changes with every release by design), ``counted`` and
``exclusion_reason`` (decisions that may change later: they are chained in the exclusion-decision
log instead), ``exclusion_detail`` and ``chain`` itself. The first row chains from ``GENESIS``.

Pure pyarrow + hashlib: the release writer and ``python -m ratings verify`` share it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ratings.engine.assemble import Assembler, Level, ndigits, numbers, one_chunk

NOT_CHAINED = frozenset({"judge", "counted", "exclusion_reason", "exclusion_detail", "chain"})
GENESIS = hashlib.sha256(b"arena vote release chain v1").hexdigest()
DECISIONS_GENESIS = hashlib.sha256(b"arena exclusion decision log v1").hexdigest()

_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def _ns(arr: pa.Array) -> pa.Array:
    """len:value for each (null stays null)."""
    return pc.binary_join_element_wise(pc.cast(pc.binary_length(arr), pa.string()), ":", arr, "")


def _offsets(arr: pa.ListArray) -> pa.Array:
    off = arr.offsets
    return pc.subtract(off, off[0]) if off[0].as_py() else off


def _text(arr: pa.Array, name: str = "") -> pa.Array:
    """Each value's canonical text (null stays null)."""
    t = arr.type
    arr = one_chunk(arr)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return arr.cast(pa.string())
    if pa.types.is_timestamp(t):
        return pc.cast(pc.cast(arr, pa.int64()), pa.string())
    if pa.types.is_floating(t):
        return pc.cast(pc.cast(pc.round(pc.multiply(arr, 1e6)), pa.int64()), pa.string())
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return pc.cast(arr, pa.string())
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        items = arr.flatten()
        enc = pc.fill_null(_ns(_text(items)), "-")
        joined = pa.ListArray.from_arrays(_offsets(arr), enc, mask=pc.is_null(arr))
        return pc.binary_join(joined, "")
    if pa.types.is_struct(t):
        names = [t.field(k).name for k in range(t.num_fields)]
        fields = [arr.field(k) for k in range(t.num_fields)]
        if name == "criteria":  # only verdicts given; none at all = null
            parts = [pc.fill_null(pc.binary_join_element_wise(_ns(pa.array([n] * len(arr), pa.string())), _ns(_text(f)), ""), "")
                     for n, f in zip(names, fields)]
            joined = pc.binary_join_element_wise(*parts, "") if parts else pa.array([""] * len(arr), pa.string())
            joined = pc.if_else(pc.is_valid(arr), joined, pa.scalar(None, pa.string()))
            return pc.if_else(pc.equal(joined, ""), pa.scalar(None, pa.string()), joined)
        parts = [pc.fill_null(_ns(_text(f)), "-") for f in fields]
        joined = pc.binary_join_element_wise(*parts, "")
        return pc.if_else(pc.is_valid(arr), joined, pa.scalar(None, pa.string()))
    raise TypeError(f"column {name!r}: no canonical form for {t}")


def canonical_array(table: pa.Table | pa.RecordBatch) -> pa.Array:
    """The canonical bytes of every row (as a large_string array), columns in the table's order.

    Conversations are assembled message by message (ratings.engine.assemble): each message's
    content is copied once, straight into the row's bytes."""
    n = table.num_rows
    if n == 0:
        return pa.array([], pa.large_string())
    asm = Assembler(n)
    run: list = []  # consecutive plain columns: one token per row, joined at once
    for name in table.column_names:
        if name in NOT_CHAINED:
            continue
        col = table.column(name)
        col = one_chunk(col)
        label = f"{len(name.encode())}:{name}"
        depth = message_depth(col.type)
        if depth:
            if run:
                asm.per_row(pc.binary_join_element_wise(*run, ""))
                run = []
            _canonical_messages(asm, label, col, depth)
            continue
        text = _text(col, name)
        if text.null_count == 0:
            run += [pa.scalar(label), pc.cast(pc.binary_length(text), pa.string()), pa.scalar(":"), text]
        else:
            run += [pa.scalar(label), pc.fill_null(_ns(text), "-")]
    if run:
        asm.per_row(pc.binary_join_element_wise(*run, ""))
    return asm.build()


def message_depth(t: pa.DataType) -> int:
    """1 for a list of messages (structs of strings: a conversation), 2 for a list of those, else 0."""
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return 0
    v = t.value_type
    if pa.types.is_struct(v) and v.num_fields and all(pa.types.is_string(v.field(k).type) for k in range(v.num_fields)):
        return 1
    return 2 if message_depth(v) == 1 else 0


def _lengths(arr: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.binary_length(arr), 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def _valid(arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    return np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool)


def _ns_len(length: np.ndarray) -> np.ndarray:
    return ndigits(length) + 1 + length


def _canonical_messages(asm: Assembler, label: str, col: pa.Array, depth: int) -> None:
    """Tokens of a conversation column: per row label + (len ":" | "-"), then (for a list of
    conversations) per conversation len ":" | "-", then per message its small part
    (len ":" ns(role) len(content) ":") and its content, or "-" for a null message."""
    asm.column()
    rows = Level(col)
    convs = Level(rows.values) if depth == 2 else rows
    msgs = convs.values
    fields = msgs.flatten()  # the struct's slicing applied
    msg_ok = _valid(msgs)
    content = fields[-1]
    content_ok = _valid(content) & msg_ok
    clen = _lengths(content)
    parts, mlen = [], np.zeros(len(msgs), dtype=np.int64)
    for f in fields[:-1]:
        part = pc.fill_null(_ns(f), "-")
        parts.append(part)
        mlen += _lengths(part)
    mlen += np.where(content_ok, _ns_len(clen), 1)
    content_head = pc.if_else(pa.array(content_ok), pc.binary_join_element_wise(numbers(clen), ":", ""), "-")
    small = pc.binary_join_element_wise(numbers(mlen), ":", *parts, content_head, "")
    small = pc.if_else(pa.array(msg_ok), small, "-")
    big = content if content_ok.all() else pc.if_else(pa.array(content_ok), content, pa.scalar(None, content.type))
    item_len = np.where(msg_ok, _ns_len(mlen), 1)  # a message's share of its conversation's text
    conv_len = np.bincount(convs.parent, weights=item_len, minlength=len(convs.arr)).astype(np.int64)
    j = convs.index_in_parent()
    if depth == 1:
        head = _heads(label, conv_len, rows.valid)
        asm.add(np.arange(len(col)), np.zeros(len(col)), head)
        r = rows.parent
        asm.add(r, 1 + 2 * j, small)
        asm.add(r, 2 + 2 * j, big, big=True)
        return
    conv_ok = rows.values.null_count == 0 or _valid(rows.values)
    conv_ok = np.broadcast_to(conv_ok, (len(convs.arr),))
    row_len = np.bincount(rows.parent, weights=np.where(conv_ok, _ns_len(conv_len), 1),
                          minlength=len(col)).astype(np.int64)
    asm.add(np.arange(len(col)), np.zeros(len(col)), _heads(label, row_len, rows.valid))
    # a conversation's tokens: its head, then two per message
    ntok = 1 + 2 * convs.count
    excl = np.concatenate([[0], np.cumsum(ntok)])[:-1]
    conv_within = 1 + excl - excl[rows.start[rows.parent]] if len(ntok) else excl
    conv_head = pc.if_else(pa.array(conv_ok), pc.binary_join_element_wise(numbers(conv_len), ":", ""), "-")
    asm.add(rows.parent, conv_within, conv_head)
    q = convs.parent
    asm.add(rows.parent[q], conv_within[q] + 1 + 2 * j, small)
    asm.add(rows.parent[q], conv_within[q] + 2 + 2 * j, big, big=True)


def _heads(label: str, length: np.ndarray, valid: np.ndarray) -> pa.Array:
    n = len(length)
    text = pc.binary_join_element_wise(pa.array([label] * n, pa.string()), numbers(length), ":", "")
    return pc.if_else(pa.array(valid), text, pa.array([label + "-"] * n, pa.string()))


def chain_rows(canonical: pa.Array, previous: str) -> list[str]:
    """The chain of each row after ``previous``: sha256 is sequential, so this is the one loop."""
    canonical = one_chunk(canonical)
    n = len(canonical)
    if n == 0:
        return []
    if canonical.null_count:
        raise ValueError("a row has no canonical bytes")
    canonical = canonical.cast(pa.large_binary())
    _, offsets, data = canonical.buffers()
    off = np.frombuffer(offsets, dtype=np.int64, count=canonical.offset + n + 1)[canonical.offset:].tolist()
    view = memoryview(data) if data is not None else memoryview(b"")
    out = []
    prev = bytes.fromhex(previous)
    sha = hashlib.sha256
    for k in range(n):  # hashlib releases the GIL on long inputs
        h = sha(prev)
        h.update(view[off[k]:off[k + 1]])
        prev = h.digest()
        out.append(prev)
    return [d.hex() for d in out]


def canonical_bytes(row: dict[str, Any], schema: pa.Schema) -> bytes:
    """One row's canonical bytes (a dict as read from the file, with the file's schema)."""
    return canonical_array(pa.Table.from_pylist([row], schema=schema))[0].as_py().encode("utf-8")


def link(previous: str, canonical: bytes) -> str:
    """sha256(previous chain (32 bytes) || canonical bytes), as hex."""
    return hashlib.sha256(bytes.fromhex(previous) + canonical).hexdigest()


def timestamp_text(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def decision_bytes(decision: dict[str, Any]) -> bytes:
    """Canonical bytes of one exclusion decision: its JSON (sorted keys, no spaces, UTF-8) without
    its own chain."""
    return _dumps({k: (timestamp_text(v) if isinstance(v, dt.datetime) else v)
                   for k, v in decision.items() if k != "chain"}).encode("utf-8")
