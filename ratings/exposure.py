"""Exposure: how often each model is shown in blind battles, and how the next battle's models are
drawn.

Public figures (the leaderboard's "How models are sampled" and /api/exposure/) come only from data
at least a day old and are rounded: they are the same all day, so that nothing a voter can read
changes when their own battle is created (a live count read before and after creating a battle
would name its models). The sampling probabilities come from the policy as it stood at the same
cut-off (built from the counted votes cast before it), drawn many times with a seed fixed by the
day: they say nothing about any battle after the cut-off. The staff dashboard keeps live, exact
counts (``exposure_live``).
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Q
from django.utils import timezone

from arena.models import Battle, Competitor, Slot

EXPOSURE_DAYS = 7
PROBABILITY_DRAWS = 2000
COUNT_ROUNDING = 10  # public battle counts are rounded to this


def cutoff(now: dt.datetime | None = None) -> dt.datetime:
    """The latest moment public figures may include: midnight UTC at least 24 hours ago."""
    now = now or timezone.now()
    day = (now - dt.timedelta(days=1)).astimezone(dt.timezone.utc).date()
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def _appearances(modality: str, since: dt.datetime | None, until: dt.datetime | None) -> tuple[dict[str, int], int]:
    """Blind battles each model appeared in (and all blind battles) created in [since, until)."""
    window = Q()
    if since is not None:
        window &= Q(battle__created__gte=since)
    if until is not None:
        window &= Q(battle__created__lt=until)
    seen = dict(Slot.objects.filter(window, battle__modality=modality, battle__anonymous=True)
                .values("competitor__slug").annotate(n=Count("battle_id", distinct=True)).order_by()
                .values_list("competitor__slug", "n"))
    battles = Battle.objects.filter(modality=modality, anonymous=True)
    if since is not None:
        battles = battles.filter(created__gte=since)
    if until is not None:
        battles = battles.filter(created__lt=until)
    return seen, battles.count()


def _round_count(n: int) -> int:
    return int(round(n / COUNT_ROUNDING)) * COUNT_ROUNDING


def _pct(x: float) -> float:
    """A share rounded to whole percent (as a fraction)."""
    return round(100.0 * x) / 100.0


def policy_words(name: str) -> dict[str, Any]:
    """The policy and its parameters, in words, for the public page."""
    floor, cap, boost = settings.ARENA_MATCHMAKING_FLOOR, settings.ARENA_MATCHMAKING_CAP, settings.ARENA_MATCHMAKING_BOOST
    how = {
        "active": ("Active sampling: the models whose order on the leaderboard is still the most uncertain meet "
                   "more often (expected information about the ranking, from a Bradley-Terry posterior of the "
                   "counted votes). A new model is tried against opponents near its current estimate until placed."),
        "ksort-ucb": ("K-Sort Arena's rule: the least-compared model meets the models closest to it in skill, with a "
                      "bonus for pairs rarely compared."),
        "uniform": "Uniform: every set of available models is equally likely.",
    }.get(name, name)
    rails = [
        f"{round(100 * floor)}% of battles are drawn uniformly at random, so every available model appears in at "
        f"least {round(100 * floor)}% of its uniform share of battles.",
        f"No model appears in more than {cap:g} times its uniform share.",
        f"A new model is put in {round(100 * boost)}% of battles until placed.",
        "Only active, healthy models that can answer the prompt are drawn; the left/right order is random.",
    ]
    return {"policy": name, "description": how, "guard_rails": rails,
            "parameters": {"floor": floor, "cap": cap, "boost": boost}}


def _probabilities(modality: str, until: dt.datetime, eligible: list[str]) -> dict[str, float]:
    """Each eligible model's chance to be in a blind pairwise battle, under the policy as it stood
    at `until` (votes before it only), estimated from a fixed-seed set of draws."""
    from arena.services.matchmaking import build_policy

    if len(eligible) < 2:
        return {}
    seed = int(hashlib.sha256(f"{modality}:{until.isoformat()}".encode()).hexdigest()[:12], 16)
    policy = build_policy(modality, before=until, seed=seed)
    for slug in eligible:
        policy.add(slug)
    return policy.probabilities(k=2, draws=PROBABILITY_DRAWS, among=eligible, seed=seed)


def exposure(modality: str, *, days: int = EXPOSURE_DAYS, now: dt.datetime | None = None) -> dict[str, Any]:
    """The public exposure figures (see the module docstring), cached for the day."""
    until = cutoff(now)
    comps = list(Competitor.objects.filter(modality=modality).order_by("name")
                 .values("slug", "name", "organization", "active", "healthy", "sampling_weight"))
    roster = "|".join(f"{c['slug']}:{c['active']:d}{c['healthy']:d}{c['sampling_weight'] > 0:d}" for c in comps)
    key = "exposure:" + hashlib.sha256(
        f"{modality}:{days}:{until.isoformat()}:{roster}:{settings.ARENA_MATCHMAKING}:"
        f"{settings.ARENA_MATCHMAKING_FLOOR}:{settings.ARENA_MATCHMAKING_CAP}:{settings.ARENA_MATCHMAKING_BOOST}"
        .encode()).hexdigest()
    hit = cache.get(key)
    if hit is not None:
        return hit
    eligible = [c["slug"] for c in comps if c["active"] and c["healthy"] and c["sampling_weight"] > 0]
    probs = _probabilities(modality, until, eligible)
    seen_all, battles_all = _appearances(modality, None, until)
    seen_recent, battles_recent = _appearances(modality, until - dt.timedelta(days=days), until)
    slots_all, slots_recent = sum(seen_all.values()), sum(seen_recent.values())
    window = f"last_{days}_days"
    total_prob = sum(probs.values()) or 1.0
    models = []
    for c in comps:
        a, r = seen_all.get(c["slug"], 0), seen_recent.get(c["slug"], 0)
        p = probs.get(c["slug"], 0.0)
        models.append({
            "model": c["slug"], "name": c["name"], "organization": c["organization"],
            "active": c["active"], "healthy": c["healthy"],
            "sampling_probability": _pct(p),      # chance to be in the next blind pairwise battle
            "weight_share": _pct(p / total_prob),  # share of the next battles' model appearances
            "all_time": {"battles": _round_count(a), "share": _pct(a / slots_all) if slots_all else 0.0},
            window: {"battles": _round_count(r), "share": _pct(r / slots_recent) if slots_recent else 0.0},
        })
    out = {
        "modality": modality,
        "as_of": until.isoformat(),
        "window_days": days,
        "scope": (f"blind battles created before {until:%Y-%m-%d %H:%M} UTC (data at least a day old); share = the "
                  f"model's appearances / all model appearances; battle counts rounded to the nearest "
                  f"{COUNT_ROUNDING}, shares and probabilities to whole percent"),
        **policy_words(settings.ARENA_MATCHMAKING),
        "battles": {"all_time": _round_count(battles_all), window: _round_count(battles_recent)},
        "models": models,
    }
    cache.set(key, out, 3600)
    return out


def exposure_live(modality: str, *, days: int = EXPOSURE_DAYS) -> dict[str, Any]:
    """Staff only: exact, live counts per competitor (blind battles over all time and the last
    `days` days), the sampling weight (0 = never in blind battles) and the public sampling share."""
    since = timezone.now() - dt.timedelta(days=days)
    comps = list(Competitor.objects.filter(modality=modality).order_by("name")
                 .values("slug", "name", "organization", "active", "healthy", "sampling_weight"))
    eligible = [c for c in comps if c["active"] and c["healthy"] and c["sampling_weight"] > 0]
    seen_all, battles_all = _appearances(modality, None, None)
    seen_recent, battles_recent = _appearances(modality, since, None)
    slots_all, slots_recent = sum(seen_all.values()), sum(seen_recent.values())
    window = f"last_{days}_days"
    public = {m["model"]: m for m in exposure(modality, days=days)["models"]}
    models = []
    for c in comps:
        a, r = seen_all.get(c["slug"], 0), seen_recent.get(c["slug"], 0)
        models.append({
            "model": c["slug"], "name": c["name"], "organization": c["organization"],
            "active": c["active"], "healthy": c["healthy"], "sampling_weight": c["sampling_weight"],
            "eligible": c in eligible, "weight_share": public.get(c["slug"], {}).get("weight_share", 0.0),
            "all_time": {"battles": a, "share": a / slots_all if slots_all else 0.0},
            window: {"battles": r, "share": r / slots_recent if slots_recent else 0.0},
        })
    return {"modality": modality, "window_days": days, "policy": settings.ARENA_MATCHMAKING,
            "battles": {"all_time": battles_all, window: battles_recent}, "models": models}
