"""Django admin for competitors, prompt sets, battles and votes (staff only, as admin is).
Votes are never deleted: exclusion is a flag an admin can set and undo."""
from __future__ import annotations

from django.contrib import admin

from arena.models import Battle, Competitor, ExclusionDecision, Generation, Prompt, PromptSet, Slot, Turn, Vote, Voter, VoterFlag
from arena.services.exclusions import votes_count_again, votes_exclude


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records that are evidence (logs, snapshots, releases): listed and inspected, never added,
    changed or deleted by hand. ratings/ and releases/ reuse it."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Competitor)
class CompetitorAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "organization", "modality", "adapter", "active", "public", "healthy", "sampling_weight")
    list_filter = ("modality", "active", "public", "healthy", "adapter")
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
    date_hierarchy = "created"
    inlines = [TurnInline, SlotInline]


@admin.register(Generation)
class GenerationAdmin(admin.ModelAdmin):
    list_display = ("slot", "turn", "status", "queued_at", "first_token_at", "finished_at")
    list_filter = ("status",)
    readonly_fields = ("slot", "turn", "queued_at", "started_at", "first_token_at", "finished_at")


@admin.register(Vote)
class VoteAdmin(admin.ModelAdmin):
    list_display = ("battle", "outcome", "ranking", "counted", "weight", "exclusion_reason", "created")
    list_filter = ("counted", "exclusion_reason", "battle__mode", "battle__modality")
    date_hierarchy = "created"
    readonly_fields = (
        "battle", "voter", "outcome", "ranking", "best_only", "criteria", "feedback", "client_shown_at",
        "client_first_interaction_at", "client_voted_at", "listen_ms", "network_hash", "idempotency_key", "created",
        # Counting changes only through the actions below, so that every change is logged.
        "counted", "exclusion_reason", "exclusion_detail",
    )
    actions = ["exclude_votes", "count_votes"]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a vote is never deleted; exclude it instead

    @admin.action(description="Exclude from leaderboards (keeps the vote)")
    def exclude_votes(self, request, queryset):
        n = votes_exclude(
            votes=queryset, reason=Vote.EXCL_FRAUD, detail=f"excluded by {request.user} in the admin",
            by_kind=ExclusionDecision.BY_STAFF, by=request.user.get_username(),
        )
        self.message_user(request, f"{n} vote(s) excluded (kept, not counted; logged).")

    @admin.action(description="Count again")
    def count_votes(self, request, queryset):
        # Named side-by-side votes are never counted: the voter knew the models.
        n = votes_count_again(
            votes=queryset, detail=f"counted again by {request.user} in the admin",
            by_kind=ExclusionDecision.BY_STAFF, by=request.user.get_username(),
        )
        self.message_user(request, f"{n} vote(s) counted again (logged).")


@admin.register(Voter)
class VoterAdmin(admin.ModelAdmin):
    list_display = ("public_id", "user", "first_seen", "battles_count", "votes_count")
    search_fields = ("public_id",)


@admin.register(ExclusionDecision)
class ExclusionDecisionAdmin(ReadOnlyAdmin):
    """The append-only log: readable, never added, changed or deleted by hand."""

    list_display = ("created", "vote", "previous_counted", "counted", "reason", "by_kind", "by")
    list_filter = ("by_kind", "counted", "reason")
    search_fields = ("by", "reason", "vote__voter__public_id")
    date_hierarchy = "created"


@admin.register(VoterFlag)
class VoterFlagAdmin(ReadOnlyAdmin):
    """Read-only: decisions go through the review queue (/staff/integrity/), which logs them."""

    list_display = ("voter", "status", "detector", "score", "updated", "reviewed_by")
    list_filter = ("status", "detector")
    search_fields = ("voter__public_id",)
