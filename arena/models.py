"""What the arena stores. Everything a later leaderboard, integrity check or export needs is
recorded from the first vote; nothing is ever deleted (a vote is excluded by a flag)."""
from __future__ import annotations

import re
import secrets
import string

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

MODALITY_CHOICES = [("text", "Text"), ("image", "Image"), ("audio", "Audio"), ("video", "Video"), ("3d", "3D")]
LETTERS = string.ascii_uppercase
PREGENERATED = "pregenerated"  # the adapter that serves outputs made ahead of time


def new_public_id() -> str:
    # 128 random bits: opaque, not sequential, says nothing about the battle or its models.
    return secrets.token_urlsafe(16)


def new_voter_id() -> str:
    return "v_" + secrets.token_urlsafe(12)


class Competitor(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120, help_text="Display name, revealed after the vote.")
    organization = models.CharField(max_length=120, blank=True, help_text="Maker, revealed after the vote.")
    modality = models.CharField(max_length=8, choices=MODALITY_CHOICES, db_index=True)
    adapter = models.CharField(max_length=64, help_text="Adapter name in models_adapter (e.g. demo_text, openai_chat).")
    adapter_config = models.JSONField(
        default=dict, blank=True, help_text="Adapter settings. Secrets only by env-var name (api_key_env), never the value."
    )
    identity_words = models.JSONField(
        default=list, blank=True, help_text="Extra words an output must not contain (name, slug and maker always count)."
    )
    active = models.BooleanField(default=True)
    public = models.BooleanField(
        default=True, help_text="Votes on battles with this model go into public releases (off: left out until it is public)."
    )
    sampling_weight = models.FloatField(default=1.0)
    max_concurrency = models.PositiveIntegerField(default=0, help_text="Generations at once; 0 = no limit.")
    healthy = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_failure = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["modality", "name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.modality})"

    def identity_terms(self) -> list[str]:
        return identity_terms(self.name, self.slug, self.organization, self.identity_words)


def identity_terms(name: str, slug: str, organization: str, words) -> list[str]:
    """The words that name a competitor in an output: its name, slug, maker and extra words."""
    terms = {name, slug, organization, *(words or [])}
    return sorted({t.strip().lower() for t in terms if t and len(t.strip()) >= 3})


def identity_pattern(terms: list[str]) -> re.Pattern[str] | None:
    """A case-insensitive whole-word pattern for any of the terms (None when there are none)."""
    if not terms:
        return None
    alts = "|".join(re.escape(t) for t in sorted(set(terms), key=len, reverse=True))
    return re.compile(rf"(?<![\w]){alts}(?![\w])", re.IGNORECASE)


class PromptSet(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=120)
    modality = models.CharField(max_length=8, choices=MODALITY_CHOICES, db_index=True)
    category = models.CharField(max_length=64, default="other", help_text="Category of its prompts unless a prompt says otherwise.")
    source = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    def __str__(self) -> str:
        return self.name


class Prompt(models.Model):
    SOURCE_SET, SOURCE_USER = "set", "user"
    prompt_set = models.ForeignKey(PromptSet, null=True, blank=True, on_delete=models.PROTECT, related_name="prompts")
    text = models.TextField()
    modality = models.CharField(max_length=8, choices=MODALITY_CHOICES, db_index=True)
    category = models.CharField(max_length=64, default="other", db_index=True)
    language = models.CharField(max_length=16, default="und", db_index=True, help_text="Detected (ISO 639-1), 'und' if unknown.")
    source = models.CharField(max_length=8, choices=[(SOURCE_SET, "prompt set"), (SOURCE_USER, "voter")], default=SOURCE_USER)
    input_media = models.CharField(max_length=200, blank=True, help_text="Stored file name of an input image/audio, if any.")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.text[:60]


class PregeneratedOutput(models.Model):
    """An output made ahead of time for a set prompt (competitors with the `pregenerated`
    adapter); media are stored under MEDIA_ROOT with random names, metadata stripped."""

    competitor = models.ForeignKey(Competitor, on_delete=models.CASCADE, related_name="pregenerated")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="pregenerated")
    text = models.TextField(blank=True)
    media_name = models.CharField(max_length=80, blank=True)
    media_mime = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["competitor", "prompt"], name="pregenerated_unique")]


class Voter(models.Model):
    public_id = models.CharField(max_length=32, unique=True, default=new_voter_id)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    first_seen = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)
    battles_count = models.PositiveIntegerField(default=0)
    votes_count = models.PositiveIntegerField(default=0)
    release_opt_out = models.BooleanField(
        default=False, help_text="The voter chose that their conversations are not released (their votes still are, without text)."
    )
    # Set while the integrity audit has this voter excluded (``fraud:<detector>``): their new votes
    # are stored with counted=False and this reason, and nothing they can see changes (shadow).
    shadow_reason = models.CharField(max_length=32, blank=True, default="")

    def __str__(self) -> str:
        return self.public_id


