"""The fraud audit on the real stack: a voter's N-th vote over HTTP makes the web process nudge
the audit, the real Celery worker runs it, the voter's votes stop counting (fraud:<detector>)
while every answer they get still says their vote counts, and the leaderboard recomputes."""
from __future__ import annotations

import re

import pytest

from arena.models import Battle, Competitor, Vote, Voter, VoterFlag
from ratings.models import LeaderboardSnapshot
from tests.ratings.test_integrity_live import _seed

from .helpers import Http, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _battle_ready(client: Http) -> str:
    status, state = client.json("POST", "/api/battles/", {"modality": "text", "prompt": "Name three rivers."})
    assert status == 201, state
    bid = state["battle"]
    wait_until(lambda: client.json("GET", f"/api/battles/{bid}/")[1]["status"] == "ready" or None, timeout=60,
               interval=0.2, what="battle ready")
    return bid


def test_the_nth_vote_triggers_an_audit_that_shadow_excludes_the_voter(e2e_demo, arena_stack_factory):
    stack = arena_stack_factory({"ARENA_AUDIT_EVERY_N_VOTES": "3", "RATINGS_DEBOUNCE_S": "0.2"})
    comps = list(Competitor.objects.filter(modality="text").order_by("pk"))
    fan = _seed(comps, target=comps[-1])
    client = Http(stack.base_url)
    client.open_page()
    first = _battle_ready(client)
    me = Battle.objects.get(public_id=first).voter
    Vote.objects.filter(voter=fan).update(voter=me)  # this browser's history: target-only votes
    answers = []
    for bid in [first, _battle_ready(client), _battle_ready(client)]:
        status, body = client.json("POST", f"/api/battles/{bid}/vote/", {"outcome": "a"})
        assert status == 201, body
        answers.append(body)
    wait_until(lambda: VoterFlag.objects.filter(voter=me, status="excluded").exists() or None, timeout=90,
               interval=0.5, what="the audit to flag the voter")
    assert all(a["counted"] is True and a["excluded_because"] == "" for a in answers)  # shadow: never told
    mine = Vote.objects.filter(voter=me)
    assert mine.count() == 103 and not mine.filter(counted=True).exists()
    assert set(mine.values_list("exclusion_reason", flat=True)) == {"fraud:target_concentration"}
    wait_until(lambda: re.search(r"ratings\.tasks\.audit_modality\[[0-9a-f-]+\] succeeded", stack.worker.log()),
               timeout=30, what="the worker to log the audit")
    assert "ratings.tasks.audit_modality" not in stack.web.log()  # the web process only queued it
    counted = Vote.objects.filter(counted=True, modality="text").count()
    wait_until(lambda: (s := LeaderboardSnapshot.objects.filter(modality="text", category="overall", method="bt").first())
               and s.vote_count == counted or None, timeout=90, interval=0.5, what="the leaderboard to recompute")
    # The next vote is stored excluded too, and still answered as counted.
    bid = _battle_ready(client)
    status, body = client.json("POST", f"/api/battles/{bid}/vote/", {"outcome": "b"})
    assert status == 201 and body["counted"] is True
    assert Vote.objects.get(battle__public_id=bid).exclusion_reason == "fraud:target_concentration"
    assert Voter.objects.get(pk=me.pk).shadow_reason == "fraud:target_concentration"
