"""Every change of a vote's `counted` is logged, append-only, by whom and why, and undoable."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, connection, transaction

from arena.models import ExclusionDecision, Vote
from arena.services.exclusions import votes_count_again, votes_exclude

pytestmark = pytest.mark.django_db


def _voted(voter_client, capture, n=1, **start):
    for _ in range(n):
        bid = voter_client.start(capture, **start).json()["battle"]
        with capture(execute=True):
            assert voter_client.vote(bid, outcome="a").status_code == 201
    return Vote.objects.order_by("pk")


def test_admin_exclusion_and_undo_are_logged_with_who_and_why(demo, client, voter_client, django_capture_on_commit_callbacks):
    vote = _voted(voter_client, django_capture_on_commit_callbacks).get()
    client.force_login(User.objects.create_superuser("alice", "a@example.org", "pw"))
    client.post("/admin/arena/vote/", {"action": "exclude_votes", "_selected_action": [vote.pk]})
    client.post("/admin/arena/vote/", {"action": "exclude_votes", "_selected_action": [vote.pk]})  # no change: no entry
    client.post("/admin/arena/vote/", {"action": "count_votes", "_selected_action": [vote.pk]})
    log = list(ExclusionDecision.objects.filter(vote=vote).values_list("previous_counted", "counted", "reason", "by_kind", "by"))
    assert log == [(True, False, Vote.EXCL_FRAUD, "staff", "alice"), (False, True, "", "staff", "alice")]
    page = client.get("/admin/arena/exclusiondecision/").content.decode()
    assert "alice" in page and "Add exclusion decision" not in page


def test_a_detector_exclusion_keeps_the_vote_and_undo_restores_only_its_own(demo, voter_client, django_capture_on_commit_callbacks):
    votes = list(_voted(voter_client, django_capture_on_commit_callbacks, n=3))
    Vote.objects.filter(pk=votes[0].pk).update(counted=False, exclusion_reason=Vote.EXCL_IDENTITY_LEAK)
    with django_capture_on_commit_callbacks(execute=True):
        n = votes_exclude(votes=[v.pk for v in votes], reason="fraud:position_bias", detail="p=1e-9", by_kind="detector", by="position_bias")
    assert n == 2  # the identity leak keeps its own reason
    assert Vote.objects.count() == 3 and not Vote.objects.filter(counted=True).exists()
    n = votes_count_again(votes=[v.pk for v in votes], by_kind="staff", by="bob", only_reasons=["fraud:"])
    assert n == 2
    assert Vote.objects.get(pk=votes[0].pk).exclusion_reason == Vote.EXCL_IDENTITY_LEAK
    assert ExclusionDecision.objects.filter(by="position_bias", counted=False).count() == 2
    assert ExclusionDecision.objects.filter(by="bob", counted=True).count() == 2


def test_named_votes_never_count_again(demo, voter_client, django_capture_on_commit_callbacks):
    vote = _voted(voter_client, django_capture_on_commit_callbacks, models=["aurora-7b", "mumble-0"]).get()
    assert not vote.counted and vote.exclusion_reason == Vote.EXCL_NAMED
    assert votes_count_again(votes=[vote.pk], by_kind="staff", by="bob") == 0
    assert not ExclusionDecision.objects.exists()


def test_the_log_is_append_only(demo, voter_client, django_capture_on_commit_callbacks):
    vote = _voted(voter_client, django_capture_on_commit_callbacks).get()
    votes_exclude(votes=[vote.pk], reason="fraud:random", detail="", by_kind="detector", by="random")
    d = ExclusionDecision.objects.get()
    with pytest.raises(TypeError):
        ExclusionDecision.objects.update(by="mallory")
    with pytest.raises(TypeError):
        ExclusionDecision.objects.all().delete()
    with pytest.raises(TypeError):
        d.save()
    with pytest.raises(TypeError):
        d.delete()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE arena_exclusiondecision SET by = 'mallory'")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM arena_exclusiondecision")
    assert ExclusionDecision.objects.get().by == "random"
