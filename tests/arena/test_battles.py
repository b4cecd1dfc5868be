"""Starting battles: who meets, what is stored, and what a bad request gets."""
from __future__ import annotations

import pytest

from arena.models import Battle, Competitor, Generation, Prompt, Slot

pytestmark = pytest.mark.django_db


def test_pairwise_battle_shows_two_distinct_text_models_as_a_and_b(demo, voter_client, django_capture_on_commit_callbacks):
    res = voter_client.start(django_capture_on_commit_callbacks, prompt="What is 17*23?")
    assert res.status_code == 201, res.content
    state = res.json()
    assert [s["slot"] for s in state["slots"]] == ["A", "B"]
    battle = Battle.objects.get(public_id=state["battle"])
    slots = list(battle.slots.select_related("competitor"))
    assert len({s.competitor_id for s in slots}) == 2
    assert all(s.competitor.modality == "text" for s in slots)
    battle.refresh_from_db()
    assert battle.status == Battle.READY  # both outputs generated through the task path
    assert all(g.status == Generation.DONE and g.text for g in Generation.objects.filter(slot__battle=battle))


def test_battle_ids_are_random_and_opaque(demo, voter_client, django_capture_on_commit_callbacks):
    ids = [voter_client.start(django_capture_on_commit_callbacks).json()["battle"] for _ in range(3)]
    assert len(set(ids)) == 3
    assert all(len(i) >= 20 and not i.isdigit() for i in ids)


def test_positions_are_shuffled(demo, voter_client, django_capture_on_commit_callbacks):
    Competitor.objects.filter(modality="text").exclude(slug__in=["aurora-7b", "mumble-0"]).update(active=False)
    first = set()
    for _ in range(16):
        bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
        first.add(Slot.objects.get(battle__public_id=bid, position=0).competitor.slug)
    assert first == {"aurora-7b", "mumble-0"}  # each model has been A (chance of failing: 2 in 65536)


def test_kwise_battle_defaults_to_four_outputs(demo, voter_client, django_capture_on_commit_callbacks):
    state = voter_client.start(django_capture_on_commit_callbacks, mode="kwise").json()
    assert state["k"] == 4 and [s["slot"] for s in state["slots"]] == ["A", "B", "C", "D"]
    assert Slot.objects.filter(battle__public_id=state["battle"]).values("competitor").distinct().count() == 4


def test_image_battle_outputs_are_images_behind_random_names(demo, voter_client, django_capture_on_commit_callbacks):
    state = voter_client.start(django_capture_on_commit_callbacks, modality="image", prompt="A red house under a sun").json()
    detail = voter_client.get(f"/api/battles/{state['battle']}/").json()
    urls = [s["outputs"][0]["media"]["url"] for s in detail["slots"]]
    assert all(u.startswith("/m/") and u.endswith(".png") for u in urls)
    res = voter_client.get(urls[0])
    assert res.status_code == 200 and res["Content-Type"] == "image/png"
    assert b"".join(res.streaming_content)[:8] == b"\x89PNG\r\n\x1a\n"
    # another voter cannot fetch a battle's media before its vote
    from django.test import Client

    assert Client().get(urls[0]).status_code == 404


