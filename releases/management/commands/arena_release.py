"""Write a research release of the votes (see releases/build.py and the README).

  manage.py arena_release [--delay-days N] [--out DIR] [--full]
"""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from releases.build import NothingToRelease, release_build


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--delay-days", type=float, default=None,
                            help="leave out votes newer than this (default: ARENA_RELEASE_DELAY_DAYS, 30; --full: 0)")
        parser.add_argument("--out", type=Path, default=None,
                            help="write the release folder inside DIR (default: ARENA_RELEASE_DIR)")
        parser.add_argument("--full", action="store_true",
                            help="staff full export: every vote and model, no delay, still no network identity")

    def handle(self, *args, delay_days: float | None, out: Path | None, full: bool, **kw) -> None:
        if delay_days is not None and not (0 <= delay_days < 1e5):
            raise CommandError(f"--delay-days {delay_days:g}: give a number of days >= 0", returncode=2)
        if out is not None and out.exists() and not out.is_dir():
            raise CommandError(f"--out {out}: not a folder", returncode=2)
        try:
            release = release_build(delay_days=delay_days, out=out, full=full)
        except NothingToRelease as exc:
            raise CommandError(str(exc), returncode=2) from None
        self.stdout.write(
            f"release {release.release_id}: {release.rows} votes (ids {release.first_vote_id}-{release.last_vote_id}), "
            f"chain head {release.chain_head}\n  {release.folder}"
        )
