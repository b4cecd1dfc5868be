"""Casting a vote: validated in full before anything is written, one per battle (a database
constraint), idempotent for a retried request, and then the names are revealed."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from arena.errors import BadRequest, Conflict, Forbidden, Unprocessable
from arena.models import LETTERS, Battle, Generation, Vote, Voter
from arena.selectors import criteria_for
from arena.services.integrity import battle_outputs, identity_leak, too_fast
from arena.signals import vote_committed

PAIRWISE_OUTCOMES = {"a": [1, 2], "b": [2, 1], "tie": [1, 1], "both_bad": [1, 1]}


@dataclass(frozen=True)
class Ballot:
    outcome: str
    ranking: list[int]
    best_only: bool


def competition_ranking(places: list[int]) -> list[int]:
    """Places as "1224": each is 1 + how many are strictly better (so ties share a place)."""
    return [1 + sum(q < p for q in places) for p in places]


def parse_ballot(*, battle: Battle, outcome: object = None, ranking: object = None, best: object = None) -> Ballot:
    k = battle.k
    if battle.mode == Battle.MODE_PAIRWISE:
        if outcome not in PAIRWISE_OUTCOMES:
            raise BadRequest("Choose one of: A is better, B is better, tie, both are bad.")
        return Ballot(outcome=str(outcome), ranking=list(PAIRWISE_OUTCOMES[outcome]), best_only=False)  # type: ignore[index]
    letters = list(LETTERS[:k])
    if best not in (None, ""):
        if best not in letters:
            raise BadRequest(f"The best output must be one of {', '.join(letters)}.")
        return Ballot(outcome="", ranking=[1 if ch == best else 2 for ch in letters], best_only=True)
    if not isinstance(ranking, list) or len(ranking) != k:
        raise BadRequest(f"Rank all {k} outputs ({', '.join(letters)}), or pick only the best.")
    if not all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= k for p in ranking):
        raise BadRequest(f"Each place must be a whole number from 1 to {k}.")
    return Ballot(outcome="", ranking=competition_ranking(ranking), best_only=False)


def _ms_to_dt(value: object, name: str) -> dt.datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1e14:
        raise BadRequest(f"{name} must be a time in milliseconds since 1970.")
    return dt.datetime.fromtimestamp(value / 1000, tz=dt.timezone.utc)


def _criteria(battle: Battle, criteria: object) -> dict[str, str]:
    if criteria in (None, "", {}):
        return {}
    if battle.mode != Battle.MODE_PAIRWISE or not isinstance(criteria, dict):
        raise BadRequest("Per-criterion votes are a mapping {criterion: a|b|tie|both_bad}, for pairwise battles.")
    known = criteria_for(battle.modality)
    unknown = [c for c in criteria if c not in known]
    if unknown:
        listed = ", ".join(known) if known else "none"
        raise BadRequest(f"Unknown criterion {unknown[0]!r} for {battle.modality} battles; known: {listed}.")
    bad = [c for c, v in criteria.items() if v not in PAIRWISE_OUTCOMES]
    if bad:
        raise BadRequest(f"Criterion {bad[0]!r}: choose a, b, tie or both_bad.")
    return {str(c): str(v) for c, v in criteria.items()}


def _listen_ms(battle: Battle, listen: object) -> dict[str, int]:
    if listen in (None, "", {}):
        return {}
    letters = LETTERS[: battle.k]
    if not isinstance(listen, dict) or not all(
        k in letters and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1e9 for k, v in listen.items()
    ):
        raise BadRequest(f"listen_ms must map output letters ({', '.join(letters)}) to milliseconds.")
    return {k: int(v) for k, v in listen.items()}


# A full play of a clip measured in the browser can fall a little short of the file's duration
# (the first frame starts the clock late); and the browser's clock and ours differ by a request.
FULL_PLAY_TOLERANCE_MS = 300
CLOCK_SLACK_MS = 1500


def _clips(battle: Battle) -> dict[str, Generation]:
    """The audio/video output of each slot (their battles have one turn)."""
    gens = Generation.objects.filter(slot__battle=battle, turn__index=0).select_related("slot")
    return {g.slot.letter: g for g in gens}


def required_listen_ms(need: int, gen: Generation | None) -> int:
    """The minimum, or one full play of a clip shorter than the minimum."""
    duration = (gen.meta or {}).get("duration_s") if gen is not None else None
    if isinstance(duration, (int, float)) and duration > 0:
        return int(min(need, max(0, duration * 1000 - FULL_PLAY_TOLERANCE_MS)))
    return need


def _check_listened(battle: Battle, listen: dict[str, int], clips: dict[str, Generation]) -> None:
    """A music or video verdict needs each clip heard for a while (the page enforces it too).
    Claiming less than that is plainly an incomplete vote: refused, nothing written."""
    need = settings.ARENA_MIN_LISTEN_MS
    if battle.modality not in ("audio", "video") or need <= 0:
        return
    short = [ch for ch in LETTERS[: battle.k] if listen.get(ch, 0) < required_listen_ms(need, clips.get(ch))]
    if short:
        verb = "Watch" if battle.modality == "video" else "Listen to"
        raise BadRequest(
            f"{verb} each clip for at least {need / 1000:g} s (or to its end, if shorter) before voting "
            f"(not yet: {', '.join(short)})."
        )


def _listen_unverified(battle: Battle, listen: dict[str, int], clips: dict[str, Generation], now: dt.datetime) -> str:
    """Why the claimed listening times cannot be true ("" when they can). A clip can only have
    played after this voter's browser fetched it, and only once it was generated: its claimed
    time must fit between that moment (for the last clip to finish: the battle becoming ready)
    and the vote. A clip never fetched cannot have been heard at all. Such a vote is kept, not
    counted: the claim comes from the client, the server's own records decide."""
    if battle.modality not in ("audio", "video") or not listen:
        return ""
    for letter in sorted(listen):
        claimed = listen[letter]
        if claimed <= 0:
            continue
        gen = clips.get(letter)
        if gen is None or gen.fetch_count == 0 or gen.first_fetched_at is None:
            return f"clip {letter} was never loaded, yet {claimed} ms of it were reported"
        since = max(t for t in (gen.first_fetched_at, gen.finished_at) if t is not None)
        elapsed = (now - since).total_seconds() * 1000
        if claimed > elapsed + CLOCK_SLACK_MS:
            return f"clip {letter}: {claimed} ms reported only {max(elapsed, 0) / 1000:.1f} s after it was loaded"
    return ""


