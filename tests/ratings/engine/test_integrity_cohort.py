"""The new-voter cohort stage: the sparse per-model screen (a few new voters each boosting a
model, whatever the aggregate says) and the discrete BH over the voters of a screened model."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ratings.engine import integrity as it
from ratings.engine.integrity import bh, discrete_bh, pb_tail
from tests.ratings.engine.test_integrity import NAMES, THETA, Crowd

TARGET = 7


def newcomers(c: Crowd, n: int = 150, heavy: bool = True) -> None:
    """Honest voters who arrive in the last week, as varied as the crowd (and a few heavy ones
    with visible personal leanings)."""
    counts = np.ceil(c.rng.lognormal(0, 1.3, n) * 8).astype(int)
    for k, votes in enumerate(counts):
        c.honest(f"n{k}", int(votes), day0=51 + c.rng.uniform(0, 2), days=3)
    if heavy:
        for k, (gamma, lean) in enumerate([(1.6, 0.0), (0.6, 0.2), (1.3, -0.2)]):
            c.honest(f"nheavy{k}", 400, day0=51, days=4, gamma=gamma, lean=lean)


def boosters(c: Crowd, n: int, votes: int = 60) -> None:
    """New accounts, honest elsewhere, but the target wins whenever it is in their battle."""
    rng = c.rng
    for k in range(n):
        for _ in range(votes):
            a, b = c.pair()
            if TARGET in (a, b):
                o = "model_a" if a == TARGET else "model_b"
            elif rng.random() < 0.2:
                o = "tie"
            else:
                o = "model_a" if rng.random() < 1 / (1 + math.exp(-(THETA[a] - THETA[b]))) else "model_b"
            c.add(f"boost{k}", a, b, o, 52 + rng.uniform(0, 3))


def target_row(res):
    return next(m for m in res.models if m["model"] == NAMES[TARGET])


def cohort_flagged(res) -> set[str]:
    return {v for k, v in enumerate(res.log.voters)
            if any(r["detector"] == "cohort_divergence" for r in res.reasons[k])}


def test_the_sparse_screen_catches_boosters_the_aggregate_screen_cannot_see(monkeypatch):
    """With the aggregate screen's margin out of reach (as when many other new voters dilute the
    target's win share), the sparse screen alone finds the model, and the discrete BH flags the
    boosters, those with a handful of votes on the target included."""
    monkeypatch.setattr(it, "COHORT_MARGIN", 1.0)
    c = Crowd(seed=3)
    c.crowd(500, days=50)
    newcomers(c)
    boosters(c, 15)
    res = c.audit()
    row = target_row(res)
    assert row["cohort_p"] == 1.0 and row["cohort_sparse_p"] < 1e-6 and row["cohort_flagged"]
    caught = {f"boost{k}" for k in range(15)} & res.flagged
    assert len(caught) >= 13
    assert not {v for v in res.flagged if not v.startswith("boost")}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_sparse_screen_passes_no_model_for_an_honest_heterogeneous_crowd(seed):
    """Newcomers with personal agreement, left lean, tie rate and tastes, heavy ones with visible
    leanings: no model passes the sparse screen and nobody is flagged by the cohort stage."""
    c = Crowd(seed=seed)
    c.crowd(500, days=50)
    newcomers(c)
    res = c.audit()
    assert all(m["cohort_sparse_p"] > it.COHORT_ALPHA / 2 for m in res.models)
    assert not cohort_flagged(res)
    assert len(res.flagged) <= 0.01 * len(res.log.voters)


def test_the_sparse_screen_finds_a_model_new_voters_sink():
    """The other direction: new accounts that make a model lose whenever it is there."""
    c = Crowd(seed=5)
    c.crowd(500, days=50)
    newcomers(c)
    rng = c.rng
    victim = 2
    for k in range(15):
        for _ in range(60):
            a, b = c.pair()
            if victim in (a, b):
                o = "model_b" if a == victim else "model_a"
            else:
                o = "model_a" if rng.random() < 1 / (1 + math.exp(-(THETA[a] - THETA[b]))) else "model_b"
            c.add(f"sink{k}", a, b, o, 52 + rng.uniform(0, 3))
    res = c.audit()
    row = next(m for m in res.models if m["model"] == NAMES[victim])
    assert row["cohort_sparse_p"] < 1e-6
    assert len({f"sink{k}" for k in range(15)} & res.flagged) >= 12
    assert not {v for v in res.flagged if not v.startswith("sink")}


def test_poisson_binomial_tail():
    assert pb_tail(np.array([0.5] * 4)) == pytest.approx([1, 15 / 16, 11 / 16, 5 / 16, 1 / 16])
    probs = np.array([0.1, 0.7, 0.4])
    tail = pb_tail(probs)
    assert tail[3] == pytest.approx(0.1 * 0.7 * 0.4) and tail[0] == 1.0


def test_discrete_bh_is_bh_for_continuous_tests_and_weighs_what_a_small_test_can_attain():
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    # Continuous tests: the step-down with F(t)/(1-F(t)) is a little stricter than BH, never looser.
    adj = discrete_bh(p, [None] * p.size, 0.05)
    assert list(adj <= 0.05) == [True, True, False, False, False, False, False, False, False, False]
    assert np.all(adj >= bh(p, 0.05) - 1e-12)
    # Forty voters with two votes each (attainable p 1, 0.75, 0.25) can never reach 0.03: they do
    # not dilute the five voters who won all of their 6..10 votes on the model (p = 2^-6 .. 2^-10).
    strong = [pb_tail(np.full(n, 0.5)) for n in range(6, 11)]
    two = pb_tail(np.full(2, 0.5))
    p = np.array([t[-1] for t in strong] + [two[1]] * 40)
    assert (bh(p, 0.05) <= 0.05).sum() < 5
    adj = discrete_bh(p, strong + [two] * 40, 0.05)
    assert list(adj <= 0.05) == [True] * 5 + [False] * 40
