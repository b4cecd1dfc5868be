"""Optional voter accounts (django-allauth): sign up by email, confirm, sign in; the voter's
battles and votes are then the account's, with the account's caps."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from arena.models import Battle
from tests.conftest import ArenaClient

pytestmark = pytest.mark.django_db


def test_sign_up_by_email_confirm_and_vote_as_the_account(settings, demo, django_capture_on_commit_callbacks):
    settings.ACCOUNT_EMAIL_VERIFICATION = "mandatory"
    client = ArenaClient()
    res = client.post("/accounts/signup/", {"email": "lin@example.org", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"})
    assert res.status_code == 302
    assert get_user_model().objects.filter(email="lin@example.org").exists()
    # not signed in before the address is confirmed
    assert client.get("/").context["user"].is_authenticated is False
    link = re.search(r"https?://[^/\s]+(/accounts/confirm-email/\S+/)", mail.outbox[-1].body).group(1)
    assert client.post(link).status_code == 302

    res = client.post("/accounts/login/", {"login": "lin@example.org", "password": "a-long-pass-phrase"})
    assert res.status_code == 302
    page = client.get("/")
    assert page.context["user"].email == "lin@example.org"
    assert b'data-testid="sign-out"' in page.content

    bid = client.start(django_capture_on_commit_callbacks).json()["battle"]
    assert Battle.objects.get(public_id=bid).voter.user.email == "lin@example.org"
    assert client.vote(bid, outcome="a").status_code == 201


def test_a_wrong_password_signs_nobody_in(demo):
    get_user_model().objects.create_user("x", "x@example.org", "right-password-1")
    client = ArenaClient()
    res = client.post("/accounts/login/", {"login": "x@example.org", "password": "wrong"})
    assert res.status_code == 200 and b"not correct" in res.content
    assert b'data-testid="sign-in"' in client.get("/").content
