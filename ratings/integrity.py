"""The live fraud audit: read a modality's recent votes (pairwise and K-wise, as columns) and what
matchmaking served, run the pure detectors (ratings.engine.audit), and shadow-exclude the voters
they flag through the arena's exclusion service (logged; the leaderboards recompute when it commits). Runs as a Celery
task: by beat for every modality, and after every ARENA_AUDIT_EVERY_N_VOTES votes of a voter."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, F, Q, QuerySet
from django.utils import timezone

from arena.models import Battle, Competitor, Slot, Vote, Voter
from arena.services.exclusions import FRAUD_PREFIX, voter_shadow_exclude
from ratings.engine.integrity import VoteLog

log = logging.getLogger(__name__)

OUTCOMES = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "both_bad"}
# The reason a flagged voter's votes carry: the first detector in this order among theirs.
PRIORITY = ("target_concentration", "network", "outcome_bias", "cohort_divergence", "position_bias", "dwell",
            "likelihood", "random")


CHUNK = 5000  # rows fetched at a time: the audit holds columns (numpy arrays), never one object per vote


def audit_votes(modality: str) -> QuerySet[Vote]:
    """What the audit reads: votes (pairwise and K-wise) of the window that count, or that only the
    audit itself excluded (so a flagged voter stays visible to it). Named votes never count."""
    since = timezone.now() - dt.timedelta(days=settings.ARENA_AUDIT_DAYS)
    return Vote.objects.filter(
        Q(counted=True) | Q(exclusion_reason__startswith=FRAUD_PREFIX),
        modality=modality, created__gte=since,
    )


class _Networks:
    """Network hashes as small integers (one string per distinct hash)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def __call__(self, h: str) -> int:
        return self.codes.setdefault(h, len(self.codes)) if h else -1

    def names(self, codes: np.ndarray) -> np.ndarray:
        table = np.array(list(self.codes) + [""], dtype=object)  # -1 -> ""
        return table[codes]


def _dwell_ms(shown, voted) -> float:
    return (voted - shown).total_seconds() * 1000 if shown and voted and voted >= shown else np.nan


def _pairwise_columns(qs: QuerySet[Vote], nets: _Networks) -> dict[str, np.ndarray]:
    qs = qs.filter(mode=Battle.MODE_PAIRWISE, model_a__isnull=False, model_b__isnull=False)
    n = qs.count()
    cols = {"seq": np.empty(n, np.int64), "voter": np.empty(n, np.int64), "a": np.empty(n, np.int64),
            "b": np.empty(n, np.int64), "outcome": np.empty(n, "U8"), "time": np.empty(n), "dwell": np.empty(n),
            "network": np.empty(n, np.int64)}
    i = -1
    rows = qs.order_by("pk").values_list("pk", "voter_id", "model_a_id", "model_b_id", "outcome", "created",
                                         "client_shown_at", "client_voted_at", "network_hash")
    for i, r in enumerate(rows.iterator(chunk_size=CHUNK)):
        if i >= n:  # votes cast since the count: the next audit reads them
            i = n - 1
            break
        cols["seq"][i], cols["voter"][i], cols["a"][i], cols["b"][i] = r[0], r[1], r[2], r[3]
        cols["outcome"][i] = OUTCOMES[r[4]]
        cols["time"][i] = r[5].timestamp()
        cols["dwell"][i] = _dwell_ms(r[6], r[7])
        cols["network"][i] = nets(r[8])
    return {k: v[:i + 1] for k, v in cols.items()}


def _kwise_columns(qs: QuerySet[Vote], nets: _Networks) -> dict[str, Any]:
    """K-wise votes: the models by position shown (slot A first) and their places."""
    from ratings.votesource import _with_slots

    qs = qs.filter(mode=Battle.MODE_KWISE)
    out: dict[str, list] = {k: [] for k in ("seq", "voter", "items", "places", "time", "dwell", "network")}
    for k in qs.values_list("battle__k", flat=True).distinct().order_by():
        names = [f"s{p}__competitor_id" for p in range(k)]
        rows = _with_slots(qs.filter(battle__k=k), k).order_by("pk").values_list(
            "pk", "voter_id", "ranking", "created", "client_shown_at", "client_voted_at", "network_hash", *names)
        for r in rows.iterator(chunk_size=CHUNK):
            places, items = r[2], r[7:]
            if not (isinstance(places, list) and len(places) == k and None not in items
                    and all(isinstance(p, (int, float)) and p >= 1 for p in places)):
                log.warning("integrity audit: K-wise vote %s has no usable ranking; left out", r[0])
                continue
            out["seq"].append(r[0]), out["voter"].append(r[1]), out["items"].append(items)
            out["places"].append(places), out["time"].append(r[3].timestamp())
            out["dwell"].append(_dwell_ms(r[4], r[5])), out["network"].append(nets(r[6]))
    return out


