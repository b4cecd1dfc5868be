"""``python -m ratings verify votes.parquet [--previous MANIFEST.json | previous votes.parquet]``

Recomputes every row's chain (ratings.engine.chain) and names what does not fit:

- ``changed``: the row's content no longer gives its chain (the next row still follows it);
- ``inserted``: the rows around it chain to each other without it;
- ``removed``: a row's chain does not follow from its predecessor and nothing else explains it;
- a head that differs from MANIFEST.json (beside the file) means the chain was recomputed after a
  change: the manifest's checkpoints name the range;
- with ``--previous``: the rows of an earlier release must still be here with the same chain
  (a previous votes.parquet names each row; a previous MANIFEST.json names the range);
- exclusions.jsonl (beside the file): the chained log of exclusion decisions, and every row's
  ``counted`` agrees with the last decision about it.

Pure Python over pyarrow, streamed in record batches. Exit 0 when everything checks, 1 when
something was altered, 2 when a file cannot be read.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from ratings.engine.chain import DECISIONS_GENESIS, GENESIS, canonical_array, decision_bytes, link
from ratings.engine.errors import RatingDataError

MAX_PROBLEMS = 50


@dataclass
class Report:
    rows: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    chain_by_id: dict[int, str] = field(default_factory=dict)
    # (id before, id): the row's chain follows neither its content after its predecessor nor
    # anything else; the next row follows it. Its content changed, or a row between was removed:
    # the row count against MANIFEST.json tells which.
    ambiguous: list[tuple[int | None, int]] = field(default_factory=list)

    def problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)


def _batches(path: Path) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    try:
        f = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise RatingDataError(f"{path}: cannot be read as Parquet: {exc}") from None
    if "chain" not in f.schema_arrow.names or "id" not in f.schema_arrow.names:
        raise RatingDataError(f"{path}: no 'chain' and 'id' columns: not an arena release file")
    yield from f.iter_batches(batch_size=20_000)


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    """Per row: id, chain, canonical bytes, counted, exclusion_reason (columns read in bulk)."""
    for batch in _batches(path):
        canon = canonical_array(batch).cast(pa.binary()).to_pylist()
        cols = {n: batch.column(n).to_pylist() for n in ("id", "chain") if n in batch.schema.names}
        counted = batch.column("counted").to_pylist() if "counted" in batch.schema.names else [None] * batch.num_rows
        reason = (batch.column("exclusion_reason").to_pylist() if "exclusion_reason" in batch.schema.names
                  else [None] * batch.num_rows)
        for k in range(batch.num_rows):
            yield {"id": cols["id"][k], "chain": cols["chain"][k], "canon": canon[k], "counted": counted[k],
                   "exclusion_reason": reason[k]}


def _load_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RatingDataError(f"{path}: cannot be read as JSON: {exc}") from None


def verify_chain(path: Path, *, keep_ids: bool = False, decisions_last: dict[int, tuple[bool, str | None]] | None = None
                 ) -> Report:
    rep = Report()
    prev_chain = GENESIS  # stored chain of the previous row
    prev_prev = GENESIS
    two_back = GENESIS  # stored chain two rows back (an inserted row that was chained properly)
    pending: tuple[dict, bytes] | None = None  # a row that failed, waiting for the next one to tell why
    last_id = None

    def settle(row_next: dict | None, canon_next: bytes | None) -> None:
        nonlocal prev_chain
        row, canon = pending
        if row_next is not None and link(prev_prev, canon_next) == row_next["chain"]:
            rep.problem(f"inserted: row id {row['id']} (the rows around it chain to each other without it)")
            prev_chain = prev_prev  # judge the next row against the row before the insertion
        elif row_next is None or link(row["chain"], canon_next) == row_next["chain"]:
            rep.ambiguous.append((last_before, row["id"]))
        else:  # neither this row nor the next follow: both were changed (the next one is judged next)
            rep.problem(f"changed: row id {row['id']} (its content does not give its chain)")

    last_before = None
    for row in _rows(path):
        canon = row["canon"]
        rid = row["id"]
        if last_id is not None and rid <= last_id:
            rep.problem(f"out of order: row id {rid} after id {last_id} (rows must be in vote-id order)")
        if pending is not None:
            settle(row, canon)
            pending = None
        if link(prev_chain, canon) != row["chain"]:
            if rep.rows >= 2 and link(two_back, canon) == row["chain"]:
                # this row follows the row before the previous one: the previous row was slipped in
                rep.problem(f"inserted: row id {last_id} (the rows around it chain to each other without it)")
            else:
                pending = (row, canon)
                last_before = last_id
        if decisions_last is not None and rid in decisions_last:
            counted, reason = decisions_last[rid]
            if row.get("counted") != counted or (row.get("exclusion_reason") or None) != reason:
                rep.problem(f"changed: row id {rid} says counted={row.get('counted')} ({row.get('exclusion_reason')}), "
                            f"its last exclusion decision says counted={counted} ({reason})")
        two_back = prev_chain
        prev_prev, prev_chain = prev_chain, row["chain"]
        last_id = rid
        rep.rows += 1
        if keep_ids:
            rep.chain_by_id[rid] = row["chain"]
    if pending is not None:
        settle(None, None)
    rep.head = prev_chain
    if rep.rows == 0:
        raise RatingDataError(f"{path}: the file has no rows")
    return rep


def _decisions(path: Path, rep: Report, manifest: dict | None) -> dict[int, tuple[bool, str | None]]:
    last: dict[int, tuple[bool, str | None]] = {}
    head = DECISIONS_GENESIS
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except ValueError:
                rep.problem(f"{path.name}, line {n}: not valid JSON")
                continue
            expected = link(head, decision_bytes(d))
            if expected != d.get("chain"):
                rep.problem(f"{path.name}, line {n}: exclusion decision {d.get('decision')} on vote {d.get('vote')} "
                            "was changed, inserted, or one before it removed")
            head = d.get("chain") or expected
            last[d["vote"]] = (bool(d["counted"]), d.get("reason"))
    want = (manifest or {}).get("exclusion_log", {}).get("head")
    if want and want != head:
        rep.problem(f"{path.name}: the decision log's head {head[:16]}… differs from MANIFEST.json's {want[:16]}…")
    return last


def _against_manifest(m: dict, rep: Report, label: str) -> None:
    want = m.get("chain", {}).get("head")
    if want and want != rep.head:
        rep.problem(f"head {rep.head[:16]}… differs from {label}'s {want[:16]}…: the chain was rewritten")
        _checkpoints(m, rep, label)


def _checkpoints(m: dict, rep: Report, label: str) -> None:
    before = m.get("vote_ids", {}).get("first")
    for vid, chain in m.get("chain", {}).get("checkpoints", []):
        got = rep.chain_by_id.get(vid)
        if got is None:
            rep.problem(f"removed: row id {vid} (in {label}) is missing")
            return
        if got != chain:
            rep.problem(f"rows between id {before} and id {vid} were changed, inserted or removed since {label}")
            return
        before = vid


def verify(path: str | Path, previous: str | Path | None = None) -> Report:
    path = Path(path)
    if not path.exists():
        raise RatingDataError(f"{path}: no such file")
    folder = path.parent
    manifest = _load_json(folder / "MANIFEST.json") if (folder / "MANIFEST.json").exists() else None
    rep = Report()
    decisions_last = _decisions(folder / "exclusions.jsonl", rep, manifest) if (folder / "exclusions.jsonl").exists() else None
    chain_rep = verify_chain(path, keep_ids=True, decisions_last=decisions_last)
    chain_rep.problems[:0] = rep.problems
    rep = chain_rep
    missing = (manifest or {}).get("rows", rep.rows) - rep.rows
    for before, rid in rep.ambiguous:
        if manifest is None:
            rep.problem(f"changed: row id {rid} (its content does not give its chain), or a row between id {before} "
                        f"and id {rid} was removed")
        elif missing > 0:
            rep.problem(f"removed: a row between id {before} and id {rid} (row id {rid}'s chain does not follow "
                        "from the row before it)")
        else:
            rep.problem(f"changed: row id {rid} (its content does not give its chain)")
    if manifest is not None:
        _against_manifest(manifest, rep, "MANIFEST.json")
        if missing:
            rep.problem(f"{rep.rows} rows, MANIFEST.json says {manifest['rows']}")
    else:
        rep.notes.append("no MANIFEST.json beside the file: the head is not compared")
    if previous is not None:
        _previous(Path(previous), rep)
    return rep


def _previous(prev: Path, rep: Report) -> None:
    if not prev.exists():
        raise RatingDataError(f"{prev}: no such file")
    if prev.suffix.lower() == ".parquet":
        old: dict[int, str] = {}
        for batch in _batches(prev):
            old.update(zip(batch.column("id").to_pylist(), batch.column("chain").to_pylist()))
        top = max(old)
        for vid, chain in old.items():
            if vid not in rep.chain_by_id:
                rep.problem(f"removed: row id {vid} (in the previous release) is missing")
        for vid in sorted(rep.chain_by_id):
            if vid > top:
                break
            if vid not in old:
                rep.problem(f"inserted: row id {vid} (not in the previous release)")
            elif old[vid] != rep.chain_by_id[vid]:
                rep.problem(f"changed: row id {vid} (its chain differs from the previous release's)")
                break  # every later chain differs too
        return
    m = _load_json(prev)
    label = f"release {m.get('release', prev.name)}"
    last = m.get("chain", {}).get("checkpoints", [[None]])[-1][0] if m.get("chain", {}).get("checkpoints") else None
    last = m.get("vote_ids", {}).get("last", last)
    n = len(rep.problems)
    _checkpoints(m, rep, label)
    if len(rep.problems) == n and last is not None and rep.chain_by_id.get(last) != m.get("chain", {}).get("head"):
        rep.problem(f"the chain at row id {last} differs from {label}'s head: a row of it was changed, inserted or removed")
    if len(rep.problems) == n:
        rep.notes.append(f"continues {label}: its {m.get('rows')} rows are unchanged (chain at id {last} = its head)")
