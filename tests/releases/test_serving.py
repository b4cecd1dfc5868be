"""Serving releases: /api/releases/ (newest first) and /releases/, downloads streamed with Range,
404s for anything not listed, staff-only full exports, the battle page's opt-out checkbox, and
the chain head on the leaderboard page."""
from __future__ import annotations

import hashlib
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from arena.models import Vote, Voter
from releases.build import release_build
from releases.models import Release

pytestmark = pytest.mark.django_db


@pytest.fixture
def two(seeded, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path
    first = release_build()
    second = release_build()
    return first, second


def _body(res) -> bytes:
    return b"".join(res) if res.streaming else res.content  # (an async iterator, as under ASGI)


def test_the_api_lists_releases_newest_first_with_files(two, client):
    first, second = two
    data = client.get("/api/releases/").json()["releases"]
    assert [r["id"] for r in data] == [second.release_id, first.release_id]
    r = data[1]
    assert {"id", "created", "cutoff", "counts", "files", "chain_head", "rows"} <= set(r)
    assert r["counts"]["by_modality"]["text"]["total"] == Vote.objects.count()
    files = {f["name"]: f for f in r["files"]}
    assert {"votes.parquet", "votes.jsonl.gz", "README.md", "schema.json", "MANIFEST.json"} <= set(files)
    for f in files.values():
        res = client.get(f["url"])
        assert res.status_code == 200
        body = _body(res)
        assert len(body) == f["size"] == int(res["Content-Length"])
        assert hashlib.sha256(body).hexdigest() == f["sha256"]
    assert files["votes.parquet"]["url"] == f"/releases/{first.release_id}/votes.parquet"


def test_downloads_honour_byte_ranges(two, client):
    rel = two[0]
    path = Path(rel.folder) / "votes.parquet"
    whole = path.read_bytes()
    url = f"/releases/{rel.release_id}/votes.parquet"
    res = client.get(url, HTTP_RANGE="bytes=4-99")
    assert res.status_code == 206 and _body(res) == whole[4:100]
    assert res["Content-Range"] == f"bytes 4-99/{len(whole)}" and res["Content-Length"] == "96"
    res = client.get(url, HTTP_RANGE="bytes=-8")  # the Parquet footer, as readers fetch it
    tail = _body(res)
    assert res.status_code == 206 and tail == whole[-8:] and tail.endswith(b"PAR1")
    res = client.get(url, HTTP_RANGE=f"bytes={len(whole) - 10}-")
    assert _body(res) == whole[-10:]
    res = client.get(url, HTTP_RANGE=f"bytes={len(whole)}-")
    assert res.status_code == 416 and res["Content-Range"] == f"bytes */{len(whole)}"
    res = client.get(url, HTTP_RANGE="bytes=abc")
    assert res.status_code == 416
    res = client.get(url)
    assert res["Accept-Ranges"] == "bytes" and res["ETag"].strip('"') == hashlib.sha256(whole).hexdigest()


@pytest.mark.parametrize("url", [
    "/releases/{id}/nothing.parquet", "/releases/{id}/../{id}/votes.parquet", "/releases/{id}/%2e%2e/db.sqlite3",
    "/releases/no-such-release/votes.parquet", "/releases/{id}/media/", "/releases/{id}/",
])
def test_unknown_files_are_404(two, client, url):
    res = client.get(url.format(id=two[0].release_id))
    assert res.status_code == 404


def test_a_full_export_is_for_staff_only(seeded, settings, tmp_path, client, django_user_model):
    settings.ARENA_RELEASE_DIR = tmp_path
    Vote.objects.filter(pk__in=Vote.objects.order_by("-pk").values("pk")[:10]).update(counted=False, exclusion_reason="fraud:x")
    full = release_build(full=True)
    assert full.kind == Release.FULL and full.rows == Vote.objects.count() and full.delay_days == 0
    assert client.get("/api/releases/").json()["releases"] == []
    assert client.get(f"/releases/{full.release_id}/votes.parquet").status_code == 404
    assert client.post("/api/releases/full/").status_code == 403
    staff = django_user_model.objects.create_user("staff", password="x" * 12, is_staff=True)
    client.force_login(staff)
    assert [r["id"] for r in client.get("/api/releases/").json()["releases"]] == [full.release_id]
    res = client.get(f"/releases/{full.release_id}/votes.parquet")
    assert res.status_code == 200 and res["Cache-Control"] == "private, no-store"
    # the staff button queues a full export (Celery runs eagerly in tests)
    res = client.post("/api/releases/full/", data="{}", content_type="application/json")
    assert res.status_code == 202
    assert Release.objects.filter(kind=Release.FULL).count() == 2


def test_the_command_writes_a_release_where_asked(seeded, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path / "default"
    out = StringIO()
    call_command("arena_release", "--delay-days", "10", "--out", str(tmp_path / "elsewhere"), stdout=out)
    rel = Release.objects.get()
    assert Path(rel.folder).parent == tmp_path / "elsewhere" and rel.delay_days == 10
    assert f"release {rel.release_id}: {rel.rows} votes" in out.getvalue() and rel.chain_head in out.getvalue()


def test_bad_command_input_is_a_clear_message(seeded, tmp_path):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="--delay-days -3: give a number of days >= 0") as exc:
        call_command("arena_release", "--delay-days", "-3", stdout=StringIO())
    assert exc.value.returncode == 2
    (tmp_path / "file").write_text("x")
    with pytest.raises(CommandError, match="not a folder"):
        call_command("arena_release", "--out", str(tmp_path / "file"), stdout=StringIO())


def test_the_page_lists_releases_and_says_so_when_there_are_none(two, client):
    first, second = two
    html = client.get("/releases/").content.decode()
    assert first.release_id in html and second.chain_head in html and "votes.parquet" in html
    Release.objects.all().delete()
    res = client.get("/releases/")
    assert res.status_code == 200 and 'data-testid="releases-empty"' in res.content.decode()


def test_the_leaderboard_page_shows_the_latest_chain_head(two, client):
    html = client.get("/leaderboard/?modality=text").content.decode()
    assert 'data-testid="release-chain-head"' in html and two[1].chain_head in html


def test_the_battle_page_opt_out_is_stored_on_the_server(db, client):
    html = client.get("/").content.decode()
    assert 'data-testid="release-opt-out"' in html and "checked" not in html.split('data-testid="release-opt-out"')[1][:120]
    res = client.post("/api/voter/release-opt-out/", json.dumps({"opt_out": True}), content_type="application/json")
    assert res.status_code == 200 and res.json() == {"release_opt_out": True}
    voter = Voter.objects.get()
    assert voter.release_opt_out
    html = client.get("/").content.decode()
    assert " checked" in html.split('data-testid="release-opt-out"')[1].split(">")[0]
    res = client.post("/api/voter/release-opt-out/", json.dumps({"opt_out": "yes"}), content_type="application/json")
    assert res.status_code == 400 and "true or false" in res.json()["error"]
    assert Voter.objects.get().release_opt_out
    client.post("/api/voter/release-opt-out/", json.dumps({"opt_out": False}), content_type="application/json")
    assert not Voter.objects.get().release_opt_out and Voter.objects.count() == 1


def test_one_build_at_a_time_and_a_killed_builds_leftovers_are_swept(seeded, settings, tmp_path):
    from django.core.cache import cache

    from releases.tasks import LOCK, build_release

    settings.ARENA_RELEASE_DIR = tmp_path
    (tmp_path / ".2026-01-01-000000.partial").mkdir()  # a build killed midway
    cache.add(LOCK, 1, timeout=60)
    assert build_release.apply().get() is None and not Release.objects.exists()  # one is running: dropped
    cache.delete(LOCK)
    rid = build_release.apply().get()
    assert Release.objects.get().release_id == rid
    assert [p.name for p in tmp_path.iterdir()] == [rid]
