"""Writing a release: the votes streamed from the database in id order, batch by batch (a few
thousand votes at a time, never all of them: releases.source), parsed into Arrow record batches
with an explicit schema, scrubbed, pseudonymised and chained column-wise (releases.rows), and
written to votes.parquet and votes.jsonl.gz by a writer thread while the next batch is read.

    release = release_build(delay_days=30)       # manage.py arena_release / the monthly beat task

The folder is built under a temporary name and renamed into place only when complete, then made
read-only: a reader never sees half a release, and a failure leaves nothing behind.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import queue
import secrets
import shutil
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from isal import igzip
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection, connections, transaction
from django.utils import timezone

from arena.models import Vote
from ratings.engine.chain import GENESIS
from releases import card
from releases.decisions import decisions_write
from releases.jsonlines import json_lines
from releases.models import Release
from releases.rows import Pseudonyms, chained, release_unchained
from releases.schema import arrow_schema, json_schema
from releases.source import RawBatch, raw_batches, raw_schema, withheld_count

log = logging.getLogger(__name__)

BATCH = 3000


class NothingToRelease(Exception):
    """No vote is old enough (or public) to be released: a clear message, nothing written."""


@dataclass
class _Tally:
    rows: int = 0
    first_id: int = 0
    last_id: int = 0
    first_time: str = ""
    last_time: str = ""
    by_modality: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    counted: int = 0
    excluded: Counter = field(default_factory=Counter)
    withheld_non_public: int = 0
    opt_out_votes: int = 0
    opt_out_voters: set[int] = field(default_factory=set)
    pii: dict[str, Counter] = field(default_factory=lambda: {"prompt": Counter(), "response": Counter(), "feedback": Counter()})
    media: set[str] = field(default_factory=set)
    checkpoints: list[list] = field(default_factory=list)
    watch_id: int = 0  # the previous release's last vote id: its chain here must equal that head
    watch_chain: str | None = None


def release_cutoff(*, delay_days: float, now: dt.datetime) -> tuple[dt.datetime, int]:
    """(cutoff time, highest vote id released). The id bound is the vote just before the first
    vote cast after the cutoff, so a release is always a prefix of the vote-id order (a later
    release continues the chain after it) and never holds a vote newer than the delay."""
    cutoff = now - dt.timedelta(days=delay_days)
    first_after = Vote.objects.filter(created__gt=cutoff).order_by("id").values_list("id", flat=True).first()
    if first_after is not None:
        return cutoff, first_after - 1
    top = Vote.objects.order_by("-id").values_list("id", flat=True).first()
    return cutoff, top or 0


def _criteria_names(last_id: int) -> list[str]:
    names = set(settings.ARENA_CRITERIA)
    qs = Vote.objects.filter(id__lte=last_id).exclude(criteria={})
    if connection.vendor == "postgresql":
        sql, params = qs.values("criteria").query.sql_with_params()
        with connection.cursor() as cur:
            cur.execute(f"SELECT DISTINCT jsonb_object_keys(s.criteria) FROM ({sql}) s", params)
            names.update(r[0] for r in cur.fetchall())
    else:
        for crit in qs.values_list("criteria", flat=True).iterator(chunk_size=BATCH):
            names.update(crit or {})
    return sorted(names)


_LONG_TEXT = {"content", "feedback", "chain", "exclusion_detail"}


def _leaf_paths(schema: pa.Schema) -> list[str]:
    """The Parquet column paths of a schema's leaves (lists as name.list.element)."""
    def walk(name: str, t: pa.DataType) -> list[str]:
        if pa.types.is_list(t) or pa.types.is_large_list(t):
            return walk(f"{name}.list.element", t.value_type)
        if pa.types.is_struct(t):
            return [p for k in range(t.num_fields) for p in walk(f"{name}.{t.field(k).name}", t.field(k).type)]
        return [name]
    return [p for f in schema for p in walk(f.name, f.type)]


