"""Odd data gets a clear message or a flagged, finite result: never NaN, never a traceback."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ratings.engine import RatingDataError, fit_bt, fit_elo, load_votes, votes_from_names
from ratings.engine.cli import main


def _write(path, text: str):
    path.write_text(text)
    return str(path)


def test_empty_file_says_so(tmp_path):
    with pytest.raises(RatingDataError, match="empty"):
        load_votes(_write(tmp_path / "v.csv", ""))


def test_header_only_csv_says_no_votes(tmp_path):
    with pytest.raises(RatingDataError, match="empty|no votes"):
        load_votes(_write(tmp_path / "v.csv", "model_a,model_b,winner\n"))


def test_one_model_says_two_are_needed(tmp_path):
    path = _write(tmp_path / "v.jsonl", json.dumps({"models": ["x", "y"], "ranking": [1, 2]}).replace("y", "x") + "\n")
    with pytest.raises(RatingDataError, match="twice|one model"):
        load_votes(path)
    with pytest.raises(RatingDataError, match="only one model"):
        load_votes(_write(tmp_path / "w.csv", "model_a,model_b,winner\nx,x,tie\n"))
    with pytest.raises(RatingDataError, match="line 3: a model is compared with itself"):
        load_votes(_write(tmp_path / "z.csv", "model_a,model_b,winner\nx,y,tie\nx,x,tie\n"))


def test_unknown_winner_names_the_line(tmp_path):
    path = _write(tmp_path / "v.csv", "model_a,model_b,winner\na,b,model_a\nb,a,tie\na,b,draw\n")
    with pytest.raises(RatingDataError, match=r"line 4: unknown winner value 'draw'"):
        load_votes(path)
    path = _write(tmp_path / "v.jsonl", '{"model_a": "a", "model_b": "b", "winner": "model_a"}\n'
                                        '{"model_a": "a", "model_b": "b", "winner": "A"}\n')
    with pytest.raises(RatingDataError, match=r"line 2: unknown winner value 'A'"):
        load_votes(path)


def test_model_that_won_every_game_is_finite_and_flagged():
    a = ["champ"] * 20 + ["x"] * 20
    b = ["x"] * 10 + ["y"] * 10 + ["y"] * 20
    w = ["model_a"] * 20 + ["model_a"] * 12 + ["model_b"] * 8
    for ci in ("none", "sandwich", "bootstrap"):
        lb = fit_bt(votes_from_names(a, b, w), ci=ci, rounds=50)
        assert np.all(np.isfinite(lb.rating)) and np.all(np.isfinite(lb.lower)) and np.all(np.isfinite(lb.upper))
        champ = lb.models.index("champ")
        assert lb.rank[champ] == 1 and lb.rating[champ] == lb.rating.max()
        assert any("won every game" in f for f in lb.flags[champ])
        assert any("infinite" in n for n in lb.notes)


def test_disconnected_parts_are_reported_and_ranked_separately(tmp_path):
    rows = "model_a,model_b,winner\n" + "a,b,model_a\nb,a,tie\na,b,model_b\n" * 3 + "c,d,model_a\nd,c,model_a\nc,d,model_a\n"
    path = _write(tmp_path / "v.csv", rows)
    lb = fit_bt(load_votes(path), ci="sandwich")
    assert sorted(map(sorted, lb.parts)) == [["a", "b"], ["c", "d"]]
    assert "2 disconnected parts" in lb.notes[0]
    rows = lb.rows()
    assert {r["part"] for r in rows} == {1, 2}
    assert sorted(r["rank"] for r in rows if r["model"] in "ab") == [1, 1]  # within part ranks, a 1-1 tie
    out = tmp_path / "out.json"
    assert main(["fit", path, "--ci", "sandwich", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert len(data["parts"]) == 2 and all(math.isfinite(r["rating"]) for r in data["models"])


def test_cli_prints_one_line_errors_not_tracebacks(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "missing.csv")]) == 2
    assert main(["fit", _write(tmp_path / "e.csv", "")]) == 2
    assert main(["fit", _write(tmp_path / "u.csv", "model_a,model_b,winner\na,b,left\n")]) == 2
    assert main(["fit", _write(tmp_path / "c.csv", "who,what\n1,2\n")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "no such file" in err and "empty" in err and "line 2" in err and "needs columns" in err


def test_disconnected_table_prints_one_block_per_part(tmp_path, capsys):
    path = _write(tmp_path / "v.csv", "model_a,model_b,winner\na,b,model_a\nb,a,model_a\nc,d,model_a\nd,c,tie\n")
    assert main(["fit", path, "--ci", "none"]) == 0
    out = capsys.readouterr().out
    assert "part 1 of 2" in out and "part 2 of 2" in out and "nan" not in out.lower()


def test_elo_handles_an_unbeaten_model_without_nan():
    lb = fit_elo(votes_from_names(["a"] * 5, ["b"] * 5, ["model_a"] * 5), ci="bootstrap", rounds=20)
    assert np.all(np.isfinite(lb.rating)) and lb.rank[lb.models.index("a")] == 1


def test_weights_must_be_non_negative(tmp_path):
    with pytest.raises(RatingDataError, match="weight"):
        load_votes(_write(tmp_path / "v.csv", "model_a,model_b,winner,weight\na,b,model_a,-1\n"))


def test_a_listed_model_without_votes_is_flagged_not_a_part():
    from ratings.engine import PairCells

    cells = PairCells.from_counts(["a", "a"], ["b", "b"], ["model_a", "model_b"], weight=[3, 2], models=["a", "b", "new"])
    lb = fit_bt(cells, ci="sandwich")
    assert not any("disconnected" in n for n in lb.notes) and "no votes yet: new" in lb.notes
    assert lb.flags[lb.models.index("new")] == ["no votes"] and np.all(np.isfinite(lb.upper))


def test_zero_rounds_is_a_clear_error(tmp_path, capsys):
    path = _write(tmp_path / "v.csv", "model_a,model_b,winner\na,b,model_a\nb,a,model_a\n")
    assert main(["fit", path, "--ci", "bootstrap", "--rounds", "0"]) == 2
    assert "rounds must be at least 1" in capsys.readouterr().err


def test_the_engine_imports_no_django():
    import subprocess
    import sys

    code = "import sys, ratings, ratings.engine, ratings.engine.cli; print(any(m.startswith('django') for m in sys.modules))"
    from pathlib import Path

    repo = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo)
    assert out.stdout.strip() == "False"
