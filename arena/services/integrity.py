"""Checks that decide whether a vote counts. A failed check never drops a vote: it is kept
with counted=False and the reason, so any decision can be undone and recomputed."""
from __future__ import annotations

import datetime as dt

from django.conf import settings

from arena.models import Battle, Competitor, Generation, identity_pattern


def identity_leak(battle: Battle) -> str | None:
    """Does any output of the battle name a competitor (any registered one, not only those in
    this battle: "I am Aurora" reveals the slot even when Aurora is elsewhere)? Returns a
    description of the first mention, or None."""
    terms: list[str] = []
    for c in Competitor.objects.all().only("name", "slug", "organization", "identity_words"):
        terms += c.identity_terms()
    pattern = identity_pattern(terms)
    if pattern is None:
        return None
    gens = Generation.objects.filter(slot__battle=battle).select_related("slot", "turn").order_by("turn__index", "slot__position")
    for g in gens:
        m = pattern.search(g.text or "")
        if m:
            return f"output {g.slot.letter} (turn {g.turn.index + 1}) mentions {m.group(0)!r}"
    return None


def reading_time_ms(battle: Battle) -> tuple[float, dt.datetime | None]:
    """(the least time a person needs to read the outputs of the battle's latest turn, in ms;
    when they began to appear). Voters read while outputs stream, so the clock starts at the
    first output's first token (or its completion, for media), else when the battle was ready."""
    gens = list(
        Generation.objects.filter(slot__battle=battle, turn__index=battle.n_turns - 1).values_list(
            "text", "first_token_at", "finished_at"
        )
    )
    chars = sum(len(text or "") for text, _, _ in gens)
    starts = [t for _, first, done in gens for t in (first or done,) if t is not None]
    rate = settings.ARENA_READ_CHARS_PER_S
    need = settings.ARENA_MIN_DWELL_MS + (1000.0 * chars / rate if rate > 0 else 0.0)
    return need, min(starts) if starts else battle.ready_at


def too_fast(battle: Battle, *, now: dt.datetime) -> str | None:
    """Was the vote cast sooner than a person can read the outputs? Returns why, or None."""
    if settings.ARENA_MIN_DWELL_MS <= 0:  # the check is off
        return None
    need, since = reading_time_ms(battle)
    if since is None:
        return None
    took = (now - since).total_seconds() * 1000.0
    if took >= need:
        return None
    return f"voted {took / 1000:.1f} s after the outputs appeared; reading them takes at least {need / 1000:.1f} s"
