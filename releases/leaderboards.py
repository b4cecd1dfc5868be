"""The leaderboards a release reproduces: fitted with the rating engine on the release's own
votes.parquet, exactly as ``python -m ratings fit votes.parquet --filter modality=text`` does
(Bradley-Terry; intervals by ARENA_RELEASE_CI: ``sandwich`` by default, whose cost does not grow
with bootstrap rounds over 100k K-wise rankings, or the CLI's default ``bootstrap``, 1000 rounds,
seed 0), with the fingerprint of the same vote set in the database and the id of the live
snapshot that has that fingerprint, if any. The ratings are the maximum-likelihood fit whatever
the interval method, so the plain command gives the recorded ratings either way."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ratings.engine import RatingDataError, fit_bt
from ratings.engine.bt import PUBLISHED
from ratings.engine.io import votes_from_table

ROUNDS, SEED = 1000, 0
_COLUMNS = ("model_a", "model_b", "winner", "models", "ranking", "weight", "counted", "modality", "mode", "category",
            "judge")  # judge: votes of one voter are clustered in the intervals, as the CLI does
_DICTIONARY = ("model_a", "model_b", "winner", "modality", "mode", "category", "judge")


def _specs(table, modality: str) -> list[tuple[list[str], str]]:
    import pyarrow.compute as pc

    rows = table.filter(pc.and_(pc.equal(table["modality"], modality), table["counted"]))
    specs = [([f"modality={modality}"], "overall")]
    modes = sorted(v for v in pc.unique(rows["mode"]).to_pylist() if v)
    if len(modes) > 1:
        specs += [([f"modality={modality}", f"mode={m}"], f"votes:{m}") for m in modes]
    cats = sorted(v for v in pc.unique(rows["category"]).to_pylist() if v)
    if len(cats) > 1:
        specs += [([f"modality={modality}", f"category={c}"], f"category:{c}") for c in cats]
    return specs


def _command(filters: list[str], ci: str) -> str:
    # --ci always spelled out: the command says exactly how the recorded leaderboard was fitted.
    return ("python -m ratings fit votes.parquet " + " ".join(f"--filter {f}" for f in filters) + f" --ci {ci}")


def leaderboards_record(parquet: Path, *, last_id: int, full: bool) -> list[dict[str, Any]]:
    from django.conf import settings
    from django.db import connection

    ci = settings.ARENA_RELEASE_CI
    # Names as dictionaries (a few distinct values each): a million votes stay a few dozen MB, and
    # the filters of each leaderboard copy indices, not strings.
    table = pq.read_table(parquet, columns=list(_COLUMNS), read_dictionary=[c for c in _DICTIONARY if c in _COLUMNS])
    out = []
    import pyarrow.compute as pc

    specs = [(modality, filters, category) for modality in sorted(v for v in pc.unique(table["modality"]).to_pylist() if v)
             for filters, category in _specs(table, modality)]
    # The database's fingerprints of the same votes are Postgres's work: asked for in a thread of
    # their own (own connection) while this one fits (outside a caller's transaction, whose rows
    # another connection would not see).
    live = _Live(specs, last_id=last_id, full=full, background=not connection.in_atomic_block)
    try:
        for modality, filters, category in specs:
            entry: dict[str, Any] = {"id": f"{modality}/{category}/bt", "modality": modality, "category": category,
                                     "filters": filters, "command": _command(filters, ci), "method": "bt", "ci": ci}
            if ci == "bootstrap":
                entry.update(rounds=ROUNDS, seed=SEED)
            try:
                votes = votes_from_table(table, filters=filters, source="votes.parquet")
                lb = fit_bt(votes, ci=ci, rounds=ROUNDS, seed=SEED, **PUBLISHED)  # as the CLI's defaults
                lb.notes[:0] = [n for n in votes.notes if n not in lb.notes]  # as the CLI reports them
            except RatingDataError as exc:
                entry["skipped"] = str(exc)
                out.append(entry)
                continue
            result = lb.to_dict()
            entry.update(votes=result["votes"], models=result["models"], notes=result.get("notes", []))
            entry.update(live.get(modality, category))
            out.append(entry)
    finally:
        live.close()
    return out


class _Live:
    """_live() of every leaderboard, computed in order by a thread (or on demand, in this one)."""

    def __init__(self, specs: list, *, last_id: int, full: bool, background: bool) -> None:
        import threading

        self.last_id, self.full = last_id, full
        self.results: dict[tuple[str, str], Any] = {}
        self.ready = {(m, c): threading.Event() for m, _, c in specs}
        self.thread = None
        if background:
            self.thread = threading.Thread(target=self._run, args=([(m, c) for m, _, c in specs],),
                                           name="release-fingerprints", daemon=True)
            self.thread.start()

    def _run(self, keys: list[tuple[str, str]]) -> None:
        from django.db import connections

        try:
            for modality in dict.fromkeys(m for m, _ in keys):
                categories = [c for m, c in keys if m == modality]
                try:
                    for c, value in _live_many(modality, categories, last_id=self.last_id, full=self.full).items():
                        self.results[(modality, c)] = ("ok", value)
                except BaseException as exc:  # noqa: BLE001 - raised again where it is asked for
                    for c in categories:
                        self.results[(modality, c)] = ("error", exc)
                for c in categories:
                    self.ready[(modality, c)].set()
        finally:
            connections.close_all()
            for event in self.ready.values():
                event.set()

    def get(self, modality: str, category: str) -> dict[str, Any]:
        if self.thread is None:
            return _live(modality, category, last_id=self.last_id, full=self.full)
        self.ready[(modality, category)].wait()
        kind, value = self.results.get((modality, category), ("error", RuntimeError("fingerprint not computed")))
        if kind == "error":
            raise value
        return value

    def close(self) -> None:
        if self.thread is not None:
            self.thread.join()


def _live(modality: str, category: str, *, last_id: int, full: bool) -> dict[str, Any]:
    """The fingerprint (count, highest vote id, hash of ids and weights) of the same counted votes
    in the database, and the live snapshot with that very fingerprint, if one was computed."""
    from ratings.votesource import counted_votes, fingerprint

    from arena.models import Competitor

    qs = counted_votes(modality, category).filter(id__lte=last_id)
    if not full and Competitor.objects.filter(public=False).exists():  # (else a join that leaves out nothing)
        qs = qs.exclude(battle__slots__competitor__public=False)
    return _with_snapshot(modality, category, fingerprint(qs))


def _with_snapshot(modality: str, category: str, fp) -> dict[str, Any]:
    from ratings.models import LeaderboardSnapshot

    snap = (LeaderboardSnapshot.objects.filter(modality=modality, category=category, method="bt", vote_hash=fp.hash)
            .order_by("-created", "-pk").values_list("pk", flat=True).first())
    return {"fingerprint": {"count": fp.count, "max_vote_id": fp.max_id, "hash": fp.hash}, "snapshot": snap}


def _one_pass(category: str) -> bool:
    """Whether a category's votes are told apart by their mode or category column alone."""
    return category in ("overall", "votes:pairwise", "votes:kwise") or (
        category.startswith("category:") and len(category) > len("category:"))


