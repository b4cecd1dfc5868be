"""Changing whether votes count: the one place that flips `Vote.counted` after a vote was cast.
Every change is written to the append-only ExclusionDecision log in the same transaction (what,
why, by whom or which detector, when), and the leaderboards of the touched modalities are told
to recompute once it commits. A vote is never deleted; any decision can be undone."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from arena.models import ExclusionDecision, Vote, Voter, VoterFlag
from arena.signals import votes_recounted

FRAUD_PREFIX = "fraud:"


def _locked(votes: QuerySet[Vote] | Iterable[int]) -> list[Vote]:
    ids = list(votes.values_list("pk", flat=True)) if isinstance(votes, QuerySet) else [int(v) for v in votes]
    # Locked in id order: two decisions over overlapping votes queue instead of deadlocking, and
    # a concurrent decision cannot slip between our read of `counted` and our write.
    return list(Vote.objects.select_for_update().filter(pk__in=ids).order_by("pk"))


def _apply(changed: list[tuple[Vote, bool, str, str]], *, by_kind: str, by: str) -> int:
    now = timezone.now()
    decisions = []
    for vote, counted, reason, detail in changed:
        decisions.append(ExclusionDecision(
            vote=vote, counted=counted, previous_counted=vote.counted, reason=reason,
            previous_reason=vote.exclusion_reason, detail=detail, by_kind=by_kind, by=by[:150], created=now,
        ))
        vote.counted, vote.exclusion_reason, vote.exclusion_detail = counted, reason, detail
    if not changed:
        return 0
    Vote.objects.bulk_update([v for v, *_ in changed], ["counted", "exclusion_reason", "exclusion_detail"])
    ExclusionDecision.objects.bulk_create(decisions)
    modalities = sorted({v.modality for v, *_ in changed})
    transaction.on_commit(lambda: votes_recounted.send(sender=Vote, modalities=modalities))
    return len(changed)


def votes_exclude(
    *, votes: QuerySet[Vote] | Iterable[int], reason: str, detail: str, by_kind: str, by: str
) -> int:
    """Stop counting the votes that count now (others keep their own reason). Returns how many
    changed."""
    if not reason or len(reason) > 32:
        raise ValueError("an exclusion needs a reason of at most 32 characters")
    with transaction.atomic():
        changed = [(v, False, reason, detail) for v in _locked(votes) if v.counted]
        return _apply(changed, by_kind=by_kind, by=by)


def votes_count_again(
    *, votes: QuerySet[Vote] | Iterable[int], by_kind: str, by: str, detail: str = "", only_reasons: Iterable[str] | None = None,
) -> int:
    """Count excluded votes again (the undo of an exclusion). Named side-by-side votes never
    count: the voter knew the models. `only_reasons` limits the undo to votes excluded for those
    reasons (a prefix ending in ':' matches every detector). Returns how many changed."""
    prefixes = tuple(only_reasons) if only_reasons is not None else None

    def eligible(v: Vote) -> bool:
        if v.counted or v.exclusion_reason == Vote.EXCL_NAMED:
            return False
        if shadowed.get(v.voter_id) and v.exclusion_reason.startswith(FRAUD_PREFIX):
            return False  # the voter is still flagged: use voter_count_again to lift that first
        return prefixes is None or v.exclusion_reason.startswith(prefixes)

    with transaction.atomic():
        locked = _locked(votes)
        shadowed = dict(Voter.objects.filter(pk__in={v.voter_id for v in locked}).values_list("pk", "shadow_reason"))
        changed = [(v, True, "", detail) for v in locked if eligible(v)]
        return _apply(changed, by_kind=by_kind, by=by)


def voter_shadow_exclude(*, voter_id: int, detector: str, detail: str, score: float, evidence: dict) -> int:
    """The integrity audit flagged this voter: keep their votes, stop counting them (reason
    ``fraud:<detector>``, logged), and have their next votes stored the same way; they see no
    difference. A voter staff counted again stays counted (the new evidence is kept for review).
    Returns how many votes stopped counting."""
    reason = f"{FRAUD_PREFIX}{detector}"[:32]
    with transaction.atomic():
        # The voter row is the lock a concurrent vote of theirs takes too (vote_cast): a vote either
        # commits before us (and is excluded below) or sees shadow_reason once we commit.
        voter = Voter.objects.select_for_update().get(pk=voter_id)
        flag = VoterFlag.objects.filter(voter=voter).first()
        if flag is not None and flag.status == VoterFlag.CLEARED:
            flag.evidence = {**evidence, "after_review": True}
            flag.score = score
            flag.save(update_fields=["evidence", "score", "updated"])
            return 0
        if flag is None:
            flag = VoterFlag(voter=voter)
        flag.status, flag.detector, flag.score, flag.evidence = VoterFlag.EXCLUDED, detector, score, evidence
        flag.save()
        if voter.shadow_reason != reason:
            voter.shadow_reason = reason
            voter.save(update_fields=["shadow_reason"])
        return votes_exclude(votes=Vote.objects.filter(voter=voter, counted=True), reason=reason, detail=detail,
                             by_kind=ExclusionDecision.BY_DETECTOR, by=detector)


def voter_count_again(*, voter_id: int, by: str, note: str = "") -> int:
    """Staff's undo: count the voter's fraud-excluded votes again (logged), count their next votes,
    and tell the audit to leave them be. Returns how many votes count again."""
    with transaction.atomic():
        voter = Voter.objects.select_for_update().get(pk=voter_id)
        VoterFlag.objects.filter(voter=voter).update(status=VoterFlag.CLEARED, reviewed_by=by[:150], reviewed_at=timezone.now())
        if voter.shadow_reason:
            voter.shadow_reason = ""
            voter.save(update_fields=["shadow_reason"])
        return votes_count_again(votes=Vote.objects.filter(voter=voter, counted=False), by_kind=ExclusionDecision.BY_STAFF,
                                 by=by, detail=note or f"counted again by {by} in the review queue", only_reasons=[FRAUD_PREFIX])


def vote_as_seen_by_voter(vote: Vote) -> tuple[bool, str]:
    """(counted, why not) as the voter may see it: a fraud exclusion is a shadow exclusion, so it
    reads as counted (telling a cheat they were caught teaches them what to avoid)."""
    if not vote.counted and vote.exclusion_reason.startswith(FRAUD_PREFIX):
        return True, ""
    return vote.counted, "" if vote.counted else vote.exclusion_detail
