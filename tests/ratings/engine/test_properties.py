"""Invariances of the Bradley-Terry fit, checked on generated vote sets (hypothesis)."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from ratings.engine import fit_bt
from ratings.engine.votes import Votes

M = 5


@st.composite
def vote_sets(draw) -> Votes:
    """Small vote sets in which every pair met and both won once: the MLE is finite and unique."""
    a, b, o = [], [], []
    for x in range(M):
        for y in range(x + 1, M):
            a += [x, x]
            b += [y, y]
            o += [0, 1]
    extra = draw(st.lists(st.tuples(st.integers(0, M - 1), st.integers(1, M - 1), st.integers(0, 2)),
                          max_size=40))
    for x, d, out in extra:
        a.append(x)
        b.append((x + d) % M)
        o.append(out)
    return Votes(models=[f"m{k}" for k in range(M)], a=np.array(a, np.int32), b=np.array(b, np.int32),
                 outcome=np.array(o, np.int8))


def _ratings(votes: Votes) -> np.ndarray:
    return fit_bt(votes, ci="sandwich").rating


@settings(max_examples=40, deadline=None, database=None)
@given(vote_sets(), st.randoms(use_true_random=False))
def test_row_order_does_not_change_ratings(votes, rnd):
    perm = np.array(rnd.sample(range(votes.n_pairwise), votes.n_pairwise))
    shuffled = Votes(votes.models, votes.a[perm], votes.b[perm], votes.outcome[perm])
    assert np.allclose(_ratings(votes), _ratings(shuffled), atol=1e-8)


@settings(max_examples=40, deadline=None, database=None)
@given(vote_sets(), st.lists(st.booleans(), min_size=100, max_size=100))
def test_swapping_sides_with_the_outcome_changes_nothing(votes, flips):
    flip = np.array(flips[: votes.n_pairwise] + [False] * max(0, votes.n_pairwise - 100))
    a = np.where(flip, votes.b, votes.a)
    b = np.where(flip, votes.a, votes.b)
    o = votes.outcome.copy()
    a_won, b_won = flip & (o == 0), flip & (o == 1)
    o[a_won], o[b_won] = 1, 0
    swapped = Votes(votes.models, a, b, o)
    before, after = fit_bt(votes, ci="sandwich"), fit_bt(swapped, ci="sandwich")
    assert np.allclose(before.rating, after.rating, atol=1e-8)
    assert np.allclose(before.upper, after.upper, atol=1e-8)


@settings(max_examples=40, deadline=None, database=None)
@given(vote_sets(), st.permutations(list(range(M))))
def test_renaming_models_permutes_ratings_and_nothing_else(votes, perm):
    perm = np.array(perm)
    # Model k is renamed to the perm[k]-th name, and the list stays sorted: ratings move with the names.
    renamed = Votes(votes.models, perm[votes.a].astype(np.int32), perm[votes.b].astype(np.int32), votes.outcome)
    before, after = fit_bt(votes, ci="sandwich"), fit_bt(renamed, ci="sandwich")
    assert np.allclose(after.rating[perm], before.rating, atol=1e-8)
    assert np.allclose(after.lower[perm], before.lower, atol=1e-8)
    assert np.array_equal(after.rank[perm], before.rank)
