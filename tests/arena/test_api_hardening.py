"""Bodies that crashed the API with a traceback (a 500 showing settings) get a JSON 4xx with a
message a person understands, and write nothing; an idempotency key replayed with another vote
is a 422; errors under /api/ are JSON whatever raised them."""
from __future__ import annotations

import json

import pytest

from arena.models import Battle, Prompt, Turn, Vote, Voter

pytestmark = pytest.mark.django_db


def counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Battle, Vote, Turn, Prompt, Voter))


def _ready(client, cb, **body) -> str:
    bid = client.start(cb, **body).json()["battle"]
    assert Battle.objects.get(public_id=bid).status == Battle.READY
    return bid


@pytest.mark.parametrize(
    "body, message",
    [
        ({"outcome": ["a"]}, "A is better"),
        ({"outcome": {"a": 1}}, "A is better"),
        ({"outcome": "a", "criteria": {"style": {"x": 1}}}, "Per-criterion votes"),
        ({"outcome": "a", "feedback": "nice\x00"}, "feedback contains a character that cannot be stored"),
        ({"outcome": "a", "idempotency_key": "k\x00"}, "idempotency_key contains a character"),
        ({"outcome": "a", "feedback": "half a pair \ud800"}, "feedback contains a character"),
        ({"outcome": "a", "listen_ms": ["A"]}, "listen_ms"),
        ({"outcome": "a", "timings": [1]}, "timings must be an object"),
        ({"outcome": "a", "idempotency_key": "k" * 65}, "at most 64"),
    ],
)
def test_vote_bodies_that_crashed_get_400_and_write_nothing(demo, voter_client, django_capture_on_commit_callbacks, body, message):
    bid = _ready(voter_client, django_capture_on_commit_callbacks)
    before = counts()
    res = voter_client.vote(bid, **body)
    assert res.status_code == 400 and res["Content-Type"] == "application/json", res.content[:300]
    assert message in res.json()["error"]
    assert counts() == before and Battle.objects.get(public_id=bid).status == Battle.READY


@pytest.mark.parametrize(
    "body, message",
    [
        ({"modality": ["text"]}, "modality must be text"),
        ({"modality": {"text": 1}}, "modality must be text"),
        ({"prompt": "hello\x00world"}, "prompt contains a character that cannot be stored"),
        ({"prompt": "lone \udc00 surrogate"}, "prompt contains a character"),
        ({"prompt": 42}, "The prompt must be text"),
        ({"prompt_id": 2**70}, "prompt_id must be a number"),
        ({"prompt_id": [1]}, "prompt_id must be a number"),
        ({"mode": "kwise", "k": 1e300}, "k must be a whole number"),
        ({"mode": ["kwise"]}, "mode must be"),
        ({"models": "aurora-7b"}, "Pick the models by name"),
        ({"models": ["aurora-7b\x00", "pebble-1b"]}, "model list contains a character"),
    ],
)
def test_battle_bodies_that_crashed_get_400_and_write_nothing(demo, voter_client, django_capture_on_commit_callbacks, body, message):
    before = counts()
    res = voter_client.start(django_capture_on_commit_callbacks, **body)
    assert res.status_code == 400 and res["Content-Type"] == "application/json", res.content[:300]
    assert message in res.json()["error"]
    assert counts() == before


def test_turn_with_a_nul_prompt_is_400(demo, voter_client, django_capture_on_commit_callbacks):
    bid = _ready(voter_client, django_capture_on_commit_callbacks)
    before = counts()
    res = voter_client.post_json(f"/api/battles/{bid}/turns/", {"prompt": "more\x00"})
    assert res.status_code == 400 and "prompt contains a character" in res.json()["error"]
    assert counts() == before


@pytest.mark.parametrize("url", ["/api/battles/", "/api/battles/{bid}/vote/", "/api/battles/{bid}/turns/"])
def test_ten_megabyte_body_is_a_json_413(demo, voter_client, django_capture_on_commit_callbacks, url):
    bid = _ready(voter_client, django_capture_on_commit_callbacks)
    before = counts()
    body = json.dumps({"prompt": "x" * (10 * 1024 * 1024), "outcome": "a"})
    res = voter_client.post(url.format(bid=bid), body, content_type="application/json")
    assert res.status_code == 413 and res["Content-Type"] == "application/json"
    assert "too large" in res.json()["error"]
    assert counts() == before


def test_replayed_idempotency_key_with_another_vote_is_422(demo, voter_client, django_capture_on_commit_callbacks):
    bid = _ready(voter_client, django_capture_on_commit_callbacks)
    first = voter_client.vote(bid, outcome="a", idempotency_key="key-1", feedback="A is clearer")
    assert first.status_code == 201
    same = voter_client.vote(bid, outcome="a", idempotency_key="key-1", feedback="A is clearer")
    assert same.status_code == 200 and same.json() == first.json()
    for other in ({"outcome": "b"}, {"outcome": "a", "feedback": "changed my mind"}, {"outcome": "a", "criteria": {"style": "b"}}):
        res = voter_client.vote(bid, idempotency_key="key-1", **{"feedback": "A is clearer", **other})
        assert res.status_code == 422 and "different vote" in res.json()["error"], other
    v = Vote.objects.get()
    assert (v.outcome, v.feedback, v.criteria) == ("a", "A is clearer", {})


@pytest.mark.parametrize(
    "method, url, status",
    [("get", "/api/no-such-endpoint/", 404), ("get", "/api/battles/", 405), ("post", "/api/competitors/", 405)],
)
def test_api_errors_are_json(client, method, url, status):
    res = getattr(client, method)(url)
    assert res.status_code == status and res["Content-Type"] == "application/json"
    assert res.json()["error"]


def test_cross_site_post_is_a_json_403(demo):
    from django.test import Client

    res = Client(enforce_csrf_checks=True).post("/api/battles/", json.dumps({"prompt": "hi"}), content_type="application/json")
    assert res.status_code == 403 and "CSRF" in res.json()["error"]
    assert not Battle.objects.exists()


def test_unknown_query_values_never_reach_the_database(demo, client):
    for url in ["/api/competitors/?modality=te%00xt", "/api/prompts/random/?modality=%00",
                "/api/leaderboard/?modality=text&category=%00", "/api/exposure/?modality=%ud800"]:
        res = client.get(url)
        assert 200 <= res.status_code < 500 and res["Content-Type"] == "application/json", (url, res.status_code)
