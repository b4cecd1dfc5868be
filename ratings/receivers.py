"""Listens to the arena: a committed vote nudges the leaderboards it belongs to and moves the
live Bayesian rating; recounted votes nudge every leaderboard of their modality."""
from __future__ import annotations

import logging

from django.dispatch import receiver

from arena.signals import vote_committed, votes_recounted

log = logging.getLogger(__name__)


@receiver(vote_committed)
def on_vote(sender, vote, **kwargs) -> None:
    """Queue the work a counted vote causes (the live Bayesian rating, the leaderboard nudges):
    one task per vote, run once, outside the vote's request (ratings.tasks.absorb_vote)."""
    if not vote.counted or vote.weight <= 0:
        return
    from django.conf import settings

    from ratings.tasks import absorb_vote

    try:
        if settings.ARENA_INPROCESS_TASKS:
            from arena.services.generation import background

            background(lambda: absorb_vote.apply(args=[vote.pk]))
        else:
            absorb_vote.apply_async(args=[vote.pk])
    except Exception:  # the vote is stored; the beat safety net recomputes what a failure missed
        log.exception("queueing the work after vote %s failed", vote.pk)


@receiver(votes_recounted)
def on_recount(sender, modalities, **kwargs) -> None:
    from ratings.services import leaderboard_nudge, leaderboards_known

    for modality in modalities:
        for category, method in leaderboards_known(modality):
            leaderboard_nudge(modality=modality, category=category, method=method)
