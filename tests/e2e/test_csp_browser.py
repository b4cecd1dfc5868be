"""The Content-Security-Policy breaks nothing: a real Chromium runs a battle in every modality
(text streamed over the WebSocket, image, audio, video, 3D in model-viewer), the leaderboard and
the staff pages, and the browser reports no policy violation."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

RECORD_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  e => window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`));
"""


def violations(page) -> list[str]:
    return page.evaluate("window.__csp")


def test_no_policy_violation_on_any_page(live_arena, page, django_user_model):
    django_user_model.objects.create_user("csp-e2e", password="csp-e2e-password", is_staff=True, is_superuser=True)
    page.add_init_script(RECORD_VIOLATIONS)
    page.goto(live_arena.base_url + "/")
    seen: list[str] = []
    for modality in ["text", "image", "audio", "video", "3d"]:
        page.goto(live_arena.base_url + "/")
        page.get_by_test_id("modality").select_option(modality)
        page.get_by_test_id("random-prompt").click()
        expect(page.get_by_test_id("prompt")).not_to_have_value("")
        page.get_by_test_id("start").click()
        expect(page.locator(".output.done")).to_have_count(2, timeout=30_000)  # streamed over the socket
        page.wait_for_timeout(500)  # media decode, model-viewer start
        seen += [f"{modality}: {v}" for v in violations(page)]
    for url in ["/leaderboard/", "/admin/login/"]:
        page.goto(live_arena.base_url + url)
        seen += [f"{url}: {v}" for v in violations(page)]
    page.fill("#id_username", "csp-e2e")
    page.fill("#id_password", "csp-e2e-password")
    page.click("input[type=submit]")
    for url in ["/admin/", "/admin/arena/battle/", "/admin/arena/competitor/add/", "/staff/"]:
        page.goto(live_arena.base_url + url)
        page.wait_for_load_state("networkidle")
        seen += [f"{url}: {v}" for v in violations(page)]
    assert seen == []
