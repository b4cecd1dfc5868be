"""Matchmaking policies (ratings.engine.matchmaking) and the simulator: what the arena and a
researcher rely on."""
from __future__ import annotations

import json
import random
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ratings.engine.matchmaking import POLICIES, make_policy
from ratings.engine.simulate import bt_design_ceiling, run

ROOT = Path(__file__).resolve().parents[3]
MODELS = [f"m{i:02d}" for i in range(12)]


def places_by(order: list[str], battle: list[str]) -> list[int]:
    """The noise-free vote: each model's place by its position in the true order."""
    ranked = sorted(battle, key=order.index)
    return [ranked.index(m) + 1 for m in battle]


@pytest.mark.parametrize("name", POLICIES)
@pytest.mark.parametrize("k", [2, 3, 4, 6])
def test_every_battle_has_k_distinct_models_among_those_given(name, k):
    p = make_policy(name, MODELS, k=k, seed=3)
    for _ in range(150):
        battle = p.propose()
        assert len(battle) == k == len(set(battle)) and set(battle) <= set(MODELS)
        p.observe(battle, places_by(MODELS, battle))
    # restricted to the models that can play now, and another k for one battle
    few = MODELS[:5]
    for _ in range(30):
        assert set(p.propose(k=2, among=few)) <= set(few)
    assert sorted(p.order()) == sorted(MODELS)


@pytest.mark.parametrize("name", POLICIES)
def test_the_same_seed_gives_the_same_battles(name):
    def battles(seed):
        p = make_policy(name, MODELS, k=4, seed=seed)
        out = []
        for _ in range(40):
            b = p.propose()
            p.observe(b, places_by(MODELS, b))
            out.append(b)
        return out, p.order()

    assert battles(5) == battles(5)
    assert battles(5)[0] != battles(6)[0]


@pytest.mark.parametrize("name", POLICIES)
def test_a_removed_model_is_never_drawn_until_added_again(name):
    p = make_policy(name, MODELS, k=3, seed=1)
    p.remove("m03")
    assert all("m03" not in p.propose() for _ in range(200))
    p.add("m03")
    assert any("m03" in p.propose() for _ in range(200))
    p.remove("m00")
    with pytest.raises(ValueError, match="only 2 available"):
        p.propose(k=3, among=["m00", "m01", "m02"])


def test_unknown_policy_and_bad_guard_rails_are_refused():
    with pytest.raises(ValueError, match="unknown matchmaking policy 'elo'"):
        make_policy("elo", MODELS)
    with pytest.raises(ValueError, match="floor"):
        make_policy("active", MODELS, floor=1.5)
    with pytest.raises(ValueError, match="cap"):
        make_policy("active", MODELS, cap=0.5)


def shares(rails: dict, battles: int = 1200) -> dict[str, float]:
    """Each model's share of battles, as a multiple of its uniform share, in a 12-model arena whose
    order is settled except for a coin-flip pair at the top (m00, m01): left alone, active sampling
    crowds that pair and starves the rest."""
    rng = random.Random(1)

    def vote(battle: list[str]) -> list[int]:
        places = places_by(MODELS, battle)
        return places[::-1] if set(battle) == {"m00", "m01"} and rng.random() < 0.5 else places

    p = make_policy("active", MODELS, k=2, seed=4, **rails)
    for _ in range(60):
        for i in range(len(MODELS) - 1):
            p.observe(MODELS[i: i + 2], vote(MODELS[i: i + 2]))
    seen: Counter[str] = Counter()
    for _ in range(battles):
        battle = p.propose()
        seen.update(battle)
        p.observe(battle, vote(battle))
    uniform = battles * 2 / len(MODELS)
    return {m: seen[m] / uniform for m in MODELS}


def test_floor_and_cap_hold_where_active_sampling_would_starve_or_crowd():
    free = shares({})
    assert max(free.values()) > 4 and min(free.values()) < 0.25  # what the guard rails are for
    railed = shares({"floor": 0.5, "cap": 2.0}, battles=2400)
    assert min(railed.values()) >= 0.5 * 0.8  # the floor, less sampling error
    assert max(railed.values()) <= 2.0 * 1.1  # the cap


