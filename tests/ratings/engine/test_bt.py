"""Bradley-Terry / Plackett-Luce fits against independent references: choix and exact hand cases."""
from __future__ import annotations

import math

import choix
import numpy as np
import pytest

from ratings.engine import PairCells, fit_bt, votes_from_names, votes_from_records
from ratings.engine.bt import SCALE
from ratings.engine.cells import comparisons
from ratings.engine.votes import Votes

from .conftest import simulate_pairs, simulate_rankings


def _theta(lb, names=None) -> np.ndarray:
    names = names or lb.models
    rating = dict(zip(lb.models, lb.rating))
    return np.array([(rating[n] - 1000.0) / SCALE for n in names])


def test_two_models_rating_gap_is_the_log_odds():
    # 30 wins to 10: the MLE gap is ln(3) in θ, i.e. 400·log10(3) ≈ 190.85 rating points.
    votes = votes_from_names(["a"] * 40, ["b"] * 40, ["model_a"] * 30 + ["model_b"] * 10)
    lb = fit_bt(votes, ci="none")
    r = dict(zip(lb.models, lb.rating))
    assert r["a"] - r["b"] == pytest.approx(400 * math.log10(3), abs=1e-6)
    assert r["a"] + r["b"] == pytest.approx(2000.0, abs=1e-6)  # no anchor: mean rating 1000


def test_ties_and_both_bad_count_half_a_win_each_side():
    # 2 wins, 2 losses... plus ties: a has 3 + ½·4 = 5 points of 8, b has 3: gap ln(5/3).
    winners = ["model_a"] * 3 + ["model_b"] * 1 + ["tie"] * 2 + ["both_bad"] * 2
    lb = fit_bt(votes_from_names(["a"] * 8, ["b"] * 8, winners), ci="none")
    r = dict(zip(lb.models, lb.rating))
    assert r["a"] - r["b"] == pytest.approx(SCALE * math.log(5 / 3), abs=1e-6)


def test_three_models_solved_by_hand():
    # Cycle with equal records (a>b 2:1, b>c 2:1, c>a 2:1): by symmetry every θ is equal.
    a, b, w = [], [], []
    for x, y in (("a", "b"), ("b", "c"), ("c", "a")):
        a += [x] * 3
        b += [y] * 3
        w += ["model_a", "model_a", "model_b"]
    lb = fit_bt(votes_from_names(a, b, w), ci="none")
    assert np.allclose(lb.rating, 1000.0, atol=1e-8)


def test_matches_choix_on_simulated_pairs(rng):
    theta = rng.normal(0, 1, 12)
    votes = simulate_pairs(rng, theta, 4000)
    lb = fit_bt(votes, ci="none")
    data = [(x, y) if o == 0 else (y, x) for x, y, o in zip(votes.a, votes.b, votes.outcome)]
    ref = choix.ilsr_pairwise(12, data, alpha=0.0, tol=1e-12)
    assert np.allclose(_theta(lb), ref - ref.mean(), atol=1e-6)


def test_plackett_luce_matches_choix(rng):
    theta = rng.normal(0, 1, 8)
    rankings = simulate_rankings(rng, theta, 1500, k=4)
    names = [f"m{k}" for k in range(8)]
    records = [{"models": [names[x] for x in r], "ranking": [1, 2, 3, 4]} for r in rankings]
    lb = fit_bt(votes_from_records(records), ci="none")
    ref = choix.ilsr_rankings(8, rankings, alpha=0.0, tol=1e-12)
    assert np.allclose(_theta(lb, names), ref - ref.mean(), atol=1e-6)


