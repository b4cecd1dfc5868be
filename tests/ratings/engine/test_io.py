"""Vote files: CSV, JSONL (pairwise and K-wise mixed) and Parquet in the public arena schema."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ratings.engine import RatingDataError, fit_bt, load_votes
from ratings.engine.votes import A_WINS, B_WINS, TIE


def _meta(tokens: int, headers: int, lists: int, bold: int, side: str) -> dict:
    return {
        f"sum_assistant_{side}_tokens": tokens,
        f"header_count_{side}": {"h1": headers, "h2": 0, "h3": 0, "h4": 0, "h5": 0, "h6": 0},
        f"list_count_{side}": {"ordered": lists, "unordered": 0},
        f"bold_count_{side}": {"**": bold, "__": 0},
    }


def arena_140k_like(n: int = 60) -> pa.Table:
    """A table shaped like lmarena-ai/arena-human-preference-140k (nested structs, conversations)."""
    rng = np.random.default_rng(0)
    names = ["gpt-x", "claude-y", "gemini-z"]
    rows = []
    for k in range(n):
        a, b = rng.choice(3, 2, replace=False)
        meta = {"sum_user_tokens": 10, "turns": 1, **_meta(int(rng.integers(50, 500)), k % 3, k % 2, k % 4, "a"),
                **_meta(int(rng.integers(50, 500)), 1, 0, 2, "b")}
        rows.append({
            "id": f"id-{k}", "model_a": names[a], "model_b": names[b],
            "winner": ["model_a", "model_b", "tie", "both_bad"][k % 4],
            "evaluation_order": 1,
            "conversation_a": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
            "conversation_b": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"}],
            "conv_metadata": meta,
            "category_tag": {"criteria_v0.1": {"creativity": bool(k % 2), "technical_accuracy": True},
                             "math_v0.1": {"math": k % 5 == 0}},
            "language": "en" if k % 3 else "de",
            "is_code": k % 2 == 0,
        })
    return pa.Table.from_pylist(rows)


def test_arena_parquet_loads_as_it_is(tmp_path):
    path = tmp_path / "train.parquet"
    pq.write_table(arena_140k_like(), path)
    votes = load_votes(path)
    assert votes.models == ["claude-y", "gemini-z", "gpt-x"]
    assert votes.n_pairwise == 60
    assert np.array_equal(np.bincount(votes.outcome, minlength=3), [15, 15, 30])  # both_bad is a tie
    assert fit_bt(votes, ci="sandwich").rows()[0]["rank"] == 1


def test_filters_reach_top_level_and_nested_columns(tmp_path):
    path = tmp_path / "train.parquet"
    pq.write_table(arena_140k_like(), path)
    assert load_votes(path, filters=["language=en"]).n_pairwise == 40
    assert load_votes(path, filters=["is_code=true"]).n_pairwise == 30
    assert load_votes(path, filters=["category_tag.criteria_v0.1.creativity=true", "language=en"]).n_pairwise == 20
    with pytest.raises(RatingDataError, match="no column"):
        load_votes(path, filters=["category_tag.nope=1"])
    with pytest.raises(RatingDataError, match="no votes left"):
        load_votes(path, filters=["language=fr"])


def test_style_counts_come_from_conv_metadata(tmp_path):
    path = tmp_path / "train.parquet"
    pq.write_table(arena_140k_like(), path)
    votes = load_votes(path, style=True)
    assert votes.style.shape == (60, 8)
    assert votes.style[3].tolist()[1:4] == [0, 1, 3]  # headers, lists, bold of side a on row k=3


def test_jsonl_mixes_pairwise_and_kwise_rows_in_order(tmp_path):
    lines = [
        {"model_a": "a", "model_b": "b", "winner": "model_b"},
        {"models": ["a", "b", "c"], "ranking": [2, 1, 3]},
        {"model_a": "c", "model_b": "a", "winner": "tie", "weight": 0.5},
        {"models": ["c", "d"], "ranking": [1, 1]},
    ]
    path = tmp_path / "v.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    votes = load_votes(path)
    assert votes.models == ["a", "b", "c", "d"]
    assert votes.outcome.tolist() == [B_WINS, TIE] and votes.seq.tolist() == [0, 2]
    assert votes.weight.tolist() == [1.0, 0.5]
    assert votes.kw_seq.tolist() == [1, 3] and votes.kw_places[0].tolist() == [2, 1, 3]


def test_csv_with_weights_and_criteria(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text('model_a,model_b,winner,weight,criteria\n'
                    'a,b,model_a,1,"{""helpful"": ""model_b""}"\n'
                    'a,b,model_a,0,"{}"\n'
                    'b,a,tie,2,"{""helpful"": ""model_a""}"\n')
    votes = load_votes(path)
    assert votes.outcome.tolist() == [A_WINS, A_WINS, TIE] and votes.weight.tolist() == [1, 0, 2]
    helpful = load_votes(path, criterion="helpful")
    assert helpful.outcome.tolist() == [B_WINS, A_WINS] and helpful.seq.tolist() == [0, 2]


def test_kwise_row_problems_name_the_line(tmp_path):
    path = tmp_path / "v.jsonl"
    path.write_text('{"model_a": "a", "model_b": "b", "winner": "tie"}\n{"models": ["a", "b"], "ranking": [1]}\n')
    with pytest.raises(RatingDataError, match="line 2"):
        load_votes(path)


def test_unknown_file_type(tmp_path):
    path = tmp_path / "v.xlsx"
    path.write_text("x")
    with pytest.raises(RatingDataError, match="unknown file type"):
        load_votes(path)


def test_voter_codes_of_many_dictionary_chunks_equal_the_one_value_at_a_time_numbering():
    """A release's judge column arrives as one dictionary per Parquet row group: the vectorised
    numbering gives every voter (and every vote without one) the code the plain loop gives."""
    import random

    import pyarrow.compute as pc

    from ratings.engine.io import _voter_codes, _voter_codes_plain

    rng = random.Random(3)
    for _ in range(300):
        pool = [f"j{k}" for k in range(rng.randint(1, 30))]
        chunks = []
        for _c in range(rng.randint(1, 6)):
            vals = [rng.choice(pool) if rng.random() > 0.15 else None for _ in range(rng.randint(0, 25))]
            if rng.random() < 0.5:  # a dictionary with unused values, in any order
                d = list(dict.fromkeys([v for v in vals if v is not None] + rng.sample(pool, min(3, len(pool)))))
                rng.shuffle(d)
                chunks.append(pa.DictionaryArray.from_arrays(
                    pa.array([None if v is None else d.index(v) for v in vals], pa.int32()), pa.array(d, pa.string())))
            else:
                chunks.append(pc.dictionary_encode(pa.array(vals, pa.string())))
        col = pa.chunked_array(chunks)
        pre = {v: k for k, v in enumerate(rng.sample(pool, rng.randint(0, len(pool))))}
        fast, plain = dict(pre), dict(pre)
        for _call in range(2):  # pairwise then K-wise rows share the index
            assert np.array_equal(_voter_codes(col, fast), _voter_codes_plain(list(col.chunks), plain))
            assert fast == plain


def test_kwise_rows_checked_column_wise_equal_the_row_by_row_reading():
    """K-wise rows of a release's types are read column-wise when every row is valid: the same
    lists as the row-by-row reading; a row that is not valid goes row by row (and names its line)."""
    from ratings.engine.io import _kwise_rows, _kwise_rows_checked

    def line_of(s):
        return f"row {s}"

    t = pa.table({"models": pa.array([["a", "b", "c"], ["c", "a"], ["b", "a", "d", "c"]]),
                  "ranking": pa.array([[2, 1, 2], [1, 2], [4, 3, 2, 1]], pa.list_(pa.int32())),
                  "weight": pa.array([1.0, None, 0.5])})
    seq = np.array([4, 7, 9])
    fast = _kwise_rows_checked(t, seq)
    assert fast == (t["models"].to_pylist(), t["ranking"].to_pylist(), [4, 7, 9], [1.0, 1.0, 0.5])
    assert _kwise_rows(t, seq, line_of) == fast
    for bad in ({"models": pa.array([["a", "a"]])}, {"ranking": pa.array([[0, 1]], pa.list_(pa.int32()))},
                {"models": pa.array([["a", "b", "c"]])}, {"weight": pa.array([-1.0])}):
        row = {"models": pa.array([["a", "b"]]), "ranking": pa.array([[1, 2]], pa.list_(pa.int32())),
               "weight": pa.array([1.0]), **bad}
        bt = pa.table(row)
        assert _kwise_rows_checked(bt, np.array([3])) is None
        with pytest.raises(RatingDataError, match="row 3"):
            _kwise_rows(bt, np.array([3]), line_of)
