"""The leaderboard shows how many votes would swap each pair of neighbours, and pairs that under
0.5% of the votes would swap as tied."""
from __future__ import annotations

import pytest

from arena.models import Battle, Competitor, Prompt, Slot, Vote, Voter
from ratings.services import leaderboard_recompute

pytestmark = pytest.mark.django_db


def _board():
    comps = {s: Competitor.objects.create(slug=s, name=s.title(), modality="text", adapter="demo_text") for s in "abc"}
    voter = Voter.objects.create()
    prompt = Prompt.objects.create(text="hi", modality="text")
    plan = [("a", "b", "a")] * 1001 + [("a", "b", "b")] * 999 + [("b", "c", "a")] * 300 + [("b", "c", "b")] * 100 \
        + [("a", "c", "a")] * 300 + [("a", "c", "b")] * 100
    battles = Battle.objects.bulk_create([Battle(mode="pairwise", k=2, modality="text", voter=voter, prompt=prompt, status="voted") for _ in plan])
    Slot.objects.bulk_create([Slot(battle=bt, position=p, competitor=comps[m]) for bt, (x, y, _) in zip(battles, plan) for p, m in enumerate((x, y))])
    Vote.objects.bulk_create([Vote(battle=bt, voter=voter, outcome=o, ranking=[1, 2] if o == "a" else [2, 1], modality="text",
                                   model_a=comps[x], model_b=comps[y]) for bt, (x, y, o) in zip(battles, plan)])


def test_near_tied_neighbours_are_shown_as_tied(client):
    _board()
    leaderboard_recompute(modality="text", category="overall", method="bt")
    data = client.get("/api/leaderboard/?modality=text&category=overall&method=bt").json()
    frag = {(f["upper"], f["lower"]): f for f in data["fragility"]}
    assert frag[("a", "b")]["tied"] and frag[("a", "b")]["votes_to_swap"] < 0.005 * data["votes"]
    assert not frag[("b", "c")]["tied"]
    tied = {r["model"]: r["tied_with"] for r in data["models"]}
    assert tied == {"a": ["b"], "b": ["a"], "c": []}
    page = client.get("/leaderboard/?modality=text").content.decode()
    assert page.count('data-testid="lb-tied"') == 2
    assert 'data-testid="lb-fragility"' in page and "A above B" in page
