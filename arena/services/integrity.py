"""Checks that decide whether a vote counts. A failed check never drops a vote: it is kept
with counted=False and the reason, so any decision can be undone and recomputed."""
from __future__ import annotations

import datetime as dt
import functools
import re

from django.conf import settings

from arena.models import LETTERS, Battle, Competitor, Generation, identity_pattern, identity_terms

# (turn index, slot position, text, first_token_at, finished_at) of one output of a battle.
Output = tuple[int, int, str, "dt.datetime | None", "dt.datetime | None"]


def battle_outputs(battle: Battle) -> list[Output]:
    """Every output of the battle, in turn and slot order: the one read both checks below share
    (a vote runs both)."""
    return list(
        Generation.objects.filter(slot__battle=battle)
        .order_by("turn__index", "slot__position")
        .values_list("turn__index", "slot__position", "text", "first_token_at", "finished_at")
    )


@functools.lru_cache(maxsize=4)
def _roster_pattern(roster: tuple[tuple[str, str, str, tuple], ...]) -> re.Pattern[str] | None:
    return identity_pattern([t for row in roster for t in identity_terms(*row)])


def roster_identity_pattern() -> re.Pattern[str] | None:
    """The pattern of every registered competitor's identity terms. The roster is read on every
    call (a model added a second ago counts); the pattern is compiled once per distinct roster."""
    rows = Competitor.objects.order_by("pk").values_list("name", "slug", "organization", "identity_words")
    return _roster_pattern(tuple((n, s, o, tuple(w) if isinstance(w, (list, dict)) else w) for n, s, o, w in rows))


def identity_leak(battle: Battle, outputs: list[Output] | None = None) -> str | None:
    """Does any output of the battle name a competitor (any registered one, not only those in
    this battle: "I am Aurora" reveals the slot even when Aurora is elsewhere)? Returns a
    description of the first mention, or None. `outputs`: battle_outputs(battle), if read."""
    pattern = roster_identity_pattern()
    if pattern is None:
        return None
    for turn, position, text, _, _ in battle_outputs(battle) if outputs is None else outputs:
        m = pattern.search(text or "")
        if m:
            return f"output {LETTERS[position]} (turn {turn + 1}) mentions {m.group(0)!r}"
    return None


def reading_time_ms(battle: Battle, outputs: list[Output] | None = None) -> tuple[float, dt.datetime | None]:
    """(the least time a person needs to read the outputs of the battle's latest turn, in ms;
    when they began to appear). Voters read while outputs stream, so the clock starts at the
    first output's first token (or its completion, for media), else when the battle was ready."""
    latest = battle.n_turns - 1
    gens = [(text, first, done) for turn, _, text, first, done in (battle_outputs(battle) if outputs is None else outputs)
            if turn == latest]
    chars = sum(len(text or "") for text, _, _ in gens)
    starts = [t for _, first, done in gens for t in (first or done,) if t is not None]
    rate = settings.ARENA_READ_CHARS_PER_S
    need = settings.ARENA_MIN_DWELL_MS + (1000.0 * chars / rate if rate > 0 else 0.0)
    return need, min(starts) if starts else battle.ready_at


def too_fast(battle: Battle, *, now: dt.datetime, outputs: list[Output] | None = None) -> str | None:
    """Was the vote cast sooner than a person can read the outputs? Returns why, or None."""
    if settings.ARENA_MIN_DWELL_MS <= 0:  # the check is off
        return None
    need, since = reading_time_ms(battle, outputs)
    if since is None:
        return None
    took = (now - since).total_seconds() * 1000.0
    if took >= need:
        return None
    return f"voted {took / 1000:.1f} s after the outputs appeared; reading them takes at least {need / 1000:.1f} s"
