"""``python -m ratings audit``: the documented JSON, and a clear message with exit 2 for odd data."""
from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ratings.engine.cli import main

THETA = {"a": 1.0, "b": 0.4, "c": 0.0, "d": -0.4, "e": -1.0}


def _rows(seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    names = list(THETA)
    rows = []
    for v in range(80):
        for _ in range(int(rng.integers(10, 60))):
            x, y = (names[k] for k in rng.choice(5, 2, replace=False))
            p = 1 / (1 + math.exp(-(THETA[x] - THETA[y])))
            w = "tie" if rng.random() < 0.2 else ("model_a" if rng.random() < p else "model_b")
            rows.append({"model_a": x, "model_b": y, "winner": w, "voter": f"v{v}",
                         "timestamp": float(1.7e9 + rng.uniform(0, 30 * 86400)), "dwell_ms": float(rng.lognormal(9.9, 0.5))})
    for t in range(40):  # a bot: always the left output, within a second
        x, y = (names[k] for k in rng.choice(5, 2, replace=False))
        rows.append({"model_a": x, "model_b": y, "winner": "model_a", "voter": "bot",
                     "timestamp": 1.7e9 + 29 * 86400 + t * 60, "dwell_ms": 400.0})
    return rows


def _write_csv(path: Path, rows: list[dict]) -> str:
    keys = list(rows[0])
    path.write_text(",".join(keys) + "\n" + "".join(",".join(str(r[k]) for k in keys) + "\n" for r in rows))
    return str(path)


def test_audit_writes_voters_and_models(tmp_path):
    out = tmp_path / "audit.json"
    assert main(["audit", _write_csv(tmp_path / "votes.csv", _rows()), "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    bot = next(v for v in data["voters"] if v["voter"] == "bot")
    assert bot["flagged"] and bot["votes"] == 40 and bot["score"] > 2
    assert {"position_bias", "dwell"} <= {r["detector"] for r in bot["reasons"]}
    assert data["voters"][0]["voter"] == "bot"  # most suspicious first
    assert sum(v["flagged"] for v in data["voters"]) <= 2
    assert {m["model"] for m in data["models"]} == set(THETA)
    assert all(0 <= m["suspicious_share"] <= 1 for m in data["models"])


def test_audit_reads_parquet_and_jsonl_and_prints_a_summary(tmp_path, capsys):
    rows = _rows(1)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "v.parquet")
    (tmp_path / "v.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for name in ("v.parquet", "v.jsonl"):
        assert main(["audit", str(tmp_path / name)]) == 0
        assert "bot" in capsys.readouterr().out


def test_audit_uses_served_exposure(tmp_path):
    rows = _rows(2)
    exp = tmp_path / "exposure.json"
    exp.write_text(json.dumps({m: 1000 for m in THETA}))
    out = tmp_path / "a.json"
    assert main(["audit", _write_csv(tmp_path / "v.csv", rows), "--exposure", str(exp), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["voters"]


def _fails(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_odd_data_gets_a_clear_message_and_exit_2(tmp_path, capsys):
    rows = _rows()
    no_voter = [{k: v for k, v in r.items() if k != "voter"} for r in rows]
    assert "'voter' column" in _fails(capsys, ["audit", _write_csv(tmp_path / "a.csv", no_voter)])

    missing = [dict(r) for r in rows]
    missing[4]["voter"] = ""
    assert "line 6: voter is missing" in _fails(capsys, ["audit", _write_csv(tmp_path / "b.csv", missing)])

    bad_time = [dict(r) for r in rows]
    bad_time[2]["timestamp"] = "yesterday"
    assert "line 4: timestamp 'yesterday' is not a time" in _fails(capsys, ["audit", _write_csv(tmp_path / "c.csv", bad_time)])

    bad_winner = [dict(r) for r in rows]
    bad_winner[0]["winner"] = "left"
    assert "line 2: unknown winner value 'left'" in _fails(capsys, ["audit", _write_csv(tmp_path / "d.csv", bad_winner)])

    neg = [dict(r) for r in rows]
    neg[1]["dwell_ms"] = -5
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in neg))
    assert "line 2: dwell_ms -5" in _fails(capsys, ["audit", str(tmp_path / "e.jsonl")])

    (tmp_path / "empty.csv").write_text("")
    assert "empty" in _fails(capsys, ["audit", str(tmp_path / "empty.csv")])

    kwise = tmp_path / "k.jsonl"
    kwise.write_text(json.dumps({"models": ["a", "b", "c"], "ranking": [1, 2], "voter": "x"}) + "\n")
    assert "line 1: 'models' and 'ranking' must be lists of the same length" in _fails(capsys, ["audit", str(kwise)])
    kwise.write_text(json.dumps({"models": ["a", "b", "c"], "ranking": [1, 2, 3]}) + "\n")
    assert "'voter' column" in _fails(capsys, ["audit", str(kwise)])

    exp = tmp_path / "exp.json"
    exp.write_text("[1, 2]")
    assert "expected" in _fails(capsys, ["audit", _write_csv(tmp_path / "f.csv", rows), "--exposure", str(exp)])
    assert "no such file" in _fails(capsys, ["audit", str(tmp_path / "nothing.csv")])
    assert "--q" in _fails(capsys, ["audit", _write_csv(tmp_path / "g.csv", rows), "--q", "2"])


def test_python_dash_m_ratings_audit(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ratings", "audit", _write_csv(tmp_path / "v.csv", _rows())],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "voters flagged" in proc.stdout
    no_voter = [{k: v for k, v in r.items() if k != "voter"} for r in _rows()]
    proc = subprocess.run([sys.executable, "-m", "ratings", "audit", _write_csv(tmp_path / "n.csv", no_voter)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "voter" in proc.stderr and "Traceback" not in proc.stderr


def _kwise_rows(seed: int = 3) -> list[dict]:
    """K-wise votes (models in the order shown, 1 = best) from an honest crowd, and a bot that
    always ranks the first-shown output first."""
    rng = np.random.default_rng(seed)
    names = list(THETA)
    rows = []
    for v in range(80):
        for _ in range(int(rng.integers(10, 60))):
            shown = [names[k] for k in rng.choice(5, 3, replace=False)]
            score = [THETA[m] + rng.gumbel() for m in shown]  # a Plackett-Luce draw
            places = [1 + sum(s > x for s in score) for x in score]
            rows.append({"models": shown, "ranking": places, "voter": f"v{v}",
                         "timestamp": float(1.7e9 + rng.uniform(0, 30 * 86400))})
    for t in range(40):
        shown = [names[k] for k in rng.choice(5, 3, replace=False)]
        rows.append({"models": shown, "ranking": [1, 2, 3], "voter": "bot", "timestamp": 1.7e9 + 29 * 86400 + t * 60})
    return rows


def test_audit_reads_kwise_votes_as_fit_does(tmp_path):
    """K-wise rows are audited beside pairwise ones: each counts as one vote of its voter."""
    rows = _kwise_rows() + [{**r, "models": None, "ranking": None} for r in _rows(4)[:300]]
    (tmp_path / "v.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "a.json"
    assert main(["audit", str(tmp_path / "v.jsonl"), "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    bot = next(v for v in data["voters"] if v["voter"] == "bot")
    assert bot["flagged"] and bot["votes"] == 40
    assert "position_bias" in {r["detector"] for r in bot["reasons"]}
    assert data["votes"] == len(rows)
    assert sum(v["flagged"] for v in data["voters"]) <= 3
