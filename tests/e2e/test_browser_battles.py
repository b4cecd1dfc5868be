"""The battle page in a real Chromium against real daphne + Celery processes: blind pairwise,
K-wise and multi-turn battles end to end, and what the browser receives before the vote."""
from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from arena.models import Battle, Competitor, Generation, Turn, Vote

from .helpers import (
    competition_ranking, find_identity, identity_terms, only_battle, screenshot, set_token_delay, shown_name,
    slot_competitors,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

VOTE_IDS = ["vote-a", "vote-b", "vote-tie", "vote-both-bad"]

# Evaluated in the page in one go, so what it reports is one consistent moment of the DOM.
SNAPSHOT_JS = """
() => ({
  outputs: [...document.querySelectorAll('.output')].map(o => ({
    id: o.dataset.testid, cls: o.className, len: o.textContent.length })),
  disabled: Object.fromEntries([...document.querySelectorAll('[data-testid^="vote-"], [data-testid^="place-"], [data-testid="submit-ranking"]')]
    .map(b => [b.dataset.testid, b.disabled])),
  status: document.querySelector('[data-testid="status"]').textContent,
})
"""


def poll_snapshot(page, predicate, *, timeout: float = 30, interval: float = 0.02) -> dict:
    """Take DOM snapshots until one satisfies predicate; on failure show the last few."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = page.evaluate(SNAPSHOT_JS)
        if predicate(snap):
            return snap
        if not seen or seen[-1] != snap:
            seen.append(snap)
        time.sleep(interval)
    raise AssertionError(f"no snapshot matched {predicate.__name__}; last ones: {seen[-5:]}")


def one_done_one_streaming(snap: dict) -> bool:
    outs = snap["outputs"]
    done = [o for o in outs if "done" in o["cls"].split()]
    streaming = [o for o in outs if "streaming" in o["cls"].split() and o["len"] > 0]
    return len(outs) == 2 and len(done) == 1 and len(streaming) == 1


def start_from_random_prompt(page) -> str:
    page.get_by_test_id("random-prompt").click()
    expect(page.get_by_test_id("prompt")).not_to_have_value("")
    prompt = page.get_by_test_id("prompt").input_value()
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("battle")).to_be_visible()
    expect(page.locator("#setup")).to_be_hidden()
    return prompt


def assert_revealed(page, battle: Battle) -> dict[str, Competitor]:
    comps = slot_competitors(battle)
    for letter, comp in comps.items():
        name = page.get_by_test_id(f"name-{letter}")
        expect(name).to_be_visible()
        assert shown_name(name.inner_text()) == comp.name, f"card {letter} names the wrong model"
        expect(page.get_by_test_id(f"slot-title-{letter}")).to_contain_text(comp.organization)
    return comps


def test_pairwise_blind_text_battle(live_arena, page):
    # Two known text models, one fast and one slow: the vote must stay locked while the slow
    # one still streams, even though the fast one is complete.
    Competitor.objects.filter(modality="text").exclude(slug__in=["aurora-7b", "pebble-1b"]).update(active=False)
    set_token_delay(60, slugs=["pebble-1b"])

    page.goto(live_arena.base_url + "/")
    expect(page.get_by_test_id("mode-pairwise")).to_have_class(re.compile(r"\bactive\b"))
    prompt = start_from_random_prompt(page)

    # One output complete, the other still streaming (with text already shown): vote disabled.
    snap = poll_snapshot(page, one_done_one_streaming, timeout=30)
    assert all(snap["disabled"][v] for v in VOTE_IDS), snap
    assert snap["status"].startswith("Generating"), snap
    screenshot(page, "pairwise-1-generating")

    for v in VOTE_IDS:
        expect(page.get_by_test_id(v)).to_be_enabled(timeout=30_000)
    for letter in "AB":
        expect(page.get_by_test_id(f"output-{letter}-0")).to_have_class(re.compile(r"\bdone\b"))
        expect(page.get_by_test_id(f"output-{letter}-0")).not_to_be_empty()
    expect(page.get_by_test_id("status")).to_have_text("Which is better?")
    expect(page.get_by_test_id("name-A")).to_have_count(0)  # nothing named yet
    battle = only_battle()
    assert battle.status == Battle.READY and battle.mode == Battle.MODE_PAIRWISE and battle.anonymous
    assert battle.prompt.text == prompt
    assert list(Generation.objects.filter(slot__battle=battle).values_list("status", flat=True)) == ["done", "done"]
    screenshot(page, "pairwise-2-before-reveal")

    page.get_by_test_id("vote-a").click()
    comps = assert_revealed(page, battle)
    assert {c.slug for c in comps.values()} == {"aurora-7b", "pebble-1b"}
    expect(page.get_by_test_id("slot-A")).to_have_class(re.compile(r"\bwinner\b"))
    expect(page.get_by_test_id("result")).to_contain_text("counts toward the leaderboard")
    for v in VOTE_IDS:
        expect(page.get_by_test_id(v)).to_be_disabled()

    vote = Vote.objects.get(battle=battle)
    assert (vote.outcome, vote.ranking, vote.counted, vote.exclusion_reason) == ("a", [1, 2], True, "")
    assert vote.client_shown_at and vote.client_voted_at and vote.client_shown_at <= vote.client_voted_at
    battle.refresh_from_db()
    assert battle.status == Battle.VOTED
    screenshot(page, "pairwise-3-after-reveal")

    page.get_by_test_id("new-round").click()
    expect(page.locator("#setup")).to_be_visible()
    expect(page.get_by_test_id("battle")).to_be_hidden()
    expect(page.get_by_test_id("prompt")).to_have_value("")
    expect(page.get_by_test_id("start")).to_be_enabled()


def test_kwise_blind_image_battle(live_arena, page):
    page.goto(live_arena.base_url + "/")
    page.get_by_test_id("mode-kwise").click()
    page.get_by_test_id("modality").select_option("image")
    expect(page.get_by_test_id("k")).to_be_visible()
    expect(page.get_by_test_id("k")).to_have_value("4")
    start_from_random_prompt(page)

    letters = "ABCD"
    for letter in letters:
        expect(page.get_by_test_id(f"media-{letter}")).to_be_visible(timeout=30_000)
        expect(page.get_by_test_id(f"place-{letter}")).to_be_enabled()
        expect(page.get_by_test_id(f"name-{letter}")).to_have_count(0)
    page.wait_for_function(
        "() => { const i = [...document.querySelectorAll('.output img')];"
        " return i.length === 4 && i.every(x => x.complete && x.naturalWidth > 0); }"
    )
    battle = only_battle()
    assert (battle.mode, battle.k, battle.modality, battle.status) == ("kwise", 4, "image", Battle.READY)

    # A tie for second place; the submit button opens only when every output has a place.
    chosen = {"A": 1, "B": 2, "C": 2, "D": 3}
    submit = page.get_by_test_id("submit-ranking")
    for i, (letter, place) in enumerate(chosen.items()):
        expect(submit).to_be_disabled()
        page.get_by_test_id(f"place-{letter}").select_option(str(place))
    expect(submit).to_be_enabled()
    screenshot(page, "kwise-1-before-reveal")
    submit.click()

    assert_revealed(page, battle)
    expect(page.get_by_test_id("slot-A")).to_have_class(re.compile(r"\bwinner\b"))
    expected = competition_ranking(list(chosen.values()))
    assert expected == [1, 2, 2, 4]
    vote = Vote.objects.get(battle=battle)
    assert vote.ranking == expected
    assert (vote.outcome, vote.best_only, vote.counted) == ("", False, True)
    screenshot(page, "kwise-2-after-reveal")

    # The next round: the same mode and modality, a new battle that reaches the vote again.
    page.get_by_test_id("new-round").click()
    expect(page.locator("#setup")).to_be_visible()
    expect(page.get_by_test_id("modality")).to_have_value("image")
    start_from_random_prompt(page)
    for letter in letters:
        expect(page.get_by_test_id(f"media-{letter}")).to_be_visible(timeout=30_000)
        expect(page.get_by_test_id(f"place-{letter}")).to_be_enabled()
        expect(page.get_by_test_id(f"name-{letter}")).to_have_count(0)
    second = Battle.objects.exclude(pk=battle.pk).get()
    assert second.status == Battle.READY and second.mode == "kwise"
    screenshot(page, "kwise-3-next-round")


def test_multi_turn_text_battle(live_arena, page):
    set_token_delay(25)  # slow enough to see each turn generate
    page.goto(live_arena.base_url + "/")
    page.get_by_test_id("prompt").fill("Explain how photosynthesis works.")
    page.get_by_test_id("start").click()
    expect(page.get_by_test_id("vote-a")).to_be_enabled(timeout=30_000)
    expect(page.get_by_test_id("followup")).to_be_visible()

    followup = "Can you explain that in more detail?"
    page.get_by_test_id("followup").fill(followup)
    page.get_by_test_id("send-followup").click()
    # The second turn's boxes appear; while either still generates, the vote is locked.
    snap = page.wait_for_function(
        """() => document.querySelector('[data-testid="output-A-1"]') && document.querySelector('[data-testid="output-B-1"]')
                 ? (%s)() : null""" % SNAPSHOT_JS
    ).json_value()
    turn2 = [o for o in snap["outputs"] if o["id"].endswith("-1")]
    if not all("done" in o["cls"] for o in turn2):
        assert all(snap["disabled"][v] for v in VOTE_IDS), snap
    for letter in "AB":
        expect(page.get_by_test_id(f"output-{letter}-1")).to_have_class(re.compile(r"\bdone\b"), timeout=30_000)
        expect(page.get_by_test_id(f"output-{letter}-1")).not_to_be_empty()
        expect(page.get_by_test_id(f"output-{letter}-0")).to_have_class(re.compile(r"\bdone\b"))
    expect(page.get_by_test_id("vote-b")).to_be_enabled(timeout=30_000)
    expect(page.locator(".user-msg", has_text=followup)).to_have_count(2)

    battle = only_battle()
    turns = list(Turn.objects.filter(battle=battle).select_related("prompt"))
    assert [t.prompt.text for t in turns] == ["Explain how photosynthesis works.", followup]
    gens = Generation.objects.filter(slot__battle=battle)
    assert gens.count() == 4 and all(g.status == "done" and g.text for g in gens)

    page.get_by_test_id("vote-b").click()
    assert_revealed(page, battle)
    vote = Vote.objects.get(battle=battle)
    assert (vote.outcome, vote.ranking, vote.counted) == ("b", [2, 1], True)
    screenshot(page, "multiturn-after-reveal")


@pytest.mark.parametrize("mode,modality", [("pairwise", "text"), ("kwise", "image")])
def test_browser_receives_no_identity_before_the_vote(live_arena, page, mode, modality):
    responses = []
    frames: list[str | bytes] = []
    sockets: list[str] = []

    def on_ws(ws):
        sockets.append(ws.url)
        ws.on("framereceived", lambda payload: frames.append(payload))

    page.on("response", lambda r: responses.append(r))
    page.on("websocket", on_ws)

    page.goto(live_arena.base_url + "/")
    if mode == "kwise":
        page.get_by_test_id("mode-kwise").click()
        page.get_by_test_id("modality").select_option(modality)
    start_from_random_prompt(page)
    ready = page.get_by_test_id("vote-a" if mode == "pairwise" else "place-A")
    expect(ready).to_be_enabled(timeout=30_000)
    if modality == "image":
        page.wait_for_function(
            "() => [...document.querySelectorAll('.output img')].every(x => x.complete && x.naturalWidth > 0)"
        )
    page.wait_for_load_state("networkidle")

    terms = identity_terms()
    assert "aurora-7b" in terms and "northwind labs" in terms and len(terms) >= 30
    seen_urls = []
    leaks = []
    for r in list(responses):
        try:
            body = r.body()
        except Exception:  # a redirect or an aborted request has no body
            continue
        seen_urls.append(r.url)
        hits = find_identity(body.decode("utf-8", errors="replace"), terms)
        if hits:
            leaks.append((r.url, hits))
    texts = [f if isinstance(f, str) else f.decode("utf-8", errors="replace") for f in frames]
    for t in texts:
        hits = find_identity(t, terms)
        if hits:
            leaks.append(("websocket frame", hits, t[:200]))
    assert not leaks, f"the browser received model identities before the vote: {leaks}"

    # The recording did see the battle: API answers, static files, the streamed frames.
    assert any("/api/battles/" in u for u in seen_urls) and any("/static/" in u for u in seen_urls)
    assert any("/api/prompts/random/" in u for u in seen_urls)
    assert sockets and all("/ws/battle/" in u for u in sockets)
    kinds = {json.loads(t).get("type") for t in texts}
    assert {"state", "slot_done", "battle_ready"} <= kinds, kinds
    if modality == "text":
        assert "chunk" in kinds
    else:
        assert any("/m/" in u for u in seen_urls)

    # Positive control: the same recorder does see the names once the vote reveals them.
    with page.expect_response(re.compile(r"/vote/$")) as info:
        if mode == "pairwise":
            page.get_by_test_id("vote-tie").click()
        else:
            page.get_by_test_id("best-B").click()
    battle = only_battle()
    revealed = info.value.json()
    names = {m["slot"]: m["model"] for m in revealed["models"]}
    assert names == {k: c.name for k, c in slot_competitors(battle).items()}
    assert find_identity(info.value.text(), terms)


@pytest.mark.parametrize("drop_every_nth_chunk", [0, 3])
def test_lost_events_do_not_strand_the_page(live_arena, page, drop_every_nth_chunk):
    """Events are delivered at most once (Redis pub/sub). With every slot_done and battle_ready
    frame lost on the way (and, in one case, every third chunk), the page notices the quiet
    socket (and the gaps), asks for the state, and the battle still ends complete and votable."""
    dropped: list[str] = []

    def route(ws):
        server = ws.connect_to_server()
        chunks = [0]

        def from_server(message):
            kind = json.loads(message).get("type")
            if kind in ("slot_done", "battle_ready"):
                dropped.append(kind)
                return
            if kind == "chunk":
                chunks[0] += 1
                if drop_every_nth_chunk and chunks[0] % drop_every_nth_chunk == 0:
                    dropped.append(kind)
                    return
            ws.send(message)

        server.on_message(from_server)  # the page's own messages ("sync") still go through

    page.route_web_socket(re.compile(r"/ws/battle/"), route)
    page.goto(live_arena.base_url + "/")
    start_from_random_prompt(page)
    for v in VOTE_IDS:
        expect(page.get_by_test_id(v)).to_be_enabled(timeout=30_000)
    battle = only_battle()
    for letter in "AB":
        expect(page.get_by_test_id(f"output-{letter}-0")).to_have_class(re.compile(r"\bdone\b"))
        expect(page.get_by_test_id(f"output-{letter}-0")).not_to_be_empty()
    assert {"slot_done", "battle_ready"} <= set(dropped) and ("chunk" in dropped) == bool(drop_every_nth_chunk)
    page.get_by_test_id("vote-tie").click()
    assert_revealed(page, battle)
    assert Vote.objects.get(battle=battle).outcome == "tie"
