"""Writing a release: the votes streamed from the database in id order, batch by batch (a few
thousand votes as Python tuples at a time, never all of them), scrubbed, pseudonymised, chained,
and written as JSON lines that pyarrow parses into Arrow record batches (explicit schema) for
votes.parquet while the same bytes are gzipped into votes.jsonl.gz, in a writer thread.

    release = release_build(delay_days=30)       # manage.py arena_release / the monthly beat task

The folder is built under a temporary name and renamed into place only when complete, then made
read-only: a reader never sees half a release, and a failure leaves nothing behind.
"""
from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import hmac
import io
import json
import logging
import os
import queue
import secrets
import shutil
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pajson
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from arena.models import LETTERS, Competitor, Generation, Slot, Turn, Vote
from ratings.engine.chain import GENESIS, canonical_bytes, link
from releases import card
from releases.decisions import decisions_write
from releases.models import Release
from releases.schema import arrow_schema, json_schema
from releases.scrub import scrub_texts

log = logging.getLogger(__name__)

OUTCOME_TO_WINNER = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "both_bad"}
BATCH = 5000
_VOTE_FIELDS = (
    "id", "created", "modality", "mode", "category", "language", "n_turns", "outcome", "ranking", "criteria",
    "feedback", "listen_ms", "counted", "exclusion_reason", "weight", "voter_id", "battle_id",
    "battle__prompt__text", "voter__release_opt_out",
)


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


