"""Starting a battle and continuing it for more turns."""
from __future__ import annotations

import random

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from arena.errors import BadRequest, Conflict, Forbidden, NotFound, Unavailable
from arena.models import MODALITY_CHOICES, PREGENERATED, Battle, Competitor, Generation, Prompt, Slot, Turn, Voter
from arena.services import matchmaking
from arena.services.generation import enqueue_turn
from arena.services.prompts import prompt_for_battle

MODALITIES = {m for m, _ in MODALITY_CHOICES}
_rng = random.SystemRandom()  # who meets whom, and in which order, must not be predictable


def _choose_k(mode: object, k: object) -> tuple[str, int]:
    if mode in (None, "", Battle.MODE_PAIRWISE):
        return Battle.MODE_PAIRWISE, 2
    if mode != Battle.MODE_KWISE:
        raise BadRequest("mode must be 'pairwise' or 'kwise'.")
    try:
        k = int(k if k not in (None, "") else settings.ARENA_K_DEFAULT)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadRequest("k must be a whole number.") from None
    if not settings.ARENA_K_MIN <= k <= settings.ARENA_K_MAX:
        raise BadRequest(f"A K-wise battle shows {settings.ARENA_K_MIN} to {settings.ARENA_K_MAX} models, not {k}.")
    return Battle.MODE_KWISE, k


def _can_answer(qs, prompt: Prompt):
    """Live models answer any prompt; pre-generated ones only prompts they have an output for."""
    return qs.filter(~Q(adapter=PREGENERATED) | Q(pregenerated__prompt=prompt)).distinct()


def _pick_blind(modality: str, k: int, prompt: Prompt) -> list[Competitor]:
    """The configured matchmaking policy draws among the active, healthy models that can answer
    (a sampling weight of 0 keeps a model out of blind battles)."""
    available = Competitor.objects.filter(modality=modality, active=True, healthy=True, sampling_weight__gt=0)
    pool = list(_can_answer(available, prompt).order_by("pk"))
    if len(pool) < k:
        roster = available.count()
        if roster < k:
            # Too few models at all: another prompt would not help.
            raise Unavailable(
                f"Only {roster} {modality} model{'s' if roster != 1 else ''} can battle right now; this battle needs {k}."
                + (f" Choose at most {roster} outputs." if k > 2 and roster >= settings.ARENA_K_MIN else "")
            )
        raise Unavailable(
            f"Only {len(pool)} {modality} models can answer this prompt right now; this battle needs {k}."
            + (" Try a random prompt." if prompt.source == Prompt.SOURCE_USER else "")
        )
    chosen = matchmaking.draw(modality=modality, pool=pool, k=k)
    _rng.shuffle(chosen)  # the letter a model gets says nothing about how it was drawn
    return chosen


def _pick_named(modality: str, slugs: object, prompt: Prompt) -> list[Competitor]:
    if not isinstance(slugs, list) or not all(isinstance(s, str) for s in slugs):
        raise BadRequest("Pick the models by name (a list).")
    if len(set(slugs)) != len(slugs):
        raise BadRequest("Pick each model only once.")
    if not 2 <= len(slugs) <= settings.ARENA_K_MAX:
        raise BadRequest(f"Pick 2 to {settings.ARENA_K_MAX} models.")
    found = {c.slug: c for c in Competitor.objects.filter(slug__in=slugs, modality=modality, active=True)}
    missing = [s for s in slugs if s not in found]
    if missing:
        raise BadRequest(f"Unknown or inactive {modality} model: {', '.join(missing)}.")
    able = set(_can_answer(Competitor.objects.filter(slug__in=slugs), prompt).values_list("slug", flat=True))
    unable = [found[s].name for s in slugs if s not in able]
    if unable:
        raise BadRequest(f"{', '.join(unable)} only answer prompts from their prompt set: draw a random prompt.")
    return [found[s] for s in slugs]  # side by side: the voter's own order


