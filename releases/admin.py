from __future__ import annotations

from django.contrib import admin

from releases.models import Release


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    """Releases are immutable: listed and inspected here, never edited (their files are read-only)."""

    list_display = ("release_id", "kind", "created", "cutoff", "rows", "first_vote_id", "last_vote_id", "chain_head")
    list_filter = ("kind",)
    date_hierarchy = "created"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
