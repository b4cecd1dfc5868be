"""The bytes a release row turns into, from the column-wise writers (ratings.engine.chain,
releases.jsonlines), against the documented forms computed plainly row by row: the canonical bytes
of the hash chain (netstrings, ratings/engine/chain.py) and the JSON lines (orjson of each row).
Rows with nulls at every level, empty conversations, K-wise rows, non-ASCII text and characters
JSON must escape; tables sliced and in several chunks, as Parquet batches arrive."""
from __future__ import annotations

import datetime as dt
import hashlib
import random

import numpy as np
import orjson
import pyarrow as pa
import pytest

from ratings.engine import sandwich
from ratings.engine.chain import GENESIS, NOT_CHAINED, canonical_array, chain_rows
from releases.jsonlines import json_lines
from releases.schema import arrow_schema

SCHEMA = arrow_schema(["helpfulness", "style"])
TEXTS = ["", "plain", 'quote " and backslash \\ and \\"', "tab\tnew\nline\r\x01\x1f", "héllo wörld ✓ 😀",
         "\\", '"', "x" * 5000, "ends with backslash \\", 'a","b']


def _message(rng: random.Random, nulls: bool) -> dict | None:
    if nulls and rng.random() < 0.05:
        return None
    return {"role": rng.choice(["user", "assistant"]) if not (nulls and rng.random() < 0.05) else None,
            "content": rng.choice(TEXTS) if not (nulls and rng.random() < 0.05) else None}


def _conversation(rng: random.Random, nulls: bool) -> list | None:
    if rng.random() < 0.1:
        return None
    return [_message(rng, nulls) for _ in range(rng.randint(0, 5))]


def _rows(n: int, *, nulls: bool, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        pairwise = rng.random() < 0.7
        conv = [_conversation(rng, nulls) for _ in range(rng.randint(0, 4))] if rng.random() > 0.2 else rng.choice([None, []])
        out.append({
            "id": i + 1, "model_a": "m-a" if pairwise else None, "model_b": "m-ü" if pairwise else None,
            "winner": rng.choice(["model_a", "model_b", "tie", "both_bad"]) if pairwise else None,
            "models": None if pairwise else ["m1", "m2", "m3"], "ranking": None if pairwise else [1, 2, 2],
            "judge": f"j{rng.randint(0, 9)}", "modality": "text", "mode": "pairwise" if pairwise else "kwise",
            "turn": rng.randint(1, 3), "language": rng.choice(["en", None]), "category": "coding",
            "conversation_a": _conversation(rng, nulls) if pairwise else None,
            "conversation_b": _conversation(rng, nulls) if pairwise else None,
            "conversations": None if pairwise else conv,
            "timestamp": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
            + dt.timedelta(microseconds=rng.choice([0, 1, 123000, rng.randint(0, 10**12)]) + 10**6 * i),
            "counted": rng.random() < 0.9, "exclusion_reason": rng.choice([None, "identity_leak"]),
            "criteria": rng.choice([None, {}, {"helpfulness": "model_a"}, {"style": "tie", "helpfulness": "model_b"}]),
            "feedback": rng.choice([None, "fine", 'he said "no"\n']), "listen_ms": rng.choice([None, [1, None, 3]]),
            "weight": rng.choice([1.0, 0.5, 1 / 3, 1e-7]), "chain": f"{i:064x}",
        })
    return out


def _ns(text: str) -> str:
    return f"{len(text.encode())}:{text}"


def _text(value, name: str) -> str | None:
    """The documented canonical text of one value (None: null)."""
    if value is None:
        return None
    if name == "criteria":
        given = "".join(_ns(k) + _ns(v) for k, v in value.items() if v is not None)
        return given or None
    if isinstance(value, dict):  # a message
        return "".join("-" if v is None else _ns(v) for v in value.values())
    if isinstance(value, list):
        return "".join("-" if (t := _text(v, "")) is None else _ns(t) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(round(value * 1e6))
    if isinstance(value, dt.datetime):
        return str((value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1))
    return str(value)


def _canonical(row: dict) -> bytes:
    out = []
    for name, value in row.items():
        if name in NOT_CHAINED:
            continue
        text = _text(value, name)
        out.append(_ns(name) + ("-" if text is None else _ns(text)))
    return "".join(out).encode()


def _tables(rows: list[dict]) -> list[pa.Table]:
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    return [table, table.slice(17, 120), pa.concat_tables([table.slice(0, 50), table.slice(50, 40), table.slice(90)])]


@pytest.mark.parametrize("nulls", [False, True])
def test_canonical_bytes_are_the_documented_netstrings_row_by_row(nulls):
    rows = _rows(200, nulls=nulls)
    for table in _tables(rows):
        got = canonical_array(table).cast(pa.large_binary()).to_pylist()
        want = [_canonical(r) for r in table.to_pylist()]
        assert got == want


def test_the_chain_links_each_rows_canonical_bytes_after_the_previous_chain():
    table = pa.Table.from_pylist(_rows(60, nulls=True), schema=SCHEMA)
    chains = chain_rows(canonical_array(table), GENESIS)
    head = GENESIS
    for row, chain in zip(table.to_pylist(), chains):
        head = hashlib.sha256(bytes.fromhex(head) + _canonical(row)).hexdigest()
        assert chain == head


@pytest.mark.parametrize("nulls", [False, True])  # with null messages: written row by row
def test_json_lines_are_orjson_of_each_row(nulls):
    for table in _tables(_rows(200, nulls=nulls)):
        unchained = table.drop_columns(["chain"])
        got = bytes(json_lines(unchained, table["chain"]))
        want = b"".join(orjson.dumps(r, option=orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE) for r in table.to_pylist())
        assert got == want
        assert [orjson.loads(line) for line in got.splitlines()][0]["id"] == table["id"][0].as_py()


def test_the_clustered_sandwich_sums_a_few_pairs_at_a_time_to_the_same_meat(monkeypatch):
    rng = np.random.default_rng(5)
    n, dim = 4000, 12
    cluster, col, val = rng.integers(0, 300, n), rng.integers(0, dim, n), rng.normal(size=n)
    whole = sandwich._sum_of_outer(cluster, col, val, dim)
    dense = np.zeros((300, dim))
    np.add.at(dense, (cluster, col), val)
    assert np.allclose(whole, dense.T @ dense)
    monkeypatch.setattr(sandwich, "_PAIRS", 50)
    assert np.allclose(sandwich._sum_of_outer(cluster, col, val, dim), whole, rtol=1e-12, atol=1e-12)