def test_pairwise_and_kwise_share_one_scale(rng):
    # The joint likelihood is the product: choix's ranking fit of (pairs as 2-rankings + 4-rankings).
    theta = rng.normal(0, 1, 6)
    names = [f"m{k}" for k in range(6)]
    rankings = simulate_rankings(rng, theta, 600, k=4)
    pairs = simulate_rankings(rng, theta, 900, k=2)
    records = [{"models": [names[x] for x in r], "ranking": list(range(1, len(r) + 1))} for r in rankings]
    records += [{"model_a": names[x], "model_b": names[y], "winner": "model_a"} for x, y in pairs]
    lb = fit_bt(votes_from_records(records), ci="none")
    ref = choix.ilsr_rankings(6, rankings + pairs, alpha=0.0, tol=1e-12)
    assert np.allclose(_theta(lb, names), ref - ref.mean(), atol=1e-6)


def test_tied_kwise_vote_is_rank_broken_with_weight_two_over_k():
    records = [{"models": ["a", "b", "c"], "ranking": [1, 1, 3]}]
    cells, rankings = comparisons(votes_from_records(records))
    assert not rankings
    assert cells.total.sum() == pytest.approx(2.0)  # 3 pairs × 2/3: one K-wise vote weighs K-1 pairwise votes
    ab = np.flatnonzero((cells.i == 0) & (cells.j == 1))[0]
    assert cells.w[ab, 2] == pytest.approx(2 / 3)  # a and b tied


def test_weights_equal_duplicated_votes(rng):
    theta = rng.normal(0, 1, 5)
    votes = simulate_pairs(rng, theta, 600)
    doubled = Votes(votes.models, np.r_[votes.a, votes.a[:100]], np.r_[votes.b, votes.b[:100]],
                    np.r_[votes.outcome, votes.outcome[:100]])
    weighted = Votes(votes.models, votes.a, votes.b, votes.outcome, weight=np.r_[np.full(100, 2.0), np.ones(500)])
    assert np.allclose(fit_bt(doubled, ci="none").rating, fit_bt(weighted, ci="none").rating, atol=1e-8)


def test_zero_weight_removes_a_vote(rng):
    theta = rng.normal(0, 1, 5)
    votes = simulate_pairs(rng, theta, 600)
    kept = Votes(votes.models, votes.a[50:], votes.b[50:], votes.outcome[50:])
    zeroed = Votes(votes.models, votes.a, votes.b, votes.outcome, weight=np.r_[np.zeros(50), np.ones(550)])
    assert np.allclose(fit_bt(kept, ci="none").rating, fit_bt(zeroed, ci="none").rating, atol=1e-8)