class _Writer:
    """votes.parquet and votes.jsonl.gz, written in a thread (pyarrow's Parquet writer and ISA-L's
    deflate release the GIL while the main thread reads and transforms the next batch)."""

    def __init__(self, folder: Path, schema: pa.Schema) -> None:
        # ISA-L's deflate (isal): the same gzip format, about 3x less CPU than zlib at level 1.
        self.gz = igzip.GzipFile(folder / "votes.jsonl.gz", "wb", compresslevel=1, mtime=0)
        # Dictionaries and min/max statistics only where they pay: not for the long texts (every
        # message's content is distinct; hashing and comparing them cost more than zstd does).
        small = [p for p in _leaf_paths(schema) if p.rsplit(".", 1)[-1] not in _LONG_TEXT]
        self.pq = pq.ParquetWriter(folder / "votes.parquet", schema, compression="zstd", use_dictionary=small,
                                   write_statistics=small)
        # One batch waiting at most: memory stays a few batches whatever the size of the release.
        self.q: queue.Queue[tuple[pa.Table, bytes] | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="release-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.q.get()) is not None:
            if self.error is not None:
                continue
            try:
                table, lines = item
                self.pq.write_table(table)
                self.gz.write(lines)
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                self.error = exc

    def write(self, table: pa.Table, lines: bytes | pa.Buffer) -> None:
        if self.error is not None:
            raise self.error
        self.q.put((table, lines))

    def close(self) -> None:
        self.q.put(None)
        self.thread.join()
        self.gz.close()
        self.pq.close()
        if self.error is not None:
            raise self.error


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _stream(folder: Path, *, last_id: int, full: bool, criteria: list[str], secret: bytes, tally: _Tally,
            batch: int) -> str:
    """Write every released vote up to last_id; return the chain head."""
    schema = arrow_schema(criteria, full=full)
    parse = pajson.ParseOptions(explicit_schema=raw_schema(criteria), unexpected_field_behavior="error")
    read = pajson.ReadOptions(block_size=32 << 20)
    judges = Pseudonyms(secret)
    writer = _Writer(folder, schema)
    head = GENESIS
    batches = raw_batches(last_id=last_id, full=full, batch=batch)

    def transformed(batches: Iterator[RawBatch]) -> Iterator[tuple[pa.Table, pa.Table, set[str], pa.Array]]:
        for b in batches:
            raw = pajson.read_json(io.BytesIO(b.votes), read_options=read, parse_options=parse)
            yield (raw, *release_unchained(raw, b.slots, b.prompts, b.answers, schema=schema, judges=judges, counts=tally.pii))

    if connection.in_atomic_block:  # (inside a transaction another connection would not see its rows)
        staged = transformed(batches)
    else:
        # Four stages, each in its own thread: Postgres builds batch n+3 (reader), pyarrow parses,
        # scrubs and encodes batch n+2 (its kernels release the GIL), this thread chains batch n+1
        # and writes its JSON lines, the writer compresses batch n.
        staged = _prefetched(transformed(_prefetched(batches)), name="release-transform")
    try:
        for raw, table, paths, canonical in staged:
            table, new_head = chained(table, canonical, schema=schema, previous=head)
            del canonical
            _count(tally, raw, table, paths, head)
            head = new_head
            writer.write(table, json_lines(table.drop_columns(["chain"]), table["chain"]))
            del raw, table
    finally:
        writer.close()
    if not full:
        tally.withheld_non_public = withheld_count(last_id)
    return head


def _prefetched(batches: Iterator, depth: int = 1, name: str = "release-reader") -> Iterator:
    """The batches, produced by a thread of their own (reading them with its own database
    connection): the database builds the next batch while this thread transforms the current one."""
    q: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def run() -> None:
        try:
            for blob in batches:
                while not stop.is_set():
                    try:
                        q.put(("batch", blob), timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - raised again in the consuming thread
            q.put(("error", exc))
        finally:
            connections.close_all()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        while True:
            kind, item = q.get()
            if kind == "end":
                return
            if kind == "error":
                raise item  # type: ignore[misc]
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()


def _count(tally: _Tally, raw: pa.Table, table: pa.Table, paths: set[str], previous: str) -> None:
    n = table.num_rows
    if n == 0:
        return
    ids = table["id"].to_pylist()
    chains = table["chain"].to_pylist()
    times = table["timestamp"]
    if tally.rows == 0:
        tally.first_id, tally.first_time = ids[0], _json_default(times[0].as_py())
    tally.last_id, tally.last_time = ids[-1], _json_default(times[-1].as_py())
    for k in range(n):
        step = tally.rows + k + 1
        if step % 1024 == 0 or ids[k] == tally.watch_id:
            tally.checkpoints.append([ids[k], chains[k]])
        if ids[k] == tally.watch_id:
            tally.watch_chain = chains[k]
    tally.rows += n
    for row in table.group_by(["modality", "mode"]).aggregate([("id", "count")]).to_pylist():
        tally.by_modality[row["modality"]][row["mode"]] += row["id_count"]
    counted = pc.sum(table["counted"]).as_py() or 0
    tally.counted += counted
    if counted < n:
        excluded = pc.filter(pc.fill_null(table["exclusion_reason"], "unspecified"), pc.invert(table["counted"]))
        for row in pc.value_counts(excluded).to_pylist():
            tally.excluded[row["values"]] += row["counts"]
    opted = raw["opted_out"]
    tally.opt_out_votes += pc.sum(opted).as_py() or 0
    tally.opt_out_voters.update(pc.unique(pc.filter(raw["voter"], opted)).to_pylist())
    tally.media.update(p[len("media/"):] for p in paths)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


class _Hashes:
    """sha256 of some files, computed by a thread; any other file's on demand."""

    def __init__(self, paths: list[Path]) -> None:
        self.done: dict[Path, str | BaseException] = {}
        self.thread = threading.Thread(target=self._run, args=(paths,), name="release-sha256", daemon=True)
        self.thread.start()

    def _run(self, paths: list[Path]) -> None:
        for path in paths:
            try:
                self.done[path] = _sha256(path)
            except BaseException as exc:  # noqa: BLE001 - raised where the hash is asked for
                self.done[path] = exc

    def of(self, path: Path) -> str:
        self.thread.join()
        value = self.done.get(path)
        if value is None:
            return _sha256(path)
        if isinstance(value, BaseException):
            raise value
        return value


def _copy_media(folder: Path, names: set[str]) -> int:
    missing = 0
    if not names:
        return 0
    (folder / "media").mkdir()
    for name in sorted(names):
        src = Path(settings.MEDIA_ROOT) / name
        if src.is_file():
            shutil.copyfile(src, folder / "media" / name)
        else:
            missing += 1
    return missing


def _new_id(now: dt.datetime, full: bool) -> str:
    base = ("full-" if full else "") + now.strftime("%Y-%m-%d-%H%M%S")
    rid, n = base, 1
    while Release.objects.filter(release_id=rid).exists():
        n += 1
        rid = f"{base}-{n}"
    return rid


def release_build(*, delay_days: float | None = None, out: Path | None = None, full: bool = False,
                  now: dt.datetime | None = None, batch: int = BATCH, sweep: bool = False) -> Release:
    """Write a release and list it. Public: votes older than the delay, on battles whose models
    are all public, voters pseudonymised, text scrubbed (and withheld for voters who opted out).
    Full (staff): every vote up to now, every model, still no network identity."""
    from releases.leaderboards import leaderboards_record

    now = now or timezone.now()
    if delay_days is None:
        delay_days = 0.0 if full else float(settings.ARENA_RELEASE_DELAY_DAYS)
    if delay_days < 0:
        raise ValueError("the delay cannot be negative")
    cutoff, last_id = release_cutoff(delay_days=delay_days, now=now)
    if last_id <= 0:
        raise NothingToRelease(
            "No votes to release yet: no vote was cast before "
            f"{cutoff:%Y-%m-%d %H:%M} UTC (a release holds only votes older than {delay_days:g} days)."
        )
    rid = _new_id(now, full)
    parent = Path(out) if out else Path(settings.ARENA_RELEASE_DIR)
    parent.mkdir(parents=True, exist_ok=True)
    if sweep:  # the only build running (releases.tasks holds the lock): a killed build's leftovers go
        for stale in parent.glob(".*.partial"):
            _remove_readonly(stale)
    final = parent / rid
    if final.exists():
        raise FileExistsError(f"{final} exists already; releases are never overwritten")
    tmp = parent / f".{rid}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        release = _build(tmp, final, rid, now=now, cutoff=cutoff, delay_days=delay_days, last_id=last_id, full=full,
                         batch=batch, record=leaderboards_record)
    except BaseException:
        if tmp.exists():
            _remove_readonly(tmp)
        raise
    return release


def _build(tmp: Path, final: Path, rid: str, *, now, cutoff, delay_days, last_id, full, batch, record) -> Release:
    criteria = _criteria_names(last_id)
    previous = Release.objects.filter(kind=Release.FULL if full else Release.PUBLIC).order_by("-created", "-pk").first()
    tally = _Tally(watch_id=previous.last_vote_id if previous else 0)
    secret = secrets.token_bytes(32)  # this release's pseudonym key: never stored, never reused
    started = time.monotonic()
    head = _stream(tmp, last_id=last_id, full=full, criteria=criteria, secret=secret, tally=tally, batch=batch)
    del secret
    seconds = {"votes": round(time.monotonic() - started, 2)}
    if tally.rows == 0:
        raise NothingToRelease(
            f"No votes to release yet: the {tally.withheld_non_public} vote(s) old enough are all on models "
            "not marked public."
        )
    if not tally.checkpoints or tally.checkpoints[-1][0] != tally.last_id:
        tally.checkpoints.append([tally.last_id, head])
    # The batches' buffers are free now: hand them back to the system before the leaderboards are
    # fitted (Arrow's allocator keeps freed pages for reuse; the peak would be both phases' sum).
    pa.default_memory_pool().release_unused()
    # The two big files are final: hashed by a thread (hashlib releases the GIL) while the
    # leaderboards are fitted.
    hashes = _Hashes([tmp / "votes.parquet", tmp / "votes.jsonl.gz"])
    missing_media = _copy_media(tmp, tally.media)
    decisions = decisions_write(tmp / "exclusions.jsonl", last_id=last_id, full=full)
    mark = time.monotonic()
    leaderboards = record(tmp / "votes.parquet", last_id=last_id, full=full)
    seconds["leaderboards"] = round(time.monotonic() - mark, 2)
    (tmp / "schema.json").write_text(json.dumps(json_schema(criteria, full=full), indent=1) + "\n")
    manifest = card.manifest(
        rid=rid, full=full, now=now, cutoff=cutoff, delay_days=delay_days, tally=tally, head=head,
        decisions=decisions, leaderboards=leaderboards, previous=previous, missing_media=missing_media,
        criteria=criteria,
    )
    (tmp / "README.md").write_text(card.dataset_card(manifest, json_schema(criteria, full=full)))
    files = []
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        files.append({"name": path.relative_to(tmp).as_posix(), "size": path.stat().st_size, "sha256": hashes.of(path)})
    manifest["files"] = files
    seconds["total"] = round(time.monotonic() - started, 2)
    manifest["build_seconds"] = seconds
    (tmp / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    mf = tmp / "MANIFEST.json"
    files.append({"name": "MANIFEST.json", "size": mf.stat().st_size, "sha256": _sha256(mf)})
    for path in tmp.rglob("*"):
        path.chmod(0o555 if path.is_dir() else 0o444)
    os.replace(tmp, final)  # atomic: the folder appears complete or not at all
    final.chmod(0o555)
    try:
        with transaction.atomic():
            return Release.objects.create(
                release_id=rid, kind=Release.FULL if full else Release.PUBLIC, created=now, cutoff=cutoff,
                delay_days=delay_days, rows=tally.rows, first_vote_id=tally.first_id, last_vote_id=tally.last_id,
                counts=manifest["counts"], chain_head=head, decisions_head=decisions["head"], files=files,
                folder=str(final),
            )
    except BaseException:
        _remove_readonly(final)
        raise


def _remove_readonly(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    shutil.rmtree(folder, ignore_errors=True)
