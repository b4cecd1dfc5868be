"""Load (or refresh) the demo competitors and prompt sets. Safe to run again: rows are matched
by slug and updated; nothing else is touched."""
from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction

from arena.demo_roster import COMPETITORS, PROMPT_SETS
from arena.models import Competitor, Prompt, PromptSet
from arena.services.prompts import detect_language
from models_adapter.base import AdapterConfigError, adapter_class


class Command(BaseCommand):
    help = "Load the demo models (offline, CPU) and demo prompt sets."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        loaded, skipped = 0, []
        for slug, name, org, modality, adapter, config in COMPETITORS:
            try:
                cls = adapter_class(adapter)
            except AdapterConfigError:
                skipped.append(f"{slug} (adapter {adapter} not available)")
                Competitor.objects.filter(slug=slug).update(active=False)
                continue
            if modality not in cls.modalities:
                skipped.append(f"{slug} (adapter {adapter} does not make {modality})")
                continue
            Competitor.objects.update_or_create(
                slug=slug,
                defaults={"name": name, "organization": org, "modality": modality, "adapter": adapter,
                          "adapter_config": config, "active": True, "healthy": True, "consecutive_failures": 0},
            )
            loaded += 1
        prompts = 0
        for slug, name, modality, category, texts in PROMPT_SETS:
            ps, _ = PromptSet.objects.update_or_create(
                slug=slug, defaults={"name": name, "modality": modality, "category": category, "source": "demo"}
            )
            for text in texts:
                _, created = Prompt.objects.get_or_create(
                    prompt_set=ps, text=text,
                    defaults={"modality": modality, "category": category, "language": detect_language(text),
                              "source": Prompt.SOURCE_SET},
                )
                prompts += created
        self.stdout.write(f"demo: {loaded} models, {len(PROMPT_SETS)} prompt sets ({prompts} new prompts)")
        for s in skipped:
            self.stdout.write(f"  skipped {s}")
