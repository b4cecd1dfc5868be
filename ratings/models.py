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


class BoardCells(models.Model):
    """The incremental sufficient statistics of one leaderboard (modality, category): which votes and
    exclusion decisions the cells have absorbed. Maintained by the recompute pipeline
    (ratings.boardcells), never in the vote's request."""

    modality = models.CharField(max_length=8)
    category = models.CharField(max_length=80, default="overall")
    last_vote_id = models.BigIntegerField(default=0, help_text="Every vote id up to this is absorbed, except vote_gaps.")
    vote_gaps = models.JSONField(default=list, help_text="[[first id, last id, first seen (unix s)]]: ids not yet committed when scanned.")
    last_decision_id = models.BigIntegerField(default=0)
    decision_gaps = models.JSONField(default=list)
    # The fingerprint of the counted votes (pairwise and K-wise), kept as votes and decisions arrive.
    vote_count = models.BigIntegerField(default=0)
    kwise_count = models.BigIntegerField(default=0, help_text="Counted K-wise votes (read per vote at a fit; none: no read).")
    hash_xor = models.BigIntegerField(default=0)
    hash_sum = models.CharField(max_length=40, default="0", help_text="Sum of the votes' 64-bit hashes (exact).")
    # Voter clustering widens each model's interval by a factor; reading the heaviest voters' votes
    # costs time in proportion to their votes, so the factors are refreshed when the board has grown
    # by RATINGS_CLUSTER_REFRESH or RATINGS_CLUSTER_REFRESH_S has passed, and reused in between.
    cluster_factors = models.JSONField(default=dict, help_text="{model: clustered / independent half-width}")
    cluster_votes = models.BigIntegerField(default=0, help_text="vote_count when the factors were computed")
    cluster_at = models.FloatField(default=0.0, help_text="unix time when the factors were computed")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["modality", "category"], name="board_cells_unique")]


class BoardCell(models.Model):
    """Counted pairwise votes of a board per (model shown first, model shown second, outcome)."""

    board = models.ForeignKey(BoardCells, on_delete=models.CASCADE, related_name="cells")
    model_a_id = models.BigIntegerField()
    model_b_id = models.BigIntegerField()
    outcome = models.CharField(max_length=8)
    w = models.FloatField(default=0.0)
    n = models.FloatField(default=0.0)
    w2 = models.FloatField(default=0.0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["board", "model_a_id", "model_b_id", "outcome"], name="board_cell_unique")]


class BoardVoter(models.Model):
    """Counted pairwise votes per voter of a board: the heaviest voters' votes are clustered."""

    board = models.ForeignKey(BoardCells, on_delete=models.CASCADE, related_name="voters")
    voter_id = models.BigIntegerField()
    votes = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["board", "voter_id"], name="board_voter_unique")]
        indexes = [models.Index(fields=["board", "-votes"], name="board_voter_heavy")]
