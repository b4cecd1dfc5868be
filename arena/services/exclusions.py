"""Changing whether votes count: the one place that flips `Vote.counted` after a vote was cast.
Every change is written to the append-only ExclusionDecision log in the same transaction (what,
why, by whom or which detector, when), and the leaderboards of the touched modalities are told
to recompute once it commits. A vote is never deleted; any decision can be undone."""
from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from arena.models import ExclusionDecision, Vote
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
        return prefixes is None or v.exclusion_reason.startswith(prefixes)

    with transaction.atomic():
        changed = [(v, True, "", detail) for v in _locked(votes) if eligible(v)]
        return _apply(changed, by_kind=by_kind, by=by)
