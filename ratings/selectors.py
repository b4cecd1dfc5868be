"""Reads for leaderboard pages and the JSON API: always the latest stored snapshot, never a fit
per request."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from ratings.models import BayesState, LeaderboardSnapshot


def snapshots(*, modality: str, category: str = "overall", method: str = "bt") -> QuerySet[LeaderboardSnapshot]:
    return LeaderboardSnapshot.objects.filter(modality=modality, category=category, method=method).order_by("-created", "-pk")


def leaderboard_latest(*, modality: str, category: str = "overall", method: str = "bt") -> LeaderboardSnapshot | None:
    return snapshots(modality=modality, category=category, method=method).first()


def categories_available(*, modality: str) -> list[str]:
    cats = set(LeaderboardSnapshot.objects.filter(modality=modality).values_list("category", flat=True).distinct())
    return sorted(cats, key=lambda c: (c != "overall", c))


def methods_available(*, modality: str, category: str) -> list[str]:
    return sorted(set(LeaderboardSnapshot.objects.filter(modality=modality, category=category).values_list("method", flat=True)))


def snapshot_json(snap: LeaderboardSnapshot, *, plots: bool = False) -> dict[str, Any]:
    floor = settings.RATINGS_PRELIMINARY_VOTES
    out: dict[str, Any] = {
        "snapshot": snap.pk,
        "modality": snap.modality,
        "category": snap.category,
        "method": snap.method,
        "params": snap.params,
        "votes": snap.vote_count,
        "fingerprint": {"count": snap.vote_count, "max_vote_id": snap.max_vote_id, "hash": snap.vote_hash},
        "created": snap.created.isoformat(),
        "code_version": snap.code_version,
        "duration_ms": snap.duration_ms,
        "models": [{**r, "preliminary": (r.get("votes") or 0) < floor} for r in snap.rows],
        "notes": (snap.extra or {}).get("notes", []),
    }
    for k in ("parts", "style_coefficients", "style_coefficient_intervals", "fragility"):
        if k in (snap.extra or {}):
            out[k] = snap.extra[k]
    tied: dict[str, list[str]] = {}
    for f in out.get("fragility", []):
        if f["tied"]:
            tied.setdefault(f["upper"], []).append(f["lower"])
            tied.setdefault(f["lower"], []).append(f["upper"])
    for r in out["models"]:
        r["tied_with"] = tied.get(r["model"], [])
    if plots:
        out["plots"] = snap.plots
    return out


def bayes_live(*, modality: str) -> dict[str, Any] | None:
    """The per-vote Bayesian leaderboard (moves between full fits)."""
    state = BayesState.objects.filter(modality=modality, category="overall").first()
    if state is None or not state.state:
        return None
    from ratings.engine import BayesRater
    from ratings.votesource import competitor_names

    names = competitor_names()
    rows = []
    for r in BayesRater.from_state(state.state).leaderboard().rows():
        name, org = names.get(r["model"], (r["model"], ""))
        rows.append({**r, "name": name, "organization": org})
    return {"modality": modality, "method": "bayes", "live": True, "last_vote_id": state.last_vote_id,
            "updated": state.updated.isoformat(), "models": rows}


def history(*, modality: str, category: str, method: str, limit: int = 200) -> list[dict[str, Any]]:
    """Snapshot history, oldest first: time, votes, duration, each model's rating."""
    snaps = list(snapshots(modality=modality, category=category, method=method)[:limit])[::-1]
    return [
        {"snapshot": s.pk, "created": s.created.isoformat(), "votes": s.vote_count, "duration_ms": s.duration_ms,
         "ratings": {r["model"]: round(r["rating"], 2) for r in s.rows}}
        for s in snaps
    ]
