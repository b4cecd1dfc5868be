"""A Content-Security-Policy on every response, and no page that needs it relaxed: no inline
script, no inline event handler in anything a template renders."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest

PAGES = ["/", "/leaderboard/", "/staff/", "/admin/", "/admin/login/", "/admin/arena/battle/", "/no-such-page/",
         "/me/", "/terms/", "/releases/", "/accounts/login/", "/api/competitors/", "/api/leaderboard/?modality=text"]


class ScriptAudit(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inline: list[str] = []
        self.handlers: list[str] = []
        self._in_inline = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.handlers += [f"<{tag} {k}>" for k in a if k.startswith("on")]
        self.handlers += [f"<{tag} {k}={v}>" for k, v in a.items() if v and v.strip().lower().startswith("javascript:")]
        if tag == "script":
            self._in_inline = "src" not in a and a.get("type") != "application/json"

    def handle_data(self, data):
        if self._in_inline and data.strip():
            self.inline.append(data.strip()[:80])

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline = False


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("csp-staff", password="pw-for-csp-test", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("url", PAGES)
def test_every_response_carries_a_strict_policy(demo, staff_client, url):
    res = staff_client.get(url)
    policy = res.headers.get("Content-Security-Policy", "")
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    # This site's files only; WebAssembly (model-viewer's decoders) but no inline script or eval.
    assert directives.get("script-src") == ["'self'", "'wasm-unsafe-eval'"], policy
    assert directives.get("object-src") == ["'none'"] and directives.get("frame-ancestors") == ["'none'"]
    assert "'unsafe-eval'" not in policy


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/", "/leaderboard/", "/staff/", "/admin/", "/admin/arena/battle/", "/me/", "/terms/",
                                 "/releases/"])
def test_pages_need_no_inline_script(demo, staff_client, url):
    res = staff_client.get(url)
    assert res.status_code == 200
    audit = ScriptAudit()
    audit.feed(res.content.decode())
    assert audit.inline == [] and audit.handlers == []
