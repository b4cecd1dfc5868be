"""Reading a vote file for the audit: what ``ratings fit`` reads (ratings.engine.io), plus a
``voter`` column (a pseudonymous id) and optional ``timestamp`` (ISO 8601 or seconds since 1970),
``dwell_ms`` (or ``shown_at`` and ``voted_at``, ms since 1970 or ISO 8601) and ``network`` (a
hashed network address). K-wise rows (``models`` in the order shown, ``ranking``) are audited
too: rank-broken into pairs that the tests count as one vote. Problems a user can cause raise RatingDataError naming the file line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ratings.engine.errors import RatingDataError
from ratings.engine.integrity import VoteLog
from ratings.engine.io import read_table, votes_from_table


def _line(source: str, first_line: int, row: int) -> str:
    return f"{source}, line {row + first_line}" if first_line else f"{source}, row {row + 1}"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _times(col: pa.ChunkedArray, rows: np.ndarray, name: str, where, unit_s: bool) -> np.ndarray:
    """A time column as seconds (float): numbers (seconds, or ms when unit_s is False) or ISO text."""
    values = col.to_pylist()
    out = np.empty(len(rows))
    for k, r in enumerate(rows.tolist()):
        v = values[r]
        try:
            if v is None or v == "":
                raise ValueError
            if isinstance(v, str) and _is_number(v):
                v = float(v)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                t = float(v) if unit_s else float(v) / 1000.0
            elif hasattr(v, "timestamp"):
                t = v.timestamp()
            else:
                t = np.datetime64(str(v).replace("Z", "").replace("+00:00", ""), "ms").astype(np.int64) / 1000.0
            if not np.isfinite(t):
                raise ValueError
        except (ValueError, TypeError, OverflowError):
            unit = "seconds since 1970" if unit_s else "ms since 1970"
            raise RatingDataError(f"{where(r)}: {name} {v!r} is not a time (ISO 8601 or {unit})") from None
        out[k] = t
    return out


def load_vote_log(path: str | Path, *, filters: list[str] | tuple[str, ...] = ()) -> VoteLog:
    """Pairwise and K-wise rows (``models`` in the order shown, ``ranking``), each with its voter."""
    source = str(path)
    table, first_line = read_table(path)
    if "voter" not in table.column_names:
        raise RatingDataError(f"{source}: the audit needs a 'voter' column (a pseudonymous id per vote); "
                              f"found {', '.join(table.column_names)}")
    votes = votes_from_table(table, first_line=first_line, filters=filters, source=source)
    prow = np.asarray(votes.seq if votes.seq is not None else np.zeros(0, np.int64), dtype=np.int64)
    krow = np.asarray(votes.kw_seq if votes.kw_seq is not None else np.zeros(0, np.int64), dtype=np.int64)
    rows = np.concatenate([prow, krow])  # file rows: the pairwise votes', then the K-wise votes'
    where = lambda r: _line(source, first_line, int(r))  # noqa: E731
    if rows.size == 0:
        raise RatingDataError(f"{source}: no votes to audit (the audit reads model_a, model_b, winner or models, ranking)")
    voter_col = pc.cast(table["voter"], pa.string()) if not pa.types.is_string(table["voter"].type) else table["voter"]
    voters = np.asarray(voter_col.to_pylist(), dtype=object)[rows]
    missing = [k for k, v in enumerate(voters) if v is None or str(v).strip() == ""]
    if missing:
        raise RatingDataError(f"{where(rows[missing[0]])}: voter is missing")
    cols = table.column_names
    time = _times(table["timestamp"], rows, "timestamp", where, unit_s=True) if "timestamp" in cols else None
    dwell = None
    if "dwell_ms" in cols:
        raw = table["dwell_ms"].to_pylist()
        dwell = np.full(len(rows), np.nan)
        for k, r in enumerate(rows.tolist()):
            v = raw[r]
            if v is None:
                continue
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not np.isfinite(v) or v < 0:
                raise RatingDataError(f"{where(r)}: dwell_ms {v!r} must be a number of milliseconds >= 0")
            dwell[k] = float(v)
    elif "shown_at" in cols and "voted_at" in cols:
        shown = _times(table["shown_at"], rows, "shown_at", where, unit_s=False)
        voted = _times(table["voted_at"], rows, "voted_at", where, unit_s=False)
        dwell = (voted - shown) * 1000.0
        bad = np.flatnonzero(dwell < 0)
        if bad.size:
            raise RatingDataError(f"{where(rows[bad[0]])}: voted_at is before shown_at")
    network = np.asarray(table["network"].to_pylist(), dtype=object)[rows] if "network" in cols else None
    names = votes.models
    np_ = prow.size
    part = lambda x, kw: None if x is None else (x[np_:] if kw else x[:np_])  # noqa: E731
    rankings = None
    if krow.size:
        rankings = {"voters": [str(v) for v in voters[np_:]], "models": [[names[i] for i in it] for it in votes.kw_items],
                    "places": [p.tolist() for p in votes.kw_places], "seq": krow, "time": part(time, True),
                    "dwell_ms": part(dwell, True), "network": part(network, True)}
    log = VoteLog.build(voters=[str(v) for v in voters[:np_]], model_a=[names[i] for i in votes.a],
                        model_b=[names[i] for i in votes.b],
                        winner=["model_a" if o == 0 else "model_b" if o == 1 else "tie" for o in votes.outcome],
                        time=part(time, False), dwell_ms=part(dwell, False), network=part(network, False), seq=prow,
                        rankings=rankings)
    if time is None:
        log.notes.append("no timestamp column: new voters are those whose first vote is in the file's last 10% of rows")
    return log


def load_exposure(path: str | Path) -> dict[str, float]:
    """``{"model": battles served, ...}``: what matchmaking showed (voted or not)."""
    try:
        with open(path, encoding="utf-8") as f:  # noqa: PTH123
            data = json.load(f)
    except OSError as exc:
        raise RatingDataError(f"{path}: cannot be read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise RatingDataError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict) or not data or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in data.values()
    ):
        raise RatingDataError(f"{path}: expected {{\"model\": battles served (a number >= 0), ...}}")
    return {str(k): float(v) for k, v in data.items()}
