"""Read a vote file (CSV, JSONL or Parquet) into ``Votes``.

    votes = load_votes("votes.parquet", filters=["language=en"], criterion=None, style=True)

Schema (the public arena export; the lmarena-ai/arena-human-preference-140k Parquet loads as it is):
- pairwise rows: ``model_a``, ``model_b``, ``winner`` in {model_a, model_b, tie, both_bad};
- K-wise rows: ``models`` (list) and ``ranking`` (place of each model, 1 = best, equal = tie);
- optional: ``weight`` (default 1); ``counted`` (a release's flag: rows with ``counted = false``
  are left out unless ``counted_only=False`` or a filter names ``counted``); any column named by a filter (``col=value``; a dotted path
  reaches into struct columns, e.g. ``category_tag.criteria_v0.1.creative_writing=true``);
  ``conv_metadata`` style counts (or the same names as flat columns) for style control;
  ``criteria`` ({name: winner}) for per-criterion ratings.

Everything is columnar (pyarrow) until the end, because a 10M-row file must load in seconds:
model names are dictionary-encoded once and winners are mapped through their few distinct values.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ratings.engine.errors import RatingDataError
from ratings.engine.votes import WINNER_CODES, Votes

_STYLE_FIELDS = ("sum_assistant_{s}_tokens", "header_count_{s}", "list_count_{s}", "bold_count_{s}")


def read_table(path: str | Path) -> tuple[pa.Table, int]:
    """The file as an Arrow table, and the line number of its first data row (for messages)."""
    path = Path(path)
    if not path.exists():
        raise RatingDataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise RatingDataError(f"{path}: the file is empty (no votes)")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            # Only the columns we may use: the 140k dump carries whole conversations we never read.
            names = pq.read_schema(path).names
            wanted = {"model_a", "model_b", "winner", "weight", "models", "ranking", "conv_metadata", "criteria"}
            return pq.read_table(path, columns=[n for n in names if n in wanted or not _is_text_blob(n)]), 0
        if suffix == ".csv":
            import pyarrow.csv as pcsv

            # Parse the name and winner columns straight into dictionaries: a 10M-vote file then
            # takes a quarter of the memory of plain strings (230 MB instead of 950) and loads faster.
            text_dict = pa.dictionary(pa.int32(), pa.string())
            types = {name: text_dict for name in ("model_a", "model_b", "winner", "voter", "judge")}
            # Weights as text: "NaN", "N/A" or "abc" must be an error naming its line, never a silent 1.
            types["weight"] = pa.string()
            return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(column_types=types)), 2
        if suffix in (".jsonl", ".json", ".ndjson"):
            return _read_jsonl(path), 1
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise RatingDataError(f"{path}: cannot be read as {suffix[1:].upper()}: {exc}") from None
    raise RatingDataError(f"{path}: unknown file type {suffix!r}; use .csv, .jsonl or .parquet")


def _is_text_blob(name: str) -> bool:
    return name.startswith(("conversation", "full_conversation")) or name in ("feedback", "chain")


def _read_jsonl(path: Path) -> pa.Table:
    import pyarrow.json as pjson

    try:
        return pjson.read_json(path)
    except pa.ArrowInvalid:
        pass  # mixed pairwise / K-wise rows can defeat Arrow's type inference: parse by hand
    rows: list[dict] = []
    with open(path, encoding="utf-8") as f:  # noqa: PTH123
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise RatingDataError(f"{path}, line {n}: not valid JSON ({exc.msg})") from None
    if not rows:
        raise RatingDataError(f"{path}: the file is empty (no votes)")
    keys = dict.fromkeys(k for r in rows for k in r)
    return pa.table({k: _column([r.get(k) for r in rows]) for k in keys})


def _column(values: list) -> pa.Array:
    """A column of mixed JSON values (e.g. weights 1 and "abc"): as text when types disagree, so the
    checks that follow can name the line at fault."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        return pa.array([None if v is None else (v if isinstance(v, str) else json.dumps(v)) for v in values], pa.string())


def load_votes(
    path: str | Path,
    *,
    filters: list[str] | tuple[str, ...] = (),
    criterion: str | None = None,
    style: bool = False,
    counted_only: bool = True,
) -> Votes:
    """Load, filter and encode a vote file; raise RatingDataError with a readable message."""
    table, first_line = read_table(path)
    return votes_from_table(table, first_line=first_line, filters=filters, criterion=criterion, style=style,
                            source=str(path), counted_only=counted_only)


