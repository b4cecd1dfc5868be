"""Optional voter accounts (django-allauth): sign up by email, confirm, sign in; the voter's
battles and votes are then the account's, with the account's caps."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from arena.models import Battle
from tests.conftest import ArenaClient

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]


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


def test_social_providers_are_switched_on_by_setting(tmp_path):
    """ARENA_SOCIAL_PROVIDERS adds the provider's app, its sign-in URL and its button; the client
    id and secret come from the environment (the settings are read at start-up: a new process)."""
    code = (
        "import django; django.setup()\n"
        "from django.urls import reverse\n"
        "from django.test import Client\n"
        "from allauth.socialaccount.adapter import get_adapter\n"
        "app = get_adapter().get_app(None, provider='github')\n"
        "print(reverse('github_login'), app.client_id)\n"
        "print('GitHub' in Client().get('/accounts/login/').content.decode())\n"
    )
    env = {**os.environ, "ARENA_SOCIAL_PROVIDERS": "github", "ARENA_SOCIAL_GITHUB_CLIENT_ID": "cid-123",
           "ARENA_SOCIAL_GITHUB_SECRET": "s3cret", "DJANGO_SETTINGS_MODULE": "config.settings",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "REDIS_URL": "", "ARENA_VAR_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["/accounts/github/login/", "cid-123", "True"]


def test_the_account_pages_wear_the_arena_layout(demo):
    page = ArenaClient().get("/accounts/login/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'class="topbar"' in html and 'name="login"' in html and 'name="password"' in html
    assert "<script>" not in html  # no inline script (Content-Security-Policy)
