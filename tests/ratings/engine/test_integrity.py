"""Fraud detectors on planted cases and on an honest crowd: each attacker is caught by the detector
made for it, and honest voters, heavy ones included, are not flagged."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ratings.engine.audit import audit
from ratings.engine.integrity import VoteLog, bh

M = 12
THETA = np.linspace(1.2, -1.2, M)  # m00 best
NAMES = [f"m{k:02d}" for k in range(M)]
DAY = 86400.0


class Crowd:
    """An honest crowd with personal temperament (agreement, left lean, tie rate, tastes, speed)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.rows: list[tuple] = []
        self.served = np.zeros(M)

    def pair(self, must: int | None = None) -> tuple[int, int]:
        while True:
            a, b = (int(x) for x in self.rng.choice(M, 2, replace=False))
            self.served[[a, b]] += 1
            if must is None or must in (a, b):
                return a, b

    def honest(self, name: str, n: int, *, day0: float = 0.0, days: float = 50.0, net: str | None = None,
               gamma: float | None = None, lean: float | None = None, speed: float = 1.0) -> None:
        rng = self.rng
        gamma = rng.lognormal(0, 0.25) if gamma is None else gamma
        lean = rng.normal(0.05, 0.1) if lean is None else lean
        tie = rng.beta(2, 8)
        taste = rng.normal(0, 0.1, M)
        for t in np.sort(rng.uniform(day0, day0 + days, n)):
            a, b = self.pair()
            if rng.random() < tie:
                o = "tie"
            else:
                x = gamma * (THETA[a] + taste[a] - THETA[b] - taste[b]) + lean
                o = "model_a" if rng.random() < 1 / (1 + math.exp(-x)) else "model_b"
            self.add(name, a, b, o, t, net, speed)

    def add(self, name, a, b, outcome, t, net=None, speed=1.0, dwell=None) -> None:
        d = dwell if dwell is not None else self.rng.lognormal(math.log(20000), 0.6) * speed
        self.rows.append((name, NAMES[a], NAMES[b], outcome, t * DAY, d, net or f"net-{name}"))

    def crowd(self, n: int = 300, day0: float = 0.0, days: float = 50.0, prefix: str = "h") -> None:
        counts = np.ceil(self.rng.lognormal(0, 1.3, n) * 8).astype(int)
        for k, c in enumerate(counts):
            self.honest(f"{prefix}{k}", int(c), day0=day0 + self.rng.uniform(0, days - 10), days=10)

    def log(self) -> VoteLog:
        cols = list(zip(*sorted(self.rows, key=lambda r: r[4])))
        return VoteLog.build(voters=cols[0], model_a=cols[1], model_b=cols[2], winner=cols[3], time=cols[4],
                             dwell_ms=cols[5], network=cols[6])

    def audit(self, **kw):
        return audit(self.log(), exposure=dict(zip(NAMES, self.served.tolist())), **kw)


def reasons(result, voter: str) -> set[str]:
    k = result.log.voters.index(voter)
    return {r["detector"] for r in result.reasons[k]}


@pytest.fixture(scope="module")
def honest_result():
    c = Crowd(seed=11)
    c.crowd(600)
    for k in range(6):  # heavy honest voters, with visible personal leanings, hundreds of votes each
        c.honest(f"heavy{k}", 1500, gamma=[0.6, 1.4, 1.0, 0.8, 1.2, 1.0][k], lean=[0.0, 0.0, 0.25, -0.2, 0.1, 0.3][k])
    return c.audit()


def test_an_honest_crowd_is_not_flagged_and_heavy_voters_not_for_volume(honest_result):
    honest = [v for v in honest_result.log.voters]
    flagged = honest_result.flagged
    assert len(flagged) / len(honest) <= 0.01
    assert not {f"heavy{k}" for k in range(6)} & flagged
    assert all(m["suspicious_share"] <= 0.01 for m in honest_result.models)


def test_always_left_is_caught_by_position_bias_at_25_votes():
    c = Crowd(seed=1)
    c.crowd(300)
    for k in range(10):
        for t in range(25):
            a, b = c.pair()
            c.add(f"left{k}", a, b, "model_a", 45 + t / 10)
    res = c.audit()
    assert all("position_bias" in reasons(res, f"left{k}") for k in range(10))
    assert len([v for v in res.flagged if v.startswith("h")]) <= 3


def test_a_random_clicker_is_caught_by_agreement_with_the_board():
    c = Crowd(seed=2)
    c.crowd(300)
    for t in range(600):
        a, b = c.pair()
        c.add("coin", a, b, "tie" if c.rng.random() < 0.2 else ("model_a" if c.rng.random() < 0.5 else "model_b"), 40 + t / 100)
    res = c.audit()
    assert {"random", "likelihood"} & reasons(res, "coin")


def test_a_voter_who_always_picks_the_favourite_fails_the_two_sided_likelihood_test():
    c = Crowd(seed=3)
    c.crowd(300)
    for t in range(400):
        a, b = c.pair()
        c.add("oracle", a, b, "model_a" if THETA[a] > THETA[b] else "model_b", 40 + t / 100)
    res = c.audit()
    assert "likelihood" in reasons(res, "oracle")
    k = res.log.voters.index("oracle")
    assert next(r for r in res.reasons[k] if r["detector"] == "likelihood")["detail"].startswith("log-likelihood +")


