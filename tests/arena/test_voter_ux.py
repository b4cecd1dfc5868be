"""What a voter notices beyond the battle itself (issue 14): criteria that fit the modality, K
choices the roster allows, language labels that are right or left undetermined, listening times
the server can believe, an empty leaderboard that is not an error, and the voter's own page."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.test import Client
from django.utils import timezone

from arena.models import Battle, Competitor, Generation, Vote

pytestmark = pytest.mark.django_db


def _media_urls(state: dict) -> dict[str, str]:
    return {s["slot"]: s["outputs"][0]["media"]["url"] for s in state["slots"]}


def _ready(client, cb, **body) -> dict:
    state = client.start(cb, **body).json()
    assert Battle.objects.get(public_id=state["battle"]).status == Battle.READY, state
    return client.get(f"/api/battles/{state['battle']}/").json()


# ---- criteria per modality -------------------------------------------------------------------------

@pytest.mark.parametrize("modality, prompt, expected", [
    ("text", "Explain how photosynthesis works.", ["helpfulness", "accuracy", "style"]),
    ("image", "A red fox in the snow", ["prompt_alignment", "aesthetics"]),
    ("audio", "A happy piano melody", ["musicality", "prompt_adherence"]),
    ("3d", "A wooden chair", ["geometry", "texture"]),
])
def test_each_modality_offers_its_own_criteria(demo, voter_client, django_capture_on_commit_callbacks, modality, prompt, expected):
    state = voter_client.start(django_capture_on_commit_callbacks, modality=modality, prompt=prompt).json()
    assert state["criteria"] == expected


def test_a_text_criterion_is_refused_on_a_3d_battle_and_its_own_are_stored(demo, voter_client, django_capture_on_commit_callbacks):
    state = _ready(voter_client, django_capture_on_commit_callbacks, modality="3d", prompt="A wooden chair")
    res = voter_client.vote(state["battle"], outcome="a", criteria={"helpfulness": "a"})
    assert res.status_code == 400 and "geometry, texture" in res.json()["error"]
    assert not Vote.objects.exists()
    res = voter_client.vote(state["battle"], outcome="a", criteria={"geometry": "a", "texture": "b"})
    assert res.status_code == 201, res.content
    assert Vote.objects.get().criteria == {"geometry": "a", "texture": "b"}


def test_criteria_are_configured_per_modality(demo, voter_client, django_capture_on_commit_callbacks, settings):
    settings.ARENA_CRITERIA_BY_MODALITY = {**settings.ARENA_CRITERIA_BY_MODALITY, "image": ["realism"]}
    state = voter_client.start(django_capture_on_commit_callbacks, modality="image", prompt="A red fox").json()
    assert state["criteria"] == ["realism"]


def test_criteria_settings_read_from_the_environment():
    """ARENA_CRITERIA_<MODALITY> as an operator sets them (a fresh process reads its settings)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "ARENA_CRITERIA_3D": "topology, uv_layout", "ARENA_CRITERIA_AUDIO": "", "DJANGO_SETTINGS_MODULE": "config.settings"}
    code = "import json, django; django.setup(); from django.conf import settings as s; " \
           "print(json.dumps([s.ARENA_CRITERIA_BY_MODALITY, s.ARENA_CRITERIA]))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=True)
    by_modality, every = json.loads(out.stdout.strip().splitlines()[-1])
    assert by_modality["3d"] == ["topology", "uv_layout"] and by_modality["audio"] == []
    assert by_modality["text"] == ["helpfulness", "accuracy", "style"]
    assert "topology" in every and "helpfulness" in every and "musicality" not in every


# ---- K choices ---------------------------------------------------------------------------------------

def test_the_page_offers_only_the_k_the_roster_allows(demo, client):
    body = client.get("/").content.decode()
    config = json.loads(re.search(r'<script id="arena-config" type="application/json">(.*?)</script>', body).group(1))
    counts = {m: Competitor.objects.filter(modality=m, active=True, healthy=True).count() for m in config["maxK"]}
    assert config["maxK"]["text"] == min(counts["text"], 6) == 5
    assert config["maxK"]["3d"] == 0 and counts["3d"] == 2  # two models: no K-wise battle at all
    assert "<script>" not in body  # no inline script (a CSP is coming)


