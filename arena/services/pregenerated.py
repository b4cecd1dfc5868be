"""Importing a pre-generated set: prompts plus each model's output files, from a folder or a
JSONL manifest. Every line that cannot be used is reported with the reason; what can be used
is written in one transaction (media files are removed again if it fails)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from django.conf import settings
from django.db import transaction

from arena.models import PREGENERATED, Competitor, PregeneratedOutput, Prompt, PromptSet
from arena.services.generation import EXTENSIONS, save_media
from arena.services.prompts import detect_language

TEXT_EXTENSIONS = {".txt", ".md"}
MIME_BY_EXT = {ext: mime for mime, ext in EXTENSIONS.items() if mime not in ("audio/x-wav",)}
MIME_BY_EXT[".jpeg"] = "image/jpeg"


@dataclass
class ImportReport:
    outputs: int = 0
    prompts: int = 0
    models: set[str] = field(default_factory=set)
    created_models: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"imported {self.outputs} outputs of {len(self.models)} models for {self.prompts} prompts"]
        if self.created_models:
            out.append(f"created models: {', '.join(self.created_models)}")
        out.append(f"skipped {len(self.skipped)}" + (":" if self.skipped else ""))
        out += [f"  {s}" for s in self.skipped]
        return out


@dataclass
class _Item:
    where: str  # "line 3" or "chair/007.glb": for the report
    key: str
    prompt: str
    model: str
    category: str | None
    text: str | None = None
    file: Path | None = None


def _read_manifest(path: Path) -> Iterator[_Item | str]:
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except ValueError:
            yield f"line {n}: not valid JSON"
            continue
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or not isinstance(row.get("model"), str):
            yield f"line {n}: needs \"prompt\" and \"model\""
            continue
        if not row.get("output") and not isinstance(row.get("text"), str):
            yield f"line {n}: needs \"output\" (a file) or \"text\""
            continue
        yield _Item(
            where=f"line {n}", key=str(row.get("prompt_id") or row["prompt"]), prompt=row["prompt"], model=row["model"],
            category=row.get("category"), text=row.get("text"),
            file=(path.parent / row["output"]) if row.get("output") else None,
        )


def _read_folder(root: Path) -> Iterator[_Item | str]:
    manifest = root / "prompts.jsonl"
    if not manifest.is_file():
        yield f"{root}: no prompts.jsonl (lines of {{\"id\": ..., \"prompt\": ...}})"
        return
    prompts: dict[str, tuple[str, str | None]] = {}
    for n, raw in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
            prompts[str(row["id"])] = (str(row["prompt"]), row.get("category"))
        except (ValueError, KeyError, TypeError):
            yield f"prompts.jsonl line {n}: needs \"id\" and \"prompt\""
    for model_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(model_dir.iterdir()):
            where = f"{model_dir.name}/{f.name}"
            if f.stem not in prompts:
                yield f"{where}: no prompt with id {f.stem!r} in prompts.jsonl"
                continue
            text, category = prompts[f.stem]
            yield _Item(where=where, key=f.stem, prompt=text, model=model_dir.name, category=category, file=f)


def pregenerated_import(
    *, source: Path, set_slug: str, modality: str, set_name: str = "", category: str = "other", create_models: bool = False
) -> ImportReport:
    report = ImportReport()
    items = _read_manifest(source) if source.is_file() else _read_folder(source)
    accepted: list[tuple[_Item, str, str, str]] = []  # item, text, media name, mime
    written: list[Path] = []
    seen: set[tuple[str, str]] = set()
    competitors = {c.slug: c for c in Competitor.objects.all()}
    try:
        for item in items:
            if isinstance(item, str):
                report.skipped.append(item)
                continue
            comp = competitors.get(item.model)
            if comp is None and not create_models:
                report.skipped.append(f"{item.where}: unknown model {item.model!r} (register it, or use --create-models)")
                continue
            if comp is not None and (comp.adapter != PREGENERATED or comp.modality != modality):
                report.skipped.append(f"{item.where}: model {item.model!r} is not a pre-generated {modality} model")
                continue
            if (item.model, item.key) in seen:
                report.skipped.append(f"{item.where}: a second output of {item.model!r} for the same prompt")
                continue
            text, media_name, mime = item.text or "", "", ""
            if item.file is not None:
                ext = item.file.suffix.lower()
                if not item.file.is_file():
                    report.skipped.append(f"{item.where}: file not found")
                    continue
                if ext in TEXT_EXTENSIONS and modality == "text":
                    text = item.file.read_text(encoding="utf-8", errors="replace")
                elif ext in MIME_BY_EXT and MIME_BY_EXT[ext].split("/")[0] == {"3d": "model"}.get(modality, modality):
                    mime = MIME_BY_EXT[ext]
                    try:
                        media_name = save_media(item.file.read_bytes(), mime)
                    except ValueError as e:
                        report.skipped.append(f"{item.where}: unreadable {mime} ({e})")
                        continue
                    written.append(Path(settings.MEDIA_ROOT) / media_name)
                else:
                    report.skipped.append(f"{item.where}: a {ext or 'extension-less'} file is not a {modality} output")
                    continue
            if not text and not media_name:
                report.skipped.append(f"{item.where}: empty output")
                continue
            seen.add((item.model, item.key))
            accepted.append((item, text, media_name, mime))
        with transaction.atomic():
            _write(report, accepted, set_slug=set_slug, set_name=set_name, modality=modality, category=category)
    except Exception:
        for p in written:  # nothing half-written: the files go with the rows that failed
            p.unlink(missing_ok=True)
        raise
    return report


def _write(report: ImportReport, accepted, *, set_slug: str, set_name: str, modality: str, category: str) -> None:
    pset, _ = PromptSet.objects.update_or_create(
        slug=set_slug, defaults={"name": set_name or set_slug, "modality": modality, "category": category, "source": "pre-generated"}
    )
    prompts: dict[str, Prompt] = {}
    for item, text, media_name, mime in accepted:
        if item.key not in prompts:
            prompts[item.key], _ = Prompt.objects.get_or_create(
                prompt_set=pset, text=item.prompt,
                defaults={"modality": modality, "category": item.category or category,
                          "language": detect_language(item.prompt), "source": Prompt.SOURCE_SET},
            )
        comp, created = Competitor.objects.get_or_create(
            slug=item.model, defaults={"name": item.model, "modality": modality, "adapter": PREGENERATED}
        )
        if created:
            report.created_models.append(item.model)
        PregeneratedOutput.objects.update_or_create(
            competitor=comp, prompt=prompts[item.key], defaults={"text": text, "media_name": media_name, "media_mime": mime}
        )
        report.outputs += 1
        report.models.add(item.model)
    report.prompts = len(prompts)