def _live_many(modality: str, categories: list[str], *, last_id: int, full: bool) -> dict[str, dict[str, Any]]:
    """_live() of several categories of a modality: the overall, mode and category ones from one
    scan of the counted votes (each vote hashed once, as ratings.votesource.fingerprint hashes
    it), any other one (or all, when a model is not public) by its own scan."""
    import hashlib

    from ratings.boardcells import _signed, _vote_hash
    from ratings.votesource import Fingerprint, counted_votes

    from arena.models import Competitor

    out: dict[str, dict[str, Any]] = {}
    hidden = not full and Competitor.objects.filter(public=False).exists()
    shared = [] if hidden else [c for c in categories if _one_pass(c)]
    if shared:
        acc = {c: [0, 0, 0, 0] for c in shared}  # count, xor, sum of the hashes, highest id
        rows = counted_votes(modality, "overall").filter(id__lte=last_id).values_list("id", "weight", "mode", "category")
        for vid, weight, mode, cat in rows.order_by().iterator(chunk_size=100_000):
            h = _vote_hash(vid, weight)
            for key in ("overall", "votes:" + mode, "category:" + cat):
                a = acc.get(key)
                if a is not None:
                    a[0] += 1
                    a[1] ^= h
                    a[2] += h
                    if vid > a[3]:
                        a[3] = vid
        for c, (count, xor, total, top) in acc.items():
            digest = hashlib.sha1(f"{count}:{_signed(xor)}:{total}".encode()).hexdigest()
            out[c] = _with_snapshot(modality, c, Fingerprint(count=count, max_id=top, hash=digest))
    for c in categories:
        if c not in out:
            out[c] = _live(modality, c, last_id=last_id, full=full)
    return out
