"""K-wise votes are audited too: rank-broken into pairs that count as one vote each. Planted K-wise
attackers are caught by the detector made for them; an honest K-wise crowd, heavy voters with
personal leanings included, is not flagged."""
from __future__ import annotations

import math

import numpy as np
import pytest

from ratings.engine.audit import audit
from ratings.engine.integrity import VoteLog
from tests.ratings.engine.test_integrity import DAY, M, NAMES, THETA, reasons

TARGET = 6


def _places(scores: np.ndarray) -> list[int]:
    """Places (1 = best) of outputs by score, highest first."""
    order = np.argsort(-scores, kind="stable")
    places = np.empty(len(scores), int)
    places[order] = np.arange(1, len(scores) + 1)
    return places.tolist()


class KCrowd:
    """Voters ranking K outputs (Plackett-Luce with a personal temperament: agreement with the
    board, a lean to the first-shown output, tastes per model, an occasional tie)."""

    def __init__(self, seed: int = 0, k: int = 4) -> None:
        self.rng = np.random.default_rng(seed)
        self.k = k
        self.votes: list[tuple] = []
        self.pairs: list[tuple] = []
        self.served = np.zeros(M)

    def battle(self, must: int | None = None) -> list[int]:
        while True:
            items = [int(x) for x in self.rng.choice(M, self.k, replace=False)]
            self.served[items] += 1
            if must is None or must in items:
                return items

    def ranked(self, items: list[int], strength: np.ndarray) -> list[int]:
        return _places(strength[items] + self.rng.gumbel(size=len(items)))  # a Plackett-Luce draw

    def honest(self, name: str, n: int, *, day0: float = 0.0, days: float = 50.0, gamma: float | None = None,
               lean: float | None = None) -> None:
        rng = self.rng
        gamma = rng.lognormal(0, 0.25) if gamma is None else gamma
        lean = rng.normal(0.05, 0.1) if lean is None else lean
        taste = rng.normal(0, 0.1, M)
        tie = rng.beta(1, 9)
        for t in np.sort(rng.uniform(day0, day0 + days, n)):
            items = self.battle()
            scores = gamma * (THETA + taste)[items] + rng.gumbel(size=self.k)
            scores[0] += lean
            places = np.array(_places(scores))
            if rng.random() < tie:  # two neighbours tied
                x = int(rng.integers(1, self.k))
                places = np.where(places > x, places - 1, places)
            self.add(name, items, places.tolist(), t)

    def add(self, name: str, items: list[int], places: list[int], t: float, dwell: float | None = None) -> None:
        d = dwell if dwell is not None else self.rng.lognormal(math.log(30000), 0.6)
        self.votes.append((name, [NAMES[i] for i in items], places, t * DAY, d, f"net-{name}"))

    def crowd(self, n: int = 300, days: float = 50.0) -> None:
        counts = np.ceil(self.rng.lognormal(0, 1.3, n) * 6).astype(int)
        for v, c in enumerate(counts):
            self.honest(f"h{v}", int(c), day0=self.rng.uniform(0, days - 10), days=10)

    def log(self) -> VoteLog:
        c = list(zip(*sorted(self.votes, key=lambda r: r[3])))
        kw = {"voters": c[0], "models": c[1], "places": c[2], "time": c[3], "dwell_ms": c[4], "network": c[5]}
        if not self.pairs:
            return VoteLog.build(rankings=kw)
        p = list(zip(*self.pairs))
        return VoteLog.build(voters=p[0], model_a=p[1], model_b=p[2], winner=p[3], time=p[4], dwell_ms=p[5],
                             network=p[6], rankings=kw)

    def audit(self, **kw):
        return audit(self.log(), exposure=dict(zip(NAMES, self.served.tolist())), **kw)


@pytest.fixture(scope="module")
def honest_result():
    c = KCrowd(seed=21)
    c.crowd(500)
    for k in range(6):  # heavy honest voters with visible personal leanings, hundreds of votes each
        c.honest(f"heavy{k}", 800, gamma=[0.6, 1.4, 1.0, 0.8, 1.2, 1.0][k], lean=[0.0, 0.0, 0.25, -0.2, 0.1, 0.3][k])
    return c.audit()