def test_too_few_models_for_k_says_so_without_suggesting_a_random_prompt(demo, voter_client, django_capture_on_commit_callbacks):
    res = voter_client.start(django_capture_on_commit_callbacks, mode="kwise", k=6)
    assert res.status_code == 503
    err = res.json()["error"]
    assert "Only 5 text models" in err and "at most 5" in err and "random prompt" not in err
    res = voter_client.start(django_capture_on_commit_callbacks, modality="3d", prompt="A chair", mode="kwise", k=3)
    assert res.status_code == 503 and "random prompt" not in res.json()["error"]
    assert not Battle.objects.exists()


# ---- language ----------------------------------------------------------------------------------------

SHORT_ENGLISH = ["is this good", "Write a poem", "a cat", "sunset over sea", "Tell me a joke", "hi there",
                 "a red chair", "drum and bass", "how r u", "calm piano", "pls fix my code", "a wooden table"]


@pytest.mark.parametrize("text", SHORT_ENGLISH)
def test_short_english_prompts_are_english_or_undetermined(text):
    from arena.services.prompts import detect_language

    assert detect_language(text) in ("en", "und")


def test_languages_outside_the_configured_set_are_undetermined(settings):
    from arena.services.prompts import detect_language

    assert detect_language("Pourquoi le ciel est-il bleu ?") == "fr"
    settings.ARENA_LANGUAGES = ["en", "de"]
    assert detect_language("Pourquoi le ciel est-il bleu ?") == "und"
    assert detect_language("Why does water boil at a lower temperature on a mountain?") == "en"
    settings.ARENA_LANGUAGE_MIN_CONFIDENCE = 1.01
    assert detect_language("Why does water boil at a lower temperature on a mountain?") == "und"


# ---- listening time, checked by the server -------------------------------------------------------------

def _age_fetches(battle_id: str, seconds: float) -> None:
    """As if the clips had been loaded `seconds` ago (the voter then listened meanwhile)."""
    gens = Generation.objects.filter(slot__battle__public_id=battle_id)
    for g in gens:
        g.first_fetched_at = timezone.now() - dt.timedelta(seconds=seconds)
        g.finished_at = min(g.finished_at, g.first_fetched_at)
        g.save(update_fields=["first_fetched_at", "finished_at"])


def test_claimed_listening_without_loading_the_clips_is_kept_not_counted(demo, voter_client, django_capture_on_commit_callbacks):
    state = _ready(voter_client, django_capture_on_commit_callbacks, modality="audio", prompt="A happy piano melody")
    res = voter_client.vote(state["battle"], outcome="a", listen_ms={"A": 6000, "B": 6000})
    assert res.status_code == 201, res.content
    body = res.json()
    assert body["counted"] is False and "never loaded" in body["excluded_because"]
    v = Vote.objects.get()
    assert (v.counted, v.exclusion_reason) == (False, Vote.EXCL_LISTEN)


def test_claimed_listening_longer_than_the_time_since_loading_is_not_counted(demo, voter_client, django_capture_on_commit_callbacks):
    state = _ready(voter_client, django_capture_on_commit_callbacks, modality="audio", prompt="A happy piano melody")
    for url in _media_urls(state).values():
        assert voter_client.get(url).status_code == 200
    # Loaded just now, and 6 s of each clip claimed at once.
    res = voter_client.vote(state["battle"], outcome="a", listen_ms={"A": 6000, "B": 6000})
    assert res.status_code == 201 and res.json()["counted"] is False
    assert "after it was loaded" in res.json()["excluded_because"]


def test_an_honest_listen_counts(demo, voter_client, django_capture_on_commit_callbacks):
    state = _ready(voter_client, django_capture_on_commit_callbacks, modality="audio", prompt="A happy piano melody")
    for url in _media_urls(state).values():
        voter_client.get(url)
    assert all(g.fetch_count >= 1 for g in Generation.objects.all())
    _age_fetches(state["battle"], 12)
    res = voter_client.vote(state["battle"], outcome="b", listen_ms={"A": 5000, "B": 5100})
    assert res.status_code == 201 and res.json()["counted"] is True, res.content


