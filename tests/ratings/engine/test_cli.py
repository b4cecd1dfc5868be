"""``python -m ratings fit``: the researcher's entry point, as a user runs it."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ratings.engine.cli import main

from .test_io import arena_140k_like

ROW_KEYS = {"model", "rating", "lower", "upper", "rank", "rank_upper", "votes", "win_rate"}


def _csv(tmp_path: Path, n: int = 400) -> str:
    rng = np.random.default_rng(1)
    theta = {"a": 1.0, "b": 0.3, "c": -0.2, "d": -1.0}
    names = list(theta)
    lines = ["model_a,model_b,winner,language"]
    for k in range(n):
        x, y = rng.choice(4, 2, replace=False)
        p = 1 / (1 + np.exp(-(theta[names[x]] - theta[names[y]])))
        lines.append(f"{names[x]},{names[y]},{'model_a' if rng.random() < p else 'model_b'},{'en' if k % 2 else 'fr'}")
    path = tmp_path / "votes.csv"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_fit_writes_the_documented_json(tmp_path):
    out = tmp_path / "lb.json"
    assert main(["fit", _csv(tmp_path), "--ci", "bootstrap", "--rounds", "100", "--seed", "3",
                 "--out", str(out), "--matrices"]) == 0
    data = json.loads(out.read_text())
    assert data["method"] == "bt" and data["ci"] == "bootstrap" and data["votes"] == 400
    assert [r["model"] for r in data["models"]] == ["a", "b", "c", "d"]
    assert all(ROW_KEYS <= set(r) for r in data["models"])
    assert all(r["lower"] <= r["rating"] <= r["upper"] for r in data["models"])
    assert len(data["win_matrix"]) == 4 and data["battle_matrix"][0][0] == 0


def test_table_on_stdout_filter_and_anchor(tmp_path, capsys):
    assert main(["fit", _csv(tmp_path), "--ci", "sandwich", "--filter", "language=en", "--anchor", "b=1200"]) == 0
    out = capsys.readouterr().out
    assert "votes: 200" in out and any(line.split()[:2] == ["rank", "tier"] for line in out.splitlines() if line.strip())
    b_line = next(line for line in out.splitlines() if "  b  " in line)
    assert "1200.0" in b_line


def test_other_methods(tmp_path, capsys):
    path = _csv(tmp_path)
    for args in (["--method", "elo", "--rounds", "20"], ["--method", "bayes"], ["--ci", "none"]):
        assert main(["fit", path, *args]) == 0
    out = capsys.readouterr().out
    assert "method: elo" in out and "method: bayes" in out and "ci: none" in out


def test_style_control_on_arena_parquet(tmp_path):
    path = tmp_path / "train.parquet"
    pq.write_table(arena_140k_like(300), path)
    out = tmp_path / "lb.json"
    assert main(["fit", str(path), "--style-control", "--ci", "sandwich", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data["style_coefficients"]) == {"length", "headers", "lists", "bold"}


def test_bad_anchor_is_a_clear_error(tmp_path, capsys):
    assert main(["fit", _csv(tmp_path), "--ci", "none", "--anchor", "zz=1000"]) == 2
    assert main(["fit", _csv(tmp_path), "--ci", "none", "--anchor", "oops"]) == 2
    err = capsys.readouterr().err
    assert "not in the votes" in err and "MODEL=RATING" in err


def test_python_dash_m_entry_point(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ratings", "fit", _csv(tmp_path), "--ci", "none"],
                          capture_output=True, text=True, cwd=Path(__file__).resolve().parents[3], check=False)
    assert proc.returncode == 0, proc.stderr
    assert "method: bt" in proc.stdout