def test_probabilities_are_what_the_draws_do_and_respect_the_floor():
    p = make_policy("active", MODELS, k=2, seed=2, floor=0.4)
    for _ in range(200):
        b = p.propose()
        p.observe(b, places_by(MODELS, b))
    probs = p.probabilities(k=2, draws=3000, seed=9)
    assert set(probs) == set(MODELS) and sum(probs.values()) == pytest.approx(2.0)
    assert min(probs.values()) >= 0.4 * 2 / len(MODELS) * 0.85
    assert probs == p.probabilities(k=2, draws=3000, seed=9)  # nothing in the policy moved


def test_a_new_model_is_boosted_and_placed_within_a_few_votes():
    truth = [f"m{i:02d}" for i in range(30)]
    newcomer, old = truth[11], truth[:11] + truth[12:]
    p = make_policy("active", old, k=4, seed=0)
    for _ in range(400):
        b = p.propose()
        p.observe(b, places_by(truth, b))
    assert p.order() == old
    p.add(newcomer)
    appeared, placed_at = 0, None
    for vote in range(1, 31):
        b = p.propose()
        appeared += newcomer in b
        p.observe(b, places_by(truth, b))
        if placed_at is None and abs(p.order().index(newcomer) - 11) <= 1:
            placed_at = vote
    assert appeared >= 8  # a uniform draw would show it in ~4 of 30 battles
    assert placed_at is not None and placed_at <= 15
    assert abs(p.order().index(newcomer) - 11) <= 1


def test_the_simulator_finds_active_ahead_on_a_small_ksort_arena():
    params = {"models": 16, "stay": 20, "max_votes": 3000}
    votes = {name: statistics.median(run("ksort", name, seed, **params).votes or 10**9 for seed in range(3))
             for name in POLICIES}
    assert votes["active"] * 1.5 <= votes["ksort-ucb"]
    assert votes["active"] * 1.5 <= votes["uniform"]
    again = run("ksort", "active", 0, **params)
    assert again.votes == run("ksort", "active", 0, **params).votes  # seeds make runs reproducible


def test_uniform_and_active_order_the_same_votes_the_same_way():
    """The bt goal compares designs: both policies must read the same votes with one estimator."""
    rng = random.Random(7)
    uniform, active = make_policy("uniform", MODELS, k=2, seed=0), make_policy("active", MODELS, k=2, seed=0)
    for _ in range(300):
        battle = rng.sample(MODELS, 2)
        places = [1, 2] if rng.random() < 0.5 else [2, 1]  # coin flips: the MAP alone leaves ties to break
        uniform.observe(battle, places)
        active.observe(battle, places)
    assert uniform.order() == active.order()


def test_the_design_ceiling_grows_where_uniform_wastes_votes_on_settled_pairs():
    """Choosing pairs can only gain what the spread of strengths allows: near-equal models leave
    little to choose, widely spread ones waste most of a uniform design on settled pairs."""
    gains = {}
    for spread in (0.6, 2.0):
        pairs = [bt_design_ceiling(seed, models=12, spread=spread) for seed in range(3)]
        assert all(best <= uniform for uniform, best in pairs)
        gains[spread] = statistics.median(uniform / best for uniform, best in pairs)
    assert 1.0 < gains[0.6] < 1.5 < gains[2.0]


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ratings", "simulate", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_simulate_command_prints_medians_and_writes_every_run(tmp_path):
    out = tmp_path / "runs.json"
    res = cli("--experiment", "ksort", "--models", "10", "--stay", "10", "--seeds", "2", "--out", str(out))
    assert res.returncode == 0, res.stderr
    lines = {line.split()[0]: line.split() for line in res.stdout.splitlines()[2:]}
    assert set(lines) == set(POLICIES)
    data = json.loads(out.read_text())
    assert data["params"]["models"] == 10 and len(data["runs"]) == 6
    med = statistics.median(r["votes"] for r in data["runs"] if r["policy"] == "active")
    assert float(lines["active"][1]) == med


@pytest.mark.parametrize("args, message", [
    (["--experiment", "bt", "--noise", "0.1"], "--noise does not apply to the bt experiment"),
    (["--k", "9", "--models", "8"], "--k must be between 2 and the number of models (8)"),
    (["--policy", "elo"], "--policy 'elo': choose one of"),
    (["--noise", "1.5"], "--noise is a share of votes"),
    (["--seeds", "0"], "--seeds must be at least 1"),
])
def test_simulate_bad_flags_exit_2_with_a_clear_line(args, message):
    res = cli(*args)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr
