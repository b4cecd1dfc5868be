"""Voting: what a vote stores, and every way a vote can be refused (with nothing written)."""
from __future__ import annotations

import pytest

from arena.models import Battle, Competitor, Generation, Vote

pytestmark = pytest.mark.django_db


def _ready_battle(client, cb, **body):
    state = client.start(cb, **body).json()
    assert Battle.objects.get(public_id=state["battle"]).status == Battle.READY
    return state["battle"]


def test_pairwise_vote_is_stored_in_full_and_reveals_names(demo, voter_client, django_capture_on_commit_callbacks):
    bid = _ready_battle(voter_client, django_capture_on_commit_callbacks)
    res = voter_client.vote(
        bid,
        outcome="b",
        criteria={"helpfulness": "b", "style": "tie"},
        feedback="  B explained it better ",
        timings={"shown_at": 1_790_000_000_000, "first_interaction_at": 1_790_000_003_000, "voted_at": 1_790_000_009_500},
        REMOTE_ADDR="203.0.113.7",
    )
    assert res.status_code == 201, res.content
    body = res.json()
    battle = Battle.objects.get(public_id=bid)
    slots = list(battle.slots.select_related("competitor").order_by("position"))
    assert [m["model"] for m in body["models"]] == [s.competitor.name for s in slots]
    assert body["counted"] is True and body["ranking"] == [2, 1]
    v = Vote.objects.get(battle=battle)
    assert (v.outcome, v.ranking, v.criteria, v.feedback) == ("b", [2, 1], {"helpfulness": "b", "style": "tie"}, "B explained it better")
    assert (v.client_voted_at - v.client_shown_at).total_seconds() == 9.5
    assert v.network_hash and "203.0.113.7" not in v.network_hash and len(v.network_hash) == 64
    assert v.counted and v.weight == 1.0 and v.exclusion_reason == ""
    assert battle.status == Battle.VOTED and battle.voter.votes_count == 1
    # generation timings are on every slot
    for g in Generation.objects.filter(slot__battle=battle):
        assert g.queued_at <= g.started_at <= g.first_token_at <= g.finished_at


def test_same_network_gets_the_same_hash_and_another_a_different_one(demo, voter_client, other_client, django_capture_on_commit_callbacks):
    hashes = []
    for client, addr in [(voter_client, "198.51.100.1"), (other_client, "198.51.100.1"), (voter_client, "198.51.100.2")]:
        bid = _ready_battle(client, django_capture_on_commit_callbacks)
        client.vote(bid, outcome="tie", REMOTE_ADDR=addr)
        hashes.append(Vote.objects.get(battle__public_id=bid).network_hash)
    assert hashes[0] == hashes[1] != hashes[2]


def test_kwise_ranking_with_ties_is_stored_as_places(demo, voter_client, django_capture_on_commit_callbacks):
    bid = _ready_battle(voter_client, django_capture_on_commit_callbacks, mode="kwise", k=4)
    res = voter_client.vote(bid, ranking=[2, 1, 2, 4])
    assert res.status_code == 201
    assert Vote.objects.get(battle__public_id=bid).ranking == [2, 1, 2, 4]


def test_kwise_dense_ranking_becomes_competition_ranking(demo, voter_client, django_capture_on_commit_callbacks):
    bid = _ready_battle(voter_client, django_capture_on_commit_callbacks, mode="kwise", k=4)
    voter_client.vote(bid, ranking=[1, 2, 2, 3])
    assert Vote.objects.get(battle__public_id=bid).ranking == [1, 2, 2, 4]


def test_kwise_best_only_is_a_ranking_with_one_winner(demo, voter_client, django_capture_on_commit_callbacks):
    bid = _ready_battle(voter_client, django_capture_on_commit_callbacks, mode="kwise", k=5)
    voter_client.vote(bid, best="C")
    v = Vote.objects.get(battle__public_id=bid)
    assert v.ranking == [2, 2, 1, 2, 2] and v.best_only


