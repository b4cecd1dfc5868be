"""Celery tasks of the arena: thin wrappers that load by id and call the services."""
from __future__ import annotations

from celery import shared_task

from arena.services.events import flush
from arena.services.generation import battles_expire_stale, run_generation


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def generate(generation_id: int) -> None:
    """Generate one slot's answer. Routed to the default / api / gpu queue by adapter. If the
    worker dies, the message comes back and run_generation voids the battle (it was mid-stream)."""
    run_generation(generation_id)
    flush()  # the task is done when its events are out


@shared_task(ignore_result=True)
def expire_stale_battles() -> int:
    return battles_expire_stale()