class Battle(models.Model):
    MODE_PAIRWISE, MODE_KWISE = "pairwise", "kwise"
    GENERATING, READY, VOTED, VOID = "generating", "ready", "voted", "void"
    STATUS_CHOICES = [(GENERATING, "generating"), (READY, "ready to vote"), (VOTED, "voted"), (VOID, "void")]

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    mode = models.CharField(max_length=8, choices=[(MODE_PAIRWISE, "pairwise"), (MODE_KWISE, "K-wise")])
    k = models.PositiveSmallIntegerField()
    anonymous = models.BooleanField(default=True, help_text="Blind battle; named side-by-side battles are never counted.")
    modality = models.CharField(max_length=8, choices=MODALITY_CHOICES, db_index=True)
    voter = models.ForeignKey(Voter, on_delete=models.PROTECT, related_name="battles")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="battles", help_text="The first turn's prompt.")
    status = models.CharField(max_length=12, choices=STATUS_CHOICES, default=GENERATING, db_index=True)
    void_reason = models.CharField(max_length=200, blank=True)
    n_turns = models.PositiveSmallIntegerField(default=1, help_text="Turns so far (single- vs multi-turn leaderboards).")
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    ready_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(k__gte=2) & Q(k__lte=6), name="battle_k_2_to_6")]

    def __str__(self) -> str:
        return f"{self.mode} {self.modality} battle {self.public_id}"


class Turn(models.Model):
    """One user message of the battle; every slot answers every turn."""

    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="turns")
    index = models.PositiveSmallIntegerField()
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="turns")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["index"]
        constraints = [models.UniqueConstraint(fields=["battle", "index"], name="turn_unique_index")]


class Slot(models.Model):
    """One competitor's place in a battle, shown to the voter only as its letter."""

    battle = models.ForeignKey(Battle, on_delete=models.CASCADE, related_name="slots")
    position = models.PositiveSmallIntegerField(help_text="0 = A, 1 = B, ... (shuffled)")
    competitor = models.ForeignKey(Competitor, on_delete=models.PROTECT, related_name="slots")

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["battle", "position"], name="slot_unique_position"),
            models.UniqueConstraint(fields=["battle", "competitor"], name="slot_unique_competitor"),
        ]

    @property
    def letter(self) -> str:
        return LETTERS[self.position]


class Generation(models.Model):
    """A slot's answer to one turn: output, timings and error."""

    QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
    slot = models.ForeignKey(Slot, on_delete=models.CASCADE, related_name="generations")
    turn = models.ForeignKey(Turn, on_delete=models.CASCADE, related_name="generations")
    status = models.CharField(
        max_length=8, choices=[(QUEUED, QUEUED), (RUNNING, RUNNING), (DONE, DONE), (FAILED, FAILED)], default=QUEUED
    )
    text = models.TextField(blank=True)
    media_name = models.CharField(max_length=80, blank=True, help_text="Random file name under MEDIA_ROOT.")
    media_mime = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True, help_text="For operators; never sent to the browser before the vote.")
    meta = models.JSONField(default=dict, blank=True)
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Media requests by the battle's own voter before the vote (arena.views.media): a claimed
    # listening time for a clip that was never fetched is not believed (arena.services.votes).
    fetch_count = models.PositiveIntegerField(default=0)
    first_fetched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["turn__index", "slot__position"]
        constraints = [models.UniqueConstraint(fields=["slot", "turn"], name="generation_unique_slot_turn")]


