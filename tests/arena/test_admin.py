"""Django admin for competitors, prompts, battles and votes: staff only; votes never deleted."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from arena.models import Vote

pytestmark = pytest.mark.django_db

PAGES = ["/admin/arena/competitor/", "/admin/arena/promptset/", "/admin/arena/prompt/", "/admin/arena/battle/", "/admin/arena/vote/", "/admin/arena/voter/", "/admin/arena/exclusiondecision/", "/admin/arena/voterflag/"]


def test_staff_can_open_every_admin_page(demo, client):
    client.force_login(User.objects.create_superuser("admin", "a@example.org", "pw"))
    for url in PAGES:
        assert client.get(url).status_code == 200, url
    assert b"Aurora-7B" in client.get("/admin/arena/competitor/").content


def test_non_staff_and_anonymous_are_sent_to_login(demo, client):
    for url in PAGES:
        res = client.get(url)
        assert res.status_code == 302 and "/admin/login/" in res["Location"]
    client.force_login(User.objects.create_user("voter", "v@example.org", "pw"))
    assert client.get(PAGES[0]).status_code == 302


def test_admin_can_exclude_a_vote_and_count_it_again_but_never_delete(demo, client, voter_client, django_capture_on_commit_callbacks):
    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    voter_client.vote(bid, outcome="a")
    vote = Vote.objects.get()
    client.force_login(User.objects.create_superuser("admin", "a@example.org", "pw"))
    client.post("/admin/arena/vote/", {"action": "exclude_votes", "_selected_action": [vote.pk]})
    vote.refresh_from_db()
    assert not vote.counted and vote.exclusion_reason == Vote.EXCL_FRAUD
    client.post("/admin/arena/vote/", {"action": "count_votes", "_selected_action": [vote.pk]})
    vote.refresh_from_db()
    assert vote.counted and vote.exclusion_reason == ""
    assert client.get(f"/admin/arena/vote/{vote.pk}/delete/").status_code == 403
    assert Vote.objects.count() == 1
