"""The admin shows leaderboard snapshots read-only (no add, change or delete: a snapshot records
what a fit published), and lists battles, votes and snapshots by date."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from ratings.models import LeaderboardSnapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("admin", "a@example.org", "pw"))
    return client


@pytest.fixture
def snapshot(demo, voter_client, django_capture_on_commit_callbacks):
    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    with django_capture_on_commit_callbacks(execute=True):
        voter_client.vote(bid, outcome="a")
    snap = LeaderboardSnapshot.objects.filter(modality="text", category="overall", method="bt").first()
    assert snap is not None
    return snap


def test_snapshots_can_be_read_but_not_added_changed_or_deleted(admin_client, snapshot):
    base = "/admin/ratings/leaderboardsnapshot/"
    listing = admin_client.get(base)
    assert listing.status_code == 200
    page = admin_client.get(f"{base}{snapshot.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content and b"deletelink" not in page.content
    before = (snapshot.rows, snapshot.vote_count)
    res = admin_client.post(f"{base}{snapshot.pk}/change/", {"modality": "image", "vote_count": 999})
    assert res.status_code == 403
    assert admin_client.get(f"{base}add/").status_code == 403
    assert admin_client.post(f"{base}{snapshot.pk}/delete/", {"post": "yes"}).status_code == 403
    snapshot.refresh_from_db()
    assert (snapshot.rows, snapshot.vote_count, snapshot.modality) == (*before, "text")
    # No bulk delete either.
    res = admin_client.post(base, {"action": "delete_selected", "_selected_action": [snapshot.pk], "post": "yes"})
    assert LeaderboardSnapshot.objects.filter(pk=snapshot.pk).exists()


@pytest.mark.parametrize("url", ["/admin/arena/battle/", "/admin/arena/vote/", "/admin/ratings/leaderboardsnapshot/"])
def test_battles_votes_and_snapshots_are_browsable_by_date(admin_client, snapshot, url):
    res = admin_client.get(url)
    assert res.status_code == 200 and res.context["cl"].date_hierarchy == "created"
    year = snapshot.created.year
    assert f"created__year={year}".encode() in res.content  # the year link of the date drill-down
