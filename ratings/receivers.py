"""Listens to the arena: a committed vote nudges the leaderboards it belongs to and moves the
live Bayesian rating; recounted votes nudge every leaderboard of their modality."""
from __future__ import annotations

import logging

from django.dispatch import receiver

from arena.signals import vote_committed, votes_recounted

log = logging.getLogger(__name__)


@receiver(vote_committed)
def on_vote(sender, vote, **kwargs) -> None:
    from ratings.services import bayes_absorb, leaderboard_nudge, leaderboards_for

    _maybe_audit(vote)
    if not vote.counted or vote.weight <= 0:
        return
    battle = vote.battle
    try:
        slugs = list(battle.slots.order_by("position").values_list("competitor__slug", flat=True))
        bayes_absorb(modality=battle.modality, vote_id=vote.pk, models=slugs, places=list(vote.ranking), weight=vote.weight)
        for category, method in leaderboards_for(
            modality=vote.modality, category=vote.category, language=vote.language,
            n_turns=vote.n_turns, mode=vote.mode, criteria=sorted(vote.criteria or {}),
        ):
            leaderboard_nudge(modality=battle.modality, category=category, method=method)
    except Exception:  # the vote is stored; the beat safety net recomputes what a failure missed
        log.exception("leaderboard nudge after vote %s failed", vote.pk)


def _maybe_audit(vote) -> None:
    """After every N-th vote of a voter, audit the modality (their votes among everyone's)."""
    from ratings.integrity import audit_due, integrity_nudge

    try:
        if vote.battle.anonymous and audit_due(voter_id=vote.voter_id):
            integrity_nudge(modality=vote.modality)
    except Exception:  # the vote is stored; beat audits every modality anyway
        log.exception("integrity audit nudge after vote %s failed", vote.pk)


@receiver(votes_recounted)
def on_recount(sender, modalities, **kwargs) -> None:
    from ratings.services import leaderboard_nudge, leaderboards_known

    for modality in modalities:
        for category, method in leaderboards_known(modality):
            leaderboard_nudge(modality=modality, category=category, method=method)
