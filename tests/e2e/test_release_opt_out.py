"""The battle page's release opt-out in Chromium: ticking the box stores the choice on the
server (it survives a reload and reaches the voter's row), unticking it clears it."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from arena.models import Voter

from .helpers import screenshot, wait_until

pytestmark = [pytest.mark.e2e]


def test_the_opt_out_checkbox_is_stored_server_side(live_arena, page):
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(live_arena.base_url + "/")
    box = page.get_by_test_id("release-opt-out")
    expect(box).not_to_be_checked()
    box.check()
    expect(page.get_by_test_id("release-opt-out-status")).to_contain_text("will not be released")
    voter = wait_until(lambda: Voter.objects.filter(release_opt_out=True).first(), what="the choice stored")
    screenshot(page, "release-opt-out")
    page.reload()
    expect(page.get_by_test_id("release-opt-out")).to_be_checked()
    page.get_by_test_id("release-opt-out").uncheck()
    expect(page.get_by_test_id("release-opt-out-status")).to_have_text("Saved.")
    wait_until(lambda: not Voter.objects.get(pk=voter.pk).release_opt_out, what="the choice cleared")
    assert Voter.objects.count() == 1
    assert not [e for e in errors if "release" in e.lower()]  # (other scripts of the page are not ours to judge here)
