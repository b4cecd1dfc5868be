"""A vote is a handful of statements, whatever else it checks (the dwell, the identity leak, the
shadow flag, the reveal): the web processes spend most of a vote's time building and running
them, so a new check must fold into the reads a vote already makes. Counts, never timings."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from arena.models import Battle, Vote

pytestmark = pytest.mark.django_db


def _statements(ctx: CaptureQueriesContext) -> list[str]:
    # The test's own transaction wraps the vote's in a savepoint: not the vote's statements.
    return [q["sql"] for q in ctx.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_a_vote_reads_four_times_locks_once_and_writes_three_rows(demo, voter_client, django_capture_on_commit_callbacks):
    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    with CaptureQueriesContext(connection) as ctx, django_capture_on_commit_callbacks(execute=False):
        res = voter_client.vote(bid, outcome="a")
    assert res.status_code == 201, res.content
    sql = _statements(ctx)
    kinds = [s.split()[0].upper() for s in sql]
    # The battle with its voter; the roster's identity terms; the outputs (leak and dwell
    # checks); the slots with their models (vote columns and the reveal). Locked once: the
    # battle and the voter row together.
    assert kinds.count("SELECT") == 5, sql
    assert sum("FOR UPDATE" in s for s in sql) == 1, sql
    assert kinds.count("INSERT") == 1 and kinds.count("UPDATE") == 2, sql  # the vote; battle and voter counters
    assert len(sql) == 8, sql
    assert Vote.objects.filter(battle__public_id=bid).count() == 1
    assert Battle.objects.get(public_id=bid).status == Battle.VOTED


def test_a_retried_vote_reads_the_stored_one_and_writes_nothing(demo, voter_client, django_capture_on_commit_callbacks):
    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    with django_capture_on_commit_callbacks(execute=True):
        assert voter_client.vote(bid, outcome="a", idempotency_key="k1").status_code == 201
    with CaptureQueriesContext(connection) as ctx:
        res = voter_client.vote(bid, outcome="a", idempotency_key="k1")
    assert res.status_code == 200
    kinds = [s.split()[0].upper() for s in _statements(ctx)]
    assert "INSERT" not in kinds and "UPDATE" not in kinds
    assert Vote.objects.filter(battle__public_id=bid).count() == 1
