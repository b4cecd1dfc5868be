"""`pregenerated`: serve outputs made ahead of time (as 3D Arena serves its iso3d prompts and
GenAI-Arena its museum), through the same interface and task path as live models.

The arena looks up the stored output for (competitor, prompt) and hands it over in
request.params["pregenerated"] = {"text": str, "path": str | None, "mime": str | None};
the adapter replays text word by word (so streaming looks like any model's) and reads media.
Config: token_delay_ms (default 0).
"""
from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from models_adapter.base import (
    MODALITIES, QUEUE_DEFAULT, Adapter, AdapterError, GenerationRequest, GenerationResult, MediaOutput, TextSink,
    register,
)


@register
class PregeneratedAdapter(Adapter):
    name = "pregenerated"
    modalities = MODALITIES
    queue = QUEUE_DEFAULT

    def generate(self, request: GenerationRequest, on_text: TextSink) -> GenerationResult:
        item: dict[str, Any] | None = (request.params or {}).get("pregenerated")
        if not item:
            raise AdapterError("no pre-generated output for this prompt")
        delay = float(self.config.get("token_delay_ms", 0)) / 1000
        text = item.get("text") or ""
        for piece in re.findall(r"\S+\s*|\s+", text):
            on_text(piece)
            if delay:
                time.sleep(delay)
        media = None
        if item.get("path"):
            path = Path(item["path"])
            try:
                media = MediaOutput(data=path.read_bytes(), mime=str(item.get("mime") or ""))
            except OSError as e:
                raise AdapterError(f"pre-generated file unreadable: {e.strerror}") from None
        return GenerationResult(text=text, media=media)
