"""Reads: what the browser may see of a battle. Before the vote nothing here names a
competitor: positions are letters, media are random file names, errors are generic."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from arena.models import Battle, Competitor, Generation, Slot, Vote, Voter
from arena.services.exclusions import vote_as_seen_by_voter
from arena.services.render import markdown_html


def criteria_for(modality: str) -> list[str]:
    """The criteria a pairwise vote of this modality may judge separately (ARENA_CRITERIA_<MODALITY>)."""
    return list(settings.ARENA_CRITERIA_BY_MODALITY.get(modality, []))


def media_url(name: str) -> str:
    return reverse("arena:media", args=[name])


def generation_public(gen: Generation, *, letter: str, turn_index: int, battle_public_id: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"slot": letter, "turn": turn_index, "status": gen.status}
    if gen.status == Generation.DONE:
        out["text"] = gen.text
        out["html"] = markdown_html(gen.text) if gen.text else ""
        if gen.media_name:
            out["media"] = {"url": media_url(gen.media_name), "mime": gen.media_mime}
    elif gen.status == Generation.RUNNING:
        from arena.services import partials

        out["text"] = partials.read(partials.partial_key(battle_public_id, gen.pk))
    return out


def revealed(battle: Battle) -> bool:
    return not battle.anonymous or battle.status == Battle.VOTED


def competitor_public(c: Competitor) -> dict[str, str]:
    return {"model": c.name, "slug": c.slug, "organization": c.organization}


def battle_public_state(battle: Battle) -> dict[str, Any]:
    """What the battle page knows of a battle: every turn, and every slot's outputs by letter."""
    fresh = getattr(battle, "created_rows", None)  # a battle just created: its rows are at hand
    if fresh is not None:
        slots, gens, turn_rows = fresh
    else:
        slots = list(Slot.objects.filter(battle=battle).select_related("competitor").order_by("position"))
        gens = Generation.objects.filter(slot__battle=battle).select_related("turn").order_by("turn__index")
        turn_rows = battle.turns.select_related("prompt").order_by("index")
    by_slot: dict[int, list[dict[str, Any]]] = {s.pk: [] for s in slots}
    letters = {s.pk: s.letter for s in slots}
    for g in gens:
        by_slot[g.slot_id].append(
            generation_public(g, letter=letters[g.slot_id], turn_index=g.turn.index, battle_public_id=battle.public_id)
        )
    show_names = revealed(battle)
    turns = [{"index": t.index, "prompt": t.prompt.text} for t in turn_rows]
    state: dict[str, Any] = {
        "battle": battle.public_id,
        "mode": battle.mode,
        "k": battle.k,
        "anonymous": battle.anonymous,
        "modality": battle.modality,
        "status": battle.status,
        "turns": turns,
        "max_turns": settings.ARENA_MAX_TURNS,
        "can_continue": battle.modality == "text" and battle.status == Battle.READY and len(turns) < settings.ARENA_MAX_TURNS,
        "slots": [{"slot": s.letter, "outputs": by_slot[s.pk]} for s in slots],
        "criteria": criteria_for(battle.modality) if battle.mode == Battle.MODE_PAIRWISE else [],
        "min_listen_ms": settings.ARENA_MIN_LISTEN_MS if battle.modality in ("audio", "video") else 0,
    }
    if battle.status == Battle.VOID:
        from arena.services.generation import VOID_MESSAGE

        state["message"] = VOID_MESSAGE
    if show_names:
        for s, out in zip(slots, state["slots"]):
            out.update(competitor_public(s.competitor))
    return state


def reveal(battle: Battle) -> list[dict[str, str]]:
    # The rows vote_cast has just read (with their competitors), else from the database.
    slots = getattr(battle, "slot_rows", None) or Slot.objects.filter(battle=battle).select_related("competitor").order_by("position")
    return [{"slot": s.letter, **competitor_public(s.competitor)} for s in slots]


# ---- a voter's own page (/me/) ---------------------------------------------------------------------
REASON_TEXT = {
    "named_mode": "a named side-by-side battle: kept, never counted for a leaderboard",
    "identity_leak": "an answer gave away which model wrote it",
    "listen_unverified": "the listening times could not be verified",
    "void_battle": "the battle was void",
}


def vote_visible_status(vote: Vote) -> tuple[bool, str]:
    """(counted, why not) as the voter may see it."""
    if vote_as_seen_by_voter(vote)[0]:  # counted, or a shadow (fraud) exclusion the voter is not told of
        return True, ""
    why = REASON_TEXT.get(vote.exclusion_reason, vote.exclusion_reason.replace("_", " ") or "excluded")
    if vote.exclusion_detail and vote.exclusion_reason not in ("named_mode",):
        why = f"{why} ({vote.exclusion_detail})"
    return False, why


def voter_recent_votes(*, voters: list[Voter], limit: int = 50) -> list[dict[str, Any]]:
    """The voter's most recent voted battles, names revealed. Only battles with a vote: nothing
    about a battle still to be judged (its models, even its existence) is shown here."""
    if not voters:
        return []
    votes = (
        Vote.objects.filter(voter__in=voters, battle__status=Battle.VOTED)
        .select_related("battle", "battle__prompt")
        .order_by("-created", "-pk")[:limit]
    )
    votes = list(votes)
    slots: dict[int, list[Slot]] = {}
    for s in Slot.objects.filter(battle__in=[v.battle_id for v in votes]).select_related("competitor").order_by("position"):
        slots.setdefault(s.battle_id, []).append(s)
    out = []
    for v in votes:
        counted, why = vote_visible_status(v)
        models = []
        for s, place in zip(slots.get(v.battle_id, []), v.ranking):
            models.append({"slot": s.letter, **competitor_public(s.competitor), "place": place})
        if v.mode == Battle.MODE_PAIRWISE:
            choice = dict(Vote.OUTCOME_CHOICES).get(v.outcome, v.outcome)
        elif v.best_only:
            choice = "Best: " + ", ".join(m["slot"] for m in models if m["place"] == 1)
        else:
            choice = "Ranking: " + " ".join(f"{m['slot']}={m['place']}" for m in models)
        out.append({
            "battle": v.battle.public_id, "created": v.created, "modality": v.modality, "mode": v.mode,
            "anonymous": v.battle.anonymous, "prompt": v.battle.prompt.text, "models": models,
            "choice": choice, "counted": counted, "why_not": why,
        })
    return out
