"""Celery tasks of the ratings app: thin, idempotent, safe to retry (acks_late)."""
from __future__ import annotations

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def recompute_leaderboard(modality: str, category: str = "overall", method: str = "bt") -> int:
    """Recompute one leaderboard (coalescing the nudges that arrived meanwhile). A crashed
    worker's task runs again and, finding the same votes, writes the same snapshot once."""
    from ratings.services import leaderboard_recompute_coalesced

    return leaderboard_recompute_coalesced(modality=modality, category=category, method=method)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def refresh_clustering(modality: str, category: str = "overall") -> bool:
    """Recompute a board's voter-clustering factors off the leaderboard's path (queued by a
    recompute that found them due); the board's next snapshot carries them."""
    from ratings.services import board_cluster_refresh

    return board_cluster_refresh(modality=modality, category=category)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def absorb_vote(vote_id: int) -> None:
    """After a counted vote commits (queued by ratings.receivers.on_vote, never run inside the
    vote's request): absorb it into the live Bayesian rating and nudge its leaderboards."""
    from ratings.services import vote_absorb

    vote_absorb(vote_id=vote_id)


@shared_task(ignore_result=True)
def recompute_all() -> int:
    """The beat safety net: nudge every leaderboard of every modality."""
    from arena.models import MODALITY_CHOICES
    from ratings.services import leaderboard_nudge, leaderboards_known

    n = 0
    for modality, _ in MODALITY_CHOICES:
        for category, method in leaderboards_known(modality):
            n += leaderboard_nudge(modality=modality, category=category, method=method)
    return n


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def audit_modality(modality: str) -> int:
    """Run the fraud detectors over a modality's recent votes and shadow-exclude whom they flag
    (coalescing the nudges that arrived meanwhile). Idempotent: a flagged voter is excluded once."""
    from ratings.integrity import integrity_audit_coalesced

    return integrity_audit_coalesced(modality=modality)


@shared_task(ignore_result=True)
def audit_all() -> int:
    """Beat: audit every modality that has votes."""
    from arena.models import MODALITY_CHOICES
    from ratings.integrity import integrity_nudge

    return sum(integrity_nudge(modality=m) for m, _ in MODALITY_CHOICES)