def votes_from_records(records: list[dict], *, style: bool = False, criterion: str | None = None) -> Votes:
    """Votes from dicts in the export schema (pairwise and K-wise mixed), in vote order."""
    records = list(records)
    if not records:
        raise RatingDataError("no votes")
    keys = dict.fromkeys(k for r in records for k in r)
    table = pa.table({k: pa.array([r.get(k) for r in records]) for k in keys})
    return votes_from_table(table, first_line=0, style=style, criterion=criterion, source="votes")


def votes_from_table(
    table: pa.Table,
    *,
    first_line: int = 0,
    filters: list[str] | tuple[str, ...] = (),
    criterion: str | None = None,
    style: bool = False,
    source: str = "votes",
    counted_only: bool = True,
) -> Votes:
    def line_of(row: int) -> str:
        return f"{source}, line {row + first_line}" if first_line else f"{source}, row {row + 1}"

    if table.num_rows == 0:
        raise RatingDataError(f"{source}: the file is empty (no votes)")
    seq = np.arange(table.num_rows, dtype=np.int64)  # original position, kept through filters
    dropped = 0
    names_filtered = {spec.split("=", 1)[0].strip() for spec in filters}
    if counted_only and "counted" in table.column_names and "counted" not in names_filtered:
        # A release carries the votes that do not count too (with their reason): leave them out,
        # as the leaderboard does.
        col = table["counted"]
        if not pa.types.is_boolean(col.type):
            raise RatingDataError(f"{source}: column 'counted' must be true/false, not {col.type}")
        before = table.num_rows
        table, seq = _keep(table, seq, pc.fill_null(col, True))
        dropped = before - table.num_rows
        if table.num_rows == 0:
            raise RatingDataError(f"{source}: no vote has counted = true")
    for spec in filters:
        table, seq = _keep(table, seq, _filter_mask(table, spec))
    if table.num_rows == 0:
        raise RatingDataError(f"{source}: no votes left after the filter(s) {', '.join(filters)}")
    if criterion is not None:
        table = _winner_from_criterion(table, criterion)
        table, seq = _keep(table, seq, pc.is_valid(table["winner"]))
        if table.num_rows == 0:
            raise RatingDataError(f"{source}: no vote has a verdict for criterion {criterion!r}")
    cols = set(table.column_names)
    has_pairs = {"model_a", "model_b", "winner"} <= cols
    has_kwise = {"models", "ranking"} <= cols
    if not (has_pairs or has_kwise):
        raise RatingDataError(
            f"{source}: needs columns model_a, model_b, winner (pairwise) or models, ranking (K-wise); "
            f"found {', '.join(table.column_names)}"
        )
    if has_pairs and table["model_a"].null_count == 0:
        pairs, pseq, rest, rseq = table, seq, table.slice(0, 0), seq[:0]
    elif has_pairs:
        valid = pc.is_valid(table["model_a"])
        pairs, pseq = _keep(table, seq, valid)
        rest, rseq = _keep(table, seq, pc.invert(valid))
    else:
        pairs, pseq, rest, rseq = table.slice(0, 0), seq[:0], table, seq
    if rest.num_rows and not has_kwise:
        raise RatingDataError(f"{line_of(int(rseq[0]))}: model_a is missing")

    kw_names, kw_places, kw_seq, kw_weight = _kwise_rows(rest, rseq, line_of) if rest.num_rows else ([], [], [], [])
    a_names, b_names = pairs["model_a"] if pairs.num_rows else None, pairs["model_b"] if pairs.num_rows else None
    names = _model_names(a_names, b_names, kw_names)
    if len(names) < 2:
        raise RatingDataError(f"{source}: only one model ({names[0] if names else 'none'}); ratings need two or more")
    votes = Votes(models=names, a=np.zeros(0, np.int32), b=np.zeros(0, np.int32), outcome=np.zeros(0, np.int8))
    voter_index: dict = {}  # voter value -> cluster code, shared by pairwise and K-wise rows
    if dropped:
        votes.notes.append(f"{dropped} votes with counted = false left out (--include-uncounted keeps them)")
    if pairs.num_rows:
        for name in ("model_b", "winner"):
            if pairs[name].null_count:
                first = int(np.flatnonzero(_to_numpy(pc.is_null(pairs[name])))[0])
                raise RatingDataError(f"{line_of(int(pseq[first]))}: {name} is missing")
        votes.a = _encode(pairs["model_a"], names)
        votes.b = _encode(pairs["model_b"], names)
        same = np.flatnonzero(votes.a == votes.b)
        if same.size:
            raise RatingDataError(f"{line_of(int(pseq[same[0]]))}: a model is compared with itself")
        votes.outcome = _encode_winner(pairs["winner"], lambda k: line_of(int(pseq[k])))
        votes.seq = pseq
        if "weight" in cols:
            votes.weight = _weights(pairs["weight"], lambda k: line_of(int(pseq[k])))
        if _voter_column(pairs) is not None:
            votes.voter = _voter_codes(pairs[_voter_column(pairs)], voter_index)
        if style:
            votes.style = _style_counts(pairs, source)
    if kw_names and _voter_column(rest) is not None and (votes.voter is not None or not pairs.num_rows):
        votes.kw_voter = _voter_codes(rest[_voter_column(rest)], voter_index)
    if kw_names:
        index = {m: k for k, m in enumerate(names)}
        votes.kw_items = [np.array([index[m] for m in ms], dtype=np.int32) for ms in kw_names]
        votes.kw_places = [np.asarray(p, dtype=np.int32) for p in kw_places]
        votes.kw_seq = np.asarray(kw_seq, dtype=np.int64)
        votes.kw_weight = np.asarray(kw_weight, dtype=np.float64) if "weight" in cols else None
        if style:
            votes.notes.append("style control uses pairwise votes only; K-wise votes were left out of it")
    return votes