def vote_cast(
    *,
    battle: Battle,
    voter: Voter,
    data: dict[str, Any],
    network_hash: str = "",
) -> tuple[Vote, bool]:
    """Store the vote. Returns (vote, created); a retry with the same idempotency key returns
    the stored vote with created=False instead of an error."""
    if battle.voter_id != voter.pk:
        raise Forbidden("This battle belongs to another voter.")
    ballot = parse_ballot(battle=battle, outcome=data.get("outcome"), ranking=data.get("ranking"), best=data.get("best"))
    criteria = _criteria(battle, data.get("criteria"))
    feedback = data.get("feedback") or ""
    if not isinstance(feedback, str) or len(feedback) > settings.ARENA_FEEDBACK_MAX_CHARS:
        raise BadRequest(f"Feedback must be text of at most {settings.ARENA_FEEDBACK_MAX_CHARS} characters.")
    timings = data.get("timings") or {}
    if not isinstance(timings, dict):
        raise BadRequest("timings must be an object.")
    shown = _ms_to_dt(timings.get("shown_at"), "timings.shown_at")
    first = _ms_to_dt(timings.get("first_interaction_at"), "timings.first_interaction_at")
    voted = _ms_to_dt(timings.get("voted_at"), "timings.voted_at")
    listen = _listen_ms(battle, data.get("listen_ms"))
    clips = _clips(battle) if battle.modality in ("audio", "video") else {}
    _check_listened(battle, listen, clips)
    key = data.get("idempotency_key") or ""
    if not isinstance(key, str) or len(key) > 64:
        raise BadRequest("idempotency_key must be a string of at most 64 characters.")

    with transaction.atomic():
        # Lock the battle row: concurrent votes (double clicks, many tabs, a script) queue here,
        # and the unique constraint on Vote.battle is the last word if anything slips through.
        # The voter row is locked in the same statement, as the integrity audit locks it, so a
        # vote cast while the audit excludes this voter is either excluded by it or sees the
        # flag (arena.services.exclusions).
        locked = (
            Battle.objects.select_for_update(of=("self", "voter"))
            .select_related("prompt", "voter")
            .get(pk=battle.pk)
        )
        # Only vote_cast makes a battle VOTED, in the transaction that stores its vote: a READY
        # battle has none (a vote that raced us waited on the lock above and left it VOTED).
        existing = Vote.objects.filter(battle=locked).first() if locked.status != Battle.READY else None
        if existing is not None:
            if key and existing.idempotency_key == key:
                replay = {"outcome": ballot.outcome, "ranking": ballot.ranking, "best_only": ballot.best_only,
                          "criteria": criteria, "feedback": feedback.strip(), "listen_ms": listen,
                          "client_shown_at": shown, "client_first_interaction_at": first, "client_voted_at": voted}
                if any(getattr(existing, f) != v for f, v in replay.items()):
                    raise Unprocessable("This idempotency_key was already used for a different vote on this battle.")
                return existing, False
            raise Conflict("You already voted on this battle. Start a new round.")
        if locked.status == Battle.VOID:
            raise Conflict("This battle is void (a model failed to answer); it cannot be judged. Start a new round.")
        if locked.status == Battle.GENERATING:
            raise Conflict("Wait until every answer is complete, then vote.")
        counted, reason, detail = True, "", ""
        shadow = locked.voter.shadow_reason
        if not locked.anonymous:
            counted, reason, detail = False, Vote.EXCL_NAMED, "named side-by-side battle"
        else:
            outputs = battle_outputs(locked)  # one read for the leak and the dwell checks
            leak = identity_leak(locked, outputs)
            unheard = _listen_unverified(locked, listen, _clips(locked) if clips else {}, timezone.now())
            fast = None if leak or unheard else too_fast(locked, now=timezone.now(), outputs=outputs)
            if leak:
                counted, reason, detail = False, Vote.EXCL_IDENTITY_LEAK, leak
            elif unheard:
                counted, reason, detail = False, Vote.EXCL_LISTEN, unheard
            elif fast:
                # Kept, not counted: faster than anyone can read the outputs.
                counted, reason, detail = False, Vote.EXCL_TOO_FAST, fast
            elif settings.ARENA_COUNT_REQUIRES_LOGIN and locked.voter.user_id is None:
                counted, reason, detail = False, Vote.EXCL_LOGIN_REQUIRED, "only votes of signed-in voters count"
            elif shadow:  # shadow exclusion: kept, not counted, and the voter is not told
                counted, reason, detail = False, shadow, "voter flagged by the integrity audit"
        # The slots with their competitors: the vote's model columns now, the reveal afterwards
        # (arena.selectors.reveal), one query for both.
        slot_rows = list(locked.slots.select_related("competitor").order_by("position"))
        slots = [s.competitor_id for s in slot_rows]
        pairwise = locked.mode == Battle.MODE_PAIRWISE
        try:
            # No savepoint: the battle row is locked and no vote was found, so the unique
            # constraint fails only if something else wrote one; then this transaction is
            # rolled back as a whole (the Conflict leaves the atomic block).
            vote = Vote.objects.create(
                battle=locked,
                modality=locked.modality,
                mode=locked.mode,
                category=locked.prompt.category,
                language=locked.prompt.language,
                n_turns=locked.n_turns,
                model_a_id=slots[0] if pairwise else None,
                model_b_id=slots[1] if pairwise else None,
                voter=voter,
                outcome=ballot.outcome,
                ranking=ballot.ranking,
                best_only=ballot.best_only,
                criteria=criteria,
                feedback=feedback.strip(),
                client_shown_at=shown,
                client_first_interaction_at=first,
                client_voted_at=voted,
                listen_ms=listen,
                network_hash=network_hash,
                idempotency_key=key,
                counted=counted,
                exclusion_reason=reason,
                exclusion_detail=detail,
            )
        except IntegrityError:
            raise Conflict("You already voted on this battle. Start a new round.") from None
        locked.status = Battle.VOTED
        locked.save(update_fields=["status"])
        Voter.objects.filter(pk=voter.pk).update(votes_count=F("votes_count") + 1, last_seen=timezone.now())
        transaction.on_commit(lambda: vote_committed.send(sender=Vote, vote=vote))
    battle.status = Battle.VOTED
    battle.slot_rows = slot_rows  # type: ignore[attr-defined]
    from config.metrics import VOTES, safely

    safely(lambda: VOTES.labels(vote.modality, vote.mode, str(vote.counted).lower()).inc())
    return vote, True