def test_prompt_records_language_and_category(demo, voter_client, django_capture_on_commit_callbacks):
    state = voter_client.start(django_capture_on_commit_callbacks, prompt="Bonjour, pouvez-vous m'expliquer la photosynthèse ?").json()
    p = Battle.objects.get(public_id=state["battle"]).prompt
    assert (p.language, p.category, p.source) == ("fr", "other", Prompt.SOURCE_USER)

    drawn = voter_client.get("/api/prompts/random/?modality=text").json()
    state = voter_client.start(django_capture_on_commit_callbacks, prompt=drawn["text"], prompt_id=drawn["id"]).json()
    p = Battle.objects.get(public_id=state["battle"]).prompt
    assert p.pk == drawn["id"] and p.category == drawn["category"] != "other"


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"prompt": "   "}, 400, "empty"),
        ({"prompt": "x" * 4001}, 400, "too long"),
        ({"modality": "smell"}, 400, "Unknown modality"),
        ({"mode": "kwise", "k": 7}, 400, "3 to 6"),
        ({"mode": "kwise", "k": 2}, 400, "3 to 6"),
        ({"mode": "tournament"}, 400, "mode"),
        ({"modality": "text", "models": ["aurora-7b", "aurora-7b"]}, 400, "only once"),
        ({"modality": "text", "models": ["aurora-7b", "prism-xl"]}, 400, "Unknown or inactive"),
    ],
)
def test_bad_battle_requests_get_a_clear_4xx_and_write_nothing(demo, voter_client, django_capture_on_commit_callbacks, body, status, message):
    prompts_before = Prompt.objects.count()
    res = voter_client.start(django_capture_on_commit_callbacks, **body)
    assert res.status_code == status
    assert message in res.json()["error"]
    assert Battle.objects.count() == 0 and Prompt.objects.count() == prompts_before


def test_not_enough_models_is_503_with_reason(demo, voter_client, django_capture_on_commit_callbacks):
    Competitor.objects.filter(modality="text").exclude(slug="aurora-7b").update(active=False)
    res = voter_client.start(django_capture_on_commit_callbacks)
    assert res.status_code == 503 and "needs 2" in res.json()["error"]
    assert Battle.objects.count() == 0


def test_invalid_json_is_400(demo, voter_client):
    res = voter_client.post("/api/battles/", "{not json", content_type="application/json")
    assert res.status_code == 400 and "JSON" in res.json()["error"]


def test_named_mode_shows_names_from_the_start(demo, voter_client, django_capture_on_commit_callbacks):
    state = voter_client.start(django_capture_on_commit_callbacks, models=["quill-3", "aurora-7b"]).json()
    assert state["anonymous"] is False
    assert [s["model"] for s in state["slots"]] == ["Quill-3", "Aurora-7B"]


def test_unhealthy_models_are_left_out(demo, voter_client, django_capture_on_commit_callbacks):
    Competitor.objects.filter(modality="text").exclude(slug__in=["aurora-7b", "quill-3"]).update(healthy=False)
    for _ in range(4):
        bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
        assert set(Slot.objects.filter(battle__public_id=bid).values_list("competitor__slug", flat=True)) == {"aurora-7b", "quill-3"}


@pytest.mark.parametrize("body", [
    {},
    {"mode": "kwise", "k": 4},
    {"models": ["aurora-7b", "mumble-0"]},
    {"modality": "image", "prompt": "A lighthouse at dusk"},
])
def test_the_new_battle_state_is_what_reading_it_back_gives(demo, voter_client, monkeypatch, body):
    """The POST answers from the rows it has just written (no read-back under a burst of new
    battles); that answer must be exactly what the battle's state is."""
    monkeypatch.setattr("arena.services.battles.enqueue_turn", lambda **kw: None)
    res = voter_client.post_json("/api/battles/", {"modality": "text", "prompt": "Explain tides.", **body})
    assert res.status_code == 201, res.content
    created = res.json()
    again = voter_client.get(f"/api/battles/{created['battle']}/").json()
    assert created == again
    assert created["status"] == "generating" and all(
        o["status"] == "queued" for s in created["slots"] for o in s["outputs"])


@pytest.mark.parametrize("text, lang", [
    ("Why does water boil at a lower temperature on a mountain?", "en"),
    ("Pourquoi le ciel est-il bleu ?", "fr"),
    ("¿Por qué el cielo es azul?", "es"),
    ("Warum ist der Himmel blau?", "de"),
    ("Почему небо голубое?", "ru"),
    ("なぜ空は青いのですか", "ja"),
    ("2+2=?", "und"),
    ("hi", "und"),
])
def test_prompt_language_is_detected_or_left_undetermined(text, lang):
    from arena.services.prompts import detect_language

    assert detect_language(text) == lang
