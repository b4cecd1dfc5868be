"""A batch of release rows as JSON lines, column-wise: the same bytes as ``orjson.dumps(row,
option=OPT_UTC_Z)`` per row (keys in the schema's order), without a Python object per row.

Small values become JSON text with pyarrow kernels (strings through their few distinct values);
every message's content is escaped by one ``orjson.dumps`` of the column's contents as a list, cut
at its real quotes, and copied once into its line (ratings.engine.assemble). A batch that this
path does not cover (a null message or content) is written row by row, as before.
"""
from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ratings.engine.assemble import Assembler, Level, one_chunk
from ratings.engine.chain import message_depth

_OPTS = orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE
_QUOTE, _BACKSLASH = 0x22, 0x5C


def json_lines(table: pa.Table, chain: pa.Array | None = None) -> bytes | pa.Buffer:
    """Each row as one JSON line; ``chain``: a last key, "chain", whose values are not in ``table``."""
    if table.num_rows == 0:
        return b""
    table = table.combine_chunks()
    if not _covered(table):
        rows = table.to_pylist()
        if chain is not None:
            for row, c in zip(rows, chain.to_pylist()):
                row["chain"] = c
        return b"".join(orjson.dumps(row, option=_OPTS) for row in rows)
    n = table.num_rows
    asm = Assembler(n)
    run: list[pa.Array] = []  # consecutive small columns: one token per row
    for k, name in enumerate(table.column_names):
        col = table.column(name).chunk(0) if table.column(name).num_chunks == 1 else table.column(name).combine_chunks()
        key = orjson.dumps(name).decode()
        depth = message_depth(col.type)
        if depth == 0:
            run += [pa.scalar(("{" if k == 0 else ",") + key + ":"), _values(col)]
            continue
        if run:
            asm.per_row(pc.binary_join_element_wise(*run, ""))
            run = []
        _messages(asm, ("{" if k == 0 else ",") + key + ":", col, depth)
    if run:
        asm.per_row(pc.binary_join_element_wise(*run, ""))
    if chain is not None:
        chain = one_chunk(chain)
    if chain is not None:
        tail = pc.binary_join_element_wise(',"chain":"', chain.cast(pa.string()), '"}\n', "")
    else:
        tail = pa.repeat(pa.scalar("}\n"), n)
    out = asm.build(tail=tail)
    offsets = np.frombuffer(out.buffers()[1], dtype=np.int64, count=n + 1, offset=out.offset * 8)
    return out.buffers()[2][int(offsets[0]):int(offsets[-1])]


def _covered(table: pa.Table) -> bool:
    """Whether every conversation's messages and contents are present (the column-wise path)."""
    for name in table.column_names:
        col = table.column(name)
        depth = message_depth(col.type)
        if not depth:
            continue
        for chunk in col.chunks:
            msgs = Level(chunk).values
            if depth == 2:
                msgs = Level(msgs).values
            if msgs.null_count or any(f.null_count for f in msgs.flatten()[-1:]):
                return False
    return True


def _values(col: pa.Array) -> pa.Array:
    """Each value as JSON text (null as null)."""
    t = col.type
    if pa.types.is_boolean(t):
        text = pc.if_else(col, "true", "false")
    elif pa.types.is_integer(t):
        text = pc.cast(col, pa.string())
    elif pa.types.is_timestamp(t) and t.tz in ("UTC", "+00:00") and t.unit == "us":
        whole = pc.strftime(col.cast(pa.timestamp("s", tz=t.tz), safe=False), "%Y-%m-%dT%H:%M:%S")
        us = pc.cast(pc.subtract(pc.cast(col, pa.int64()), pc.multiply(pc.cast(col.cast(pa.timestamp("s", tz=t.tz),
                                                                                        safe=False), pa.int64()), 10**6)), pa.int64())
        frac = pc.if_else(pc.equal(us, 0), "", pc.binary_join_element_wise(".", pc.utf8_lpad(pc.cast(us, pa.string()), 6, "0"), ""))
        text = pc.binary_join_element_wise('"', whole, frac, 'Z"', "")
    elif pa.types.is_string(t) or pa.types.is_floating(t):
        enc = col.dictionary_encode()
        words = pa.array([orjson.dumps(v).decode() for v in enc.dictionary.to_pylist()], pa.string())
        text = words.take(enc.indices)
    else:  # lists, structs: per value (few are not null)
        valid = pc.is_valid(col)
        present = col.filter(valid).to_pylist()
        words = pa.array([orjson.dumps(v, option=orjson.OPT_UTC_Z).decode() for v in present] + ["null"], pa.string())
        where = np.cumsum(np.asarray(valid.to_numpy(zero_copy_only=False), dtype=np.int64)) - 1
        where = np.where(np.asarray(valid.to_numpy(zero_copy_only=False), dtype=bool), where, len(present))
        return words.take(pa.array(where))
    return pc.fill_null(text, "null")


