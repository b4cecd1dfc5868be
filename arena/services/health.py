"""Competitor health: a model that failed repeatedly is left out of new battles until it
answers a probe again."""
from __future__ import annotations

import logging

from arena.models import Competitor
from models_adapter.base import GenerationRequest, build_adapter

log = logging.getLogger(__name__)

PROBE_PROMPTS = {
    "text": "Say hello in one short sentence.",
    "image": "A red circle on a white background",
    "audio": "A short calm tone",
    "video": "A ball moving slowly",
    "3d": "A cube",
}


def competitor_probe(*, competitor: Competitor) -> bool:
    """Ask the model one small thing; mark it healthy again if it answers."""
    request = GenerationRequest(modality=competitor.modality, prompt=PROBE_PROMPTS[competitor.modality], seed=0)
    try:
        result = build_adapter(competitor.adapter, competitor.adapter_config).generate(request, lambda _chunk: None)
        if not (result.text or result.media):
            raise ValueError("empty answer")
    except Exception as exc:  # any failure keeps it out; say why for the admin
        Competitor.objects.filter(pk=competitor.pk).update(last_failure=f"probe: {type(exc).__name__}: {exc}"[:500])
        log.info("probe of %s failed: %s", competitor.slug, exc)
        return False
    Competitor.objects.filter(pk=competitor.pk).update(healthy=True, consecutive_failures=0)
    log.info("probe of %s succeeded: healthy again", competitor.slug)
    return True


def competitors_probe_unhealthy() -> dict[str, bool]:
    return {c.slug: competitor_probe(competitor=c) for c in Competitor.objects.filter(active=True, healthy=False)}
