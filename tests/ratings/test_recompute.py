"""The recompute pipeline: SQL aggregation + engine fit = the researcher's `python -m ratings fit`
on the exported votes; snapshots are immutable, fingerprinted and written once."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from arena.models import Vote
from ratings.models import LeaderboardSnapshot
from ratings.services import leaderboard_nudge, leaderboard_recompute

pytestmark = pytest.mark.django_db


def _cli(path, *args) -> dict:
    out = path.with_suffix(".fit.json")
    subprocess.run([sys.executable, "-m", "ratings", "fit", str(path), *args, "--out", str(out)], check=True, capture_output=True)
    return json.loads(out.read_text())


@pytest.mark.parametrize("category", ["overall", "language:fr", "votes:kwise", "criterion:style"])
def test_recompute_matches_the_cli_on_the_exported_votes(seeded, tmp_path, settings, category):
    snap = leaderboard_recompute(modality="text", category=category, method="bt")
    assert snap is not None
    if category == "overall":  # 40 voters (fewer in the small boards: then not clustered, with a note)
        assert snap.extra["clustered"] and "position_bias" in snap.extra
    path = tmp_path / "votes.jsonl"
    call_command("ratings_export_votes", "--modality", "text", "--category", category, "--out", str(path), stdout=StringIO())
    # The CLI's defaults are the published method (voter-clustered sandwich, position bias as a
    # parameter); only the provisional floor is the server's setting.
    cli = _cli(path, "--min-votes", str(settings.RATINGS_PRELIMINARY_VOTES))
    assert cli["votes"] == pytest.approx(snap.vote_count)
    ours = {r["model"]: r for r in snap.rows}
    assert set(ours) == {r["model"] for r in cli["models"]}
    for r in cli["models"]:
        for key in ("rating", "lower", "upper"):
            assert ours[r["model"]][key] == pytest.approx(r[key], abs=1e-6), (r["model"], key)
        assert (ours[r["model"]]["rank"], ours[r["model"]]["rank_upper"]) == (r["rank"], r["rank_upper"])


def test_categories_select_their_votes(seeded):
    fr = leaderboard_recompute(modality="text", category="language:fr", method="bt")
    overall = leaderboard_recompute(modality="text", category="overall", method="bt")
    coding = leaderboard_recompute(modality="text", category="category:coding", method="bt")
    counted = Vote.objects.filter(counted=True)
    assert overall.vote_count == counted.count()
    assert fr.vote_count == counted.filter(battle__prompt__language="fr").count() < overall.vote_count
    assert coding.vote_count == counted.filter(battle__prompt__category="coding").count()
    # the strongest seeded model leads overall
    assert overall.rows[0]["model"] == "m0" and overall.rows[0]["name"] == "Model 0"


def test_excluded_votes_do_not_count_and_change_the_fingerprint(seeded):
    from arena.services.exclusions import votes_count_again, votes_exclude

    first = leaderboard_recompute(modality="text", method="bt")
    ten = list(Vote.objects.order_by("pk").values_list("pk", flat=True)[:10])
    votes_exclude(votes=ten, reason="fraud:test", detail="planted", by_kind="staff", by="tester")
    second = leaderboard_recompute(modality="text", method="bt")
    assert second.pk != first.pk and second.vote_count == first.vote_count - 10 and second.vote_hash != first.vote_hash
    # Undo: the same votes count again, so the same vote set and the same numbers as before.
    votes_count_again(votes=ten, by_kind="staff", by="tester")
    third = leaderboard_recompute(modality="text", method="bt")
    assert third.vote_count == first.vote_count and third.vote_hash == first.vote_hash
    assert third.rows == first.rows


def test_same_votes_give_the_same_snapshot_once(seeded):
    a = leaderboard_recompute(modality="text", method="bt")
    b = leaderboard_recompute(modality="text", method="bt")  # a retried task, or nothing changed
    assert a.pk == b.pk and LeaderboardSnapshot.objects.count() == 1
    a_rows = a.rows
    LeaderboardSnapshot.objects.all().delete()
    c = leaderboard_recompute(modality="text", method="bt")
    assert c.rows == a_rows  # deterministic: same votes, same seed, same numbers


def test_snapshot_records_what_reproduction_needs(seeded):
    s = leaderboard_recompute(modality="text", method="bt")
    assert s.params == {"ci": "sandwich", "cluster": "voter", "position_bias": True, "ties": "half",
                        "small_sample": True, "min_votes": 30}
    assert s.max_vote_id == Vote.objects.order_by("-pk").first().pk
    assert s.code_version and s.duration_ms >= 0
    assert len(s.plots["win_matrix"]) == len(s.plots["models"]) == 5


@pytest.mark.parametrize("method", ["elo", "bayes", "style"])
def test_other_methods_write_snapshots(seeded, method):
    if method == "style":
        from arena.models import Generation, Turn

        # style control needs the style counts of each output
        for vote in Vote.objects.filter(battle__mode="pairwise").select_related("battle"):
            turn = Turn.objects.create(battle=vote.battle, index=0, prompt=vote.battle.prompt)
            Generation.objects.bulk_create([
                Generation(slot=s, turn=turn, status="done", meta={"style": {"tokens": 50 + 40 * s.position, "headers": s.position, "lists": 1, "bold": 0}})
                for s in vote.battle.slots.all()
            ])
    s = leaderboard_recompute(modality="text", method=method)
    assert s is not None and s.method == method and len(s.rows) == 5
    if method == "style":
        assert set(s.extra["style_coefficients"]) == {"length", "headers", "lists", "bold"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_nudges_give_one_run_and_at_most_one_follow_up(monkeypatch):
    from tests.ratings.conftest import seed_votes

    seed_votes(n_pairwise=60, n_kwise=0)
    runs = []
    started = threading.Event()
    import ratings.services as services

    real = services.leaderboard_recompute

    def slow(**kw):
        runs.append(kw)
        started.set()
        time.sleep(0.5)
        return real(**kw)

    monkeypatch.setattr(services, "leaderboard_recompute", slow)
    results = []

    def nudge():
        results.append(leaderboard_nudge(modality="text", category="overall", method="bt"))
        connection.close()

    first = threading.Thread(target=nudge)
    first.start()  # eager Celery: this thread runs the task
    started.wait(5)
    others = [threading.Thread(target=nudge) for _ in range(3)]  # arrive while it runs
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(30)
    assert results.count(True) == 1 and results.count(False) == 3
    assert len(runs) == 2  # the run, plus one follow-up for the three nudges that came meanwhile
    assert LeaderboardSnapshot.objects.filter(method="bt", category="overall").count() == 1  # same votes: written once


def test_a_cast_vote_moves_the_bayesian_rating_and_nudges_recomputes(demo, voter_client, django_capture_on_commit_callbacks):
    from ratings.models import BayesState

    state = voter_client.start(django_capture_on_commit_callbacks, prompt="What is 17*23?").json()
    with django_capture_on_commit_callbacks(execute=True):
        voter_client.vote(state["battle"], outcome="a")
    bayes = BayesState.objects.get(modality="text")
    assert bayes.last_vote_id == Vote.objects.get().pk and len(bayes.state) > 0
    # one vote between two models: the overall BT leaderboard now exists with one vote
    snap = LeaderboardSnapshot.objects.get(modality="text", category="overall", method="bt")
    assert snap.vote_count == 1


def test_the_bayesian_rating_absorbs_votes_committed_out_of_id_order_once_each():
    """Vote ids are taken before commit, so vote 7 can reach the rater before vote 5; both
    count, and a retried delivery of either changes nothing."""
    from ratings.engine import BayesRater
    from ratings.models import BayesState
    from ratings.services import bayes_absorb

    votes = [(7, ["m-a", "m-b"], [1, 2]), (5, ["m-b", "m-c"], [1, 2]), (7, ["m-a", "m-b"], [1, 2]), (6, ["m-c", "m-a"], [2, 1])]
    for vote_id, models, places in votes:
        bayes_absorb(modality="text", vote_id=vote_id, models=models, places=places, weight=1.0)
    expected = BayesRater()
    for _, models, places in [votes[0], votes[1], votes[3]]:  # in the order they arrived, 7 once
        expected.rate(models, places, 1.0)
    state = BayesState.objects.get(modality="text", category="overall")
    assert state.state == expected.to_state()
    assert state.last_vote_id == 7
