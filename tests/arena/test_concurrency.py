"""Many votes at once on one battle (double clicks, many tabs, a script): exactly one is stored."""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from arena.models import Battle, Vote
from tests.conftest import ArenaClient

pytestmark = pytest.mark.django_db(transaction=True)


def test_simultaneous_votes_store_exactly_one(demo):
    owner = ArenaClient()
    state = owner.post_json("/api/battles/", {"modality": "text", "prompt": "What is 17*23?"}).json()
    assert Battle.objects.get(public_id=state["battle"]).status == Battle.READY
    cookie = owner.cookies["sessionid"].value

    n = 12
    barrier = threading.Barrier(n)
    statuses: list[int] = []
    lock = threading.Lock()

    def cast(i: int) -> None:
        c = ArenaClient()
        c.cookies["sessionid"] = cookie  # the same voter, many tabs
        barrier.wait()
        res = c.vote(state["battle"], outcome="a" if i % 2 else "b")
        with lock:
            statuses.append(res.status_code)
        connection.close()

    threads = [threading.Thread(target=cast, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [201] + [409] * (n - 1)
    assert Vote.objects.filter(battle__public_id=state["battle"]).count() == 1
    assert Battle.objects.get(public_id=state["battle"]).voter.votes_count == 1
