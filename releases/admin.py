from __future__ import annotations

from django.contrib import admin

from arena.admin import ReadOnlyAdmin
from releases.models import Release


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdmin):
    """Releases are immutable: listed and inspected here, never edited (their files are read-only)."""

    list_display = ("release_id", "kind", "created", "cutoff", "rows", "first_vote_id", "last_vote_id", "chain_head")
    list_filter = ("kind",)
    date_hierarchy = "created"
