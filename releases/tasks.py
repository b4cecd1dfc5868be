"""The scheduled release (beat, monthly by default: ARENA_RELEASE_CRON)."""
from __future__ import annotations

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(ignore_result=True)
def build_release(full: bool = False) -> str | None:
    from releases.build import NothingToRelease, release_build

    try:
        release = release_build(full=full)
    except NothingToRelease as exc:
        log.info("no release this time: %s", exc)
        return None
    log.info("release %s written: %s votes, chain head %s", release.release_id, release.rows, release.chain_head)
    return release.release_id
