"""Seeded votes for leaderboard tests: battles, slots and votes written directly (as years of
voting would leave them), with known strengths so the order is predictable."""
from __future__ import annotations

import random

import pytest

from arena.models import Battle, Competitor, Prompt, Slot, Vote, Voter


def seed_votes(*, n_pairwise: int = 400, n_kwise: int = 60, seed: int = 1, language_every: int = 5) -> list[Competitor]:
    rng = random.Random(seed)
    comps = [
        Competitor.objects.create(slug=f"m{i}", name=f"Model {i}", organization=f"Org {i}", modality="text", adapter="demo_text")
        for i in range(5)
    ]
    strength = {c.pk: 1.2 - 0.5 * i for i, c in enumerate(comps)}
    voters = [Voter.objects.create() for _ in range(40)]  # 40 voters: intervals cluster by voter
    en = Prompt.objects.create(text="hello", modality="text", category="general", language="en")
    fr = Prompt.objects.create(text="bonjour", modality="text", category="general", language="fr")
    code = Prompt.objects.create(text="write code", modality="text", category="coding", language="en")
    battles, slots, votes = [], [], []
    plan = []
    for n in range(n_pairwise + n_kwise):
        k = 2 if n < n_pairwise else rng.choice([3, 4])
        picks = rng.sample(comps, k)
        prompt = fr if n % language_every == 0 else (code if n % 3 == 0 else en)
        plan.append((k, picks, prompt))
        battles.append(Battle(mode="pairwise" if k == 2 else "kwise", k=k, modality="text", voter=voters[n % len(voters)],
                              prompt=prompt, status="voted"))
    battles = Battle.objects.bulk_create(battles)
    for b, (k, picks, prompt) in zip(battles, plan):
        slots += [Slot(battle=b, position=p, competitor=c) for p, c in enumerate(picks)]
        noisy = [strength[c.pk] + rng.gauss(0, 1) for c in picks]
        order = sorted(range(k), key=lambda p: -noisy[p])
        places = [0] * k
        for place, p in enumerate(order, 1):
            places[p] = place
        if k == 2:
            outcome = "tie" if rng.random() < 0.1 else ("a" if places[0] == 1 else "b")
            ranking = {"a": [1, 2], "b": [2, 1], "tie": [1, 1]}[outcome]
            crit = {"style": rng.choice(["a", "b"])} if rng.random() < 0.5 else {}
            votes.append(Vote(battle=b, voter=b.voter, outcome=outcome, ranking=ranking, criteria=crit, mode="pairwise",
                              model_a=picks[0], model_b=picks[1], **_columns(prompt)))
        else:
            if rng.random() < 0.3:  # a tie between the two worst
                places = [min(p, k - 1) for p in places]
            votes.append(Vote(battle=b, voter=b.voter, ranking=places, mode="kwise", **_columns(prompt)))
    Slot.objects.bulk_create(slots)
    Vote.objects.bulk_create(votes)
    return comps


def _columns(prompt: Prompt) -> dict:
    return {"modality": "text", "category": prompt.category, "language": prompt.language, "n_turns": 1}


@pytest.fixture
def seeded(db):
    return seed_votes()