@pytest.mark.parametrize(
    "kwise, body, message",
    [
        (False, {"outcome": "c"}, "A is better"),
        (False, {}, "A is better"),
        (True, {"ranking": [1, 2, 3]}, "Rank all 4"),
        (True, {"ranking": [1, 2, 3, 5]}, "from 1 to 4"),
        (True, {"ranking": [1, 2, 3, "4"]}, "from 1 to 4"),
        (True, {"best": "E"}, "one of A, B, C, D"),
        (False, {"outcome": "a", "criteria": {"honesty": "a"}}, "Unknown criterion"),
        (False, {"outcome": "a", "criteria": {"style": "x"}}, "choose a, b, tie"),
        (False, {"outcome": "a", "feedback": "x" * 2001}, "at most 2000"),
        (False, {"outcome": "a", "timings": {"shown_at": "yesterday"}}, "milliseconds"),
        (False, {"outcome": "a", "listen_ms": {"Z": 5}}, "listen_ms"),
    ],
)
def test_bad_ballots_get_400_and_nothing_is_written(demo, voter_client, django_capture_on_commit_callbacks, kwise, body, message):
    extra = {"mode": "kwise", "k": 4} if kwise else {}
    bid = _ready_battle(voter_client, django_capture_on_commit_callbacks, **extra)
    res = voter_client.vote(bid, **body)
    assert res.status_code == 400 and message in res.json()["error"]
    assert not Vote.objects.exists() and Battle.objects.get(public_id=bid).status == Battle.READY


def test_second_vote_is_409_and_first_stands(demo, voter_client, django_capture_on_commit_callbacks):
    bid = _ready_battle(voter_client, django_capture_on_commit_callbacks)
    assert voter_client.vote(bid, outcome="a").status_code == 201
    res = voter_client.vote(bid, outcome="b")
    assert res.status_code == 409 and "already voted" in res.json()["error"]
    assert Vote.objects.get().outcome == "a"