class Vote(models.Model):
    OUTCOME_CHOICES = [("a", "A is better"), ("b", "B is better"), ("tie", "Tie"), ("both_bad", "Both are bad")]
    EXCL_IDENTITY_LEAK = "identity_leak"
    EXCL_NAMED = "named_mode"
    EXCL_VOID = "void_battle"
    EXCL_FRAUD = "fraud_flag"
    EXCL_LISTEN = "listen_unverified"
    EXCL_TOO_FAST = "too_fast"
    EXCL_LOGIN_REQUIRED = "login_required"

    # One vote per battle: a database constraint (unique), not a check in Python.
    battle = models.OneToOneField(Battle, on_delete=models.PROTECT, related_name="vote")
    voter = models.ForeignKey(Voter, on_delete=models.PROTECT, related_name="votes")
    outcome = models.CharField(max_length=8, choices=OUTCOME_CHOICES, blank=True, help_text="Pairwise only.")
    ranking = models.JSONField(help_text="Place of each slot by position (1 = best; equal places = tie).")
    best_only = models.BooleanField(default=False, help_text="K-wise: the voter picked only the best.")
    criteria = models.JSONField(default=dict, blank=True, help_text="{criterion: outcome} (pairwise).")
    feedback = models.TextField(blank=True)
    client_shown_at = models.DateTimeField(null=True, blank=True)
    client_first_interaction_at = models.DateTimeField(null=True, blank=True)
    client_voted_at = models.DateTimeField(null=True, blank=True)
    listen_ms = models.JSONField(default=dict, blank=True, help_text="Audio/video: playing time per slot letter (ms).")
    network_hash = models.CharField(max_length=64, blank=True, help_text="Salted HMAC of the network address.")
    idempotency_key = models.CharField(max_length=64, blank=True)
    counted = models.BooleanField(default=True, db_index=True)
    weight = models.FloatField(default=1.0)
    # The battle's properties that leaderboards group by, copied here when the vote is cast (they
    # cannot change after it): a recompute then scans this one table, with no join.
    modality = models.CharField(max_length=8, choices=MODALITY_CHOICES, default="text")
    mode = models.CharField(max_length=8, default="pairwise")
    category = models.CharField(max_length=64, default="other")
    language = models.CharField(max_length=16, default="und")
    n_turns = models.PositiveSmallIntegerField(default=1)
    model_a = models.ForeignKey(Competitor, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Pairwise: slot A.")
    model_b = models.ForeignKey(Competitor, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Pairwise: slot B.")
    exclusion_reason = models.CharField(max_length=32, blank=True, db_index=True)
    exclusion_detail = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["modality", "counted"], name="vote_leaderboard")]

    def __str__(self) -> str:
        return f"vote on {self.battle.public_id}"


class ExclusionDecisionQuerySet(models.QuerySet):
    def update(self, **kwargs):  # noqa: ARG002
        raise TypeError("The exclusion decision log is append-only: decisions are never changed.")

    def delete(self):
        raise TypeError("The exclusion decision log is append-only: decisions are never deleted.")


class ExclusionDecision(models.Model):
    """One change of a vote's `counted` flag: what (the vote, from -> to), why (reason, detail),
    by whom or which detector, when. Append-only (refused by the ORM and, on Postgres, by a
    trigger): the release chain hashes these rows, and incremental rating cells read the
    decisions after the last id they saw. Written by arena.services.exclusions only."""

    BY_DETECTOR, BY_STAFF, BY_SYSTEM = "detector", "staff", "system"
    BY_CHOICES = [(BY_DETECTOR, "detector"), (BY_STAFF, "staff"), (BY_SYSTEM, "system")]

    vote = models.ForeignKey(Vote, on_delete=models.PROTECT, related_name="decisions")
    counted = models.BooleanField(help_text="The vote's `counted` after this decision.")
    previous_counted = models.BooleanField()
    reason = models.CharField(max_length=32, blank=True, help_text="exclusion_reason after the decision ('' = counted again).")
    previous_reason = models.CharField(max_length=32, blank=True)
    detail = models.TextField(blank=True, help_text="Why: the statistic and threshold, or the staff member's note.")
    by_kind = models.CharField(max_length=8, choices=BY_CHOICES)
    by = models.CharField(max_length=150, help_text="Username of the staff member, or the detector's name.")
    created = models.DateTimeField(default=timezone.now, db_index=True)

    objects = ExclusionDecisionQuerySet.as_manager()

    class Meta:
        ordering = ["pk"]
        constraints = [models.CheckConstraint(condition=~Q(counted=models.F("previous_counted")), name="decision_changes_counted")]

    def __str__(self) -> str:
        verb = "counted again" if self.counted else f"excluded ({self.reason})"
        return f"vote {self.vote_id} {verb} by {self.by_kind} {self.by}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise TypeError("The exclusion decision log is append-only: decisions are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The exclusion decision log is append-only: decisions are never deleted.")


class VoterFlag(models.Model):
    """A voter the integrity audit flagged: the evidence for the staff review queue and the
    decision state. EXCLUDED: their votes are kept with counted=False (shadow exclusion); CLEARED:
    staff counted them again and the audit leaves them be (the decision log says who and when)."""

    EXCLUDED, CLEARED = "excluded", "cleared"
    voter = models.OneToOneField(Voter, on_delete=models.PROTECT, related_name="flag")
    status = models.CharField(max_length=8, choices=[(EXCLUDED, "excluded"), (CLEARED, "counted again")], db_index=True)
    detector = models.CharField(max_length=32, help_text="The detector with the strongest evidence.")
    score = models.FloatField(default=0.0, help_text="-log10 of the smallest adjusted p-value.")
    evidence = models.JSONField(default=dict, help_text="reasons, test statistics, network cluster, modality")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    reviewed_by = models.CharField(max_length=150, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-score"]

    def __str__(self) -> str:
        return f"{self.voter.public_id}: {self.status} ({self.detector})"
