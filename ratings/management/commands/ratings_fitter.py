"""The embedded default's fit process (started by ratings.fitter in the web process; not run by
hand): reads batches of boards as JSON lines on stdin, fits each, commits its snapshot, and answers
one JSON line per board on stdout, then {"end": true}."""
from __future__ import annotations

import json
import logging
import sys

from django.core.management.base import BaseCommand
from django.db import close_old_connections

log = logging.getLogger(__name__)


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **kw) -> None:
        from ratings.services import leaderboard_recompute

        out = sys.stdout
        for line in sys.stdin:
            if not line.strip():
                continue
            for modality, category, method in json.loads(line)["boards"]:
                close_old_connections()
                snapshot = None
                try:
                    snap = leaderboard_recompute(modality=modality, category=category, method=method)
                    if snap is not None:
                        snapshot = [modality, category, method, snap.pk, snap.vote_count]
                except Exception:  # one bad board must not stop the others; the next nudge retries it
                    log.exception("recompute of %s/%s/%s failed", modality, category, method)
                out.write(json.dumps({"board": [modality, category, method], "snapshot": snapshot}) + "\n")
                out.flush()
            out.write(json.dumps({"end": True}) + "\n")
            out.flush()
