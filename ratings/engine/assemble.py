"""Per-row byte strings (a release row's canonical bytes, its JSON line) assembled column-wise with
pyarrow and numpy, copying the long texts (a conversation's messages) once.

A row is a sequence of tokens: small ones (a column's label and value, a message's role and
length; built vectorised, a few bytes each) and big ones (a message's content, taken as it is
from an existing array). Each column adds its tokens with their row and their place among that
column's tokens in the row; ``build`` computes every token's final position, joins the small
tokens that precede each big one into its prefix, and writes ``prefix + big`` for every big token
in one pass. Every row ends with an empty big token, so a row is a contiguous run of that result:
the per-row strings are offsets into it, not copies.

    asm = Assembler(n_rows)
    asm.per_row(labels_and_values)                   # one small token per row
    asm.add(rows, within, texts, big=True)           # tokens of a list column
    out = asm.build()                                 # large_string array, one string per row
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_JOIN_NULL_EMPTY = pc.JoinOptions(null_handling="replace", null_replacement="")


def one_chunk(arr: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The array itself; a chunked array's only chunk (combine_chunks would copy it), else its chunks
    combined."""
    if not isinstance(arr, pa.ChunkedArray):
        return arr
    return arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()


def ndigits(x: np.ndarray) -> np.ndarray:
    """Number of decimal digits of each non-negative integer."""
    x = np.asarray(x, dtype=np.int64)
    d = np.ones(x.shape, dtype=np.int64)
    p = 10
    for _ in range(18):
        d += x >= p
        p *= 10
    return d


def numbers(x: np.ndarray) -> pa.Array:
    """Integers as decimal strings."""
    return pc.cast(pa.array(np.asarray(x, dtype=np.int64)), pa.string())


def offsets_of(arr: pa.Array) -> np.ndarray:
    """A list array's offsets, relative to its first value, as int64 (its slicing offset applied)."""
    width = 8 if pa.types.is_large_list(arr.type) else 4
    off = np.frombuffer(arr.buffers()[1], dtype=np.int32 if width == 4 else np.int64, count=len(arr) + 1,
                        offset=arr.offset * width).astype(np.int64)
    return off - off[0]


@dataclass
class Level:
    """A list array, null-aware: its values (``flatten()``), each element's start and count among
    them (null and empty elements count 0), and each value's element."""

    arr: pa.Array
    values: pa.Array = field(init=False)
    valid: np.ndarray = field(init=False)
    count: np.ndarray = field(init=False)
    start: np.ndarray = field(init=False)
    parent: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        arr = self.arr
        n = len(arr)
        self.valid = np.ones(n, dtype=bool) if arr.null_count == 0 else (
            np.asarray(pc.is_valid(arr).to_numpy(zero_copy_only=False), dtype=bool))
        count = np.diff(offsets_of(arr)) if n else np.zeros(0, np.int64)
        self.count = np.where(self.valid, count, 0)
        self.values = arr.flatten()  # drops values behind null elements, as count does
        self.start = np.concatenate([[0], np.cumsum(self.count)])[:-1] if n else np.zeros(0, np.int64)
        self.parent = np.repeat(np.arange(n, dtype=np.int64), self.count)
        if len(self.values) != int(self.count.sum()):
            raise ValueError("list values do not match their offsets")

    def index_in_parent(self) -> np.ndarray:
        """Each value's place within its element (0, 1, ...)."""
        return np.arange(len(self.values), dtype=np.int64) - self.start[self.parent]


class Assembler:
    def __init__(self, n: int) -> None:
        self.n = n
        self._columns: list[list[tuple[np.ndarray, np.ndarray, pa.Array, bool]]] = []
        self._counts: list[np.ndarray] = []

    def column(self) -> None:
        """Start the next column (its tokens come after every token of the columns before it)."""
        self._columns.append([])
        self._counts.append(np.zeros(self.n, dtype=np.int64))

    def add(self, rows: np.ndarray, within: np.ndarray, texts: pa.Array, *, big: bool = False) -> None:
        """Tokens of the current column: row, place among the column's tokens in that row, text."""
        rows = np.asarray(rows, dtype=np.int64)
        texts = one_chunk(texts)
        if len(rows) != len(texts):
            raise ValueError("one row per token")
        self._columns[-1].append((rows, np.asarray(within, dtype=np.int64), texts, big))
        self._counts[-1] += np.bincount(rows, minlength=self.n)

    def per_row(self, texts: pa.Array) -> None:
        """A column of one small token per row."""
        self.column()
        self.add(np.arange(self.n, dtype=np.int64), np.zeros(self.n, dtype=np.int64), texts)

    def build(self, tail: pa.Array | None = None) -> pa.Array:
        """Each row's string (large_string); ``tail``: a last small token per row, if any.

        Every token is put in its final place by one ``take`` over all of them: the result's data
        is every row's bytes end to end, so a row's string is a range of it (no join, no copy
        per row). A null token counts as empty."""
        n = self.n
        if n == 0:
            return pa.array([], pa.large_string())
        per_row = np.zeros(n, dtype=np.int64)
        for c in self._counts:
            per_row += c
        if tail is not None:
            per_row += 1
        row_start = np.concatenate([[0], np.cumsum(per_row)])
        total = int(row_start[-1])
        places, texts = [], []
        col_start = row_start[:-1].copy()
        for groups, counts in zip(self._columns, self._counts):
            for rows, within, txt, _big in groups:
                places.append(col_start[rows] + within)
                texts.append(txt)
            col_start += counts
        if tail is not None:
            places.append(col_start.copy())
            texts.append(one_chunk(tail))
        source = np.full(total, -1, dtype=np.int64)
        base = 0
        for place in places:
            source[place] = np.arange(base, base + len(place), dtype=np.int64)
            base += len(place)
        if base != total or (source < 0).any():
            raise ValueError("tokens do not fill their rows")  # a column's places overlap
        tokens = pa.chunked_array([t.cast(pa.large_string()) for t in texts if len(t)], type=pa.large_string())
        ordered = one_chunk(tokens.take(pa.array(source)))
        off = np.frombuffer(ordered.buffers()[1], dtype=np.int64, count=len(ordered) + 1, offset=ordered.offset * 8)
        if ordered.null_count and (np.diff(off)[~np.asarray(ordered.is_valid())] != 0).any():
            raise ValueError("a null token holds bytes")
        data = ordered.buffers()[2] if ordered.buffers()[2] is not None else pa.py_buffer(b"")
        return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(np.ascontiguousarray(off[row_start])), data])
