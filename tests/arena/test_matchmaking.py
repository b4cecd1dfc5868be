"""Blind battles draw their models from the configured matchmaking policy (ARENA_MATCHMAKING),
with its guard rails, from state kept current as votes land."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from arena.models import Battle, Competitor, Voter
from arena.services import matchmaking
from arena.services.battles import battle_create
from tests.ratings.test_pages import make_battle

pytestmark = pytest.mark.django_db

TEXT = ["aurora-7b", "lumen-13b", "quill-3", "pebble-1b", "mumble-0"]  # the demo's true order


def settle_all_but_the_top_pair(rounds: int = 25) -> None:
    """Counted votes: every adjacent pair of the demo's order settled, except aurora vs lumen,
    which is a coin flip."""
    rng = random.Random(0)
    for _ in range(rounds):
        for a, b in zip(TEXT, TEXT[1:]):
            outcome = rng.choice("ab") if a == "aurora-7b" else "a"
            make_battle([a, b], outcome=outcome)


def draw_battles(n: int, k: int = 2) -> tuple[Counter, Counter]:
    voter = Voter.objects.create()
    models, pairs = Counter(), Counter()
    for _ in range(n):
        battle = battle_create(voter=voter, modality="text", prompt_text="Name a river.",
                               mode="pairwise" if k == 2 else "kwise", k=k)
        slugs = sorted(battle.slots.values_list("competitor__slug", flat=True))
        assert len(slugs) == len(set(slugs)) == k
        models.update(slugs)
        pairs[tuple(slugs)] += 1
    return models, pairs


def test_uniform_policy_draws_every_model_equally(demo, settings):
    settings.ARENA_MATCHMAKING = "uniform"
    settle_all_but_the_top_pair()
    models, pairs = draw_battles(300)
    # 300 battles of 2 among 5: 120 appearances each, sd 8.5; the top pair in 1 battle of 10
    assert all(80 <= models[m] <= 160 for m in TEXT), models
    assert pairs[("aurora-7b", "lumen-13b")] < 0.17 * 300


def test_active_policy_spends_battles_where_the_order_is_in_doubt_within_the_guard_rails(demo, settings):
    settings.ARENA_MATCHMAKING = "active"
    settings.ARENA_MATCHMAKING_FLOOR = 0.25
    settings.ARENA_MATCHMAKING_CAP = 2.0
    settle_all_but_the_top_pair()
    n = 300
    models, pairs = draw_battles(n)
    uniform = n * 2 / 5
    assert pairs[("aurora-7b", "lumen-13b")] > 0.18 * n, pairs  # a uniform draw: 0.1 of battles (sd 0.017)
    assert min(models[m] for m in TEXT) >= 0.25 * uniform * 0.7, models  # the floor
    assert max(models[m] for m in TEXT) <= 2.0 * uniform * 1.1, models  # the cap


def test_left_out_models_are_never_drawn(demo, settings):
    settings.ARENA_MATCHMAKING = "active"
    Competitor.objects.filter(slug="pebble-1b").update(healthy=False)
    Competitor.objects.filter(slug="mumble-0").update(sampling_weight=0)
    models, _ = draw_battles(60, k=3)
    assert set(models) == {"aurora-7b", "lumen-13b", "quill-3"}


def test_a_new_model_is_boosted_until_placed(demo, settings):
    settings.ARENA_MATCHMAKING = "active"
    settings.ARENA_MATCHMAKING_CAP = 3.0
    for _ in range(8):
        for a, b in zip(TEXT, TEXT[1:]):
            make_battle([a, b], outcome="a")
    draw_battles(5)  # the process has its state now
    Competitor.objects.create(slug="newbie-1", name="Newbie-1", modality="text", adapter="demo_text",
                              adapter_config={"token_delay_ms": 0})
    models, _ = draw_battles(60)
    assert models["newbie-1"] >= 0.45 * 60, models  # a uniform draw: 2 of 6 battles


def test_votes_are_absorbed_as_they_land_without_a_rebuild(demo, settings):
    settings.ARENA_MATCHMAKING = "active"
    settle_all_but_the_top_pair(rounds=3)
    make_battle(["aurora-7b", "lumen-13b", "quill-3"], ranking=[2, 1, 3])
    draw_battles(1)
    live = matchmaking._state("text")
    built, absorbed = live.built, live.policy.total_votes
    assert absorbed == 13  # the state starts from every counted vote, each once
    settle_all_but_the_top_pair(rounds=2)
    make_battle(["aurora-7b", "quill-3"], outcome="a", counted=False, reason="identity_leak")  # not counted
    make_battle(["aurora-7b", "quill-3"], outcome="a", anonymous=False, counted=False, reason="named")
    draw_battles(1)
    assert live.built == built  # no rebuild, no fit of all votes: only the 8 new counted votes
    assert live.policy.total_votes == absorbed + 8
    draw_battles(1)
    assert live.policy.total_votes == absorbed + 8  # each vote once
    assert Battle.objects.filter(anonymous=True).count() >= 11
