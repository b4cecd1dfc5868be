"""The incremental cells of a leaderboard equal a full scan of its counted votes, whatever came in
between: new votes, exclusions, undo, decisions on votes not yet absorbed, votes committed out of
id order."""
from __future__ import annotations

import numpy as np
import pytest
from django.db.models import Count, F, Sum

from arena.models import Battle, Slot, Vote
from arena.services.exclusions import votes_count_again, votes_exclude
from ratings.boardcells import board_fit_input, board_update, fingerprint_full, fingerprint_of
from ratings.models import BoardCell, BoardVoter
from ratings.services import fit_bt_board, method_params
from ratings.votesource import comparisons_of

pytestmark = pytest.mark.django_db


def _full_scan(category: str = "overall") -> tuple[dict, dict]:
    from django.db.models.fields.json import KT

    from ratings.votesource import category_filter

    q, criterion = category_filter(category)
    qs = Vote.objects.filter(q, modality="text", counted=True, weight__gt=0, mode="pairwise")
    qs = qs.annotate(o=KT(f"criteria__{criterion}") if criterion else F("outcome"))
    cells = {(r["model_a_id"], r["model_b_id"], r["o"]): (round(r["w"], 9), r["n"]) for r in
             qs.values("model_a_id", "model_b_id", "o").annotate(w=Sum("weight"), n=Count("id")).order_by()}
    voters = {r["voter_id"]: r["n"] for r in qs.values("voter_id").annotate(n=Count("id")).order_by()}
    return cells, voters


def _assert_equal_to_full_scan(category: str = "overall") -> None:
    from ratings.votesource import category_filter

    state = board_update(modality="text", category=category)
    cells, voters = _full_scan(category)
    kept = {(c.model_a_id, c.model_b_id, c.outcome): (round(c.w, 9), round(c.n)) for c in
            BoardCell.objects.filter(board=state) if c.n > 0.5}
    assert kept == cells
    assert {v.voter_id: v.votes for v in BoardVoter.objects.filter(board=state) if v.votes} == voters
    assert fingerprint_of(state) == fingerprint_full(modality="text", category=category)
    q, _ = category_filter(category)
    assert state.kwise_count == Vote.objects.filter(q, modality="text", counted=True, weight__gt=0, mode="kwise").count()


def _more_votes(n: int, ids: list[int] | None = None, new_voters: bool = False) -> list[Vote]:
    """n more pairwise votes like the seeded ones (explicit ids when given; each from a new voter if asked)."""
    from arena.models import Voter

    rng = np.random.default_rng(len(Vote.objects.all()))
    template = Vote.objects.filter(mode="pairwise").select_related("battle").first()
    from arena.models import Competitor

    # Every model of the seeded pairwise votes, in a fixed order (not the first rows' models: rows
    # come back in whatever order the table holds them).
    shown = Vote.objects.filter(mode="pairwise")
    comps = list(Competitor.objects.filter(pk__in=shown.values("model_a")).union(
        Competitor.objects.filter(pk__in=shown.values("model_b"))).order_by("pk"))
    out = []
    for k in range(n):
        a, b = rng.choice(len(comps), 2, replace=False)
        voter = Voter.objects.create() if new_voters else template.voter
        battle = Battle.objects.create(mode="pairwise", k=2, modality="text", voter=voter, prompt=template.battle.prompt,
                                       status="voted")
        Slot.objects.bulk_create([Slot(battle=battle, position=0, competitor=comps[a]), Slot(battle=battle, position=1, competitor=comps[b])])
        outcome = str(rng.choice(["a", "b", "tie"]))
        extra = {"id": ids[k]} if ids else {}
        out.append(Vote.objects.create(battle=battle, voter=voter, outcome=outcome, ranking=[1, 2], mode="pairwise",
                                       model_a=comps[a], model_b=comps[b], modality="text", category="general",
                                       language="en", n_turns=1, **extra))
    return out


def test_cells_follow_votes_exclusions_and_undo(seeded):
    _assert_equal_to_full_scan()
    ids = list(Vote.objects.order_by("pk").values_list("pk", flat=True))  # pairwise and K-wise
    ids = ids[:20] + ids[-5:]
    votes_exclude(votes=ids[:25], reason="fraud:test", detail="planted", by_kind="detector", by="test")
    _assert_equal_to_full_scan()
    _more_votes(12)
    votes_count_again(votes=ids[:10], by_kind="staff", by="tester")  # undo part of it
    _assert_equal_to_full_scan()
    # Excluded and counted again before any update ever saw them, and one excluded twice over.
    fresh = _more_votes(5)
    votes_exclude(votes=[v.pk for v in fresh], reason="fraud:test", detail="", by_kind="detector", by="test")
    votes_count_again(votes=[fresh[0].pk], by_kind="staff", by="tester")
    votes_exclude(votes=[fresh[0].pk], reason="fraud:again", detail="", by_kind="detector", by="test")
    _assert_equal_to_full_scan()
    _assert_equal_to_full_scan("language:fr")
    _assert_equal_to_full_scan("criterion:style")


def test_a_vote_committed_after_a_higher_id_is_absorbed_once(seeded):
    top = Vote.objects.order_by("-pk").first().pk
    _more_votes(1, ids=[top + 2])  # id top+1 is still "in flight"
    _assert_equal_to_full_scan()
    _more_votes(1, ids=[top + 1])  # ... and commits now
    _assert_equal_to_full_scan()
    _assert_equal_to_full_scan()  # nothing new: nothing changes


