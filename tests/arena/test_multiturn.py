"""Text battles can go on for more turns before the vote; each model sees its own conversation."""
from __future__ import annotations

import pytest

from arena.models import Battle, Generation, Vote

pytestmark = pytest.mark.django_db


def _turn(client, cb, bid, prompt):
    with cb(execute=True):
        return client.post_json(f"/api/battles/{bid}/turns/", {"prompt": prompt})


def test_follow_up_turn_is_answered_by_every_slot_with_its_own_history(demo, voter_client, django_capture_on_commit_callbacks, monkeypatch):
    bid = voter_client.start(django_capture_on_commit_callbacks, prompt="Explain how black holes form.").json()["battle"]
    seen = []
    from models_adapter.base import adapter_class

    cls = adapter_class("demo_text")
    original = cls.generate

    def spy(self, request, on_text):
        seen.append(request)
        return original(self, request, on_text)

    monkeypatch.setattr(cls, "generate", spy)
    res = _turn(voter_client, django_capture_on_commit_callbacks, bid, "Tell me more about that.")
    assert res.status_code == 201, res.content
    state = res.json()
    assert [t["prompt"] for t in state["turns"]] == ["Explain how black holes form.", "Tell me more about that."]
    battle = Battle.objects.get(public_id=bid)
    assert battle.status == Battle.READY
    first_answers = dict(Generation.objects.filter(slot__battle=battle, turn__index=0).values_list("slot__position", "text"))
    assert len(seen) == 2
    for req in seen:
        assert req.prompt == "Tell me more about that."
        assert req.history[0].content == "Explain how black holes form."
        assert req.history[1].role == "assistant" and req.history[1].content in first_answers.values()
    assert {r.history[1].content for r in seen} == set(first_answers.values())  # each its own answer
    assert Generation.objects.filter(slot__battle=battle, turn__index=1, status="done").count() == 2
    # the later turn's prompt is stored with its own language and the battle's category
    assert battle.turns.get(index=1).prompt.category == battle.prompt.category
    assert voter_client.vote(bid, outcome="a").status_code == 201
    assert Vote.objects.get().battle.turns.count() == 2


def test_turn_limit_then_vote(demo, voter_client, django_capture_on_commit_callbacks, settings):
    settings.ARENA_MAX_TURNS = 2
    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    assert _turn(voter_client, django_capture_on_commit_callbacks, bid, "And then?").status_code == 201
    res = _turn(voter_client, django_capture_on_commit_callbacks, bid, "And then?")
    assert res.status_code == 409 and "at most 2 turns" in res.json()["error"]
    assert Battle.objects.get(public_id=bid).turns.count() == 2


def test_no_follow_up_after_the_vote_or_for_images_or_while_generating(demo, voter_client, other_client, django_capture_on_commit_callbacks):
    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    voter_client.vote(bid, outcome="tie")
    res = _turn(voter_client, django_capture_on_commit_callbacks, bid, "More?")
    assert res.status_code == 409 and "over" in res.json()["error"]

    img = voter_client.start(django_capture_on_commit_callbacks, modality="image", prompt="a cat").json()["battle"]
    res = _turn(voter_client, django_capture_on_commit_callbacks, img, "now a dog")
    assert res.status_code == 400 and "Only text" in res.json()["error"]

    pending = voter_client.post_json("/api/battles/", {"modality": "text", "prompt": "hi"}).json()["battle"]
    res = voter_client.post_json(f"/api/battles/{pending}/turns/", {"prompt": "more"})
    assert res.status_code == 409 and "Wait" in res.json()["error"]

    other_client.get("/")
    res = other_client.post_json(f"/api/battles/{bid}/turns/", {"prompt": "x"})
    assert res.status_code == 403


def test_empty_follow_up_is_400_and_writes_nothing(demo, voter_client, django_capture_on_commit_callbacks):
    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    res = _turn(voter_client, django_capture_on_commit_callbacks, bid, "  ")
    assert res.status_code == 400
    assert Battle.objects.get(public_id=bid).turns.count() == 1