class _Writer:
    """votes.parquet and votes.jsonl.gz from the same JSON lines, in a thread (pyarrow's JSON
    reader, its Parquet writer and zlib release the GIL while Python builds the next batch)."""

    def __init__(self, folder: Path, schema: pa.Schema) -> None:
        self.schema = schema
        self.gz = gzip.GzipFile(folder / "votes.jsonl.gz", "wb", compresslevel=3, mtime=0)
        self.pq = pq.ParquetWriter(folder / "votes.parquet", schema, compression="zstd")
        self.q: queue.Queue[bytes | None] = queue.Queue(maxsize=3)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="release-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        opts = pajson.ParseOptions(explicit_schema=self.schema, unexpected_field_behavior="error")
        read = pajson.ReadOptions(block_size=16 << 20)
        while (blob := self.q.get()) is not None:
            if self.error is not None:
                continue
            try:
                self.gz.write(blob)
                table = pajson.read_json(io.BytesIO(blob), read_options=read, parse_options=opts)
                self.pq.write_table(table.select(self.schema.names).cast(self.schema))
            except BaseException as exc:  # noqa: BLE001 - handed to the main thread
                self.error = exc

    def write(self, blob: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.q.put(blob)

    def close(self) -> None:
        self.q.put(None)
        self.thread.join()
        self.gz.close()
        self.pq.close()
        if self.error is not None:
            raise self.error


def _stream(folder: Path, *, last_id: int, full: bool, criteria: list[str], secret: bytes, tally: _Tally,
            batch: int) -> str:
    """Write every released vote up to last_id; return the chain head."""
    slugs = dict(Competitor.objects.values_list("pk", "slug"))
    hidden = set() if full else set(Competitor.objects.filter(public=False).values_list("pk", flat=True))
    writer = _Writer(folder, arrow_schema(criteria))
    judges: dict[int, str] = {}
    head = GENESIS
    step = 0
    after = 0
    try:
        while True:
            rows = list(Vote.objects.filter(id__gt=after, id__lte=last_id).order_by("id").values_list(*_VOTE_FIELDS)[:batch])
            if not rows:
                break
            after = rows[-1][0]
            battles = [r[16] for r in rows]
            slots: dict[int, list[int]] = defaultdict(list)
            for bid, _pos, comp in Slot.objects.filter(battle_id__in=battles).order_by("battle_id", "position").values_list(
                    "battle_id", "position", "competitor_id"):
                slots[bid].append(comp)
            keep = [r for r in rows if not (hidden and hidden.intersection(slots[r[16]]))]
            tally.withheld_non_public += len(rows) - len(keep)
            if not keep:
                continue
            blob, head, step = _batch(keep, slots, slugs, criteria, secret, judges, tally, head, step)
            writer.write(blob)
    finally:
        writer.close()
    return head


def _texts(keep: list[tuple]):
    """Prompts and outputs of the batch's battles (text withheld for opted-out voters), scrubbed."""
    with_text = [r[16] for r in keep if not r[18]]
    turns: dict[int, dict[int, str]] = defaultdict(dict)
    for bid, index, text in Turn.objects.filter(battle_id__in=with_text).values_list("battle_id", "index", "prompt__text"):
        turns[bid][index] = text
    outputs: dict[tuple[int, int, int], tuple[str, str]] = {}
    for bid, pos, index, text, media in Generation.objects.filter(slot__battle_id__in=with_text).values_list(
            "slot__battle_id", "slot__position", "turn__index", "text", "media_name"):
        outputs[(bid, pos, index)] = (text, media)
    return turns, outputs


def _batch(keep, slots, slugs, criteria, secret, judges, tally: _Tally, head: str, step: int):
    turns, outputs = _texts(keep)
    user: list[str] = []
    resp: list[str] = []
    fbs: list[str | None] = []
    plans = []
    for r in keep:
        (vid, _c, _m, _mode, _cat, _lang, n_turns, _o, _rk, _cr, feedback, _l, _cn, _ex, _w, voter, bid, first_prompt,
         opted_out) = r
        k = len(slots[bid])
        if opted_out:
            plans.append(None)
            fbs.append(None)
            continue
        prompts = turns.get(bid) or {0: first_prompt}
        u = []
        for t in range(n_turns):
            u.append(len(user))
            user.append(prompts.get(t, ""))
        per_slot = []
        for p in range(k):
            refs: list[int | str] = []
            for t in range(n_turns):
                text, media = outputs.get((bid, p, t), ("", ""))
                if media:
                    tally.media.add(media)
                    refs.append("media/" + media)
                else:
                    refs.append(len(resp))
                    resp.append(text)
            per_slot.append(refs)
        plans.append((u, per_slot))
        fbs.append(feedback or None)
    user = scrub_texts(user, tally.pii["prompt"])
    resp = scrub_texts(resp, tally.pii["response"])
    fbs = scrub_texts(fbs, tally.pii["feedback"])

    lines = []
    for r, plan, fb in zip(keep, plans, fbs):
        (vid, created, modality, mode, category, language, n_turns, outcome, ranking, crit, _f, listen, counted,
         reason, weight, voter, bid, _p, opted_out) = r
        names = [slugs[c] for c in slots[bid]]
        convs = None
        if plan is not None:
            u, per_slot = plan
            convs = [_conversation(u, refs, user, resp) for refs in per_slot]
        else:
            tally.opt_out_votes += 1
            tally.opt_out_voters.add(voter)
        judge = judges.get(voter)
        if judge is None:
            judge = judges[voter] = hmac.new(secret, str(voter).encode(), hashlib.sha256).hexdigest()[:20]
        ts = created.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        pairwise = mode == "pairwise" and len(names) == 2
        listen_list = [listen.get(LETTERS[p]) for p in range(len(names))] if listen else None
        verdicts = {c: OUTCOME_TO_WINNER.get(v, v) for c, v in (crit or {}).items() if c in criteria} or None
        row = {
            "id": vid,
            "model_a": names[0] if pairwise else None,
            "model_b": names[1] if pairwise else None,
            "winner": OUTCOME_TO_WINNER.get(outcome) if pairwise else None,
            "models": None if pairwise else names,
            "ranking": None if pairwise else [int(x) for x in ranking],
            "modality": modality,
            "mode": mode,
            "turn": n_turns,
            "language": language,
            "category": category,
            "conversation_a": convs[0] if pairwise and convs else None,
            "conversation_b": convs[1] if pairwise and convs else None,
            "conversations": None if pairwise else convs,
            "timestamp": ts,
            "criteria": verdicts,
            "feedback": fb,
            "listen_ms": listen_list,
            "weight": float(weight),
        }
        canon = canonical_bytes(row)
        head = link(head, canon)
        lines.append(canon[:-1] + (',"judge":"%s","counted":%s,"exclusion_reason":%s,"chain":"%s"}' % (
            judge, "true" if counted else "false", json.dumps(reason) if reason else "null", head)).encode())
        if tally.rows == 0:
            tally.first_id, tally.first_time = vid, ts
        tally.rows += 1
        tally.last_id, tally.last_time = vid, ts
        tally.by_modality[modality][mode] += 1
        if counted:
            tally.counted += 1
        else:
            tally.excluded[reason or "unspecified"] += 1
        step += 1
        if vid == tally.watch_id:
            tally.watch_chain = head
        if step % 1024 == 0 or vid == tally.watch_id:
            tally.checkpoints.append([vid, head])
    return b"\n".join(lines) + b"\n", head, step


def _conversation(u: list[int], refs: list[int | str], user: list[str], resp: list[str]) -> list[dict[str, str]]:
    """One model's conversation: each turn's prompt, then its answer (text, or a media file's path)."""
    out = []
    for t, ref in enumerate(refs):
        out.append({"role": "user", "content": user[u[t]]})
        out.append({"role": "assistant", "content": ref if isinstance(ref, str) else resp[ref]})
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


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
                  now: dt.datetime | None = None, batch: int = BATCH) -> Release:
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
    head = _stream(tmp, last_id=last_id, full=full, criteria=criteria, secret=secret, tally=tally, batch=batch)
    del secret
    if tally.rows == 0:
        raise NothingToRelease(
            f"No votes to release yet: the {tally.withheld_non_public} vote(s) old enough are all on models "
            "not marked public."
        )
    if not tally.checkpoints or tally.checkpoints[-1][0] != tally.last_id:
        tally.checkpoints.append([tally.last_id, head])
    missing_media = _copy_media(tmp, tally.media)
    decisions = decisions_write(tmp / "exclusions.jsonl", last_id=last_id, full=full)
    leaderboards = record(tmp / "votes.parquet", last_id=last_id, full=full)
    (tmp / "schema.json").write_text(json.dumps(json_schema(criteria), indent=1) + "\n")
    manifest = card.manifest(
        rid=rid, full=full, now=now, cutoff=cutoff, delay_days=delay_days, tally=tally, head=head,
        decisions=decisions, leaderboards=leaderboards, previous=previous, missing_media=missing_media,
        criteria=criteria,
    )
    (tmp / "README.md").write_text(card.dataset_card(manifest, json_schema(criteria)))
    files = []
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        files.append({"name": path.relative_to(tmp).as_posix(), "size": path.stat().st_size, "sha256": _sha256(path)})
    manifest["files"] = [f for f in files if f["name"] != "README.md"] + [f for f in files if f["name"] == "README.md"]
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
