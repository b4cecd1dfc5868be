"""Rate limits on battles, follow-up turns and votes, with frozen time: the (n+1)-th request gets
429 with Retry-After and a message a person understands, and nothing it asked for happened."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured

from arena.models import Battle, Generation, Prompt, Turn, Vote, Voter
from arena.services.ratelimits import parse_policy
from tests.conftest import ArenaClient

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 12, 0, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def frozen():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def _rows() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Battle, Turn, Generation, Prompt, Vote, Voter))


def _start(client: ArenaClient, cb, addr: str = "203.0.113.10", **body):
    body.setdefault("prompt", "Explain how photosynthesis works.")
    body.setdefault("modality", "text")
    with cb(execute=True):
        return client.post_json("/api/battles/", body, REMOTE_ADDR=addr)


def _assert_refused(res, *, retry_after: int, words: str) -> None:
    assert res.status_code == 429, res.content
    assert res["Retry-After"] == str(retry_after)
    msg = res.json()["error"]
    assert words in msg and "try again" in msg, msg


def test_the_battle_over_the_minute_limit_gets_429_and_creates_nothing(settings, demo, frozen, django_capture_on_commit_callbacks):
    settings.ARENA_RATE_LIMITS = "battle.session=3/minute;5/day"
    client = ArenaClient()
    for _ in range(3):
        assert _start(client, django_capture_on_commit_callbacks).status_code == 201
    before = _rows()
    res = _start(client, django_capture_on_commit_callbacks, prompt="A prompt never seen before, about otters.")
    _assert_refused(res, retry_after=61, words="Too many new battles from this browser (at most 3 per minute)")
    assert _rows() == before
    assert not Prompt.objects.filter(text__contains="otters").exists()

    frozen.shift(30)  # still inside the minute: still refused, and it says how long is left
    _assert_refused(_start(client, django_capture_on_commit_callbacks), retry_after=31, words="wait 31 s")

    frozen.shift(31)  # the minute has passed
    assert _start(client, django_capture_on_commit_callbacks).status_code == 201
    assert _start(client, django_capture_on_commit_callbacks).status_code == 201
    # five in the day now: the sixth waits until the first of them is a day old
    res = _start(client, django_capture_on_commit_callbacks)
    assert res.status_code == 429
    assert int(res["Retry-After"]) == 24 * 3600 - 60
    assert "5 per day" in res.json()["error"] and "24 hours" in res.json()["error"]


def test_a_refused_request_does_not_use_up_the_allowance(settings, demo, frozen, django_capture_on_commit_callbacks):
    settings.ARENA_RATE_LIMITS = "battle.session=2/minute"
    client = ArenaClient()
    for _ in range(2):
        _start(client, django_capture_on_commit_callbacks)
    for _ in range(5):  # hammering while refused
        assert _start(client, django_capture_on_commit_callbacks).status_code == 429
    frozen.shift(61)
    assert _start(client, django_capture_on_commit_callbacks).status_code == 201


def test_the_vote_over_the_limit_gets_429_and_the_battle_stays_unvoted(settings, demo, frozen, django_capture_on_commit_callbacks):
    client = ArenaClient()
    battles = [_start(client, django_capture_on_commit_callbacks).json()["battle"] for _ in range(3)]
    settings.ARENA_RATE_LIMITS = "vote.session=2/minute"
    for bid in battles[:2]:
        assert client.vote(bid, outcome="a", REMOTE_ADDR="203.0.113.10").status_code == 201
    res = client.vote(battles[2], outcome="a", REMOTE_ADDR="203.0.113.10")
    _assert_refused(res, retry_after=61, words="Too many votes from this browser")
    battle = Battle.objects.get(public_id=battles[2])
    assert battle.status == Battle.READY and not Vote.objects.filter(battle=battle).exists()
    assert battle.voter.votes_count == 2
    frozen.shift(61)  # Retry-After later
    assert client.vote(battles[2], outcome="a", REMOTE_ADDR="203.0.113.10").status_code == 201


def test_the_follow_up_over_the_limit_gets_429_and_adds_no_turn(settings, demo, frozen, django_capture_on_commit_callbacks):
    settings.ARENA_RATE_LIMITS = "turn.session=1/minute"
    client = ArenaClient()
    bid = _start(client, django_capture_on_commit_callbacks).json()["battle"]
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post_json(f"/api/battles/{bid}/turns/", {"prompt": "And in plants?"}).status_code == 201
    res = client.post_json(f"/api/battles/{bid}/turns/", {"prompt": "And in algae?"})
    _assert_refused(res, retry_after=61, words="Too many follow-up questions from this browser")
    assert Turn.objects.filter(battle__public_id=bid).count() == 2
    assert not Prompt.objects.filter(text="And in algae?").exists()


def test_new_sessions_from_one_network_share_the_network_limit(settings, demo, frozen, django_capture_on_commit_callbacks):
    """A script that drops its cookie for every battle is still one network."""
    settings.ARENA_RATE_LIMITS = "battle.network=3/minute"
    for _ in range(3):
        assert _start(ArenaClient(), django_capture_on_commit_callbacks, addr="198.51.100.7").status_code == 201
    voters = Voter.objects.count()
    res = _start(ArenaClient(), django_capture_on_commit_callbacks, addr="198.51.100.7")
    _assert_refused(res, retry_after=61, words="Too many new battles from your network")
    assert Voter.objects.count() == voters  # not even a voter for the refused session
    # another network is not affected
    assert _start(ArenaClient(), django_capture_on_commit_callbacks, addr="198.51.100.8").status_code == 201


def test_ipv6_addresses_of_one_slash_64_are_one_network(settings, demo, frozen, django_capture_on_commit_callbacks):
    settings.ARENA_RATE_LIMITS = "battle.network=2/minute"
    assert _start(ArenaClient(), django_capture_on_commit_callbacks, addr="2001:db8:1:2::1").status_code == 201
    assert _start(ArenaClient(), django_capture_on_commit_callbacks, addr="2001:db8:1:2:aaaa::9").status_code == 201
    assert _start(ArenaClient(), django_capture_on_commit_callbacks, addr="2001:db8:1:2:ffff::3").status_code == 429
    assert _start(ArenaClient(), django_capture_on_commit_callbacks, addr="2001:db8:1:3::1").status_code == 201


def test_signed_in_voters_have_their_own_caps(settings, demo, frozen, django_capture_on_commit_callbacks):
    settings.ARENA_RATE_LIMITS = "battle.session=1/minute battle.account=3/minute"
    anon = ArenaClient()
    assert _start(anon, django_capture_on_commit_callbacks).status_code == 201
    assert _start(anon, django_capture_on_commit_callbacks).status_code == 429

    member = ArenaClient()
    member.force_login(get_user_model().objects.create_user("ada", "ada@example.org", "pw-12345678"))
    for _ in range(3):
        assert _start(member, django_capture_on_commit_callbacks, addr="203.0.113.20").status_code == 201
    _assert_refused(_start(member, django_capture_on_commit_callbacks, addr="203.0.113.20"), retry_after=61,
                    words="Too many new battles from your account (at most 3 per minute)")
    # the account's cap follows it to a new browser
    again = ArenaClient()
    again.force_login(get_user_model().objects.get(username="ada"))
    assert _start(again, django_capture_on_commit_callbacks, addr="203.0.113.21").status_code == 429


def test_the_default_limits_refuse_the_21st_battle_in_a_minute(settings, demo, frozen, django_capture_on_commit_callbacks):
    settings.ARENA_RATE_LIMITS = ""  # what `make run` serves
    client = ArenaClient()
    codes = [_start(client, django_capture_on_commit_callbacks).status_code for _ in range(21)]
    assert codes == [201] * 20 + [429]


def test_off_turns_every_limit_off(settings, demo, frozen, django_capture_on_commit_callbacks):
    settings.ARENA_RATE_LIMITS = "off"
    client = ArenaClient()
    codes = {_start(client, django_capture_on_commit_callbacks).status_code for _ in range(25)}
    assert codes == {201}


@pytest.mark.parametrize("raw, words", [
    ("battle.foo=1/minute", "battle.foo=1/minute"),
    ("battles.session=1/minute", "ACTION.SCOPE=LIMITS"),
    ("vote.session=lots", "'lots' is not a rate"),
    ("vote.session", "ACTION.SCOPE=LIMITS"),
])
def test_a_mistyped_setting_is_a_clear_configuration_error(raw, words):
    with pytest.raises(ImproperlyConfigured, match=words.replace(".", r"\.").replace("'", "'")):
        parse_policy(raw)


def test_the_setting_syntax_overrides_only_what_it_names():
    pol = parse_policy("battle.session=5/second;10/hour vote.network=off")
    assert [str(x) for x in pol.limits["battle.session"]] == ["5 per 1 second", "10 per 1 hour"]
    assert pol.limits["vote.network"] == []
    assert [str(x) for x in pol.limits["vote.session"]] == ["20 per 1 minute", "300 per 1 day"]
    assert parse_policy("off").enabled is False
