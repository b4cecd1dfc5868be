"""`python -m ratings fit votes.parquet --filter ...` gives the leaderboards a release records
(and the live snapshot of the same votes): pairwise + K-wise, K-wise only, a category."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from arena.models import Vote
from ratings.services import leaderboard_recompute
from releases.build import release_build
from tests.releases.conftest import cli, manifest

pytestmark = pytest.mark.django_db


@pytest.fixture
def released(seeded, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path
    # The CLI's defaults are the published method (voter-clustered sandwich, position bias as a
    # parameter), and so are the release's recorded leaderboards: the intervals compare too.
    settings.ARENA_RELEASE_CI = "sandwich"
    # votes that do not count are in the release (with their reason) and must stay out of the fit
    from arena.services.exclusions import votes_exclude

    votes_exclude(votes=Vote.objects.order_by("pk")[:15], reason="fraud:test", detail="", by_kind="detector", by="t")
    snaps = {cat: leaderboard_recompute(modality="text", category=cat, method="bt")
             for cat in ("overall", "votes:kwise", "category:coding")}
    return release_build(), snaps


@pytest.mark.parametrize("board, filters", [
    ("text/overall/bt", ["modality=text"]),
    ("text/votes:kwise/bt", ["modality=text", "mode=kwise"]),
    ("text/category:coding/bt", ["modality=text", "category=coding"]),
])
def test_the_cli_reproduces_the_recorded_leaderboard_and_the_live_snapshot(released, tmp_path, board, filters):
    rel, snaps = released
    folder = Path(rel.folder)
    recorded = {b["id"]: b for b in manifest(folder)["leaderboards"]}[board]
    assert recorded["filters"] == filters
    out = tmp_path / "fit.json"
    args = ["fit", str(folder / "votes.parquet")] + [a for f in filters for a in ("--filter", f)] + ["--out", str(out)]
    cli(*args)
    fit = json.loads(out.read_text())
    snap = snaps[recorded["category"]]
    assert fit["votes"] == recorded["votes"] == snap.vote_count
    assert recorded["snapshot"] == snap.pk
    assert recorded["fingerprint"] == {"count": snap.vote_count, "max_vote_id": snap.max_vote_id, "hash": snap.vote_hash}
    mine = {r["model"]: r for r in recorded["models"]}
    live = {r["model"]: r for r in snap.rows}
    assert set(mine) == {r["model"] for r in fit["models"]} == set(live)
    for r in fit["models"]:
        for key in ("rating", "lower", "upper"):
            assert r[key] == pytest.approx(mine[r["model"]][key], abs=1e-6)
            assert r[key] == pytest.approx(live[r["model"]][key], abs=1e-6)
        assert (r["rank"], r["rank_upper"]) == (mine[r["model"]]["rank"], mine[r["model"]]["rank_upper"])


def test_uncounted_rows_stay_out_unless_asked(released, tmp_path):
    rel, _ = released
    path = str(Path(rel.folder) / "votes.parquet")
    cli("fit", path, "--filter", "modality=text", "--ci", "none", "--out", str(tmp_path / "a.json"))
    cli("fit", path, "--filter", "modality=text", "--ci", "none", "--include-uncounted", "--out", str(tmp_path / "b.json"))
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    assert b["votes"] - a["votes"] == 15
    assert any("counted = false" in n for n in a["notes"])


def test_by_default_the_intervals_are_sandwich_and_the_plain_command_gives_the_ratings(seeded, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path
    folder = Path(release_build().folder)
    recorded = {b["id"]: b for b in manifest(folder)["leaderboards"]}["text/overall/bt"]
    assert recorded["ci"] == "sandwich"
    assert recorded["command"] == "python -m ratings fit votes.parquet --filter modality=text --ci sandwich"
    plain, exact = tmp_path / "plain.json", tmp_path / "exact.json"
    cli("fit", str(folder / "votes.parquet"), "--filter", "modality=text", "--rounds", "100", "--out", str(plain))
    cli(*recorded["command"].split()[3:], "--out", str(exact), cwd=folder)
    mine = {r["model"]: r for r in recorded["models"]}
    for r in json.loads(plain.read_text())["models"]:
        assert r["rating"] == pytest.approx(mine[r["model"]]["rating"], abs=1e-6)
    for r in json.loads(exact.read_text())["models"]:
        for key in ("rating", "lower", "upper"):
            assert r[key] == pytest.approx(mine[r["model"]][key], abs=1e-6)


def test_fingerprints_of_all_leaderboards_in_one_scan_equal_each_ones_own(seeded):
    """The release asks for the database fingerprints of its leaderboards in one scan of the votes
    (releases.leaderboards._live_many); each equals ratings.votesource.fingerprint of its own query."""
    from releases.leaderboards import _live, _live_many

    last = Vote.objects.order_by("-id").values_list("id", flat=True).first() - 3
    cats = ["overall", "votes:pairwise", "votes:kwise", "category:general", "category:nope", "turns:single"]
    many = _live_many("text", cats, last_id=last, full=False)
    assert many == {c: _live("text", c, last_id=last, full=False) for c in cats}
    assert many["overall"]["fingerprint"]["count"] > many["votes:kwise"]["fingerprint"]["count"] > 0
