"""Django admin for competitors, prompt sets, battles and votes (staff only, as admin is).
Votes are never deleted: exclusion is a flag an admin can set and undo."""
from __future__ import annotations

from django.contrib import admin
from django.db import transaction

from arena.models import Battle, Competitor, Generation, Prompt, PromptSet, Slot, Turn, Vote, Voter
from arena.signals import votes_recounted


@admin.register(Competitor)
class CompetitorAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "organization", "modality", "adapter", "active", "healthy", "sampling_weight")
    list_filter = ("modality", "active", "healthy", "adapter")
    search_fields = ("name", "slug", "organization")
    prepopulated_fields = {"slug": ("name",)}
    actions = ["mark_healthy"]

    @admin.action(description="Mark healthy again (reset failures)")
    def mark_healthy(self, request, queryset):
        queryset.update(healthy=True, consecutive_failures=0)


class PromptInline(admin.TabularInline):
    model = Prompt
    fields = ("text", "category", "language")
    extra = 0


@admin.register(PromptSet)
class PromptSetAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "modality", "category", "active")
    list_filter = ("modality", "active")
    inlines = [PromptInline]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("short", "modality", "category", "language", "source", "created")
    list_filter = ("modality", "category", "language", "source")
    search_fields = ("text",)

    @admin.display(description="text")
    def short(self, obj: Prompt) -> str:
        return obj.text[:80]


class SlotInline(admin.TabularInline):
    model = Slot
    fields = ("position", "competitor")
    readonly_fields = fields
    extra = 0
    can_delete = False


class TurnInline(admin.TabularInline):
    model = Turn
    fields = ("index", "prompt")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Battle)
class BattleAdmin(admin.ModelAdmin):
    list_display = ("public_id", "mode", "k", "modality", "anonymous", "status", "void_reason", "created")
    list_filter = ("mode", "modality", "anonymous", "status")
    search_fields = ("public_id",)
    readonly_fields = ("public_id", "voter", "prompt", "created", "ready_at")
    inlines = [TurnInline, SlotInline]


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("slot", "turn", "status", "queued_at", "first_token_at", "finished_at")
    list_filter = ("status",)
    readonly_fields = ("slot", "turn", "queued_at", "started_at", "first_token_at", "finished_at")


def _recounted(queryset) -> None:
    modalities = sorted(set(queryset.values_list("battle__modality", flat=True)))
    transaction.on_commit(lambda: votes_recounted.send(sender=Vote, modalities=modalities))


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("battle", "outcome", "ranking", "counted", "weight", "exclusion_reason", "created")
    list_filter = ("counted", "exclusion_reason", "battle__mode", "battle__modality")
    readonly_fields = (
        "battle", "voter", "outcome", "ranking", "best_only", "criteria", "feedback", "client_shown_at",
        "client_first_interaction_at", "client_voted_at", "listen_ms", "network_hash", "idempotency_key", "created",
    )
    actions = ["exclude_votes", "count_votes"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a vote is never deleted; exclude it instead

    @admin.action(description="Exclude from leaderboards (keeps the vote)")
    def exclude_votes(self, request, queryset):
        queryset.update(counted=False, exclusion_reason=Vote.EXCL_FRAUD, exclusion_detail=f"excluded by {request.user}")
        _recounted(queryset)

    @admin.action(description="Count again")
    def count_votes(self, request, queryset):
        # Named side-by-side votes are never counted: the voter knew the models.
        queryset.exclude(exclusion_reason=Vote.EXCL_NAMED).update(counted=True, exclusion_reason="", exclusion_detail="")
        _recounted(queryset)


@admin.register(Voter)
class VoterAdmin(admin.ModelAdmin):
    list_display = ("public_id", "user", "first_seen", "battles_count", "votes_count")
    search_fields = ("public_id",)