def test_the_fit_from_incremental_cells_equals_the_fit_from_a_full_scan(seeded):
    votes_exclude(votes=list(Vote.objects.order_by("pk").values_list("pk", flat=True)[:30]), reason="fraud:test",
                  detail="", by_kind="detector", by="test")
    state = board_update(modality="text", category="overall")
    params = method_params("bt")
    inc = fit_bt_board(*board_fit_input(state, heavy=2000)[:2], board_fit_input(state, 2000)[3], params,
                       board_fit_input(state, 2000)[2])
    cells, rankings, counts, clusters = comparisons_of("text", "overall")
    full = fit_bt_board(cells, rankings, clusters, params, counts)
    assert inc.models == full.models
    for attr in ("rating", "lower", "upper"):
        np.testing.assert_allclose(getattr(inc, attr), getattr(full, attr), atol=1e-6)


def test_between_clustering_refreshes_intervals_keep_their_voter_factors(seeded):
    from ratings.services import leaderboard_recompute

    first = leaderboard_recompute(modality="text", method="bt")
    assert first.extra["cluster_factors_from_votes"] == first.vote_count
    _more_votes(10, new_voters=True)  # the board grew by about 2%: no refresh
    second = leaderboard_recompute(modality="text", method="bt")
    assert second.extra["cluster_factors_from_votes"] == first.vote_count
    # Its intervals: the exact voter-clustered ones of these votes, to within a few percent.
    state = board_update(modality="text", category="overall")
    cells, rankings, counts, clusters = board_fit_input(state, 2000)
    exact = fit_bt_board(cells, rankings, clusters, method_params("bt"), counts)
    widths = {r["model"]: r["upper"] - r["lower"] for r in second.rows}
    for m, lo, hi in zip(exact.models, exact.lower, exact.upper):
        assert widths[m] == pytest.approx(hi - lo, rel=0.08), m


def test_with_workers_a_due_clustering_refresh_runs_as_its_own_task_and_the_next_snapshot_carries_it(
        seeded, monkeypatch, django_capture_on_commit_callbacks):
    """With Celery workers (not eager) a recompute that finds the voter clustering due publishes the
    new votes at once with the last factors and queues one refresh; the refresh stores the factors
    of these votes, and the next snapshot carries them (and recomputes the fragility)."""
    from config.celery import app
    from ratings import services, tasks
    from ratings.models import BoardCells

    first = services.leaderboard_recompute(modality="text", method="bt")  # a board's first fit: clustered now
    assert first.extra["cluster_factors_from_votes"] == first.vote_count
    monkeypatch.setitem(app.conf, "task_always_eager", False)
    queued: list[tuple] = []
    monkeypatch.setattr(tasks.refresh_clustering, "delay", lambda *args: queued.append(args))
    _more_votes(60, new_voters=True)  # the board grew by over 10%: the clustering is due
    with django_capture_on_commit_callbacks(execute=True):
        second = services.leaderboard_recompute(modality="text", method="bt")
        again = services.leaderboard_recompute(modality="text", method="bt")  # nothing new: the same snapshot
    assert second.vote_count > first.vote_count and again.pk == second.pk
    assert second.extra["cluster_factors_from_votes"] == first.vote_count  # the last factors, not waited for
    assert queued == [("text", "overall")]  # one refresh asked for

    assert services.board_cluster_refresh(modality="text", category="overall") is True
    state = BoardCells.objects.get(modality="text", category="overall")
    assert state.cluster_votes == second.vote_count
    assert services.board_cluster_refresh(modality="text", category="overall") is False  # not due any more
    _more_votes(2, new_voters=True)
    third = services.leaderboard_recompute(modality="text", method="bt")
    assert third.extra["cluster_factors_from_votes"] == second.vote_count
    assert third.extra["fragility_from_votes"] == third.vote_count  # new factors: fragility recomputed
    # Its intervals: the voter-clustered ones of these votes, to within a few percent.
    cells, rankings, counts, clusters = board_fit_input(board_update(modality="text", category="overall"), 2000)
    exact = fit_bt_board(cells, rankings, clusters, method_params("bt"), counts)
    widths = {r["model"]: r["upper"] - r["lower"] for r in third.rows}
    for m, lo, hi in zip(exact.models, exact.lower, exact.upper):
        assert widths[m] == pytest.approx(hi - lo, rel=0.08), m


def test_ids_that_jump_by_a_million_are_one_gap_and_a_late_vote_inside_is_absorbed(seeded):
    """A restored or truncated table (or a test database after others) hands out ids far above the
    last one seen: the hole is kept as one range, not a million ids, and a vote that commits inside
    it later, however far below the newest id, is still absorbed exactly once."""
    top = Vote.objects.order_by("-pk").first().pk
    _more_votes(1, ids=[top + 1_000_000])
    _assert_equal_to_full_scan()
    from ratings.models import BoardCells

    state = BoardCells.objects.get(modality="text", category="overall")
    assert [g[:2] for g in state.vote_gaps if g[0] > top] == [[top + 1, top + 999_999]]
    _more_votes(1, ids=[top + 17])  # a long transaction commits at last, a million ids below
    _assert_equal_to_full_scan()
    state.refresh_from_db()
    assert [g[:2] for g in state.vote_gaps if g[0] > top] == [[top + 1, top + 16], [top + 18, top + 999_999]]
    _assert_equal_to_full_scan()
