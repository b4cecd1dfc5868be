"""Faults in the recompute pipeline (issue 9, "Faults"): a Celery worker SIGKILLed in the middle of a
leaderboard fit. The "needs recompute" flag is cleared only after the snapshot commits, so the task
the broker delivers again (acks_late) fits again, and the leaderboard converges without a new vote."""
from __future__ import annotations

import random
import signal
import time

import numpy as np
import pytest

from arena.models import Battle, Competitor, Prompt, Slot, Vote, Voter
from ratings.models import LeaderboardSnapshot

from .helpers import Http, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _seed_votes(n: int) -> None:
    """n counted pairwise votes among the demo's text models, from 50 voters (committed)."""
    rng = random.Random(3)
    comps = list(Competitor.objects.filter(modality="text"))
    strength = {c.pk: rng.gauss(0, 1) for c in comps}
    voters = [Voter.objects.create() for _ in range(50)]
    prompt = Prompt.objects.create(text="seeded", modality="text", category="general", language="en")
    battles, plan = [], []
    for k in range(n):
        a, b = rng.sample(comps, 2)
        v = voters[k % len(voters)]
        battles.append(Battle(mode="pairwise", k=2, modality="text", voter=v, prompt=prompt, status="voted"))
        p = 1 / (1 + np.exp(strength[b.pk] - strength[a.pk]))
        plan.append((a, b, v, "a" if rng.random() < p else "b"))
    battles = Battle.objects.bulk_create(battles)
    Slot.objects.bulk_create([Slot(battle=bt, position=p, competitor=c) for bt, (a, b, _, _) in zip(battles, plan)
                              for p, c in ((0, a), (1, b))])
    Vote.objects.bulk_create([Vote(battle=bt, voter=v, outcome=o, ranking=[1, 2] if o == "a" else [2, 1], mode="pairwise",
                                   model_a=a, model_b=b, modality="text", category="general", language="en", n_turns=1)
                              for bt, (a, b, v, o) in zip(battles, plan)])


def _vote_once(stack) -> None:
    client = Http(stack.base_url)
    client.open_page()
    status, state = client.json("POST", "/api/battles/", {"modality": "text", "prompt": "Name three rivers of Europe."})
    assert status == 201, state

    def ready():
        s = client.json("GET", f"/api/battles/{state['battle']}/")[1]
        return s if s["status"] == "ready" else None

    wait_until(ready, timeout=60, interval=0.2, what="the battle to be ready")
    status, voted = client.json("POST", f"/api/battles/{state['battle']}/vote/", {"outcome": "a"})
    assert status == 201, voted


def test_a_worker_killed_mid_fit_leaves_a_leaderboard_that_converges_without_a_new_vote(e2e_demo, arena_stack_factory):
    _seed_votes(1500)
    stack = arena_stack_factory({
        # A slow fit (a long bootstrap), so that the kill lands in the middle of it.
        "RATINGS_BT_CI": "bootstrap", "RATINGS_BOOTSTRAP_ROUNDS": "20000",
        "RATINGS_DEBOUNCE_S": "0", "RATINGS_LIVE_METHODS": "bt",
        # The broker gives a dead worker's task back after this (the default is minutes).
        "CELERY_VISIBILITY_TIMEOUT_S": "6",
        "ARENA_MIN_DWELL_MS": "0", "ARENA_RATE_LIMITS": "off",  # the test votes at once
    })
    _vote_once(stack)  # the one vote: it nudges the leaderboards; nothing else will
    total = Vote.objects.filter(counted=True).count()
    old = stack.worker
    wait_until(lambda: "fitting leaderboard text/overall/bt" in old.log(), timeout=60, interval=0.05,
               what="the worker to start the overall BT fit")
    old.kill_group(signal.SIGKILL)
    old.popen.wait(10)
    assert not LeaderboardSnapshot.objects.filter(modality="text", category="overall", method="bt",
                                                  vote_count=total).exists(), "the fit ended before the kill"

    stack.start_worker()  # a fresh worker, and no new vote
    snap = wait_until(lambda: LeaderboardSnapshot.objects.filter(modality="text", category="overall", method="bt",
                                                                  vote_count=total).first(),
                      timeout=300, interval=0.5, what="the leaderboard to converge after the kill")
    # It is the fit of exactly these votes: the same numbers as a recompute here, from the same votes.
    from ratings.services import leaderboard_recompute

    LeaderboardSnapshot.objects.filter(pk=snap.pk).delete()
    from django.test import override_settings

    with override_settings(RATINGS_BT_CI="bootstrap", RATINGS_BOOTSTRAP_ROUNDS=20000):
        again = leaderboard_recompute(modality="text", category="overall", method="bt")
    assert again.vote_hash == snap.vote_hash
    assert [(r["model"], round(r["rating"], 6)) for r in again.rows] == [(r["model"], round(r["rating"], 6)) for r in snap.rows]
