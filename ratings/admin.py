"""Leaderboard snapshots in the admin: to read, never to edit. A snapshot is the record of what a
fit published (its votes' hash, parameters, code version); changing or deleting one by hand
would break the chain from votes to the published ratings, so there is no add, change or
delete here. The live Bayesian state is shown the same way."""
from __future__ import annotations

from django.contrib import admin

from arena.admin import ReadOnlyAdmin
from ratings.models import BayesState, LeaderboardSnapshot


@admin.register(LeaderboardSnapshot)
class LeaderboardSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("id", "modality", "category", "method", "vote_count", "max_vote_id", "duration_ms", "created")
    list_filter = ("modality", "method")
    search_fields = ("category", "vote_hash")
    date_hierarchy = "created"


@admin.register(BayesState)
class BayesStateAdmin(ReadOnlyAdmin):
    list_display = ("modality", "category", "last_vote_id", "updated")
    date_hierarchy = "updated"
