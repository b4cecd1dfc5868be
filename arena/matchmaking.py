"""Matchmaking policies: which competitors meet. Pure Python over weights; no database."""
from __future__ import annotations

import random
from typing import Sequence, TypeVar

T = TypeVar("T")


def weighted_sample(items: Sequence[T], weights: Sequence[float], k: int, rng: random.Random) -> list[T]:
    """k distinct items, each draw proportional to weight among those not yet drawn.

    Uniform when all weights are equal (the first policy); active sampling later only changes
    the weights it passes in.
    """
    if k > len(items):
        raise ValueError(f"need {k} competitors, only {len(items)} available")
    pool = list(zip(items, (max(float(w), 0.0) for w in weights)))
    chosen: list[T] = []
    for _ in range(k):
        total = sum(w for _, w in pool)
        if total <= 0:  # all remaining weights zero: fall back to uniform
            idx = rng.randrange(len(pool))
        else:
            r = rng.random() * total
            acc, idx = 0.0, len(pool) - 1
            for i, (_, w) in enumerate(pool):
                acc += w
                if r < acc:
                    idx = i
                    break
        chosen.append(pool.pop(idx)[0])
    return chosen
