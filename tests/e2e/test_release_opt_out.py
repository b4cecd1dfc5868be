"""The battle page's release opt-out in Chromium: ticking the box stores the choice on the
server (it survives a reload and reaches the voter's row), unticking it clears it."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from arena.models import Competitor, Voter

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


def test_a_release_download_streams_ranges_from_the_real_server(live_arena, settings, tmp_path):
    """Through uvicorn (ASGI): the whole file, a range, the Parquet footer, a 416 and a 404."""
    import urllib.error
    import urllib.request
    from pathlib import Path

    from arena.models import Vote
    from releases.build import release_build
    from tests.releases.conftest import age, conversation_battle

    settings.ARENA_RELEASE_DIR = tmp_path / "releases"
    comps = list(Competitor.objects.filter(modality="text")[:2])
    conversation_battle(voter=Voter.objects.create(), models=comps, prompts=["hello"], outputs=[["a" * 5000], ["b"]])
    age(Vote.objects.all())
    rel = release_build()
    whole = (Path(rel.folder) / "votes.parquet").read_bytes()
    url = f"{live_arena.base_url}/releases/{rel.release_id}/votes.parquet"

    def get(headers=None):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as res:
                return res.status, {k.lower(): v for k, v in res.headers.items()}, res.read()
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()

    status, headers, body = get()
    assert status == 200 and body == whole and headers["accept-ranges"] == "bytes"
    status, headers, body = get({"Range": "bytes=10-1009"})
    assert status == 206 and body == whole[10:1010] and headers["content-range"] == f"bytes 10-1009/{len(whole)}"
    status, _, body = get({"Range": "bytes=-8"})
    assert status == 206 and body == whole[-8:] and body.endswith(b"PAR1")
    assert get({"Range": f"bytes={len(whole)}-"})[0] == 416
    url = f"{live_arena.base_url}/releases/{rel.release_id}/nothing.bin"
    assert get()[0] == 404
