"""The scheduled release (beat, monthly by default: ARENA_RELEASE_CRON) and the staff's full
export. One build at a time (a lock in the cache): a second request while one runs is dropped.
Not acks_late: a build takes minutes, longer than the broker's visibility timeout, and must not be
handed to a second worker meanwhile; a build killed midway leaves only its temporary folder, which
the next build removes."""
from __future__ import annotations

import logging

from celery import shared_task
from django.core.cache import cache

log = logging.getLogger(__name__)
LOCK = "releases:building"
LOCK_TTL_S = 6 * 3600


@shared_task(ignore_result=True, acks_late=False)
def build_release(full: bool = False) -> str | None:
    from releases.build import NothingToRelease, release_build

    if not cache.add(LOCK, 1, timeout=LOCK_TTL_S):
        log.warning("a release is being written already; this request is dropped")
        return None
    try:
        release = release_build(full=full, sweep=True)
    except NothingToRelease as exc:
        log.info("no release this time: %s", exc)
        return None
    finally:
        cache.delete(LOCK)
    log.info("release %s written: %s votes, chain head %s", release.release_id, release.rows, release.chain_head)
    return release.release_id
