"""Import a pre-generated set (prompts + each model's outputs) and report what was skipped and why.

  manage.py arena_import_pregenerated FOLDER_OR_MANIFEST --set iso3d --modality 3d [--create-models]

A folder holds prompts.jsonl ({"id", "prompt", "category"?} per line) and one sub-folder per
model whose files are named by prompt id (chair/007.glb). A JSONL manifest has one output per
line: {"prompt", "model", "output": path relative to the manifest | "text", "category"?}.
"""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from arena.models import MODALITY_CHOICES
from arena.services.pregenerated import pregenerated_import


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("source", type=Path)
        parser.add_argument("--set", dest="set_slug", required=True, help="prompt set slug")
        parser.add_argument("--name", default="", help="prompt set name")
        parser.add_argument("--modality", required=True, choices=[m for m, _ in MODALITY_CHOICES])
        parser.add_argument("--category", default="other")
        parser.add_argument("--create-models", action="store_true", help="register unknown models as pre-generated competitors")

    def handle(self, *args, source: Path, set_slug: str, name: str, modality: str, category: str, create_models: bool, **kw) -> None:
        if not source.exists():
            raise CommandError(f"{source}: no such file or folder")
        report = pregenerated_import(
            source=source, set_slug=set_slug, set_name=name, modality=modality, category=category, create_models=create_models
        )
        for line in report.lines():
            self.stdout.write(line)
        if report.outputs == 0:
            raise CommandError("nothing imported")