def test_one_full_play_of_a_clip_shorter_than_the_minimum_is_enough(demo, voter_client, django_capture_on_commit_callbacks, settings):
    settings.ARENA_MIN_LISTEN_MS = 3000
    state = _ready(voter_client, django_capture_on_commit_callbacks, modality="video", prompt="A red ball bouncing")
    assert {g.meta["duration_s"] for g in Generation.objects.all()} == {2.0}  # the demo's 2 s clips, read from the MP4
    for url in _media_urls(state).values():
        voter_client.get(url)
    _age_fetches(state["battle"], 8)
    res = voter_client.vote(state["battle"], outcome="a", listen_ms={"A": 1200, "B": 2010})
    assert res.status_code == 400 and "Watch each clip" in res.json()["error"] and "A" in res.json()["error"].split("not yet:")[1]
    res = voter_client.vote(state["battle"], outcome="a", listen_ms={"A": 2005, "B": 2010})
    assert res.status_code == 201 and res.json()["counted"] is True, res.content


def test_media_fetched_by_someone_else_is_not_recorded(demo, voter_client, other_client, django_capture_on_commit_callbacks):
    state = _ready(voter_client, django_capture_on_commit_callbacks, modality="audio", prompt="A happy piano melody")
    for url in _media_urls(state).values():
        assert other_client.get(url).status_code == 404
    assert not Generation.objects.filter(fetch_count__gt=0).exists()


# ---- empty leaderboard -----------------------------------------------------------------------------------

def test_leaderboard_api_for_a_modality_without_votes_is_an_empty_200(demo, client):
    res = client.get("/api/leaderboard/?modality=video&category=overall&method=bt")
    assert res.status_code == 200
    body = res.json()
    assert body["models"] == [] and body["votes"] == 0 and body["snapshot"] is None
    assert "No counted votes" in body["note"]
    assert client.get("/api/leaderboard/?modality=nope").status_code == 400
    assert client.get("/api/leaderboard/snapshots/999999/").status_code == 404


# ---- the voter's own page ----------------------------------------------------------------------------------

def test_my_votes_lists_voted_battles_with_names_and_whether_they_counted(demo, voter_client, django_capture_on_commit_callbacks):
    voted = _ready(voter_client, django_capture_on_commit_callbacks)
    assert voter_client.vote(voted["battle"], outcome="a").status_code == 201
    named = _ready(voter_client, django_capture_on_commit_callbacks, models=["aurora-7b", "pebble-1b"])
    assert voter_client.vote(named["battle"], outcome="tie").status_code == 201
    pending = _ready(voter_client, django_capture_on_commit_callbacks, prompt="Name three rivers in Europe.")

    body = voter_client.get("/me/").content.decode()
    battle = Battle.objects.get(public_id=voted["battle"])
    for slot in battle.slots.select_related("competitor"):
        assert slot.competitor.name in body
    assert f'data-battle="{voted["battle"]}"' in body and f'data-battle="{named["battle"]}"' in body
    assert pending["battle"] not in body and "Name three rivers" not in body  # not voted: nothing shown
    row = body.split(f'data-battle="{named["battle"]}"')[1].split("</tr>")[0]
    assert "Not counted" in row and "named side-by-side" in row
    row = body.split(f'data-battle="{voted["battle"]}"')[1].split("</tr>")[0]
    assert "Counted" in row and "Not counted" not in row and "A is better" in row
    # another voter sees none of it
    other = Client().get("/me/").content.decode()
    assert voted["battle"] not in other and 'data-testid="my-votes-empty"' in other


def test_a_shadow_excluded_vote_looks_counted_to_its_voter(demo, voter_client, django_capture_on_commit_callbacks):
    state = _ready(voter_client, django_capture_on_commit_callbacks)
    voter_client.vote(state["battle"], outcome="b")
    Vote.objects.update(counted=False, exclusion_reason="fraud:position_bias", exclusion_detail="always left")
    row = voter_client.get("/me/").content.decode().split(f'data-battle="{state["battle"]}"')[1].split("</tr>")[0]
    assert "Counted" in row and "Not counted" not in row and "fraud" not in row and "always left" not in row


def test_terms_page_is_linked_from_the_battle_page(demo, client):
    body = client.get("/").content.decode()
    assert 'href="/terms/"' in body
    res = client.get("/terms/")
    assert res.status_code == 200 and "Research releases" in res.content.decode()
