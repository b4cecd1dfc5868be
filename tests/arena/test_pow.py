"""Proof of work: anonymous voters past the threshold solve a challenge per vote; the server
checks it (signature, battle, age, the hash, single use) and writes nothing until it holds."""
from __future__ import annotations

import datetime as dt
import hashlib
import itertools

import pytest
import time_machine
from django.contrib.auth import get_user_model

from arena.errors import BadRequest
from arena.models import Battle, Vote
from arena.services import pow as proof_of_work
from tests.conftest import ArenaClient

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 12, 0, 0, tzinfo=dt.timezone.utc)


def solve(challenge: str, difficulty: int) -> str:
    """Written here independently of the app: the first counter whose SHA-256 has enough leading zero bits."""
    for n in itertools.count():
        h = int.from_bytes(hashlib.sha256(f"{challenge}:{n}".encode()).digest(), "big")
        if h >> (256 - difficulty) == 0:
            return str(n)
    raise AssertionError


@pytest.fixture
def pow_on(settings):
    settings.ARENA_RATE_LIMITS = ""
    settings.ARENA_POW_AFTER = "2/day"
    settings.ARENA_POW_DIFFICULTY = 10
    with time_machine.travel(T0, tick=False) as t:
        yield t


def _battles(client, cb, n: int) -> list[str]:
    return [client.start(cb).json()["battle"] for _ in range(n)]


def test_past_the_threshold_a_vote_needs_a_solved_challenge(pow_on, demo, django_capture_on_commit_callbacks):
    client = ArenaClient()
    b1, b2, b3, b4 = _battles(client, django_capture_on_commit_callbacks, 4)
    assert client.vote(b1, outcome="a").status_code == 201
    assert client.vote(b2, outcome="b").status_code == 201

    res = client.vote(b3, outcome="a")
    assert res.status_code == 428, res.content
    body = res.json()
    assert "puzzle" in body["error"]
    assert body["pow"]["difficulty"] == 10 and body["pow"]["challenge"]
    assert not Vote.objects.filter(battle__public_id=b3).exists()
    assert Battle.objects.get(public_id=b3).status == Battle.READY

    answer = {"challenge": body["pow"]["challenge"], "solution": solve(body["pow"]["challenge"], 10)}
    res = client.vote(b3, outcome="a", pow=answer)
    assert res.status_code == 201, res.content
    assert Vote.objects.get(battle__public_id=b3).counted

    # the solved challenge was for b3: it buys no vote on b4
    res = client.vote(b4, outcome="a", pow=answer)
    assert res.status_code == 428 and "another battle" in res.json()["error"]
    assert not Vote.objects.filter(battle__public_id=b4).exists()


def test_wrong_expired_and_forged_answers_are_refused(pow_on, demo, settings, django_capture_on_commit_callbacks):
    client = ArenaClient()
    bids = _battles(client, django_capture_on_commit_callbacks, 3)
    for bid in bids[:2]:
        client.vote(bid, outcome="tie")
    challenge = client.vote(bids[2], outcome="a").json()["pow"]["challenge"]
    good = solve(challenge, 10)

    wrong = next(str(n) for n in itertools.count() if str(n) != good and not proof_of_work.solves(challenge, str(n), 10))
    assert "wrong" in client.vote(bids[2], outcome="a", pow={"challenge": challenge, "solution": wrong}).json()["error"]
    forged = challenge[:-3] + ("AAA" if not challenge.endswith("AAA") else "BBB")
    assert "did not come from this server" in client.vote(bids[2], outcome="a", pow={"challenge": forged, "solution": good}).json()["error"]
    assert client.vote(bids[2], outcome="a", pow="42").status_code == 400

    pow_on.shift(settings.ARENA_POW_TTL_S + 1)
    res = client.vote(bids[2], outcome="a", pow={"challenge": challenge, "solution": good})
    assert res.status_code == 428 and "expired" in res.json()["error"]
    assert not Vote.objects.filter(battle__public_id=bids[2]).exists()


def test_a_challenge_is_used_once(pow_on, demo, django_capture_on_commit_callbacks):
    client = ArenaClient()
    bid = _battles(client, django_capture_on_commit_callbacks, 1)[0]
    battle = Battle.objects.get(public_id=bid)
    ch = proof_of_work.challenge_for(battle=battle, voter=battle.voter)
    answer = {"challenge": ch["challenge"], "solution": solve(ch["challenge"], ch["difficulty"])}
    proof_of_work.require(battle=battle, voter=battle.voter, answer=answer)
    with pytest.raises(proof_of_work.ChallengeRequired, match="already used"):
        proof_of_work.require(battle=battle, voter=battle.voter, answer=answer)
    with pytest.raises(BadRequest):
        proof_of_work.require(battle=battle, voter=battle.voter, answer={"challenge": 1, "solution": 2})


def test_new_sessions_from_one_network_are_challenged_too(pow_on, demo, django_capture_on_commit_callbacks):
    codes = []
    for _ in range(4):
        client = ArenaClient()
        bid = _battles(client, django_capture_on_commit_callbacks, 1)[0]
        codes.append(client.vote(bid, outcome="a", REMOTE_ADDR="198.51.100.50").status_code)
    assert codes == [201, 201, 428, 428]


def test_signed_in_voters_and_off_are_never_challenged(pow_on, demo, settings, django_capture_on_commit_callbacks):
    member = ArenaClient()
    member.force_login(get_user_model().objects.create_user("grace", "grace@example.org", "pw-12345678"))
    assert {member.vote(b, outcome="a").status_code for b in _battles(member, django_capture_on_commit_callbacks, 4)} == {201}

    settings.ARENA_RATE_LIMITS = "off"
    anon = ArenaClient()
    assert {anon.vote(b, outcome="a").status_code for b in _battles(anon, django_capture_on_commit_callbacks, 4)} == {201}


def test_a_retried_vote_that_is_stored_needs_no_new_challenge(pow_on, demo, django_capture_on_commit_callbacks):
    client = ArenaClient()
    bids = _battles(client, django_capture_on_commit_callbacks, 3)
    for bid in bids[:2]:
        client.vote(bid, outcome="a")
    ch = client.vote(bids[2], outcome="b", idempotency_key="k1").json()["pow"]["challenge"]
    answer = {"challenge": ch, "solution": solve(ch, 10)}
    assert client.vote(bids[2], outcome="b", idempotency_key="k1", pow=answer).status_code == 201
    again = client.vote(bids[2], outcome="b", idempotency_key="k1", pow=answer)
    assert again.status_code == 200 and again.json()["outcome"] == "b"
    assert Vote.objects.filter(battle__public_id=bids[2]).count() == 1
