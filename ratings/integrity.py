"""The live fraud audit: read a modality's recent pairwise votes and what matchmaking served, run
the pure detectors (ratings.engine.audit), and shadow-exclude the voters they flag through the
arena's exclusion service (logged; the leaderboards recompute when it commits). Runs as a Celery
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

from arena.models import Battle, Slot, Vote, Voter
from arena.services.exclusions import FRAUD_PREFIX, voter_shadow_exclude
from ratings.engine.integrity import VoteLog

log = logging.getLogger(__name__)

OUTCOMES = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "both_bad"}
# The reason a flagged voter's votes carry: the first detector in this order among theirs.
PRIORITY = ("target_concentration", "network", "outcome_bias", "cohort_divergence", "position_bias", "dwell",
            "likelihood", "random")


def audit_votes(modality: str) -> QuerySet[Vote]:
    """What the audit reads: anonymous pairwise votes of the window that count, or that only the
    audit itself excluded (so a flagged voter stays visible to it)."""
    since = timezone.now() - dt.timedelta(days=settings.ARENA_AUDIT_DAYS)
    return Vote.objects.filter(
        Q(counted=True) | Q(exclusion_reason__startswith=FRAUD_PREFIX),
        modality=modality, mode=Battle.MODE_PAIRWISE, created__gte=since, model_a__isnull=False,
    )


def vote_log(modality: str) -> tuple[VoteLog | None, dict[int, str]]:
    rows = list(audit_votes(modality).order_by("pk").values_list(
        "voter_id", "model_a__slug", "model_b__slug", "outcome", "created", "client_shown_at", "client_voted_at",
        "network_hash",
    ))
    if not rows:
        return None, {}
    voter_ids = sorted({r[0] for r in rows})
    publics = dict(Voter.objects.filter(pk__in=voter_ids).values_list("pk", "public_id"))
    dwell = [(r[6] - r[5]).total_seconds() * 1000 if r[5] and r[6] and r[6] >= r[5] else np.nan for r in rows]
    lg = VoteLog.build(
        voters=[str(r[0]) for r in rows], model_a=[r[1] for r in rows], model_b=[r[2] for r in rows],
        winner=[OUTCOMES[r[3]] for r in rows], time=[r[4].timestamp() for r in rows], dwell_ms=dwell,
        network=[r[7] or None for r in rows],
    )
    return lg, {int(v): publics.get(int(v), v) for v in lg.voters}


def served_exposure(modality: str) -> dict[str, float]:
    """Blind pairwise battles matchmaking served per model in the window, voted or not."""
    since = timezone.now() - dt.timedelta(days=settings.ARENA_AUDIT_DAYS)
    rows = (Slot.objects.filter(battle__modality=modality, battle__anonymous=True, battle__mode=Battle.MODE_PAIRWISE,
                                battle__created__gte=since)
            .values(slug=F("competitor__slug")).annotate(n=Count("id")))
    return {r["slug"]: float(r["n"]) for r in rows}


def _evidence(lg: VoteLog, result, k: int, modality: str) -> dict[str, Any]:
    mine = lg.voter == k
    nets = sorted({lg.networks[x] for x in lg.network[mine] if x >= 0}) if lg.network is not None else []
    return {"modality": modality, "reasons": result.reasons[k], "tests": result.tests[k], "votes_audited": int(mine.sum()),
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
    summary = {"modality": modality, "votes": lg.n, "flagged": int(result.flagged_mask.sum()), "excluded_votes": excluded}
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