def battle_create(
    *,
    voter: Voter,
    modality: object,
    prompt_text: object,
    mode: object = Battle.MODE_PAIRWISE,
    k: object = None,
    prompt_id: object = None,
    named: object = None,
) -> Battle:
    """Start a battle: choose competitors, store battle, first turn, slots and generations, and
    queue the generations once the rows are committed."""
    if modality not in MODALITIES:
        raise BadRequest(f"Unknown modality {modality!r}; choose one of {', '.join(sorted(MODALITIES))}.")
    anonymous = named in (None, "", [])
    if anonymous:
        mode, k = _choose_k(mode, k)
    with transaction.atomic():
        prompt = prompt_for_battle(text=prompt_text, modality=modality, prompt_id=prompt_id)  # type: ignore[arg-type]
        competitors = _pick_blind(modality, k, prompt) if anonymous else _pick_named(modality, named, prompt)  # type: ignore[arg-type]
        if not anonymous:
            k = len(competitors)
            mode = Battle.MODE_PAIRWISE if k == 2 else Battle.MODE_KWISE
        battle = Battle.objects.create(
            mode=mode, k=k, anonymous=anonymous, modality=modality, voter=voter, prompt=prompt
        )
        turn = Turn.objects.create(battle=battle, index=0, prompt=prompt)
        slots = Slot.objects.bulk_create(
            [Slot(battle=battle, position=i, competitor=c) for i, c in enumerate(competitors)]
        )
        gens = Generation.objects.bulk_create([Generation(slot=s, turn=turn) for s in slots])
        Voter.objects.filter(pk=voter.pk).update(battles_count=F("battles_count") + 1)
        transaction.on_commit(lambda: enqueue_turn(turn_id=turn.pk, generations=gens))
    # The rows just written, for the state the voter gets back (arena.selectors): a burst of new
    # battles should not read back what it has just written.
    battle.created_rows = (slots, gens, [turn])
    from config.metrics import BATTLES, safely

    safely(lambda: BATTLES.labels(modality, mode).inc())
    return battle


def battle_continue(*, battle: Battle, voter: Voter, prompt_text: object) -> Turn:
    """Ask every slot one more question, as Chatbot Arena's multi-turn battles do."""
    with transaction.atomic():
        # Lock: a vote and a new turn arriving together must not both succeed.
        battle = Battle.objects.select_for_update().get(pk=battle.pk)
        if battle.voter_id != voter.pk:
            raise Forbidden("This battle belongs to another voter.")
        if battle.modality != "text":
            raise BadRequest("Only text battles can go on for more turns.")
        if battle.status == Battle.GENERATING:
            raise Conflict("Wait until every answer is complete before asking more.")
        if battle.status in (Battle.VOTED, Battle.VOID):
            raise Conflict("This battle is over; start a new round.")
        index = battle.turns.count()
        if index >= settings.ARENA_MAX_TURNS:
            raise Conflict(f"A battle has at most {settings.ARENA_MAX_TURNS} turns; please vote now.")
        first = battle.prompt
        prompt = prompt_for_battle(text=prompt_text, modality=battle.modality, category=first.category)
        turn = Turn.objects.create(battle=battle, index=index, prompt=prompt)
        Generation.objects.bulk_create([Generation(slot=s, turn=turn) for s in battle.slots.all()])
        battle.status = Battle.GENERATING
        battle.ready_at = None
        battle.n_turns = index + 1
        battle.save(update_fields=["status", "ready_at", "n_turns"])
        transaction.on_commit(lambda: enqueue_turn(turn_id=turn.pk))
    return turn


def battle_lookup(public_id: object) -> Battle | None:
    """The battle with its voter (one query; the request's voter is usually that one), or None."""
    return Battle.objects.select_related("voter").filter(public_id=public_id).first() if isinstance(public_id, str) else None


def battle_owned(battle: Battle | None, voter: Voter | None) -> Battle:
    """The battle, if it exists and is this voter's (404 / 403 otherwise)."""
    if battle is None:
        raise NotFound("No such battle.")
    if voter is None or battle.voter_id != voter.pk:
        raise Forbidden("This battle belongs to another voter.")
    return battle


def battle_for_voter(*, public_id: str, voter: Voter | None) -> Battle:
    return battle_owned(battle_lookup(public_id), voter)


