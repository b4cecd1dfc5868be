"""Helpers shared by the offline demo adapters (see models_adapter.adapters.demo).

Everything here is stdlib only; randomness always comes from a `random.Random` seeded with a
stable hash of (adapter, prompt, history, seed, config), never from `hash()` or the clock.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
import time
from typing import Any

from models_adapter.base import AdapterConfigError, AdapterError, GenerationRequest


def stable_seed(*parts: Any) -> int:
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(blob.encode("utf-8")).digest()[:8], "big")


def request_seed(request: GenerationRequest) -> int:
    seed = request.seed
    if seed is None:
        seed = (request.params or {}).get("seed", 0)
    try:
        return int(seed)
    except (TypeError, ValueError):
        return stable_seed(str(seed))


def request_rng(adapter_name: str, request: GenerationRequest, config: dict[str, Any]) -> random.Random:
    history = [(t.role, t.content) for t in request.history]
    return random.Random(stable_seed(adapter_name, request.modality, request.prompt, history,
                                     request_seed(request), config))


def cfg_float(config: dict[str, Any], key: str, default: float, lo: float = 0.0, hi: float = 1.0) -> float:
    value = config.get(key, default)
    if value is None:
        value = default
    if isinstance(value, bool):
        raise AdapterConfigError(f"config {key!r} must be a number, not {value!r}")
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise AdapterConfigError(f"config {key!r} must be a number, not {value!r}") from None
    if f != f:  # NaN
        raise AdapterConfigError(f"config {key!r} must be a number, not NaN")
    return min(hi, max(lo, f))


def cfg_int(config: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    return int(round(cfg_float(config, key, default, lo, hi)))


def sleep_ms(ms: float) -> None:
    if ms > 0:
        time.sleep(ms / 1000.0)


def maybe_fail(rng: random.Random, config: dict[str, Any], what: str) -> None:
    """Raise AdapterError with probability config["fail_rate"] (simulated outage)."""
    rate = cfg_float(config, "fail_rate", 0.0)
    if rate > 0 and rng.random() < rate:
        raise AdapterError(f"{what}: simulated failure (fail_rate={rate:g})")


COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (210, 40, 40), "crimson": (180, 20, 50), "orange": (240, 140, 30),
    "yellow": (240, 210, 40), "gold": (230, 180, 40), "green": (50, 160, 70),
    "blue": (40, 90, 210), "navy": (20, 30, 110), "teal": (30, 150, 150), "cyan": (40, 200, 220),
    "purple": (130, 60, 170), "violet": (150, 90, 210), "pink": (240, 130, 180),
    "magenta": (210, 40, 170), "brown": (120, 75, 40), "black": (25, 25, 25),
    "white": (240, 240, 240), "grey": (128, 128, 128), "gray": (128, 128, 128),
    "silver": (190, 190, 200),
}


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def colour_words(text: str) -> list[str]:
    return [w for w in words(text) if w in COLOURS]
