"""Celery tasks of the arena: thin wrappers that load by id and call the services."""
from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError, connection

from arena.services.events import flush
from arena.services.generation import CompetitorBusy, battles_expire_stale, run_generation


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, max_retries=None)
def generate(self, generation_id: int) -> None:
    """Generate one slot's answer. Routed to the default / api / gpu queue by adapter. If the
    worker dies, the message comes back and run_generation voids the battle (it was mid-stream).
    A competitor at its concurrency limit is retried shortly; the stale sweep ends the wait.
    So is a database that refused us (restarting, out of connections): the task is not lost."""
    try:
        run_generation(generation_id)
    except CompetitorBusy:
        raise self.retry(countdown=0.3)
    except DatabaseError as exc:
        connection.close()  # a broken connection must not be reused by the retry
        raise self.retry(exc=exc, countdown=min(0.5 * 2 ** self.request.retries, 10))
    flush()  # the task is done when its events are out


@shared_task(ignore_result=True)
def expire_stale_battles() -> int:
    return battles_expire_stale()


@shared_task(ignore_result=True)
def probe_unhealthy_competitors() -> dict[str, bool]:
    from arena.services.health import competitors_probe_unhealthy

    return competitors_probe_unhealthy()