def test_cells_from_aggregated_counts_equal_cells_from_rows(rng):
    theta = rng.normal(0, 1, 6)
    votes = simulate_pairs(rng, theta, 2000, tie=0.1)
    names = ["model_a", "model_b", "tie"]
    key = (votes.a.astype(int) * 6 + votes.b) * 3 + votes.outcome
    uniq, counts = np.unique(key, return_counts=True)
    ma = [votes.models[k // 18] for k in uniq]
    mb = [votes.models[(k // 3) % 6] for k in uniq]
    cells = PairCells.from_counts(ma, mb, [names[k % 3] for k in uniq], weight=counts, count=counts)
    for ci in ("none", "sandwich"):
        assert np.allclose(fit_bt(cells, ci=ci).upper, fit_bt(votes, ci=ci).upper, atol=1e-8)


def test_bootstrap_is_reproducible_and_close_to_sandwich(rng):
    theta = rng.normal(0, 1, 10)
    votes = simulate_pairs(rng, theta, 20000)
    b1 = fit_bt(votes, ci="bootstrap", rounds=300, seed=7)
    b2 = fit_bt(votes, ci="bootstrap", rounds=300, seed=7)
    sw = fit_bt(votes, ci="sandwich")
    assert np.array_equal(b1.lower, b2.lower)
    assert np.allclose(b1.rating, sw.rating)
    width_b, width_s = b1.upper - b1.lower, sw.upper - sw.lower
    assert np.allclose(width_b, width_s, rtol=0.2)
    assert np.all((b1.lower < b1.rating) & (b1.rating < b1.upper))


def test_bootstrap_handles_rankings(rng):
    theta = rng.normal(0, 1, 6)
    names = [f"m{k}" for k in range(6)]
    records = [{"models": [names[x] for x in r], "ranking": [1, 2, 3]} for r in simulate_rankings(rng, theta, 800, 3)]
    votes = votes_from_records(records)
    b = fit_bt(votes, ci="bootstrap", rounds=200, seed=1)
    s = fit_bt(votes, ci="sandwich")
    assert np.allclose(b.upper - b.lower, s.upper - s.lower, rtol=0.25)


def test_rank_intervals_follow_chatbot_arena():
    from ratings.engine.leaderboard import rank_intervals

    lower = np.array([10.0, 8.0, 0.0])
    upper = np.array([12.0, 11.0, 9.0])
    rank, worst = rank_intervals(lower, upper, np.zeros(3, int))
    # Nobody's lower bound is above a's or b's upper; a's lower (10) is above c's upper (9).
    assert rank.tolist() == [1, 1, 2]
    assert worst.tolist() == [2, 3, 3]


def test_anchor_shifts_everything_by_one_constant(rng):
    votes = simulate_pairs(rng, rng.normal(0, 1, 5), 1000)
    free = fit_bt(votes, ci="sandwich")
    anchored = fit_bt(votes, ci="sandwich", anchor=("m02", 1200.0))
    shift = anchored.rating - free.rating
    assert anchored.rating[2] == pytest.approx(1200.0)
    assert np.allclose(shift, shift[0]) and np.allclose(anchored.upper - free.upper, shift[0])


def test_matrices_for_plots():
    votes = votes_from_names(["a", "a", "b"], ["b", "c", "c"], ["model_a", "tie", "model_b"])
    lb = fit_bt(votes, ci="none")
    ia, ib, ic = (lb.models.index(x) for x in "abc")
    assert lb.battle_matrix[ia, ib] == lb.battle_matrix[ib, ia] == 1
    assert lb.win_matrix[ia, ib] == 1.0 and lb.win_matrix[ib, ia] == 0.0
    assert lb.win_matrix[ia, ic] == 0.5 and lb.win_matrix[ic, ib] == 1.0
    assert math.isnan(lb.win_matrix[ia, ia])


def test_poisson_sampler_draws_the_poisson_distribution():
    from scipy import stats

    from ratings.engine.sampling import PoissonSampler

    lam = np.array([0.5, 3.0, 12.5, 170.0, 10_000.0])
    draws = PoissonSampler(lam).draw(np.random.default_rng(5), 20_000)
    assert draws.shape == (5, 20_000) and draws.min() >= 0
    for row, mean in zip(draws, lam):
        assert abs(row.mean() - mean) < 5 * math.sqrt(mean / 20_000)
        k = np.arange(int(row.max()) + 1)
        expected = stats.poisson.pmf(k, mean) * len(row)
        keep = expected > 5
        observed = np.bincount(row.astype(int), minlength=len(k))[keep]
        assert stats.chisquare(observed, expected[keep] * observed.sum() / expected[keep].sum()).pvalue > 1e-4


def test_server_api_cells_plus_rankings_equals_rows():
    from ratings.engine import Rankings

    records = [{"model_a": "a", "model_b": "b", "winner": w} for w in ("model_a", "model_b", "tie", "model_a")]
    records += [{"models": ["c", "a", "b"], "ranking": [1, 2, 3]}] * 3 + [{"models": ["b", "c", "a"], "ranking": [1, 2, 3]}]
    from_rows = fit_bt(votes_from_records(records), ci="sandwich")
    cells = PairCells.from_counts(["a", "a", "a"], ["b", "b", "b"], ["model_a", "model_b", "tie"], weight=[2, 1, 1],
                                  models=["a", "b", "c"])
    rankings = Rankings.from_orders(["a", "b", "c"], [["c", "a", "b"], ["b", "c", "a"]], weight=[3, 1])
    from_sql = fit_bt(cells, rankings, ci="sandwich")
    assert np.allclose(from_sql.rating, from_rows.rating) and np.allclose(from_sql.upper, from_rows.upper)
