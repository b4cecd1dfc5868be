"""Reads of releases for pages and the API."""
from __future__ import annotations

from django.db.models import QuerySet

from releases.models import Release


def releases_visible(*, staff: bool) -> QuerySet[Release]:
    qs = Release.objects.order_by("-created", "-pk")
    return qs if staff else qs.filter(kind=Release.PUBLIC)


def release_latest() -> Release | None:
    """The newest public release (its chain head is shown on the leaderboard page)."""
    return Release.objects.filter(kind=Release.PUBLIC).order_by("-created", "-pk").first()
