"""`python -m ratings verify`: a release checks out; an edited, removed or inserted row is named
(exit 1); a later release continues the chain of an earlier one; the exclusion-decision log is
chained too."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import datetime as dt

from arena.models import Competitor, Vote, Voter
from ratings.engine.chain import GENESIS, canonical_bytes, link
from releases.build import release_build
from tests.releases.conftest import age, cli, conversation_battle, manifest

pytestmark = pytest.mark.django_db


@pytest.fixture
def release(seeded, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path / "releases"
    return release_build()


def _copy(release, tmp_path) -> Path:
    """A writable copy of the release folder (the release itself is read-only)."""
    dst = tmp_path / "copy"
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(release.folder, dst)
    for p in [dst, *dst.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return dst


def _rewrite(folder: Path, edit) -> list[dict]:
    table = pq.read_table(folder / "votes.parquet")
    data = table.to_pylist()
    data = edit(data)
    pq.write_table(pa.Table.from_pylist(data, schema=table.schema), folder / "votes.parquet")
    return data


def test_an_untouched_release_verifies(release):
    res = cli("verify", str(Path(release.folder) / "votes.parquet"))
    assert res.returncode == 0
    assert f"OK: {release.rows} rows, chain head {release.chain_head}" in res.stdout


def test_the_chain_is_sha256_of_the_previous_chain_and_the_canonical_row(release):
    table = pq.read_table(Path(release.folder) / "votes.parquet")
    data = table.to_pylist()
    head = GENESIS
    for row in data[:50]:
        head = link(head, canonical_bytes(row, table.schema))
        assert row["chain"] == head
    # judge, counted and exclusion_reason are not part of a row's canonical bytes (they change by design)
    assert canonical_bytes({**data[0], "judge": "x", "counted": False}, table.schema) == canonical_bytes(data[0], table.schema)
    # the documented form: netstrings of name and value, column by column
    first = canonical_bytes(data[0], table.schema).decode()
    assert first.startswith(f"2:id{len(str(data[0]['id']))}:{data[0]['id']}7:model_a")
    assert "5:judge" not in first and "7:counted" not in first


@pytest.mark.parametrize("field, value", [("winner", "tie"), ("model_b", "m9"), ("feedback", "edited later")])
def test_an_edited_row_is_named(release, tmp_path, field, value):
    folder = _copy(release, tmp_path)
    data = pq.read_table(folder / "votes.parquet").to_pylist()
    victim = next(r for r in data[10:] if r["model_a"] and r[field] != value)["id"]
    _rewrite(folder, lambda rows: [{**r, field: value} if r["id"] == victim else r for r in rows])
    res = cli("verify", str(folder / "votes.parquet"), check=False)
    assert res.returncode == 1
    assert res.stdout.splitlines()[0] == f"changed: row id {victim} (its content does not give its chain)"


def test_a_removed_row_is_named_by_its_neighbours(release, tmp_path):
    folder = _copy(release, tmp_path)
    data = pq.read_table(folder / "votes.parquet").to_pylist()
    before, gone, after = data[19]["id"], data[20]["id"], data[21]["id"]
    _rewrite(folder, lambda rows: [r for r in rows if r["id"] != gone])
    res = cli("verify", str(folder / "votes.parquet"), check=False)
    assert res.returncode == 1
    assert f"removed: a row between id {before} and id {after}" in res.stdout


def test_an_inserted_row_is_named(release, tmp_path):
    folder = _copy(release, tmp_path)
    data = pq.read_table(folder / "votes.parquet").to_pylist()
    forged = {**data[30], "id": data[30]["id"] + 10**6, "winner": "tie"}
    schema = pq.read_schema(folder / "votes.parquet")
    forged["chain"] = link(data[30]["chain"], canonical_bytes(forged, schema))  # chained properly after row 30
    _rewrite(folder, lambda rows: rows[:31] + [forged] + rows[31:])
    res = cli("verify", str(folder / "votes.parquet"), check=False)
    assert res.returncode == 1
    assert f"inserted: row id {forged['id']}" in res.stdout


def test_a_rewritten_chain_is_caught_by_the_manifest_head(release, tmp_path):
    folder = _copy(release, tmp_path)

    schema = pq.read_schema(folder / "votes.parquet")

    def forge(rows):
        rows[40] = {**rows[40], "winner": "model_b" if rows[40]["winner"] != "model_b" else "model_a"}
        head = GENESIS
        for r in rows:
            head = r["chain"] = link(head, canonical_bytes(r, schema))
        return rows

    forged = _rewrite(folder, forge)
    res = cli("verify", str(folder / "votes.parquet"), check=False)
    assert res.returncode == 1
    assert "the chain was rewritten" in res.stdout
    assert f"and id {forged[1023]['id'] if len(forged) > 1023 else forged[-1]['id']} were changed" in res.stdout


def test_a_later_release_continues_the_chain_and_verify_checks_it(release, settings, tmp_path):
    first = Path(release.folder)
    # an exclusion decided since (it changes `counted`, not the chain) and new votes, now old enough
    from arena.services.exclusions import votes_exclude

    votes_exclude(votes=Vote.objects.order_by("pk")[:5], reason="fraud:test", detail="", by_kind="detector", by="test")
    comps = list(Competitor.objects.order_by("slug"))
    voter = Voter.objects.create()
    new = [conversation_battle(voter=voter, models=comps[i:i + 2], prompts=[f"question {i}"], outputs=[["x"], ["y"]])
           for i in range(3)]
    age(Vote.objects.filter(pk__in=[v.pk for v in new]), dt.timedelta(days=31))
    second = release_build()
    assert second.last_vote_id == new[-1].pk and second.rows == release.rows + 3
    m2 = manifest(Path(second.folder))
    assert m2["chain"]["previous"] == {"release": release.release_id, "last_vote_id": release.last_vote_id,
                                       "head": release.chain_head, "prefix_intact": True}
    res = cli("verify", str(Path(second.folder) / "votes.parquet"), "--previous", str(first / "MANIFEST.json"))
    assert res.returncode == 0, res.stdout
    assert "continues release" in res.stderr
    # an earlier row changed since the first release: named against the previous parquet, and the
    # manifest names the range
    folder = _copy(second, tmp_path)
    victim = pq.read_table(folder / "votes.parquet").to_pylist()[100]["id"]
    _rewrite(folder, lambda rows: [{**r, "category": "tampered"} if r["id"] == victim else r for r in rows])
    res = cli("verify", str(folder / "votes.parquet"), "--previous", str(first / "votes.parquet"), check=False)
    assert res.returncode == 1 and f"changed: row id {victim}" in res.stdout


def test_the_exclusion_decision_log_is_chained_and_agrees_with_counted(seeded, settings, tmp_path):
    from arena.services.exclusions import votes_count_again, votes_exclude

    settings.ARENA_RELEASE_DIR = tmp_path / "releases"
    first = list(Vote.objects.order_by("pk").values_list("pk", flat=True)[:6])
    votes_exclude(votes=first, reason="fraud:position_bias", detail="z = 4.1", by_kind="detector", by="position_bias")
    votes_count_again(votes=first[:2], detail="looked fine to me", by_kind="staff", by="alice")
    release = release_build()
    log = [json.loads(line) for line in (Path(release.folder) / "exclusions.jsonl").read_text().splitlines()]
    assert [(d["vote"], d["counted"], d["by"]) for d in log] == (
        [(v, False, "position_bias") for v in first] + [(v, True, "staff") for v in first[:2]])
    assert all("detail" not in d for d in log)  # a staff note or a statistic stays internal
    assert b"alice" not in (Path(release.folder) / "exclusions.jsonl").read_bytes()
    assert manifest(Path(release.folder))["exclusion_log"]["decisions"] == 8
    assert cli("verify", str(Path(release.folder) / "votes.parquet")).returncode == 0

    folder = _copy(release, tmp_path)  # a decision changed afterwards
    lines = (folder / "exclusions.jsonl").read_text().splitlines()
    d = json.loads(lines[6])
    d["counted"] = False
    lines[6] = json.dumps(d)
    (folder / "exclusions.jsonl").write_text("\n".join(lines) + "\n")
    res = cli("verify", str(folder / "votes.parquet"), check=False)
    assert res.returncode == 1
    assert f"exclusions.jsonl, line 7: exclusion decision {d['decision']} on vote {first[0]}" in res.stdout

    folder = _copy(release, tmp_path / "b")  # a row's `counted` changed without a decision
    _rewrite(folder, lambda rows: [{**r, "counted": True, "exclusion_reason": None} if r["id"] == first[3] else r
                                   for r in rows])
    res = cli("verify", str(folder / "votes.parquet"), check=False)
    assert res.returncode == 1
    assert f"changed: row id {first[3]} says counted=True (None), its last exclusion decision says counted=False" in res.stdout


def test_verify_bad_input_is_a_clear_message(tmp_path):
    res = cli("verify", str(tmp_path / "nope.parquet"), check=False)
    assert res.returncode == 2 and "no such file" in res.stderr and "Traceback" not in res.stderr
    bad = tmp_path / "votes.parquet"
    pq.write_table(pa.table({"model_a": ["x"], "model_b": ["y"], "winner": ["tie"]}), bad)
    res = cli("verify", str(bad), check=False)
    assert res.returncode == 2 and "not an arena release file" in res.stderr
