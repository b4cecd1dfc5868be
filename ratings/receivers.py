"""Listens to the arena: a committed vote queues the work it causes (the live Bayesian rating,
the leaderboard nudges, the voter's periodic integrity audit); recounted votes nudge every
leaderboard of their modality."""
from __future__ import annotations

import logging

from django.dispatch import receiver

from arena.signals import vote_committed, votes_recounted

log = logging.getLogger(__name__)


@receiver(vote_committed)
def on_vote(sender, vote, **kwargs) -> None:
    """One task per vote, run once, outside the vote's request (ratings.tasks.absorb_vote ->
    ratings.services.vote_absorb). Named side-by-side votes are never counted nor audited."""
    if not vote.battle.anonymous:
        return
    from django.conf import settings

    from ratings.tasks import absorb_vote

    try:
        if settings.ARENA_INPROCESS_TASKS:
            from arena.services.generation import background

            background(lambda: absorb_vote.apply(args=[vote.pk]))
        else:
            absorb_vote.apply_async(args=[vote.pk])
    except Exception:  # the vote is stored; the beat safety nets recompute and audit what this missed
        log.exception("queueing the work after vote %s failed", vote.pk)


@receiver(votes_recounted)
def on_recount(sender, modalities, **kwargs) -> None:
    from ratings.services import leaderboard_nudge, leaderboards_known

    for modality in modalities:
        for category, method in leaderboards_known(modality):
            leaderboard_nudge(modality=modality, category=category, method=method)
