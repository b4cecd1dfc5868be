"""The staff dashboard (/staff/): votes per day, exposure per model, excluded votes by reason and
the recompute history with what each recompute changed. Reads only; aggregated in SQL."""
from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from django.contrib.admin.views.decorators import staff_member_required
from django.db.models import Count, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from arena.models import MODALITY_CHOICES, Vote
from ratings.models import LeaderboardSnapshot

DAYS = 30
HISTORY = 40


def votes_per_day(days: int = DAYS) -> list[dict[str, Any]]:
    """[{day, counted, excluded}] for the last `days` days (days without votes included, as 0)."""
    today = timezone.localdate()
    start = today - dt.timedelta(days=days - 1)
    rows = (
        Vote.objects.filter(created__date__gte=start)
        .annotate(day=TruncDate("created"))
        .values("day")
        .annotate(n_counted=Count("id", filter=Q(counted=True)), n_excluded=Count("id", filter=Q(counted=False)))
        .order_by("day")
    )
    by_day = {r["day"]: r for r in rows}
    out = []
    for k in range(days):
        day = start + dt.timedelta(days=k)
        r = by_day.get(day, {})
        out.append({"day": day.isoformat(), "counted": r.get("n_counted", 0), "excluded": r.get("n_excluded", 0)})
    return out


def exclusions() -> list[dict[str, Any]]:
    """Excluded (not counted) votes by reason, most frequent first, with the admin changelist link."""
    changelist = reverse("admin:arena_vote_changelist")
    rows = Vote.objects.filter(counted=False).values("exclusion_reason").annotate(n=Count("id")).order_by("-n", "exclusion_reason")
    return [
        {"reason": r["exclusion_reason"] or "(no reason given)", "count": r["n"],
         "url": changelist + "?" + urlencode({"counted__exact": "0", "exclusion_reason": r["exclusion_reason"]})}
        for r in rows
    ]


def snapshot_diff(cur: list[dict[str, Any]], prev: list[dict[str, Any]] | None) -> dict[str, Any] | None:
    """What changed from the previous snapshot of the same leaderboard: models whose rank moved
    (old -> new), models new to it, and the largest rating move."""
    if prev is None:
        return None
    before = {r["model"]: r for r in prev}
    rank_changes, new, biggest = [], [], None
    for r in cur:
        p = before.get(r["model"])
        if p is None:
            new.append(r["model"])
            continue
        if p.get("rank") != r.get("rank"):
            rank_changes.append({"model": r["model"], "from": p.get("rank"), "to": r.get("rank")})
        move = (r.get("rating") or 0.0) - (p.get("rating") or 0.0)
        if biggest is None or abs(move) > abs(biggest["delta"]):
            biggest = {"model": r["model"], "delta": move, "text": f"{move:+.1f}"}
    gone = sorted(set(before) - {r["model"] for r in cur})
    return {"rank_changes": rank_changes, "new": new, "gone": gone, "largest_move": biggest}


def recompute_history(limit: int = HISTORY) -> list[dict[str, Any]]:
    """The most recent snapshots (all leaderboards), each with its diff from the previous snapshot
    of the same (modality, category, method). Two queries: the page and the previous snapshots."""
    same = LeaderboardSnapshot.objects.filter(
        modality=OuterRef("modality"), category=OuterRef("category"), method=OuterRef("method"),
    ).filter(Q(created__lt=OuterRef("created")) | Q(created=OuterRef("created"), pk__lt=OuterRef("pk")))
    snaps = list(
        LeaderboardSnapshot.objects.order_by("-created", "-pk")
        .annotate(prev_id=Subquery(same.order_by("-created", "-pk").values("pk")[:1]))
        .only("modality", "category", "method", "vote_count", "duration_ms", "created", "rows", "code_version")[:limit]
    )
    prev_rows = dict(LeaderboardSnapshot.objects.filter(pk__in=[s.prev_id for s in snaps if s.prev_id]).values_list("pk", "rows"))
    out = []
    for s in snaps:
        prev = prev_rows.get(s.prev_id) if s.prev_id else None
        out.append({
            "snapshot": s.pk, "key": f"{s.modality} / {s.category} / {s.method}",
            "modality": s.modality, "category": s.category, "method": s.method,
            "created": s.created, "votes": s.vote_count, "duration_ms": s.duration_ms,
            "previous": s.prev_id, "diff": snapshot_diff(s.rows, prev),
            "api": reverse("ratings:api-snapshot", args=[s.pk]),
        })
    return out


@staff_member_required
def staff_dashboard(request: HttpRequest) -> HttpResponse:
    from ratings.exposure import exposure_live

    modality = request.GET.get("modality", "text")
    if modality not in dict(MODALITY_CHOICES):
        modality = "text"
    per_day = votes_per_day()
    ctx = {
        "modality": modality,
        "modalities": [{"value": v, "label": lbl, "active": v == modality} for v, lbl in MODALITY_CHOICES],
        "per_day": per_day,
        "per_day_totals": {"counted": sum(d["counted"] for d in per_day), "excluded": sum(d["excluded"] for d in per_day)},
        "days": DAYS,
        "exposure": exposure_live(modality),
        "exclusions": exclusions(),
        "excluded_total": Vote.objects.filter(counted=False).count(),
        "history": recompute_history(),
    }
    return render(request, "ratings/dashboard.html", ctx)
