"""The work a vote causes after it commits (the live Bayesian rating, the leaderboard nudges) is
done once, outside the vote's request: the request queues one task, and running that task (even
twice, as a redelivery would) absorbs the vote once."""
from __future__ import annotations

import pytest

from arena.models import Vote
from ratings.models import BayesAbsorbed, BayesState, LeaderboardSnapshot

pytestmark = pytest.mark.django_db


def test_vote_request_queues_one_task_and_does_no_rating_work(demo, voter_client, monkeypatch, django_capture_on_commit_callbacks):
    from ratings import tasks

    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    queued = []
    monkeypatch.setattr(tasks.absorb_vote, "apply_async", lambda args=(), **kw: queued.append(list(args)))
    nudges = []
    monkeypatch.setattr("ratings.services.leaderboard_nudge", lambda **kw: nudges.append(kw))
    with django_capture_on_commit_callbacks(execute=True):
        res = voter_client.vote(bid, outcome="a")
    assert res.status_code == 201
    vote = Vote.objects.get()
    assert queued == [[vote.pk]]
    assert nudges == [] and not BayesAbsorbed.objects.exists()  # nothing of it ran in the request
    assert not LeaderboardSnapshot.objects.exists()

    monkeypatch.undo()
    tasks.absorb_vote.apply(args=[vote.pk])
    tasks.absorb_vote.apply(args=[vote.pk])  # redelivered: changes nothing more
    assert BayesAbsorbed.objects.filter(vote_id=vote.pk).count() == 1
    state = BayesState.objects.get(modality="text", category="overall")
    assert state.last_vote_id == vote.pk and state.state
    # ... and its leaderboards were nudged (recomputed here: eager Celery), which the request did not do.
    assert LeaderboardSnapshot.objects.filter(modality="text", category="overall", method="bt", vote_count=1).exists()


def test_uncounted_votes_queue_nothing(demo, voter_client, monkeypatch, django_capture_on_commit_callbacks):
    from ratings import tasks

    start = voter_client.start(django_capture_on_commit_callbacks, models=["aurora-7b", "pebble-1b"])
    queued = []
    monkeypatch.setattr(tasks.absorb_vote, "apply_async", lambda args=(), **kw: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        assert voter_client.vote(start.json()["battle"], outcome="a").status_code == 201
    assert queued == [] and not Vote.objects.get().counted