def test_retried_vote_with_same_key_is_answered_not_duplicated(demo, voter_client, django_capture_on_commit_callbacks):
    bid = _ready_battle(voter_client, django_capture_on_commit_callbacks)
    first = voter_client.vote(bid, outcome="a", idempotency_key="k1")
    again = voter_client.vote(bid, outcome="a", idempotency_key="k1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["models"] == first.json()["models"]
    assert Vote.objects.count() == 1


def test_vote_on_someone_elses_battle_is_403(demo, voter_client, other_client, django_capture_on_commit_callbacks):
    bid = _ready_battle(voter_client, django_capture_on_commit_callbacks)
    other_client.get("/")  # a session of its own
    res = other_client.vote(bid, outcome="a")
    assert res.status_code == 403 and "another voter" in res.json()["error"]
    assert not Vote.objects.exists()


def test_vote_on_unknown_battle_is_404(demo, voter_client):
    res = voter_client.vote("no-such-battle", outcome="a")
    assert res.status_code == 404 and "No such battle" in res.json()["error"]


def test_vote_before_outputs_are_complete_is_409(demo, voter_client):
    # on_commit callbacks are not run: the generations stay queued
    state = voter_client.post_json("/api/battles/", {"modality": "text", "prompt": "hello there"}).json()
    assert state["status"] == "generating"
    res = voter_client.vote(state["battle"], outcome="a")
    assert res.status_code == 409 and "Wait until every answer is complete" in res.json()["error"]
    assert not Vote.objects.exists()


def test_void_battle_cannot_be_voted_on(demo, voter_client, django_capture_on_commit_callbacks):
    Competitor.objects.filter(modality="text").update(adapter_config={"quality": 0.9, "token_delay_ms": 0, "fail_rate": 1.0})
    state = voter_client.start(django_capture_on_commit_callbacks).json()
    battle = Battle.objects.get(public_id=state["battle"])
    assert battle.status == Battle.VOID and battle.void_reason == "generation_failed"
    assert Generation.objects.filter(slot__battle=battle, status=Generation.FAILED).exists()
    res = voter_client.vote(state["battle"], outcome="a")
    assert res.status_code == 409 and "void" in res.json()["error"]
    # the page's view of the battle says so, without the error text (it could name the model)
    detail = voter_client.get(f"/api/battles/{state['battle']}/").json()
    assert detail["status"] == "void" and "failed to answer" in detail["message"]
    assert "AdapterError" not in str(detail)


def test_repeated_failures_mark_a_model_unhealthy(demo, voter_client, django_capture_on_commit_callbacks):
    Competitor.objects.filter(slug="mumble-0").update(adapter_config={"fail_rate": 1.0, "token_delay_ms": 0})
    Competitor.objects.filter(modality="text").exclude(slug__in=["mumble-0", "aurora-7b"]).update(active=False)
    for _ in range(3):
        voter_client.start(django_capture_on_commit_callbacks)
    mumble = Competitor.objects.get(slug="mumble-0")
    assert not mumble.healthy and mumble.consecutive_failures == 3
    assert voter_client.start(django_capture_on_commit_callbacks).status_code == 503  # only one healthy text model left


def test_named_votes_are_kept_but_not_counted(demo, voter_client, django_capture_on_commit_callbacks):
    bid = _ready_battle(voter_client, django_capture_on_commit_callbacks, models=["aurora-7b", "quill-3"])
    body = voter_client.vote(bid, outcome="a").json()
    v = Vote.objects.get()
    assert body["counted"] is False and not v.counted and v.exclusion_reason == Vote.EXCL_NAMED


def test_output_naming_a_model_makes_the_vote_uncounted(demo, voter_client, django_capture_on_commit_callbacks):
    # The demo models answer truthfully when asked who they are.
    Competitor.objects.filter(modality="text").exclude(slug__in=["aurora-7b", "lumen-13b"]).update(active=False)
    bid = _ready_battle(voter_client, django_capture_on_commit_callbacks, prompt="Who are you? Which company made you?")
    body = voter_client.vote(bid, outcome="a").json()
    v = Vote.objects.get()
    assert not v.counted and v.exclusion_reason == Vote.EXCL_IDENTITY_LEAK
    assert "mentions" in v.exclusion_detail and body["counted"] is False


def test_identity_words_are_configurable(demo, voter_client, django_capture_on_commit_callbacks):
    Competitor.objects.filter(modality="text").exclude(slug__in=["aurora-7b", "lumen-13b"]).update(active=False)
    Competitor.objects.filter(slug="aurora-7b").update(identity_words=["photosynthesis"])
    bid = _ready_battle(voter_client, django_capture_on_commit_callbacks, prompt="Explain how photosynthesis works.")
    voter_client.vote(bid, outcome="a")
    v = Vote.objects.get()
    assert v.exclusion_reason == Vote.EXCL_IDENTITY_LEAK and "photosynthesis" in v.exclusion_detail.lower()


def test_audio_vote_needs_each_clip_heard(demo, voter_client, django_capture_on_commit_callbacks, settings):
    settings.ARENA_MIN_LISTEN_MS = 3000
    state = voter_client.start(django_capture_on_commit_callbacks, modality="audio", prompt="A happy piano melody").json()
    assert state["min_listen_ms"] == 3000
    bid = state["battle"]
    res = voter_client.vote(bid, outcome="a", listen_ms={"A": 4000, "B": 1200})
    assert res.status_code == 400 and "at least 3 s" in res.json()["error"] and "B" in res.json()["error"]
    assert not Vote.objects.exists()
    assert voter_client.vote(bid, outcome="a", listen_ms={"A": 4000, "B": 3100}).status_code == 201
    assert Vote.objects.get().listen_ms == {"A": 4000, "B": 3100}
