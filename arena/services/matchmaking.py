"""Live matchmaking: every blind battle draws its models from the configured policy
(``ARENA_MATCHMAKING``: active | ksort-ucb | uniform; ratings.engine.matchmaking).

Each process keeps one policy per modality, built from the counted votes and kept current as votes
land: before a draw it absorbs the counted votes it has not seen yet (one indexed query on
``Vote.id``; nothing is fitted per request, a vote costs the policy a Newton step). Votes commit
out of id order, so the query looks back over the last ``_LOOKBACK`` ids and skips those already
absorbed; every ``ARENA_MATCHMAKING_REBUILD_S`` seconds the state is rebuilt from all counted
votes in a background thread (draws go on from the current state meanwhile), so that exclusions
and undos reach it. Several web processes each keep their own copy; they
read the same votes, so they agree up to the votes of the last moments.

Guard rails (settings): a floor (a share of battles drawn uniformly), a cap on each model's recent
share, a boost for new models until placed. Unhealthy and inactive models are left out, and models
that cannot answer the prompt (pre-generated sets); the slot order is shuffled by the caller.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable, Iterator
from itertools import islice

from django.conf import settings
from django.db.models import Count, Q, Sum

from ratings.engine.matchmaking import Policy, make_policy

_LOOKBACK = 500  # ids below the highest seen that may still commit (transactions in flight)
_BATCH = 5000
logger = logging.getLogger(__name__)
_sysrandom = random.SystemRandom()  # who meets whom must not be predictable


def policy_options() -> dict:
    return {"floor": settings.ARENA_MATCHMAKING_FLOOR, "cap": settings.ARENA_MATCHMAKING_CAP,
            "boost": settings.ARENA_MATCHMAKING_BOOST}


def _counted(modality: str, before=None, only: Q | None = None):
    from arena.models import Vote

    qs = Vote.objects.filter(modality=modality, counted=True, weight__gt=0, battle__anonymous=True)
    if before is not None:
        qs = qs.filter(created__lt=before)
    if only is not None:
        qs = qs.filter(only)
    return qs


def _kwise_rows(qs) -> Iterator[tuple[list[str], list[int], float]]:
    """(models by slot position, ranking, weight) for each vote in qs (batched slot reads)."""
    from arena.models import Slot

    rows = qs.values_list("battle_id", "ranking", "weight").iterator(chunk_size=_BATCH)
    while chunk := list(islice(rows, _BATCH)):
        slugs: dict[int, dict[int, str]] = {}
        for battle_id, pos, slug in Slot.objects.filter(battle_id__in=[r[0] for r in chunk]).values_list(
                "battle_id", "position", "competitor__slug"):
            slugs.setdefault(battle_id, {})[pos] = slug
        for battle_id, ranking, weight in chunk:
            models = [slugs.get(battle_id, {}).get(p) for p in range(len(ranking or []))]
            if len(models) >= 2 and None not in models and len(set(models)) == len(models):
                yield models, [int(r) for r in ranking], float(weight)


def stored_votes(modality: str, before=None, only: Q | None = None) -> Iterator[tuple[list[str], list[int], float]]:
    """Every counted blind vote of a modality (created before `before`, if given): pairwise votes
    aggregated in SQL into (a, b, outcome) cells, K-wise votes one by one."""
    from arena.models import Battle

    pairs = (_counted(modality, before, only).filter(mode=Battle.MODE_PAIRWISE)
             .values("model_a__slug", "model_b__slug", "ranking").annotate(n=Count("id"), w=Sum("weight")).order_by())
    for cell in pairs:
        a, b, ranking = cell["model_a__slug"], cell["model_b__slug"], cell["ranking"]
        if a and b and a != b and isinstance(ranking, list) and len(ranking) == 2:
            yield [a, b], [int(r) for r in ranking], float(cell["w"]), int(cell["n"])
    yield from _kwise_rows(_counted(modality, before, only).filter(mode=Battle.MODE_KWISE))


def build_policy(modality: str, *, name: str | None = None, before=None, only: Q | None = None,
                 seed: int | None = None) -> Policy:
    """A policy for a modality from its stored counted votes (created before `before`, matching
    `only`, if given) and its competitors."""
    from arena.models import Competitor

    name = name or settings.ARENA_MATCHMAKING
    rng = random.Random(seed) if seed is not None else _sysrandom
    roster = list(Competitor.objects.filter(modality=modality).order_by("pk").values_list("slug", "active", "healthy"))
    policy = make_policy(name, [s for s, _, _ in roster], k=2, seed=None, rng=rng, **policy_options())
    policy.observe_many(stored_votes(modality, before, only))
    for slug, active, healthy in roster:
        if not (active and healthy):
            policy.remove(slug)
    return policy


class _Live:
    def __init__(self, modality: str) -> None:
        self.modality = modality
        self.lock = threading.Lock()
        self.policy: Policy | None = None
        self.name = ""
        self.built = 0.0
        self.top = 0             # highest vote id absorbed
        self.recent: set[int] = set()  # absorbed ids above top - _LOOKBACK
        self.rebuilding = False

    def _build(self) -> tuple[Policy, str, float, int, set[int]]:
        """A state from every counted vote up to the highest id now: exactly those below the
        look-back window, and those in it that are committed now (the ids it then remembers), so
        that the next draws absorb each vote of the window once, whenever it commits."""
        from arena.models import Vote

        name, started = settings.ARENA_MATCHMAKING, time.monotonic()
        top = Vote.objects.order_by("-id").values_list("id", flat=True).first() or 0
        floor = top - _LOOKBACK
        recent = set(_counted(self.modality).filter(id__gt=floor).values_list("id", flat=True))
        policy = build_policy(self.modality, name=name, only=Q(id__lte=floor) | Q(id__in=recent))
        return policy, name, started, max(top, max(recent, default=0)), recent

    def _rebuild_in_background(self) -> None:
        """Rebuild from all counted votes in a thread; draws go on from the current state meanwhile,
        and the new one takes over (then catches up on the votes since, as usual)."""
        from django.db import connection

        def work() -> None:
            try:
                built = self._build()
                with self.lock:
                    self.policy, self.name, self.built, self.top, self.recent = built
            except Exception:  # the current state stays; the next draw tries again
                logger.exception("matchmaking rebuild failed for %s", self.modality)
            finally:
                self.rebuilding = False
                connection.close()  # this thread's own database connection

        self.rebuilding = True
        threading.Thread(target=work, name=f"matchmaking-{self.modality}", daemon=True).start()

    def current(self) -> Policy:
        """The policy with every counted vote so far (caller holds the lock)."""
        if self.policy is None or self.name != settings.ARENA_MATCHMAKING:
            self.policy, self.name, self.built, self.top, self.recent = self._build()
        elif time.monotonic() - self.built > settings.ARENA_MATCHMAKING_REBUILD_S and not self.rebuilding:
            self._rebuild_in_background()
        fresh = _counted(self.modality).filter(id__gt=max(0, self.top - _LOOKBACK)).exclude(id__in=self.recent)
        ids = list(fresh.order_by("id").values_list("id", flat=True)[:_BATCH])
        if ids:
            self.policy.observe_many(self._rows(ids))
            self.recent.update(ids)
            self.top = max(self.top, ids[-1])
            self.recent = {i for i in self.recent if i > self.top - _LOOKBACK}
        return self.policy

    @staticmethod
    def _rows(ids: list[int]) -> Iterable[tuple[list[str], list[int], float]]:
        from arena.models import Vote

        return _kwise_rows(Vote.objects.filter(id__in=ids).order_by("id"))


_live: dict[str, _Live] = {}
_live_lock = threading.Lock()


def _state(modality: str) -> _Live:
    with _live_lock:
        if modality not in _live:
            _live[modality] = _Live(modality)
        return _live[modality]


def draw(*, modality: str, pool: list, k: int) -> list:
    """k distinct competitors from `pool` (those able to play now) for a blind battle."""
    live = _state(modality)
    by_slug = {c.slug: c for c in pool}
    with live.lock:
        policy = live.current()
        for slug in by_slug:
            if slug not in policy.index or not policy.available[policy.index[slug]]:
                policy.add(slug)
        chosen = policy.propose(k=k, among=by_slug)
    return [by_slug[s] for s in chosen]


def reset() -> None:
    """Forget every process-local state (tests; a settings change)."""
    with _live_lock:
        _live.clear()
