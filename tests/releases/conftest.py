"""Votes to release: the seeded leaderboard votes (pairwise + K-wise, several categories), made
old enough for the default delay, plus battles with real conversations (turns, outputs,
feedback) written as the arena writes them."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.utils import timezone

from arena.models import Battle, Competitor, Generation, Prompt, Slot, Turn, Vote, Voter
from tests.ratings.conftest import seed_votes

OLD = dt.timedelta(days=45)


def age(qs, by: dt.timedelta = OLD) -> None:
    qs.update(created=timezone.now() - by)


def conversation_battle(*, voter: Voter, models: list[Competitor], prompts: list[str], outputs: list[list[str]],
                        outcome: str = "a", feedback: str = "", ranking: list[int] | None = None,
                        category: str = "general", counted: bool = True, reason: str = "") -> Vote:
    """A voted battle with its turns and each slot's answer to each turn (outputs[slot][turn])."""
    k = len(models)
    first = Prompt.objects.create(text=prompts[0], modality=models[0].modality, category=category, language="en")
    battle = Battle.objects.create(mode="pairwise" if k == 2 else "kwise", k=k, modality=models[0].modality,
                                   voter=voter, prompt=first, status="voted", n_turns=len(prompts))
    turns = [Turn.objects.create(battle=battle, index=i, prompt=first if i == 0 else Prompt.objects.create(
        text=p, modality=first.modality, category=category)) for i, p in enumerate(prompts)]
    for pos, comp in enumerate(models):
        slot = Slot.objects.create(battle=battle, position=pos, competitor=comp)
        for t, turn in enumerate(turns):
            Generation.objects.create(slot=slot, turn=turn, status="done", text=outputs[pos][t])
    if ranking is None:
        ranking = {"a": [1, 2], "b": [2, 1], "tie": [1, 1], "both_bad": [1, 1]}[outcome]
    return Vote.objects.create(
        battle=battle, voter=voter, outcome=outcome if k == 2 else "", ranking=ranking, feedback=feedback,
        modality=battle.modality, mode=battle.mode, category=category, language="en", n_turns=len(prompts),
        model_a=models[0] if k == 2 else None, model_b=models[1] if k == 2 else None, network_hash="f" * 64,
        counted=counted, exclusion_reason=reason,
    )


@pytest.fixture
def seeded(db):
    comps = seed_votes(n_pairwise=300, n_kwise=60)
    age(Vote.objects.all())
    return comps


def cli(*args: str, check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run([sys.executable, "-m", "ratings", *args], capture_output=True, text=True, check=check,
                          timeout=300, cwd=cwd, env=env)


def rows(folder: Path) -> list[dict]:
    return pq.read_table(folder / "votes.parquet").to_pylist()


def manifest(folder: Path) -> dict:
    return json.loads((folder / "MANIFEST.json").read_text())
