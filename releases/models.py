"""A research release: an immutable folder of files (votes.parquet, votes.jsonl.gz, README.md,
schema.json, MANIFEST.json, exclusions.jsonl, media/) and this row that lists it."""
from __future__ import annotations

from django.db import models


class Release(models.Model):
    PUBLIC, FULL = "public", "full"

    release_id = models.SlugField(max_length=64, unique=True, help_text="Also the folder's name.")
    kind = models.CharField(max_length=8, choices=[(PUBLIC, "public"), (FULL, "full (staff only)")], default=PUBLIC)
    created = models.DateTimeField(db_index=True)
    cutoff = models.DateTimeField(help_text="No vote cast after this is in the release.")
    delay_days = models.FloatField()
    rows = models.PositiveIntegerField()
    first_vote_id = models.BigIntegerField()
    last_vote_id = models.BigIntegerField(help_text="The chain covers every released vote up to this id.")
    counts = models.JSONField(default=dict, help_text="{modality: {mode: votes}}, counted / excluded")
    chain_head = models.CharField(max_length=64, help_text="The last row's chain (sha256 hex).")
    decisions_head = models.CharField(max_length=64, blank=True)
    folder = models.CharField(max_length=500, help_text="Where the files are (ARENA_RELEASE_DIR/<release_id> unless --out).")
    files = models.JSONField(default=list, help_text="[{name, size, sha256}] of every file, MANIFEST.json included")

    class Meta:
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} release {self.release_id} ({self.rows} votes)"
