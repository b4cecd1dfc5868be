"""A release's files: the explicit schema, the dataset card, the manifest, loaders (pandas,
pyarrow, Hugging Face datasets), media by relative path, an immutable folder."""
from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from arena.models import Competitor, Generation, Prompt, Battle, Slot, Turn, Vote, Voter
from releases.build import release_build
from releases.schema import arrow_schema
from tests.releases.conftest import age, conversation_battle, manifest, rows

pytestmark = pytest.mark.django_db


@pytest.fixture
def release(seeded, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path / "releases"
    return release_build()


def test_the_parquet_file_has_the_explicit_schema_and_one_row_per_vote(release):
    folder = Path(release.folder)
    schema = pq.read_schema(folder / "votes.parquet")
    assert schema.remove_metadata().equals(arrow_schema(manifest(folder)["criteria"]).remove_metadata())
    data = rows(folder)
    assert [r["id"] for r in data] == sorted(Vote.objects.values_list("id", flat=True))
    pair = next(r for r in data if r["model_a"])
    kwise = next(r for r in data if r["models"])
    vote = Vote.objects.get(pk=pair["id"])
    assert pair["winner"] == {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "both_bad"}[vote.outcome]
    assert [pair["model_a"], pair["model_b"]] == list(vote.battle.slots.order_by("position").values_list("competitor__slug", flat=True))
    assert pair["models"] is None and pair["ranking"] is None and pair["judge"]
    kv = Vote.objects.get(pk=kwise["id"])
    assert kwise["models"] == list(kv.battle.slots.order_by("position").values_list("competitor__slug", flat=True))
    assert kwise["ranking"] == kv.ranking and kwise["model_a"] is None and kwise["winner"] is None
    assert {r["category"] for r in data} == set(Vote.objects.values_list("category", flat=True))


def test_pandas_pyarrow_and_jsonl_read_the_same_rows(release):
    folder = Path(release.folder)
    df = pd.read_parquet(folder / "votes.parquet")
    table = pq.read_table(folder / "votes.parquet")
    with gzip.open(folder / "votes.jsonl.gz", "rt", encoding="utf-8") as f:
        lines = [json.loads(line) for line in f]
    assert len(df) == table.num_rows == len(lines) == release.rows == Vote.objects.count()
    assert [x["id"] for x in lines] == df["id"].tolist()
    assert [x["chain"] for x in lines] == table["chain"].to_pylist()
    assert [x["judge"] for x in lines] == df["judge"].tolist()


def test_hugging_face_datasets_loads_the_folder_from_its_card(release, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    ds = datasets.load_dataset(release.folder, cache_dir=str(tmp_path / "hf-cache"))  # the card's `configs`
    train = ds["train"]
    assert train.num_rows == release.rows
    assert {"model_a", "model_b", "winner", "judge", "conversation_a", "models", "ranking", "chain"} <= set(train.column_names)
    first = train[0]
    assert first["id"] == release.first_vote_id


def test_the_dataset_card_has_a_hugging_face_yaml_header(release):
    text = (Path(release.folder) / "README.md").read_text()
    assert text.startswith("---\n")
    header = yaml.safe_load(text.split("---\n")[1])
    assert header["license"] == "cc-by-4.0"
    assert header["task_categories"] == ["text-generation"]
    assert header["size_categories"] == ["n<1K"]
    assert header["configs"][0]["data_files"][0]["path"] == "votes.parquet"
    for words in ("## Columns", "`judge`", "## Privacy", "## Reproduce the leaderboard",
                  "python -m ratings fit votes.parquet --filter modality=text", "python -m ratings verify"):
        assert words in text


def test_the_manifest_lists_counts_ranges_and_every_files_sha256(release):
    folder = Path(release.folder)
    m = manifest(folder)
    votes = Vote.objects.all()
    assert m["counts"]["by_modality"]["text"]["pairwise"] == votes.filter(mode="pairwise").count()
    assert m["counts"]["by_modality"]["text"]["kwise"] == votes.filter(mode="kwise").count()
    assert m["vote_ids"] == {"first": votes.order_by("id").first().id, "last": votes.order_by("-id").first().id}
    assert m["time_range"]["first"] <= m["time_range"]["last"]
    assert m["chain"]["head"] == release.chain_head == rows(folder)[-1]["chain"]
    listed = {f["name"]: f for f in m["files"]}
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert set(listed) == on_disk - {"MANIFEST.json"}
    assert {"votes.parquet", "votes.jsonl.gz", "README.md", "schema.json", "exclusions.jsonl"} <= set(listed)
    for name, f in listed.items():
        data = (folder / name).read_bytes()
        assert f["sha256"] == hashlib.sha256(data).hexdigest() and f["size"] == len(data)
    schema = json.loads((folder / "schema.json").read_text())
    assert [c["name"] for c in schema["columns"]][:4] == ["id", "model_a", "model_b", "winner"]
    assert {"pii_scrub", "leaderboards", "exclusion_log", "withheld"} <= set(m)


def test_a_release_is_immutable_and_the_next_one_is_a_new_folder(release, settings):
    folder = Path(release.folder)
    assert not os.access(folder / "votes.parquet", os.W_OK) or os.geteuid() == 0
    assert (folder.stat().st_mode & 0o222) == 0 and ((folder / "votes.parquet").stat().st_mode & 0o222) == 0
    again = release_build()
    assert again.release_id != release.release_id and Path(again.folder) != folder
    assert not list(Path(settings.ARENA_RELEASE_DIR).glob(".*partial"))


def test_media_outputs_are_files_of_the_release_referenced_by_relative_path(db, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path / "releases"
    media = Path(settings.MEDIA_ROOT)
    media.mkdir(parents=True, exist_ok=True)
    comps = [Competitor.objects.create(slug=f"img{i}", name=f"Img {i}", modality="image", adapter="demo_image") for i in range(2)]
    voter = Voter.objects.create()
    prompt = Prompt.objects.create(text="a red house at sunset", modality="image")
    battle = Battle.objects.create(mode="pairwise", k=2, modality="image", voter=voter, prompt=prompt, status="voted")
    turn = Turn.objects.create(battle=battle, index=0, prompt=prompt)
    names = []
    for pos, c in enumerate(comps):
        slot = Slot.objects.create(battle=battle, position=pos, competitor=c)
        name = f"r{pos}x9.png"
        (media / name).write_bytes(b"\x89PNG fake image %d" % pos)
        Generation.objects.create(slot=slot, turn=turn, status="done", media_name=name, media_mime="image/png")
        names.append(name)
    Vote.objects.create(battle=battle, voter=voter, outcome="b", ranking=[2, 1], modality="image", mode="pairwise",
                        model_a=comps[0], model_b=comps[1])
    age(Vote.objects.all())
    rel = release_build()
    folder = Path(rel.folder)
    row = rows(folder)[0]
    assert row["conversation_a"][1] == {"role": "assistant", "content": f"media/{names[0]}"}
    assert (folder / row["conversation_b"][1]["content"]).read_bytes() == b"\x89PNG fake image 1"
    assert f"media/{names[1]}" in {f["name"] for f in manifest(folder)["files"]}
    header = yaml.safe_load((folder / "README.md").read_text().split("---\n")[1])
    assert header["task_categories"] == ["text-to-image"]


def test_the_embedded_database_path_writes_the_same_rows(seeded, settings, tmp_path, monkeypatch):
    """Postgres builds each row in SQL; other databases (the embedded SQLite) assemble the same
    rows from ORM queries: both give the same release, chain included."""
    import releases.build as build
    from releases import source

    settings.ARENA_RELEASE_DIR = tmp_path
    comps = list(Competitor.objects.order_by("slug"))
    shy = Voter.objects.create(release_opt_out=True)
    talker = Voter.objects.create()
    conversation_battle(voter=talker, models=comps[:2], prompts=["first question", "a follow-up"],
                        outputs=[["answer one", "answer two"], ["other one", "other two"]], feedback="nice")
    conversation_battle(voter=shy, models=comps[:3], prompts=["hidden"], outputs=[["x"], ["y"], ["z"]], ranking=[3, 1, 2])
    Vote.objects.filter(pk=Vote.objects.order_by("-pk").first().pk).update(criteria={"helpfulness": "b"}, listen_ms={"A": 10})
    age(Vote.objects.all())
    sql = rows(Path(build.release_build().folder))
    monkeypatch.setattr(build, "raw_batches", lambda **kw: source._orm_batches(**kw))
    orm = rows(Path(build.release_build(batch=97).folder))
    assert len(sql) == len(orm) == Vote.objects.count()
    for a, b in zip(sql, orm):
        assert {k: v for k, v in a.items() if k != "judge"} == {k: v for k, v in b.items() if k != "judge"}
    multi = next(r for r in sql if r["turn"] == 2)
    assert [m["content"] for m in multi["conversation_b"]] == ["first question", "other one", "a follow-up", "other two"]


def test_conversations_are_assembled_from_turns_slots_and_answers(seeded, settings, tmp_path):
    """Each model's conversation: every turn's prompt then that model's answer, in turn order;
    a battle stored without turn rows shows its own prompt and an empty answer; a missing answer is
    empty; K-wise rows hold one conversation per model in the order shown."""
    settings.ARENA_RELEASE_DIR = tmp_path
    comps = list(Competitor.objects.order_by("slug"))
    voter = Voter.objects.create()
    three = conversation_battle(voter=voter, models=comps[:3], prompts=["p0", "p1"],
                                outputs=[["a0", "a1"], ["b0", "b1"], ["c0", "c1"]], ranking=[2, 1, 3])
    gap = conversation_battle(voter=voter, models=comps[:2], prompts=["q0", "q1"], outputs=[["x0", "x1"], ["y0", "y1"]])
    Generation.objects.filter(slot__battle=gap.battle, slot__position=1, turn__index=0).delete()
    age(Vote.objects.all())
    by_id = {r["id"]: r for r in rows(Path(release_build().folder))}
    msgs = lambda conv: [(m["role"], m["content"]) for m in conv]  # noqa: E731
    assert [msgs(c) for c in by_id[three.pk]["conversations"]] == [
        [("user", "p0"), ("assistant", f"{x}0"), ("user", "p1"), ("assistant", f"{x}1")] for x in "abc"]
    assert by_id[three.pk]["models"] == [c.slug for c in comps[:3]]
    assert msgs(by_id[gap.pk]["conversation_a"]) == [("user", "q0"), ("assistant", "x0"), ("user", "q1"), ("assistant", "x1")]
    assert msgs(by_id[gap.pk]["conversation_b"]) == [("user", "q0"), ("assistant", ""), ("user", "q1"), ("assistant", "y1")]
    bare = Vote.objects.filter(battle__turns__isnull=True, voter__release_opt_out=False).select_related("battle__prompt").first()
    assert bare is not None
    row = by_id[bare.pk]
    convs = [row["conversation_a"], row["conversation_b"]] if row["mode"] == "pairwise" else row["conversations"]
    assert all(msgs(c) == [("user", bare.battle.prompt.text), ("assistant", "")] for c in convs)