def vote_log(modality: str) -> tuple[VoteLog | None, dict[int, str]]:
    qs = audit_votes(modality)
    nets = _Networks()
    pw = _pairwise_columns(qs, nets)
    kw = _kwise_columns(qs, nets)
    if not pw["seq"].size and not kw["seq"]:
        return None, {}
    slug = dict(Competitor.objects.values_list("pk", "slug"))
    ids = np.array(sorted(slug), dtype=np.int64)
    names = np.array([slug[int(x)] for x in ids], dtype=object)
    name_of = lambda col: names[np.searchsorted(ids, col)]  # noqa: E731
    rankings = None
    if kw["seq"]:
        rankings = {"voters": np.asarray(kw["voter"]).astype(str), "models": [list(name_of(np.asarray(x))) for x in kw["items"]],
                    "places": kw["places"], "seq": kw["seq"], "time": kw["time"], "dwell_ms": kw["dwell"],
                    "network": nets.names(np.asarray(kw["network"], np.int64))}
    lg = VoteLog.build(voters=pw["voter"].astype(str), model_a=name_of(pw["a"]), model_b=name_of(pw["b"]),
                       winner=pw["outcome"].tolist(), time=pw["time"], dwell_ms=pw["dwell"],
                       network=nets.names(pw["network"]), seq=pw["seq"], rankings=rankings)
    publics = dict(Voter.objects.filter(pk__in=[int(v) for v in lg.voters]).values_list("pk", "public_id"))
    return lg, {int(v): publics.get(int(v), v) for v in lg.voters}


def served_exposure(modality: str) -> dict[str, float]:
    """Outputs matchmaking served per model in the window (a slot of a blind battle, pairwise or
    K-wise, voted or not)."""
    since = timezone.now() - dt.timedelta(days=settings.ARENA_AUDIT_DAYS)
    rows = (Slot.objects.filter(battle__modality=modality, battle__anonymous=True, battle__created__gte=since)
            .values(slug=F("competitor__slug")).annotate(n=Count("id")))
    return {r["slug"]: float(r["n"]) for r in rows}


def _evidence(lg: VoteLog, result, k: int, modality: str) -> dict[str, Any]:
    mine = lg.voter == k
    nets = sorted({lg.networks[x] for x in np.unique(lg.network[mine]) if x >= 0}) if lg.network is not None else []
    return {"modality": modality, "reasons": result.reasons[k], "tests": result.tests[k],
            "votes_audited": int((mine & lg.head).sum()),
            "networks": nets, "audited_at": timezone.now().isoformat()}


def integrity_audit(*, modality: str) -> dict[str, Any]:
    """Audit one modality and shadow-exclude whom the detectors flag. Returns a summary."""
    from ratings.engine.audit import audit

    lg, _ = vote_log(modality)
    if lg is None or len(lg.models) < 2:
        return {"modality": modality, "votes": 0, "flagged": 0, "excluded_votes": 0}
    result = audit(lg, exposure=served_exposure(modality) or None, q=settings.ARENA_AUDIT_Q)
    excluded = 0
    for k in np.flatnonzero(result.flagged_mask):
        found = {r["detector"]: r for r in result.reasons[k]}
        detector = next(d for d in PRIORITY if d in found)
        r = found[detector]
        detail = f"{detector} (p={r['p']:.2g}, q={r['q']:.2g}): {r['detail']}"
        excluded += voter_shadow_exclude(voter_id=int(lg.voters[k]), detector=detector, detail=detail[:2000],
                                         score=float(result.score[k]), evidence=_evidence(lg, result, k, modality))
    summary = {"modality": modality, "votes": lg.n_votes, "flagged": int(result.flagged_mask.sum()), "excluded_votes": excluded}
    log.info("integrity audit %s", summary)
    return summary


# ---- triggering ----------------------------------------------------------------------------------

def _key(modality: str) -> str:
    return f"integrity:audit:{modality}"


def integrity_nudge(*, modality: str) -> bool:
    """Ask for an audit of the modality soon; nudges while one runs become one more run."""
    key = _key(modality)
    cache.set(key + ":dirty", 1, timeout=None)
    if not cache.add(key + ":lock", 1, timeout=settings.RATINGS_LOCK_TTL_S):
        return False
    from ratings.services import _enqueue
    from ratings.tasks import audit_modality

    _enqueue(audit_modality, modality)
    return True


def integrity_audit_coalesced(*, modality: str) -> int:
    """The task body: audit at least once, then again while nudges arrived meanwhile. Audits are
    idempotent (an excluded voter is excluded once), so a twin run is harmless."""
    key = _key(modality)
    cache.set(key + ":dirty", 1, timeout=None)
    runs = 0
    while True:
        try:
            while cache.get(key + ":dirty"):
                cache.delete(key + ":dirty")
                integrity_audit(modality=modality)
                runs += 1
        finally:
            cache.delete(key + ":lock")
        if not (cache.get(key + ":dirty") and cache.add(key + ":lock", 1, timeout=settings.RATINGS_LOCK_TTL_S)):
            return runs


def audit_due(*, voter_id: int) -> bool:
    """After every N-th vote of a voter."""
    n = settings.ARENA_AUDIT_EVERY_N_VOTES
    if n <= 0:
        return False
    count = Voter.objects.filter(pk=voter_id).values_list("votes_count", flat=True).first() or 0
    return count > 0 and count % n == 0