def _escaped(content: pa.Array, last: np.ndarray) -> pa.Array:
    """Each content JSON-escaped, without its opening quote, followed by '"}' and ']' when it is the
    last message of its list, else ','."""
    out = orjson.dumps(content.to_pylist())  # ["...","...",...]
    buf = np.frombuffer(out, dtype=np.uint8)
    q = np.flatnonzero(buf == _QUOTE)
    run = np.zeros(len(q), dtype=np.int64)  # backslashes just before each quote
    cand, k = np.arange(len(q)), 1
    while len(cand):
        hit = buf[q[cand] - k] == _BACKSLASH
        cand = cand[hit]
        run[cand] += 1
        k += 1
    real = q[run % 2 == 0]
    n = len(content)
    if len(real) != 2 * n:
        raise ValueError("escaped contents do not split into their strings")
    opens, closes = real[0::2], real[1::2]
    data = bytearray(len(out) + 1)
    data[:len(out)] = out
    view = np.frombuffer(data, dtype=np.uint8)
    view[closes + 1] = ord("}")
    view[closes + 2] = np.where(last, ord("]"), ord(","))
    offsets = np.concatenate([opens + 1, [len(out) + 1]]).astype(np.int64)
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def _messages(asm: Assembler, key: str, col: pa.Array, depth: int) -> None:
    """Tokens of a conversation column: key and "[", per message '{"role":...,"content":"' and
    its escaped content, closing brackets; null as null."""
    asm.column()
    n = len(col)
    rows = Level(col)
    convs = Level(rows.values) if depth == 2 else rows
    msgs = convs.values
    fields = msgs.flatten()
    names = [msgs.type.field(i).name for i in range(msgs.type.num_fields)]
    parts: list = []
    for i, (name, f) in enumerate(zip(names[:-1], fields[:-1])):
        parts += [pa.scalar(("{" if i == 0 else ",") + orjson.dumps(name).decode() + ":"), _values(f)]
    parts.append(pa.scalar(("{" if len(names) == 1 else ",") + orjson.dumps(names[-1]).decode() + ':"'))
    small = pc.binary_join_element_wise(*parts, "") if len(parts) > 1 else pa.repeat(parts[0], len(msgs))
    j = convs.index_in_parent()
    last = j == convs.count[convs.parent] - 1
    big = _escaped(fields[-1], last) if len(msgs) else pa.array([], pa.large_string())

    def opening(valid: np.ndarray, count: np.ndarray, lead: pa.Array | str) -> pa.Array:
        body = np.where(~valid, "null", np.where(count == 0, "[]", "["))
        return pc.binary_join_element_wise(lead, pa.array(body, pa.string()), "")

    head = opening(rows.valid, rows.count, pa.scalar(key))
    asm.add(np.arange(n), np.zeros(n), head)
    if depth == 1:
        asm.add(rows.parent, 1 + 2 * j, small)
        asm.add(rows.parent, 2 + 2 * j, big, big=True)
        return
    conv_valid = np.ones(len(convs.arr), dtype=bool) if convs.arr.null_count == 0 else (
        np.asarray(pc.is_valid(convs.arr).to_numpy(zero_copy_only=False), dtype=bool))
    ntok = 1 + 2 * convs.count
    excl = np.concatenate([[0], np.cumsum(ntok)])
    conv_within = 1 + excl[:-1] - excl[rows.start[rows.parent]]
    qj = rows.index_in_parent()
    lead = pa.array(np.where(qj == 0, "", ","), pa.string())
    asm.add(rows.parent, conv_within, opening(conv_valid, convs.count, lead))
    q = convs.parent
    asm.add(rows.parent[q], conv_within[q] + 1 + 2 * j, small)
    asm.add(rows.parent[q], conv_within[q] + 2 + 2 * j, big, big=True)
    closed = np.flatnonzero(rows.count > 0)  # "]" after a row's last conversation
    row_tokens = np.bincount(rows.parent, weights=ntok, minlength=n).astype(np.int64)
    asm.add(closed, 1 + row_tokens[closed], pa.repeat(pa.scalar("]"), len(closed)))
