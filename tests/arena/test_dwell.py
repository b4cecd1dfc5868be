"""Minimum dwell and login-required counting: such votes are kept, never refused, but not counted,
and the voter is told why."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model

from arena.models import Battle, Generation, Vote
from tests.conftest import ArenaClient

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def dwell_on(settings):
    settings.ARENA_MIN_DWELL_MS = 1500
    settings.ARENA_READ_CHARS_PER_S = 150
    with time_machine.travel(T0, tick=False) as t:
        yield t


def _reading_s(bid: str) -> float:
    chars = sum(len(g.text) for g in Generation.objects.filter(slot__battle__public_id=bid))
    assert chars > 100  # the demo models write real paragraphs
    return 1.5 + chars / 150


def test_a_vote_faster_than_reading_is_kept_but_not_counted(dwell_on, demo, voter_client, django_capture_on_commit_callbacks):
    fast, slow = (voter_client.start(django_capture_on_commit_callbacks).json()["battle"] for _ in range(2))
    dwell_on.shift(_reading_s(fast) - 0.5)
    res = voter_client.vote(fast, outcome="a")
    assert res.status_code == 201
    assert res.json()["counted"] is False and "reading them takes at least" in res.json()["excluded_because"]
    v = Vote.objects.get(battle__public_id=fast)
    assert (v.counted, v.exclusion_reason, v.outcome) == (False, Vote.EXCL_TOO_FAST, "a")

    dwell_on.shift(_reading_s(slow) - _reading_s(fast) + 1.0)  # now past the slow one's reading time
    res = voter_client.vote(slow, outcome="b")
    assert res.json()["counted"] is True
    assert Vote.objects.get(battle__public_id=slow).exclusion_reason == ""


def test_the_clock_starts_when_the_latest_turn_began_to_appear(dwell_on, demo, voter_client, django_capture_on_commit_callbacks):
    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    dwell_on.shift(120)  # long enough for the first turn...
    with django_capture_on_commit_callbacks(execute=True):
        assert voter_client.post_json(f"/api/battles/{bid}/turns/", {"prompt": "Shorter, please."}).status_code == 201
    # ...but the answers to the follow-up appeared just now
    res = voter_client.vote(bid, outcome="a")
    assert res.json()["counted"] is False
    assert Vote.objects.get(battle__public_id=bid).exclusion_reason == Vote.EXCL_TOO_FAST


def test_zero_turns_the_dwell_check_off(settings, demo, voter_client, django_capture_on_commit_callbacks):
    settings.ARENA_MIN_DWELL_MS = 0
    with time_machine.travel(T0, tick=False):
        bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
        assert voter_client.vote(bid, outcome="a").json()["counted"] is True


def test_when_login_is_required_anonymous_votes_are_kept_uncounted(settings, demo, django_capture_on_commit_callbacks):
    settings.ARENA_COUNT_REQUIRES_LOGIN = True
    anon = ArenaClient()
    bid = anon.start(django_capture_on_commit_callbacks).json()["battle"]
    res = anon.vote(bid, outcome="b")
    assert res.status_code == 201 and res.json()["counted"] is False
    assert "signed-in" in res.json()["excluded_because"]
    assert Vote.objects.get(battle__public_id=bid).exclusion_reason == Vote.EXCL_LOGIN_REQUIRED

    member = ArenaClient()
    member.force_login(get_user_model().objects.create_user("ada", "ada@example.org", "pw-12345678"))
    bid = member.start(django_capture_on_commit_callbacks).json()["battle"]
    assert member.vote(bid, outcome="b").json()["counted"] is True
    assert Battle.objects.get(public_id=bid).voter.user.email == "ada@example.org"