def test_target_concentration_compares_with_what_matchmaking_served():
    c = Crowd(seed=4)
    c.crowd(300)
    target = 6
    for k in range(3):
        for t in range(100):
            a, b = c.pair(must=target)  # battles without the target are abandoned: served, not voted
            c.add(f"fan{k}", a, b, "model_a" if a == target else "model_b", 45 + t / 50)
    res = c.audit()
    for k in range(3):
        assert {"target_concentration", "outcome_bias"} <= reasons(res, f"fan{k}")
    top = res.models[0]
    assert top["model"] == NAMES[target] and top["suspicious_share"] > 0.05


def test_a_model_matchmaking_boosts_is_not_concentration():
    """A new model shown in half of all battles: honest voters see it often, as served."""
    c = Crowd(seed=5)
    boosted = 3
    for v in range(150):
        for t in range(int(c.rng.integers(20, 200))):
            if c.rng.random() < 0.5:  # matchmaking draws the new model, then an opponent
                other = int(c.rng.choice([m for m in range(M) if m != boosted]))
                a, b = (boosted, other) if c.rng.random() < 0.5 else (other, boosted)
                c.served[[a, b]] += 1
            else:
                a, b = c.pair()
            o = "model_a" if c.rng.random() < 1 / (1 + math.exp(-(THETA[a] - THETA[b]))) else "model_b"
            c.add(f"h{v}", a, b, o, t / 10)
    res = c.audit()
    assert not any("target_concentration" in reasons(res, v) for v in res.log.voters)


def test_a_camouflaged_booster_with_enough_votes_is_caught_by_outcome_bias():
    c = Crowd(seed=6)
    c.crowd(300)
    target = 8
    for t in range(1200):
        a, b = c.pair()
        if target in (a, b):
            o = "model_a" if a == target else "model_b"
        else:
            o = "model_a" if c.rng.random() < 1 / (1 + math.exp(-(THETA[a] - THETA[b]))) else "model_b"
        c.add("camo", a, b, o, 10 + t / 30)
    res = c.audit()
    assert "outcome_bias" in reasons(res, "camo")


def test_too_fast_votes_are_caught_but_a_fast_reader_is_not():
    c = Crowd(seed=7)
    c.crowd(300)
    for t in range(30):
        a, b = c.pair()
        c.add("bot", a, b, "model_a" if THETA[a] > THETA[b] else "model_b", 45 + t / 100, dwell=250.0)
    c.honest("quick", 300, speed=0.35)
    res = c.audit()
    assert "dwell" in reasons(res, "bot")
    assert "quick" not in res.flagged


def test_pseudonyms_behind_one_network_are_judged_together():
    c = Crowd(seed=8)
    c.crowd(300)
    target = 9  # a weak model: each account alone is too small to convict
    for k in range(8):
        for t in range(8):
            a, b = c.pair(must=target)
            c.add(f"sock{k}", a, b, "model_a" if a == target else "model_b", 45 + t / 10, net="cafe")
    for k in range(10):  # an honest campus behind one address
        c.honest(f"campus{k}", 60, net="campus", day0=20, days=20)
    res = c.audit()
    socks = [f"sock{k}" for k in range(8)]
    assert all("network" in reasons(res, s) for s in socks)
    k = res.log.voters.index("sock0")
    assert next(r for r in res.reasons[k] if r["detector"] == "network")["pseudonyms"] == 8
    assert not {f"campus{k}" for k in range(10)} & res.flagged


def test_cohort_divergence_finds_new_voters_who_lift_a_model():
    c = Crowd(seed=9)
    c.crowd(500, days=50)
    target = 7
    for k in range(25):  # new accounts, honest-looking, but the target always wins in their votes
        for t in range(60):
            a, b = c.pair()
            if target in (a, b):
                o = "model_a" if a == target else "model_b"
            else:
                o = "model_a" if c.rng.random() < 1 / (1 + math.exp(-(THETA[a] - THETA[b]))) else "model_b"
            c.add(f"new{k}", a, b, o, 52 + t / 30)
    res = c.audit()
    row = next(m for m in res.models if m["model"] == NAMES[target])
    assert row["cohort_flagged"] and row["cohort_z"] > 0
    caught = [k for k in range(25) if f"new{k}" in res.flagged]
    assert len(caught) >= 10
    assert len([v for v in res.flagged if v.startswith("h")]) <= 5


def test_benjamini_hochberg():
    adj = bh(np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216]), 0.05)
    assert list(adj <= 0.05) == [True, True, False, False, False, False, False, False, False, False]
    assert adj[0] == pytest.approx(0.01)


def test_results_carry_the_documented_keys(honest_result):
    d = honest_result.to_dict()
    assert {"voters", "models"} <= set(d)
    assert {"voter", "votes", "flagged", "score", "reasons"} <= set(d["voters"][0])
    assert {"model", "votes", "suspicious_votes", "suspicious_share"} <= set(d["models"][0])
