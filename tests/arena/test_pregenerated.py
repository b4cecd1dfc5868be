"""Pre-generated sets: import a folder or a manifest, report what was skipped and why, then
battle on prompts for which every chosen model has an output."""
from __future__ import annotations

import json
import struct
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from arena.models import Battle, Competitor, Generation, PregeneratedOutput, Prompt

pytestmark = pytest.mark.django_db


def _glb(generator: str) -> bytes:
    doc = json.dumps({"asset": {"version": "2.0", "generator": generator}, "scenes": [{"nodes": []}], "scene": 0}).encode()
    doc += b" " * (-len(doc) % 4)
    return struct.pack("<III", 0x46546C67, 2, 12 + 8 + len(doc)) + struct.pack("<II", len(doc), 0x4E4F534A) + doc


@pytest.fixture
def iso3d(tmp_path):
    root = tmp_path / "iso3d"
    root.mkdir()
    (root / "prompts.jsonl").write_text(
        "\n".join(json.dumps({"id": f"{i:03d}", "prompt": p}) for i, p in enumerate(["a wooden chair", "a teapot", "a rocket"]))
        + "\nnot json\n"
    )
    for model in ("mesh-master", "voxel-kid"):
        (root / model).mkdir()
        for i in range(3 if model == "mesh-master" else 2):
            (root / model / f"{i:03d}.glb").write_bytes(_glb(f"{model} exporter v1"))
    (root / "voxel-kid" / "099.glb").write_bytes(_glb("x"))  # no such prompt
    (root / "voxel-kid" / "002.png").write_bytes(b"\x89PNG not really")  # wrong kind for 3d
    return root


def test_folder_import_reports_what_it_skipped_and_why(demo, iso3d):
    out = StringIO()
    call_command("arena_import_pregenerated", str(iso3d), "--set", "iso3d", "--modality", "3d", "--create-models", stdout=out)
    text = out.getvalue()
    assert "imported 5 outputs of 2 models for 3 prompts" in text
    assert "prompts.jsonl line 4: needs \"id\" and \"prompt\"" in text
    assert "voxel-kid/099.glb: no prompt with id '099'" in text
    assert "voxel-kid/002.png: a .png file is not a 3d output" in text
    assert set(Competitor.objects.filter(adapter="pregenerated").values_list("slug", flat=True)) == {"mesh-master", "voxel-kid"}
    assert PregeneratedOutput.objects.count() == 5
    # imported again: nothing doubles
    call_command("arena_import_pregenerated", str(iso3d), "--set", "iso3d", "--modality", "3d", stdout=StringIO())
    assert PregeneratedOutput.objects.count() == 5 and Prompt.objects.filter(prompt_set__slug="iso3d").count() == 3


def test_unknown_models_are_skipped_without_create_flag(demo, iso3d):
    with pytest.raises(CommandError, match="nothing imported"):
        call_command("arena_import_pregenerated", str(iso3d), "--set", "iso3d", "--modality", "3d", stdout=StringIO())
    assert not PregeneratedOutput.objects.exists()


def test_battles_use_prompts_every_chosen_model_answered(demo, iso3d, voter_client, django_capture_on_commit_callbacks):
    Competitor.objects.filter(modality="3d").update(active=False)  # only the imported set
    call_command("arena_import_pregenerated", str(iso3d), "--set", "iso3d", "--modality", "3d", "--create-models", stdout=StringIO())
    stored = set(PregeneratedOutput.objects.values_list("media_name", flat=True))
    for _ in range(6):
        drawn = voter_client.get("/api/prompts/random/?modality=3d").json()
        assert drawn["text"] in ("a wooden chair", "a teapot")  # the rocket has only one model's output
        state = voter_client.start(django_capture_on_commit_callbacks, modality="3d", prompt=drawn["text"], prompt_id=drawn["id"]).json()
        battle = Battle.objects.get(public_id=state["battle"])
        assert battle.status == Battle.READY
        gens = Generation.objects.filter(slot__battle=battle)
        assert all(g.media_mime == "model/gltf-binary" for g in gens)
        # each battle serves fresh random names: a file name seen after one reveal says nothing next time
        assert not stored & {g.media_name for g in gens}
        detail = voter_client.get(f"/api/battles/{state['battle']}/").json()
        blob = b"".join(voter_client.get(detail["slots"][0]["outputs"][0]["media"]["url"]).streaming_content)
        assert b"exporter" not in blob and blob[:4] == b"glTF"  # asset.generator stripped


def test_a_typed_prompt_cannot_meet_pregenerated_models(demo, iso3d, voter_client, django_capture_on_commit_callbacks):
    Competitor.objects.filter(modality="3d").update(active=False)
    call_command("arena_import_pregenerated", str(iso3d), "--set", "iso3d", "--modality", "3d", "--create-models", stdout=StringIO())
    res = voter_client.start(django_capture_on_commit_callbacks, modality="3d", prompt="a spaceship")
    assert res.status_code == 503 and "random prompt" in res.json()["error"]
    res = voter_client.start(django_capture_on_commit_callbacks, modality="3d", prompt="a spaceship", models=["mesh-master", "voxel-kid"])
    assert res.status_code == 400 and "prompt set" in res.json()["error"]


def test_manifest_with_text_outputs_streams_like_a_live_model(demo, tmp_path, voter_client, django_capture_on_commit_callbacks):
    manifest = tmp_path / "museum.jsonl"
    rows = [
        {"prompt": "Name a colour.", "model": "old-gpt", "text": "Blue is a colour of the sky."},
        {"prompt": "Name a colour.", "model": "old-llama", "text": "Red."},
        {"prompt": "Name a colour.", "model": "old-llama", "text": "Green."},
        {"prompt": "Name a fruit.", "model": "old-gpt", "output": "missing.txt"},
        {"model": "old-gpt"},
    ]
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    out = StringIO()
    call_command("arena_import_pregenerated", str(manifest), "--set", "museum", "--modality", "text", "--create-models", stdout=out)
    text = out.getvalue()
    assert "imported 2 outputs" in text and "line 3: a second output of 'old-llama'" in text
    assert "line 4: file not found" in text and "line 5: needs \"prompt\" and \"model\"" in text
    Competitor.objects.filter(modality="text").exclude(adapter="pregenerated").update(active=False)
    prompt = Prompt.objects.get(text="Name a colour.")
    state = voter_client.start(django_capture_on_commit_callbacks, prompt=prompt.text, prompt_id=prompt.pk).json()
    texts = set(Generation.objects.filter(slot__battle__public_id=state["battle"]).values_list("text", flat=True))
    assert texts == {"Blue is a colour of the sky.", "Red."}
