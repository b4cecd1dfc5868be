"""Leaderboard snapshots: immutable results of one fit over one exact set of counted votes."""
from __future__ import annotations

from django.db import models


class LeaderboardSnapshot(models.Model):
    modality = models.CharField(max_length=8, db_index=True)
    category = models.CharField(max_length=80, default="overall", help_text="overall, category:X, language:X, turns:single|multi, votes:pairwise|kwise, criterion:X")
    method = models.CharField(max_length=16, help_text="bt, elo, bayes, style")
    params = models.JSONField(default=dict, help_text="ci, rounds, seed, ...")
    params_hash = models.CharField(max_length=16)
    # The vote-set fingerprint: the same votes (ids and weights) give the same three values.
    vote_count = models.PositiveIntegerField()
    max_vote_id = models.BigIntegerField(default=0)
    vote_hash = models.CharField(max_length=40)
    rows = models.JSONField(help_text="[{model, name, organization, rating, lower, upper, rank, rank_upper, votes, win_rate}]")
    plots = models.JSONField(default=dict, help_text="models, win_matrix, battle_matrix")
    extra = models.JSONField(default=dict, help_text="notes, parts, style coefficients, ...")
    code_version = models.CharField(max_length=64)
    duration_ms = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-pk"]
        indexes = [models.Index(fields=["modality", "category", "method", "-created"], name="snapshot_latest")]
        constraints = [
            # A retried or repeated recompute of the same votes writes the snapshot once.
            models.UniqueConstraint(
                fields=["modality", "category", "method", "params_hash", "vote_hash"], name="snapshot_unique_fingerprint"
            )
        ]

    def __str__(self) -> str:
        return f"{self.modality}/{self.category}/{self.method} @ {self.created:%Y-%m-%d %H:%M} ({self.vote_count} votes)"


class BayesState(models.Model):
    """The per-vote Bayesian rater of one leaderboard (K-Sort Arena's μ, σ), updated on every
    counted vote so the page moves between full fits."""

    modality = models.CharField(max_length=8)
    category = models.CharField(max_length=80, default="overall")
    state = models.JSONField(default=dict)
    last_vote_id = models.BigIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["modality", "category"], name="bayes_state_unique")]


class BayesAbsorbed(models.Model):
    """Which votes a BayesState has absorbed: a vote is absorbed exactly once, whatever the order
    in which votes commit (ids are handed out before commit, so a later id can land first)."""

    modality = models.CharField(max_length=8)
    category = models.CharField(max_length=80, default="overall")
    vote_id = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["modality", "category", "vote_id"], name="bayes_absorbed_once")]
