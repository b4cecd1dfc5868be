"""Recompute leaderboards now, in this process: every method (including those not recomputed live,
see RATINGS_LIVE_METHODS), for one board or every known board of a modality.

  manage.py ratings_recompute --modality text [--category overall] [--method elo|bayes|style|bt|all]
"""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from arena.models import MODALITY_CHOICES
from ratings.services import METHODS, leaderboard_recompute, leaderboards_known
from ratings.votesource import UnknownCategory, category_filter


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--modality", required=True, choices=[m for m, _ in MODALITY_CHOICES])
        parser.add_argument("--category", default=None, help="default: every known board of the modality")
        parser.add_argument("--method", default="all", choices=[*METHODS, "all"])

    def handle(self, *args, modality: str, category: str | None, method: str, **kw) -> None:
        if category is not None:
            try:
                category_filter(category)
            except UnknownCategory as e:
                raise CommandError(str(e)) from None
        boards = leaderboards_known(modality) if category is None else [(category, m) for m in METHODS]
        for cat, meth in boards:
            if (category is not None and cat != category) or (method != "all" and meth != method):
                continue
            snap = leaderboard_recompute(modality=modality, category=cat, method=meth)
            self.stdout.write(f"{modality}/{cat}/{meth}: " + (f"snapshot {snap.pk} ({snap.vote_count} votes, "
                                                              f"{snap.duration_ms} ms)" if snap else "no votes to fit"))
