"""Recomputing leaderboards: fit, write an immutable snapshot, tell open pages. And the nudge
that coalesces many vote commits into at most one running recompute plus one follow-up."""
from __future__ import annotations

import hashlib
import json
import logging
import secrets
import subprocess
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction

from config.metrics import RECOMPUTE_SECONDS, safely
from ratings.engine import RatingDataError, fit_bayes, fit_bt, fit_elo, fit_style, votes_from_records
from ratings.models import BayesAbsorbed, BayesState, LeaderboardSnapshot
from ratings.votesource import (
    comparisons_of, competitor_names, counted_votes, export_records, fingerprint, votes_per_model,
)

log = logging.getLogger(__name__)

METHODS = ("bt", "elo", "bayes", "style")


@lru_cache(maxsize=1)
def code_version() -> str:
    """The engine's code version: the git commit when there is one, else the engine files' hash."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if out.returncode == 0 and out.stdout.strip():
            return "git:" + out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    h = hashlib.sha1()
    for f in sorted((root / "ratings" / "engine").glob("*.py")):
        h.update(f.read_bytes())
    return "sha1:" + h.hexdigest()[:12]


def method_params(method: str) -> dict[str, Any]:
    """What a snapshot of this method is fitted with: recorded in the snapshot, so that
    `python -m ratings fit` on the released votes can say how to reproduce it."""
    if method == "bt":
        ci = settings.RATINGS_BT_CI
        params: dict[str, Any] = {"ci": ci, "cluster": "voter", "position_bias": True, "ties": settings.RATINGS_TIES,
                                  "small_sample": True, "min_votes": settings.RATINGS_PRELIMINARY_VOTES}
        if ci == "bootstrap":
            params.update(rounds=settings.RATINGS_BOOTSTRAP_ROUNDS, seed=settings.RATINGS_SEED)
        return params
    if method == "elo":
        return {"ci": "bootstrap", "rounds": settings.RATINGS_ELO_ROUNDS, "seed": settings.RATINGS_SEED, "k": 4}
    if method == "style":
        return {"ci": "sandwich"}
    if method == "bayes":
        return {}
    raise ValueError(f"unknown method {method!r}")


def _params_hash(params: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]


def _fit(modality: str, category: str, method: str, params: dict[str, Any], state=None):
    """(leaderboard, counted votes per model), both from the one read of the votes."""
    if method == "bt":
        if state is not None:  # the incremental cells: cost independent of the number of votes
            return _fit_bt_incremental(state, params)
        cells, rankings, counts, clusters = comparisons_of(modality, category)
        return fit_bt_board(cells, rankings, clusters, params, counts), counts
    records = export_records(modality, category, style=method == "style")
    counts = votes_per_model(records)
    if method == "elo":
        return fit_elo(votes_from_records(records), ci=params["ci"], rounds=params["rounds"], seed=params["seed"]), counts
    if method == "bayes":
        return fit_bayes(votes_from_records(records)), counts
    return fit_style(votes_from_records([r for r in records if "model_a" in r], style=True), ci=params["ci"]), counts


def _cluster_due(state) -> bool:
    return (not state.cluster_votes
            or state.vote_count >= (1 + settings.RATINGS_CLUSTER_REFRESH) * state.cluster_votes
            or state.vote_count <= state.cluster_votes  # the same (or fewer) votes again: exact, so the same numbers
            or (time.time() - state.cluster_at > settings.RATINGS_CLUSTER_REFRESH_S and state.vote_count != state.cluster_votes))


def _refresh_in_background() -> bool:
    """Whether a due voter-clustering refresh runs as its own task (services with Celery workers)
    rather than inside this fit (the embedded default's fit process, eager tasks)."""
    if settings.ARENA_INPROCESS_TASKS:
        return False
    from config.celery import app

    return not app.conf.task_always_eager


def _fit_bt_incremental(state, params: dict[str, Any]):
    """BT from the board's incremental cells. Voter clustering needs the heaviest voters' own votes
    (a read that grows with their votes: ~4 s at 10M votes): it is computed when the board has grown
    by RATINGS_CLUSTER_REFRESH (or after RATINGS_CLUSTER_REFRESH_S), and its per-model widening
    factors (clustered / independent half-width) are reused in between. With Celery workers a due
    refresh runs as its own task (ratings.tasks.refresh_clustering) and this fit goes on with the
    last factors, so that new votes reach the leaderboard in the steady time whatever the size; the
    next snapshot carries the new factors. Only a board's first fit waits for its clustering."""
    import numpy as np

    from ratings.boardcells import board_fit_input

    clustered = params.get("cluster") == "voter"
    due = clustered and _cluster_due(state)
    if due and state.cluster_votes and _refresh_in_background():
        _request_cluster_refresh(state.modality, state.category)
        due = False
    if not due:
        cells, rankings, counts, clusters = board_fit_input(state, 0)
        factors = state.cluster_factors if clustered else {}
        scale = np.array([factors.get(m, 1.0) for m in cells.models])
        lb = fit_bt_board(cells, rankings, clusters, params, counts, interval_scale=scale)
        lb.extra["cluster_factors_from_votes"] = state.cluster_votes
        lb.inputs = (cells, rankings)
        return lb, counts
    cells, rankings, counts, clusters = board_fit_input(state, settings.RATINGS_CLUSTER_VOTERS)
    lb = fit_bt_board(cells, rankings, clusters, params, counts)
    state.cluster_factors = _cluster_factors(state, params, lb, (cells, rankings, counts, clusters))
    state.cluster_votes, state.cluster_at = state.vote_count, time.time()
    state.save(update_fields=["cluster_factors", "cluster_votes", "cluster_at"])
    lb.extra["cluster_factors_from_votes"] = state.vote_count
    lb.inputs = (cells, rankings)
    return lb, counts


def _cluster_factors(state, params: dict[str, Any], lb, clustered_input) -> dict[str, float]:
    """Per model: its clustered sandwich half-width over its independent one (the fit between refreshes
    starts from the same read without the heaviest voters' votes): at a refresh the two paths agree exactly."""
    import numpy as np

    cells, rankings, counts, clusters = clustered_input
    sw = {**params, "ci": "sandwich"}
    c0, r0, k0, n0 = _without_heavy(state)
    plain = fit_bt_board(c0, r0, k0, sw, n0)
    width = lambda x: np.maximum(x.upper - x.lower, 1e-12)  # noqa: E731
    both = lb if lb is not None and params["ci"] == "sandwich" else fit_bt_board(cells, rankings, clusters, sw, counts)
    ratio = width(both) / width(plain)
    return {m: float(r) for m, r in zip(cells.models, ratio)}


def _refresh_key(modality: str, category: str) -> str:
    return f"ratings:cluster-refresh:{modality}:{category}"


def _request_cluster_refresh(modality: str, category: str) -> None:
    """Queue one refresh of a board's voter clustering (many requests while one is queued: one)."""
    if not cache.add(_refresh_key(modality, category), 1, timeout=settings.RATINGS_LOCK_TTL_S):
        return
    from ratings.tasks import refresh_clustering

    transaction.on_commit(lambda: refresh_clustering.delay(modality, category))


def board_cluster_refresh(*, modality: str, category: str) -> bool:
    """The task body: recompute a board's voter-clustering factors from one consistent view of its
    cells and votes (repeatable read on Postgres: the board's updates go on meanwhile, unblocked),
    then store them unless a newer refresh got there first. Returns whether it stored factors."""
    from django.db import connection

    from ratings.boardcells import board_fit_input
    from ratings.models import BoardCells

    started = time.time()
    try:
        params = method_params("bt")
        outermost = not connection.in_atomic_block  # (inside a caller's transaction: its view, as it is)
        with transaction.atomic():
            if connection.vendor == "postgresql" and outermost:
                with connection.cursor() as cur:
                    cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            state = BoardCells.objects.filter(modality=modality, category=category).first()
            if state is None or not state.vote_count or state.cluster_votes == state.vote_count:
                return False  # no board, or its factors are of exactly these votes already
            inputs = board_fit_input(state, settings.RATINGS_CLUSTER_VOTERS)
            factors = _cluster_factors(state, params, None, inputs)
        with transaction.atomic():
            fresh = BoardCells.objects.select_for_update().get(pk=state.pk)
            if fresh.cluster_at > started:  # a fit refreshed them meanwhile, from newer data
                return False
            fresh.cluster_factors, fresh.cluster_votes, fresh.cluster_at = factors, state.vote_count, time.time()
            fresh.save(update_fields=["cluster_factors", "cluster_votes", "cluster_at"])
        return True
    finally:
        cache.delete(_refresh_key(modality, category))


def _without_heavy(state):
    from ratings.boardcells import board_fit_input

    cells, rankings, counts, clusters = board_fit_input(state, 0)
    return cells, rankings, clusters, counts


def fit_bt_board(cells, rankings, clusters, params: dict[str, Any], counts: dict[str, int], interval_scale=None):
    """The published Bradley-Terry fit of a board's cells with the snapshot's parameters."""
    import numpy as np

    return fit_bt(cells, rankings, ci=params["ci"], rounds=params.get("rounds", 0), seed=params.get("seed", 0),
                  clusters=clusters if params.get("cluster") == "voter" else None,
                  position_bias=params.get("position_bias", False), ties=params.get("ties", "half"),
                  small_sample=params.get("small_sample", False), min_votes=params.get("min_votes", 0),
                  model_votes=np.array([counts.get(m, 0) for m in cells.models], dtype=np.float64),
                  interval_scale=interval_scale)


def _rows(lb, counts: dict[str, int]) -> list[dict[str, Any]]:
    names = competitor_names()
    rows = []
    for r in lb.rows():
        name, org = names.get(r["model"], (r["model"], ""))
        rows.append({**r, "name": name, "organization": org, "votes": counts.get(r["model"], r["votes"])})
    return rows


def _plots(lb) -> dict[str, Any]:
    import numpy as np

    def clean(mat):  # rounded, NaN as null; vectorised (200 models: 2 x 40,000 cells)
        arr = np.asarray(mat, dtype=np.float64)
        out = np.round(arr, 6).astype(object)
        out[np.isnan(arr)] = None
        return out.tolist()

    return {"models": list(lb.models), "win_matrix": clean(lb.win_matrix), "battle_matrix": clean(lb.battle_matrix)}


def leaderboard_recompute(*, modality: str, category: str = "overall", method: str = "bt") -> LeaderboardSnapshot | None:
    """Fit the leaderboard on its counted votes and store the result as a new snapshot, unless
    the latest snapshot already has exactly these votes and parameters (a retry, or no change)."""
    from ratings.boardcells import board_update, fingerprint_of

    started = time.monotonic()
    params = method_params(method)
    phash = _params_hash(params)
    state = board_update(modality=modality, category=category)  # incremental: only what came since
    fp = fingerprint_of(state)
    if fp.count == 0:
        return None
    key = {"modality": modality, "category": category, "method": method, "params_hash": phash}
    latest = LeaderboardSnapshot.objects.filter(**key).order_by("-created", "-pk").first()
    if latest is not None and latest.vote_hash == fp.hash:
        return latest  # nothing changed since (or a retried task already wrote it)
    log.info("fitting leaderboard %s/%s/%s on %d votes", modality, category, method, fp.count)
    try:
        lb, counts = _fit(modality, category, method, params, state)
    except RatingDataError as e:  # one model, no comparisons yet, ...: nothing to publish
        log.info("leaderboard %s/%s/%s not fitted: %s", modality, category, method, e)
        return None
    extra = {k: v for k, v in lb.to_dict().items() if k not in ("models", "method", "ci", "votes", "level")}
    if method == "bt":
        # Fragility refits the model many times (tens of seconds at 200 models): it is computed when
        # the snapshot's voter-clustering factors are new (refreshed by this fit, or by the background
        # task since the latest snapshot) and carried over by the snapshots in between.
        refreshed = lb.extra.get("cluster_factors_from_votes") in (None, fp.count)
        previous = (latest.extra or {}).get("cluster_factors_from_votes") if latest is not None else None
        if refreshed or latest is None or "fragility" not in (latest.extra or {}) \
                or previous != lb.extra.get("cluster_factors_from_votes"):
            extra["fragility"] = _fragility(modality, category, lb)
            extra["fragility_from_votes"] = fp.count
        else:
            extra["fragility"] = latest.extra["fragility"]
            extra["fragility_from_votes"] = latest.extra.get("fragility_from_votes", latest.vote_count)
    try:
        with transaction.atomic():
            snap = LeaderboardSnapshot.objects.create(
                **key, params=params, vote_count=fp.count, max_vote_id=fp.max_id, vote_hash=fp.hash,
                rows=_rows(lb, counts), plots=_plots(lb), extra=json.loads(json.dumps(extra, default=str)),
                code_version=code_version(), duration_ms=int((time.monotonic() - started) * 1000),
            )
    except IntegrityError:  # the same votes were written meanwhile by a twin task
        return LeaderboardSnapshot.objects.filter(**key, vote_hash=fp.hash).order_by("-created").first()
    _announce(snap)
    return snap


FRAGILITY_PAIRS = 50  # adjacent pairs from the top whose fragility a snapshot records


def _fragility(modality: str, category: str, lb) -> list[dict[str, Any]]:
    """For each adjacent pair from the top: about the fewest votes whose removal swaps it, and
    whether that is so few (under 0.5% of the votes) that the page shows the pair as tied.
    K-wise rankings enter as their pairs."""
    import numpy as np

    from ratings.engine.cells import PairCells, broken_pairs
    from ratings.engine.fragility import fragility

    # The fit's own cells (the board's incremental cells: no scan of the votes) when it has them.
    cells, rankings = getattr(lb, "inputs", None) or comparisons_of(modality, category)[:2]
    better, worse = broken_pairs(rankings)
    if len(better):
        cells = cells.merged(PairCells.from_indices(cells.models, better, worse, np.zeros(len(better), np.int64), None))
    rows = sorted(lb.rows(), key=lambda r: -r["rating"])
    order: list[str] = []
    for r in rows[: FRAGILITY_PAIRS + 1]:
        if order and r.get("part") != rows[0].get("part"):
            break  # ratings of another part of the comparison graph are on their own scale
        order.append(r["model"])
    try:
        return fragility(cells, order)
    except (np.linalg.LinAlgError, ValueError):
        log.exception("fragility of %s/%s failed", modality, category)
        return []


def _announce(snap: LeaderboardSnapshot) -> None:
    from arena.services.events import publish

    transaction.on_commit(
        lambda: publish(
            f"leaderboard.{snap.modality}",
            {"type": "snapshot", "modality": snap.modality, "category": snap.category, "method": snap.method,
             "snapshot": snap.pk, "votes": snap.vote_count},
        )
    )


# ---- nudges ----------------------------------------------------------------------------------

def _key(modality: str, category: str, method: str) -> str:
    return f"ratings:nudge:{modality}:{category}:{method}"


def leaderboard_nudge(*, modality: str, category: str = "overall", method: str = "bt") -> bool:
    """Ask for a recompute soon. Many nudges while one runs become one more run. Returns whether
    this nudge queued a task (False: one is queued or running and will pick the change up)."""
    if method not in live_methods():
        return False  # recomputed on demand only (see RATINGS_LIVE_METHODS)
    if settings.ARENA_INPROCESS_TASKS:
        from ratings.fitter import fitter

        return fitter().nudge(modality, category, method)
    key = _key(modality, category, method)
    # A fresh token per nudge: the task clears the flag only if no nudge came after the one it served.
    cache.set(key + ":dirty", secrets.randbits(62), timeout=None)
    if not cache.add(key + ":lock", 1, timeout=settings.RATINGS_LOCK_TTL_S):
        return False
    from ratings.tasks import recompute_leaderboard

    recompute_leaderboard.apply_async(args=(modality, category, method), countdown=settings.RATINGS_DEBOUNCE_S)
    return True


def _enqueue(task, *args) -> None:
    """Queue a ratings task after the debounce (embedded default: run it in the web process's pool;
    leaderboard fits themselves go to the fit process, see leaderboard_nudge)."""
    if settings.ARENA_INPROCESS_TASKS:
        from arena.services.generation import background

        background(lambda: task.apply(args=args))
    else:
        task.apply_async(args=args, countdown=settings.RATINGS_DEBOUNCE_S)


def live_methods() -> tuple[str, ...]:
    return tuple(m for m in settings.RATINGS_LIVE_METHODS if m in METHODS)


def leaderboard_recompute_coalesced(*, modality: str, category: str, method: str) -> int:
    """The task body: run while there are nudges, release the lock, and catch a nudge that came
    between the last check and the release. Returns the number of fits run.

    The "needs recompute" flag is cleared only after the snapshot has committed, and only if no
    nudge came meanwhile: a worker killed mid-fit leaves it set, so the redelivered task (acks_late)
    fits again instead of finding nothing to do."""
    key = _key(modality, category, method)
    runs = 0
    while True:
        try:
            while (token := cache.get(key + ":dirty")) is not None:
                started = time.perf_counter()
                leaderboard_recompute(modality=modality, category=category, method=method)  # commits its snapshot
                safely(lambda: RECOMPUTE_SECONDS.labels(method).observe(time.perf_counter() - started))
                _clear_if_unchanged(key + ":dirty", token)
                runs += 1
        finally:
            cache.delete(key + ":lock")
        if not (cache.get(key + ":dirty") is not None and cache.add(key + ":lock", 1, timeout=settings.RATINGS_LOCK_TTL_S)):
            return runs


_CLEAR_IF = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
_clear_lock = threading.Lock()


def _clear_if_unchanged(key: str, token: int) -> None:
    """Delete the flag if it still holds ``token`` (compare-and-delete, atomic in Redis)."""
    backend = cache._cache if hasattr(cache, "_cache") else None  # noqa: SLF001 (django's RedisCache client)
    if backend is not None and hasattr(backend, "get_client"):
        full = cache.make_and_validate_key(key)
        backend.get_client(full, write=True).eval(_CLEAR_IF, 1, full, str(token))
        return
    with _clear_lock:  # local memory cache: one process
        if cache.get(key) == token:
            cache.delete(key)


def leaderboards_for(*, modality: str, category: str, language: str, n_turns: int, mode: str, criteria: list[str]) -> list[tuple[str, str]]:
    """The (category, method) leaderboards a vote with these properties belongs to."""
    out = [("overall", m) for m in METHODS if m != "style" or modality == "text"]
    out += [(c, "bt") for c in (f"category:{category}", f"language:{language}", "turns:single" if n_turns == 1 else "turns:multi", f"votes:{mode}")]
    out += [(f"criterion:{c}", "bt") for c in criteria]
    return out


def leaderboards_known(modality: str) -> list[tuple[str, str]]:
    """Every leaderboard the counted votes of a modality feed (for the beat safety net and
    recounts): the boards that have incremental cells or snapshots; a scan of the votes only while
    there are none yet (a scan costs seconds at 10M votes)."""
    from arena.models import Vote
    from ratings.models import BoardCells

    cats = set(BoardCells.objects.filter(modality=modality).values_list("category", flat=True))
    cats |= set(LeaderboardSnapshot.objects.filter(modality=modality).values_list("category", flat=True).distinct())
    seen: set[tuple[str, str]] = set()
    if cats:
        for cat in cats:
            seen.update((cat, m) for m in METHODS if cat == "overall" and (m != "style" or modality == "text"))
            if cat != "overall":
                seen.add((cat, "bt"))
        return sorted(seen)
    qs = Vote.objects.filter(counted=True, modality=modality)
    for cat, lang, turns, mode in qs.values_list("category", "language", "n_turns", "mode").distinct():
        seen.update(leaderboards_for(modality=modality, category=cat, language=lang, n_turns=turns, mode=mode, criteria=[]))
    for crit in settings.ARENA_CRITERIA:
        if qs.filter(**{f"criteria__{crit}__isnull": False}).exists():
            seen.add((f"criterion:{crit}", "bt"))
    return sorted(seen)


# ---- the per-vote Bayesian rater ----------------------------------------------------------------

def bayes_absorb(*, modality: str, vote_id: int, models: list[str], places: list[int], weight: float) -> None:
    """Absorb one counted vote into the modality's live Bayesian rating (K-Sort Arena's μ, σ)."""
    from ratings.engine import BayesRater

    with transaction.atomic():
        state, _ = BayesState.objects.get_or_create(modality=modality, category="overall")
        state = BayesState.objects.select_for_update().get(pk=state.pk)  # votes arrive together
        _, new = BayesAbsorbed.objects.get_or_create(modality=modality, category="overall", vote_id=vote_id)
        if not new:
            return  # already absorbed (a retried task)
        rater = BayesRater.from_state(state.state) if state.state else BayesRater()
        rater.rate(models, places, weight)
        state.state = rater.to_state()
        state.last_vote_id = max(state.last_vote_id, vote_id)
        state.save(update_fields=["state", "last_vote_id", "updated"])


# ---- after a vote ------------------------------------------------------------------------------

def vote_absorb(*, vote_id: int) -> None:
    """What a vote causes once committed (ratings.tasks.absorb_vote, queued by
    ratings.receivers.on_vote, never run in the vote's request): after every N-th vote of a
    voter an integrity audit of the modality; for a counted vote, absorb it into the live
    Bayesian rating and nudge its leaderboards. Idempotent: the Bayesian rating absorbs a vote
    once (BayesAbsorbed), and a second nudge is the same recompute or audit."""
    from arena.models import Vote

    vote = Vote.objects.select_related("battle").filter(pk=vote_id).first()
    if vote is None:
        return
    battle = vote.battle
    _audit_if_due(vote)
    if not vote.counted or vote.weight <= 0:
        return
    slugs = list(battle.slots.order_by("position").values_list("competitor__slug", flat=True))
    bayes_absorb(modality=battle.modality, vote_id=vote.pk, models=slugs, places=list(vote.ranking), weight=vote.weight)
    for category, method in leaderboards_for(
        modality=vote.modality, category=vote.category, language=vote.language,
        n_turns=vote.n_turns, mode=vote.mode, criteria=sorted(vote.criteria or {}),
    ):
        leaderboard_nudge(modality=battle.modality, category=category, method=method)


def _audit_if_due(vote) -> None:
    """After every N-th vote of a voter, audit the modality (their votes among everyone's). The
    vote's own ordinal among the voter's votes, not the running count: the task may run after
    the voter's next votes."""
    from arena.models import Vote
    from ratings.integrity import integrity_nudge

    n = settings.ARENA_AUDIT_EVERY_N_VOTES
    try:
        if n > 0 and vote.battle.anonymous:
            ordinal = Vote.objects.filter(voter_id=vote.voter_id, pk__lte=vote.pk).count()
            if ordinal % n == 0:
                integrity_nudge(modality=vote.modality)
    except Exception:  # the vote is stored; beat audits every modality anyway
        log.exception("integrity audit nudge after vote %s failed", vote.pk)