def _model_names(a: pa.ChunkedArray | None, b: pa.ChunkedArray | None, kw: list[list[str]]) -> list[str]:
    found: set[str] = set()
    for col in (a, b):
        if col is not None:
            found.update(pc.unique(col).to_pylist())
    for ms in kw:
        found.update(ms)
    found.discard(None)
    return sorted(found)


def _to_numpy(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A null-free integer or boolean Arrow array as numpy, reading its buffers directly.

    pyarrow's own to_numpy imports pandas (a third of a second) even for a plain int32 array.
    """
    if isinstance(arr, pa.ChunkedArray):
        parts = [_to_numpy(c) for c in arr.chunks]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=bool if pa.types.is_boolean(arr.type) else np.int64)
    if arr.null_count:
        raise ValueError("unexpected nulls")
    data = arr.buffers()[1]
    if pa.types.is_boolean(arr.type):
        bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
        return bits[arr.offset: arr.offset + len(arr)].astype(bool)
    dtype = np.dtype(f"int{arr.type.bit_width}")
    return np.frombuffer(data, dtype=dtype, count=len(arr), offset=arr.offset * dtype.itemsize)


def _chunks_encoded(col: pa.ChunkedArray):
    """Each chunk as (dictionary values, int indices): CSV columns arrive dictionary-typed already."""
    for chunk in col.chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = pc.dictionary_encode(chunk)
        yield chunk.dictionary.to_pylist(), _to_numpy(chunk.indices)


def _encode(col: pa.ChunkedArray, names: list[str]) -> np.ndarray:
    """Names to positions in the sorted list, mapping only each chunk's few distinct names."""
    sorted_names = np.asarray(names, dtype=object)
    parts = [np.searchsorted(sorted_names, np.asarray(values, dtype=object)).astype(np.int32)[idx]
             for values, idx in _chunks_encoded(col)]
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


def _encode_winner(col: pa.ChunkedArray, line_of) -> np.ndarray:
    parts = []
    done = 0
    for values, idx in _chunks_encoded(col):
        for k, v in enumerate(values):
            if v not in WINNER_CODES and np.any(idx == k):
                first = done + int(np.flatnonzero(idx == k)[0])
                raise RatingDataError(
                    f"{line_of(first)}: unknown winner value {v!r}; expected one of model_a, model_b, tie, both_bad"
                )
        lut = np.array([WINNER_CODES.get(v, 0) for v in values], dtype=np.int8)
        parts.append(lut[idx])
        done += len(idx)
    return np.concatenate(parts) if parts else np.zeros(0, np.int8)


def _keep(table: pa.Table, seq: np.ndarray, mask: pa.ChunkedArray | pa.Array) -> tuple[pa.Table, np.ndarray]:
    """Filter a table and its original row positions together."""
    return table.filter(mask), seq[_to_numpy(mask)]


def _kwise_rows(rest: pa.Table, rseq: np.ndarray, line_of) -> tuple[list, list, list, list]:
    fast = _kwise_rows_checked(rest, rseq)
    if fast is not None:
        return fast
    models = rest["models"].to_pylist()
    ranking = rest["ranking"].to_pylist()
    seqs = rseq.tolist()
    weights = rest["weight"].to_pylist() if "weight" in rest.column_names else [None] * len(seqs)
    out_m, out_p, out_s, out_w = [], [], [], []
    for ms, rk, s, w in zip(models, ranking, seqs, weights):
        if ms is None or rk is None:
            raise RatingDataError(f"{line_of(s)}: neither a pairwise vote (model_a, model_b, winner) nor a K-wise one")
        if len(ms) != len(rk) or len(ms) < 2:
            raise RatingDataError(f"{line_of(s)}: 'models' and 'ranking' must be lists of the same length >= 2")
        if len(set(ms)) != len(ms):
            raise RatingDataError(f"{line_of(s)}: a model appears twice in one K-wise vote")
        if any((not isinstance(p, (int, float))) or p < 1 for p in rk):
            raise RatingDataError(f"{line_of(s)}: ranking places must be numbers >= 1 (1 = best)")
        out_m.append(ms)
        out_p.append([int(p) for p in rk])
        out_s.append(s)
        out_w.append(1.0 if w is None else _one_weight(w, line_of(s)))
    return out_m, out_p, out_s, out_w


def _kwise_rows_checked(rest: pa.Table, rseq: np.ndarray) -> tuple[list, list, list, list] | None:
    """_kwise_rows' result when every row is valid, checked column-wise (a release's K-wise rows:
    lists of strings, integer places, float weights); None when a row may be invalid or the columns
    are of other types, for _kwise_rows to check row by row and name the line."""
    models, ranking = rest["models"], rest["ranking"]
    list_types = (pa.types.is_list, pa.types.is_large_list)
    if not (any(f(models.type) for f in list_types) and any(f(ranking.type) for f in list_types)
            and pa.types.is_string(models.type.value_type) and pa.types.is_integer(ranking.type.value_type)):
        return None
    models, ranking = models.combine_chunks(), ranking.combine_chunks()
    if models.null_count or ranking.null_count:
        return None
    n_m = pc.list_value_length(models).to_numpy()
    if not np.array_equal(n_m, pc.list_value_length(ranking).to_numpy()) or (n_m < 2).any():
        return None
    items, places = pc.list_flatten(models), pc.list_flatten(ranking)
    if items.null_count or places.null_count or (len(places) and pc.min(places).as_py() < 1):
        return None
    codes = np.asarray(pc.dictionary_encode(items).indices.to_numpy(), dtype=np.int64)
    keys = np.repeat(np.arange(len(n_m), dtype=np.int64), n_m) * (int(codes.max()) + 1 if len(codes) else 1) + codes
    if len(np.unique(keys)) != len(keys):  # a model twice in one vote
        return None
    if "weight" in rest.column_names:
        col = rest["weight"]
        if not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            return None
        w = pc.cast(col, pa.float64()).fill_null(1.0).to_numpy().astype(np.float64)
        if not (np.isfinite(w) & (w >= 0)).all():
            return None
        weights = w.tolist()
    else:
        weights = [1.0] * len(n_m)
    return models.to_pylist(), ranking.to_pylist(), rseq.tolist(), weights


def _one_weight(w, where: str) -> float:
    try:
        x = float(w.strip() if isinstance(w, str) else w)
    except (TypeError, ValueError):
        x = float("nan")
    if not (np.isfinite(x) and x >= 0) or (isinstance(w, str) and not w.strip()):
        raise RatingDataError(f"{where}: weight {w!r} is not a finite number >= 0")
    return x


def _weights(col: pa.ChunkedArray, line_of) -> np.ndarray:
    """The weight column as floats: a missing JSON value means 1; anything that is not a finite number
    >= 0 (NaN, N/A, an empty CSV cell, a word, a negative or infinite number) names its line."""
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        try:
            values = pc.cast(col, pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # a word somewhere: find its line
            values = pa.array([None if v is None else _one_weight(v, line_of(k)) for k, v in enumerate(col.to_pylist())],
                              pa.float64())
        if pa.types.is_string(col.type):  # CSV: every cell was written, so an empty one is an error
            empty = pc.equal(pc.utf8_length(col), 0)
            if pc.any(empty).as_py():
                raise RatingDataError(f"{line_of(int(np.flatnonzero(_to_numpy(pc.fill_null(empty, False)))[0]))}: weight is empty")
    elif pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_null(col.type):
        values = pc.cast(col, pa.float64())
    else:
        raise RatingDataError(f"{line_of(0)}: weight must be a number, the column holds {col.type}")
    w = values.fill_null(1.0).to_numpy().astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        raise RatingDataError(f"{line_of(int(bad[0]))}: weight {float(w[bad[0]])!r} is not a finite number >= 0")
    return w


def _voter_column(table: pa.Table) -> str | None:
    """The column naming who cast each vote: ``voter``, or ``judge`` (the release's pseudonym)."""
    for name in ("voter", "judge"):
        if name in table.column_names:
            return name
    return None


def _voter_codes(col: pa.ChunkedArray, index: dict) -> np.ndarray:
    """Integer codes of voters (shared between pairwise and K-wise rows through ``index``); a vote
    without a voter is its own cluster. Codes are given in order: each chunk's dictionary values,
    then that chunk's votes without a voter (as _voter_codes_plain does, one value at a time)."""
    chunks = [c if pa.types.is_dictionary(c.type) else pc.dictionary_encode(c) for c in col.chunks]
    if not chunks:
        return np.zeros(0, np.int64)
    dicts = [c.dictionary for c in chunks]
    if (len(chunks) == 1 or any(not (pa.types.is_string(d.type) or pa.types.is_large_string(d.type)) or d.null_count
                                for d in dicts)):
        return _voter_codes_plain(chunks, index)
    # Every chunk's dictionary end to end; the values already known keep their codes.
    values = pa.chunked_array([d.cast(pa.large_string()) for d in dicts], type=pa.large_string()).combine_chunks()
    sizes = np.array([len(d) for d in dicts], dtype=np.int64)
    known_keys = [k for k in index if isinstance(k, str)]
    code = np.full(len(values), -1, dtype=np.int64)
    if known_keys:
        at = pc.index_in(values, value_set=pa.array(known_keys, pa.large_string()))
        hit = np.asarray(pc.is_valid(at).to_numpy(zero_copy_only=False), dtype=bool)
        known_codes = np.array([index[k] for k in known_keys], dtype=np.int64)
        code[hit] = known_codes[np.asarray(at.filter(pc.is_valid(at)).to_numpy(), dtype=np.int64)]
    new = np.flatnonzero(code < 0)
    # New values: numbered in order of first appearance; votes without a voter take codes after
    # their chunk's new values.
    missing = np.array([c.indices.null_count for c in chunks], dtype=np.int64)
    chunk_of = np.repeat(np.arange(len(chunks)), sizes)
    enc = pc.dictionary_encode(values.take(pa.array(new)))
    rank = np.asarray(enc.indices.to_numpy(), dtype=np.int64)  # first-appearance order of each new value
    n_new = len(enc.dictionary)
    first_pos = np.full(n_new, len(values), dtype=np.int64)
    np.minimum.at(first_pos, rank, new)
    first_chunk = chunk_of[first_pos] if n_new else np.zeros(0, np.int64)
    missing_before = np.concatenate([[0], np.cumsum(missing)])
    base = len(index)
    new_code = base + np.arange(n_new, dtype=np.int64) + missing_before[first_chunk]
    code[new] = new_code[rank]
    new_per_chunk = np.bincount(first_chunk, minlength=len(chunks)) if n_new else np.zeros(len(chunks), np.int64)
    new_upto = np.cumsum(new_per_chunk)  # new values first seen in chunks <= c
    for v, c in zip(enc.dictionary.to_pylist(), new_code.tolist()):
        index[v] = c
    parts, start = [], 0
    for k, chunk in enumerate(chunks):
        lut = np.append(code[start:start + sizes[k]], -1)
        start += sizes[k]
        idx = chunk.indices.fill_null(len(lut) - 1).to_numpy().astype(np.int64)
        codes = lut[idx]
        holes = np.flatnonzero(codes < 0)
        if len(holes):
            first = base + new_upto[k] + missing_before[k]
            codes[holes] = first + np.arange(len(holes), dtype=np.int64)
            for c in codes[holes].tolist():
                index[("no voter", c)] = c
        parts.append(codes)
    return np.concatenate(parts)


def _voter_codes_plain(chunks: list, index: dict) -> np.ndarray:
    parts = []
    for enc in chunks:
        lut = np.array([index.setdefault(v, len(index)) for v in enc.dictionary.to_pylist()] + [-1], dtype=np.int64)
        idx = enc.indices.fill_null(len(lut) - 1).to_numpy().astype(np.int64)
        codes = lut[idx]
        missing = np.flatnonzero(codes < 0)
        for k in missing:  # a vote without a voter is its own cluster
            codes[k] = index.setdefault(("no voter", len(index)), len(index))
        parts.append(codes)
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def _resolve(table: pa.Table, path: str) -> pa.ChunkedArray | None:
    """A top-level column, or a struct field reached by a dotted path (field names may hold dots)."""
    if path in table.column_names:
        return table[path]
    for name in table.column_names:
        if path.startswith(name + "."):
            col = table[name].combine_chunks()
            return _resolve_struct(col, path[len(name) + 1:])
    return None


def _resolve_struct(col: pa.Array, path: str) -> pa.ChunkedArray | None:
    if not pa.types.is_struct(col.type):
        return None
    fields = [col.type.field(k).name for k in range(col.type.num_fields)]
    for name in sorted(fields, key=len, reverse=True):  # longest first: "criteria_v0.1" before "criteria_v0"
        if path == name:
            return pa.chunked_array([pc.struct_field(col, name)])
        if path.startswith(name + "."):
            return _resolve_struct(pc.struct_field(col, name), path[len(name) + 1:])
    return None


def _filter_mask(table: pa.Table, spec: str) -> pa.ChunkedArray:
    if "=" not in spec:
        raise RatingDataError(f"--filter {spec!r}: expected COLUMN=VALUE")
    name, value = spec.split("=", 1)
    col = _resolve(table, name.strip())
    if col is None:
        raise RatingDataError(f"--filter {spec!r}: no column {name!r} in the file")
    if pa.types.is_boolean(col.type):
        want = value.strip().lower() in ("1", "true", "yes")
        return pc.fill_null(pc.equal(col, want), False)
    try:
        as_text = pc.cast(col, pa.string()) if not pa.types.is_string(col.type) else col
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise RatingDataError(f"--filter {spec!r}: column {name!r} holds {col.type}, not comparable with text") from None
    return pc.fill_null(pc.equal(as_text, value), False)


def _winner_from_criterion(table: pa.Table, criterion: str) -> pa.Table:
    if "criteria" not in table.column_names:
        raise RatingDataError(f"--criterion {criterion}: the file has no 'criteria' column")
    col = table["criteria"].combine_chunks()
    if pa.types.is_string(col.type):  # CSV: a JSON object per cell
        col = pa.array([None if s is None else json.loads(s).get(criterion) for s in col.to_pylist()], pa.string())
    elif pa.types.is_struct(col.type):
        if col.type.get_field_index(criterion) < 0:
            raise RatingDataError(f"--criterion {criterion}: no vote has a verdict for it")
        col = pc.struct_field(col, criterion)
    else:
        raise RatingDataError(f"--criterion {criterion}: 'criteria' must map criterion names to winners")
    if "winner" in table.column_names:
        return table.set_column(table.column_names.index("winner"), "winner", col)
    return table.append_column("winner", col)


def _count(col: pa.Array) -> np.ndarray:
    """A style count: a number, or a struct of counts (h1..h6, ordered/unordered, **/__) summed."""
    if pa.types.is_struct(col.type):
        parts = [_count(pc.struct_field(col, k)) for k in range(col.type.num_fields)]
        return np.sum(parts, axis=0) if parts else np.zeros(len(col))
    return np.nan_to_num(col.to_numpy(zero_copy_only=False).astype(np.float64))


def _style_counts(pairs: pa.Table, source: str) -> np.ndarray:
    meta = pairs["conv_metadata"].combine_chunks() if "conv_metadata" in pairs.column_names else None
    out = []
    for side in ("a", "b"):
        for pattern in _STYLE_FIELDS:
            name = pattern.format(s=side)
            if meta is not None and pa.types.is_struct(meta.type) and meta.type.get_field_index(name) >= 0:
                out.append(_count(pc.struct_field(meta, name)))
            elif name in pairs.column_names:
                out.append(_count(pairs[name].combine_chunks()))
            else:
                raise RatingDataError(f"{source}: --style-control needs {name} (in conv_metadata or as a column)")
    return np.column_stack(out)
