"""The one interface every model adapter implements, and the registry that finds them by name.

An adapter is built from a competitor's adapter config (a JSON object; secrets only by the
*name* of an environment variable) and generates one output for one request. Text adapters
stream by calling `on_text(chunk)` as tokens arrive; media adapters return bytes once done.
Nothing here imports Django: adapters are plain Python and testable on their own.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

MODALITIES = ("text", "image", "audio", "video", "3d")

# Celery queues a generation task may be routed to (see config/celery.py).
QUEUE_DEFAULT = "default"  # in-process demo models: cheap, CPU only
QUEUE_API = "api"  # hosted / HTTP models: many at once, I/O bound
QUEUE_GPU = "gpu"  # local torch models: one per GPU worker process (--pool=solo)


class AdapterError(Exception):
    """A failure to generate that is recorded on the slot; the message must be safe to store
    (never a secret) and readable by an operator."""


class AdapterConfigError(AdapterError):
    """The competitor's adapter config is wrong (missing key, unknown option)."""


@dataclass(frozen=True)
class Turn:
    role: str  # "user" or "assistant"
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    modality: str
    prompt: str  # the latest user message
    history: tuple[Turn, ...] = ()  # earlier turns of this slot's conversation, oldest first
    params: dict[str, Any] = field(default_factory=dict)  # per-request overrides (seed, ...)
    seed: int | None = None

    def messages(self, system: str | None = None) -> list[dict[str, str]]:
        """The conversation as OpenAI-style chat messages, ending with the prompt."""
        out = [{"role": "system", "content": system}] if system else []
        out += [{"role": t.role, "content": t.content} for t in self.history]
        out.append({"role": "user", "content": self.prompt})
        return out


@dataclass
class MediaOutput:
    data: bytes
    mime: str  # image/png, image/jpeg, audio/mpeg, audio/wav, video/mp4, model/gltf-binary


@dataclass
class GenerationResult:
    text: str = ""
    media: MediaOutput | None = None
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. token counts; never shown before the vote


TextSink = Callable[[str], None]


class Adapter:
    """Base class. Subclasses set `name`, `modalities`, `queue` and implement `generate`."""

    name: ClassVar[str] = ""
    modalities: ClassVar[tuple[str, ...]] = ("text",)
    queue: ClassVar[str] = QUEUE_DEFAULT

    def __init__(self, config: dict[str, Any]):
        self.config = dict(config or {})

    def generate(self, request: GenerationRequest, on_text: TextSink) -> GenerationResult:
        raise NotImplementedError

    @classmethod
    def queue_for(cls, config: dict[str, Any]) -> str:
        """Queue a task for this adapter goes to; a config may override with "queue"."""
        return str((config or {}).get("queue") or cls.queue)


_REGISTRY: dict[str, type[Adapter]] = {}

# Modules that register adapters when imported. Heavy dependencies (torch, transformers)
# are imported inside those adapters' methods, not at module import.
ADAPTER_MODULES = (
    "models_adapter.adapters.demo",
    "models_adapter.adapters.openai_compat",
    "models_adapter.adapters.local_torch",
    "models_adapter.adapters.pregenerated",
)


def register(cls: type[Adapter]) -> type[Adapter]:
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    _REGISTRY[cls.name] = cls
    return cls


def _load_all() -> None:
    for mod in ADAPTER_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:  # an adapter module not written yet
            if e.name != mod:
                raise


def adapter_class(name: str) -> type[Adapter]:
    if name not in _REGISTRY:
        _load_all()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise AdapterConfigError(f"unknown adapter {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def adapter_names() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def build_adapter(name: str, config: dict[str, Any]) -> Adapter:
    return adapter_class(name)(config)