def test_an_honest_kwise_crowd_is_not_flagged_and_heavy_voters_not_for_volume(honest_result):
    flagged = honest_result.flagged
    assert len(flagged) / len(honest_result.log.voters) <= 0.01
    assert not {f"heavy{k}" for k in range(6)} & flagged
    d = honest_result.to_dict()
    heavy = next(v for v in d["voters"] if v["voter"] == "heavy0")
    assert heavy["votes"] == 800  # K-wise votes, not their 6 pairs each
    assert sum(m["votes"] for m in d["models"]) == 4 * d["votes"]  # each of a vote's 4 models once


def test_always_ranking_the_first_shown_first_is_caught_at_25_votes():
    c = KCrowd(seed=22)
    c.crowd(300)
    for k in range(10):
        for t in range(25):
            items = c.battle()
            rest = c.ranked(items[1:], THETA)
            c.add(f"first{k}", items, [1] + [p + 1 for p in rest], 45 + t / 10)
    res = c.audit()
    assert all("position_bias" in reasons(res, f"first{k}") for k in range(10))
    k = res.log.voters.index("first0")
    detail = next(r for r in res.reasons[k] if r["detector"] == "position_bias")["detail"]
    assert "won 25 of 25" in detail
    assert len([v for v in res.flagged if v.startswith("h")]) <= 3


def test_kwise_target_only_voters_are_caught_by_the_models_served():
    c = KCrowd(seed=23)
    c.crowd(300)
    for k in range(5):
        for t in range(100):
            items = c.battle(must=TARGET)  # battles without the target are abandoned: served, not voted
            scores = THETA[items] + c.rng.gumbel(size=c.k)
            scores[items.index(TARGET)] = 99.0
            c.add(f"fan{k}", items, _places(scores), 45 + t / 50)
    res = c.audit()
    for k in range(5):
        assert {"target_concentration", "outcome_bias"} <= reasons(res, f"fan{k}")
    assert res.models[0]["model"] == NAMES[TARGET] and res.models[0]["suspicious_share"] > 0.05


def test_random_rankings_are_caught_against_the_fit():
    c = KCrowd(seed=24)
    c.crowd(300)
    for k in range(5):
        for t in range(200):
            items = c.battle()
            c.add(f"rnd{k}", items, (c.rng.permutation(c.k) + 1).tolist(), 45 + t / 50)
    res = c.audit()
    assert {f"rnd{k}" for k in range(5)} <= res.flagged
    assert sum("likelihood" in reasons(res, f"rnd{k}") for k in range(5)) >= 4


def test_a_camouflaged_kwise_booster_with_enough_votes_is_caught_by_outcome_bias():
    c = KCrowd(seed=25)
    c.crowd(300)
    for t in range(600):
        items = c.battle()
        scores = THETA[items] + c.rng.gumbel(size=c.k)
        if TARGET in items:
            scores[items.index(TARGET)] = 99.0
        c.add("camo", items, _places(scores), 10 + t / 30)
    res = c.audit()
    assert "outcome_bias" in reasons(res, "camo")


def test_a_kwise_vote_is_one_unit_not_its_pairs():
    """Ten votes of six outputs each always ranked as the board ranks them (an oracle): fifteen
    pairs a vote, but only ten votes of evidence, too little to convict; the same behaviour over
    200 votes is caught by the two-sided likelihood test."""
    c = KCrowd(seed=26, k=6)
    c.crowd(300)
    for name, n in (("few", 10), ("many", 200)):
        for t in range(n):
            items = c.battle()
            c.add(name, items, _places(THETA[items]), 40 + t / 100)
    res = c.audit()
    assert "few" not in res.flagged
    assert "likelihood" in reasons(res, "many")


def test_pairwise_and_kwise_votes_of_one_voter_are_judged_together():
    c = KCrowd(seed=27)
    c.crowd(300)
    for t in range(30):  # a bot: the first-shown output first, 15 K-wise votes and 15 pairwise ones
        items = c.battle()
        if t % 2:
            c.add("bot", items, [1] + [p + 1 for p in c.ranked(items[1:], THETA)], 45 + t / 10)
        else:
            c.pairs.append(("bot", NAMES[items[0]], NAMES[items[1]], "model_a", (45 + t / 10) * DAY, 20000.0, "net-bot"))
    res = c.audit()
    assert "position_bias" in reasons(res, "bot")
    assert next(v for v in res.to_dict()["voters"] if v["voter"] == "bot")["votes"] == 30
