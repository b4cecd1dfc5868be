"""The blind stays blind: before the vote no response, frame, URL or file names a competitor."""
from __future__ import annotations

import re

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from channels.testing import WebsocketCommunicator

from arena.models import Competitor, Generation
from config.asgi import application
from tests.conftest import ArenaClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.usefixtures("close_db_after")]


def _identity_pattern() -> re.Pattern[str]:
    words = set()
    for c in Competitor.objects.all():
        words |= {c.name, c.slug, c.organization}
    # whole words, so a slug like "hum-1" does not match inside ordinary text
    return re.compile("|".join(rf"(?<![\w-]){re.escape(w)}(?![\w-])" for w in sorted(words, key=len, reverse=True)), re.I)


def _competitor_fields_leak(body: str) -> bool:
    return bool(re.search(r'"(competitor|competitor_id|model|slug|organization|adapter)"\s*:', body))


async def _play(monkeypatch, modality: str, mode: str, prompt: str) -> tuple[list[str], list[bytes], str]:
    """Play a battle to just before the vote; return every text the browser got and the media bytes."""
    from arena.services import generation
    from arena.services.events import flush

    queued: list[int] = []
    monkeypatch.setattr("arena.services.battles.enqueue_turn", lambda *, turn_id, **_: queued.append(turn_id))
    seen: list[str] = []
    media: list[bytes] = []

    def start():
        c = ArenaClient()
        page = c.get("/")
        seen.append(page.content.decode())
        seen.append(c.get(f"/api/prompts/random/?modality={modality}").content.decode())
        res = c.post_json("/api/battles/", {"modality": modality, "mode": mode, "prompt": prompt})
        assert res.status_code == 201, res.content
        seen.append(res.content.decode())
        return c, res.json()["battle"]

    client, bid = await sync_to_async(start)()
    comm = WebsocketCommunicator(
        application, f"/ws/battle/{bid}/",
        headers=[(b"origin", b"http://testserver"), (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())],
    )
    connected, _ = await comm.connect()
    assert connected

    def generate():  # the worker's part, once the browser is listening
        for turn_id in queued:
            generation.enqueue_turn(turn_id=turn_id)
        flush()
        connection.close()  # this thread's connection, or the test database cannot be dropped

    await sync_to_async(generate, thread_sensitive=False)()
    while True:
        frame = await comm.receive_from(timeout=20)
        seen.append(frame)
        if '"state"' in frame and '"status": "ready"' in frame:
            break
        if '"battle_ready"' in frame:
            await comm.send_to(text_data='{"type": "sync"}')
    await comm.disconnect()

    def detail_and_media():
        d = client.get(f"/api/battles/{bid}/")
        seen.append(d.content.decode())
        for s in d.json()["slots"]:
            for o in s["outputs"]:
                if "media" in o:
                    seen.append(o["media"]["url"])
                    r = client.get(o["media"]["url"])
                    media.append(b"".join(r.streaming_content))

    await sync_to_async(detail_and_media)()
    return seen, media, bid


@pytest.mark.parametrize(
    "modality, mode, prompt",
    [
        ("text", "pairwise", "Explain how photosynthesis works."),
        ("text", "kwise", "Write a short poem about the sea at night."),
        ("image", "kwise", "A red house under a yellow sun"),
        ("audio", "pairwise", "A happy piano melody"),
        ("3d", "pairwise", "A red cube"),
        ("video", "pairwise", "A red ball bouncing"),
    ],
)
async def test_nothing_names_a_competitor_before_the_vote(demo, monkeypatch, modality, mode, prompt):
    if not await sync_to_async(Competitor.objects.filter(modality=modality, active=True).count)() >= 2:
        pytest.skip(f"no {modality} demo models on this machine")
    seen, media, bid = await _play(monkeypatch, modality, mode, prompt)
    pattern = await sync_to_async(_identity_pattern)()
    assert sum('"chunk"' in t or '"slot_done"' in t for t in seen) >= 2  # we did watch it stream
    for text in seen:
        m = pattern.search(text)
        assert m is None, f"{m.group(0)!r} reached the browser before the vote: …{text[max(0, m.start() - 80):m.end() + 80]}…"
        assert not _competitor_fields_leak(text), text[:300]
    for blob in media:
        assert blob and pattern.search(blob.decode("latin-1")) is None
    # the ids the browser saw are opaque: no database key of a slot or competitor
    pks = await sync_to_async(lambda: list(Generation.objects.filter(slot__battle__public_id=bid).values_list("slot__competitor_id", "slot_id")))()
    for text in seen[2:]:
        assert not any(re.search(rf'"(id|pk)"\s*:\s*{pk}\b', text) for pair in pks for pk in pair)
