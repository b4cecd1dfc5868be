"""Checks that decide whether a vote counts. A failed check never drops a vote: it is kept
with counted=False and the reason, so any decision can be undone and recomputed."""
from __future__ import annotations

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
