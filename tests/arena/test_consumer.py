"""The battle WebSocket: only the battle's voter may watch; chunks arrive in order with offsets;
the vote unlocks (battle_ready) only after every slot is done."""
from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from channels.testing import WebsocketCommunicator

from arena.models import Battle, Competitor, Generation
from config.asgi import application
from tests.conftest import ArenaClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.usefixtures("close_db_after")]


def _create_battle_without_generating(monkeypatch, **body):
    monkeypatch.setattr("arena.services.battles.enqueue_turn", lambda **kw: None)
    client = ArenaClient()
    body = {"modality": "text", "prompt": "Explain how photosynthesis works.", **body}
    state = client.post_json("/api/battles/", body).json()
    return client.cookies["sessionid"].value, state["battle"]


def _communicator(battle_id: str, session: str | None) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://testserver")]
    if session:
        headers.append((b"cookie", f"sessionid={session}".encode()))
    return WebsocketCommunicator(application, f"/ws/battle/{battle_id}/", headers=headers)


async def _frames_until(comm, kind: str, limit: int = 5000) -> list[dict]:
    frames = []
    for _ in range(limit):
        frame = await comm.receive_json_from(timeout=10)
        frames.append(frame)
        if frame["type"] == kind:
            return frames
    raise AssertionError(f"no {kind} frame")


async def test_outputs_stream_in_order_and_the_vote_unlocks_after_all(demo, monkeypatch):
    def slow_tokens():  # tokens 10 ms apart, as a model streams them (back-to-back ones are batched)
        for c in Competitor.objects.filter(modality="text"):
            c.adapter_config = {**c.adapter_config, "token_delay_ms": 10}
            c.save()

    await sync_to_async(slow_tokens)()
    session, bid = await sync_to_async(_create_battle_without_generating)(monkeypatch)
    comm = _communicator(bid, session)
    connected, _ = await comm.connect()
    assert connected
    state = await comm.receive_json_from(timeout=10)
    assert state["type"] == "state" and state["status"] == "generating"
    assert [o["status"] for s in state["slots"] for o in s["outputs"]] == ["queued", "queued"]

    from arena.services.events import flush
    from arena.services.generation import run_generation

    def generate_all():
        for g in Generation.objects.filter(slot__battle__public_id=bid).order_by("slot__position"):
            run_generation(g.pk)
        flush()
        connection.close()  # this thread's connection, or the test database cannot be dropped

    await sync_to_async(generate_all, thread_sensitive=False)()
    frames = await _frames_until(comm, "battle_ready")
    texts = {"A": "", "B": ""}
    done = {}
    for f in frames:
        if f["type"] == "chunk":
            assert f["offset"] == len(texts[f["slot"]])  # in order, nothing missing
            texts[f["slot"]] += f["text"]
        elif f["type"] == "slot_done":
            done[f["slot"]] = f
    assert set(done) == {"A", "B"}
    assert all(texts[s] == done[s]["text"] and texts[s] for s in "AB")
    assert sum(f["type"] == "chunk" for f in frames) > 10  # token by token, not one blob
    kinds = [f["type"] for f in frames]
    assert kinds.index("battle_ready") > max(i for i, k in enumerate(kinds) if k == "slot_done")
    await comm.disconnect()


async def test_a_late_socket_gets_the_partial_text_then_the_rest(demo, monkeypatch):
    """A browser that connects mid-generation (or reconnects) loses nothing."""
    session, bid = await sync_to_async(_create_battle_without_generating)(monkeypatch)
    from arena.services.events import flush, publish_chunk
    from arena.services.partials import partial_key

    gen = await sync_to_async(lambda: Generation.objects.get(slot__battle__public_id=bid, slot__position=0))()
    await sync_to_async(lambda: Generation.objects.filter(pk=gen.pk).update(status=Generation.RUNNING))()
    group = f"battle.{bid}"
    publish_chunk(partial_key(bid, gen.pk), "Hello ", group, {"type": "chunk", "slot": "A", "turn": 0, "offset": 0, "text": "Hello "})
    await sync_to_async(flush, thread_sensitive=False)()
    comm = _communicator(bid, session)
    await comm.connect()
    state = await comm.receive_json_from(timeout=10)
    assert state["slots"][0]["outputs"][0]["text"] == "Hello "
    publish_chunk(partial_key(bid, gen.pk), "Hello world", group, {"type": "chunk", "slot": "A", "turn": 0, "offset": 6, "text": "world"})
    frame = await comm.receive_json_from(timeout=10)
    assert (frame["offset"], frame["text"]) == (6, "world")
    await comm.disconnect()


async def test_only_the_battles_voter_may_watch(demo, monkeypatch):
    _, bid = await sync_to_async(_create_battle_without_generating)(monkeypatch)
    other = await sync_to_async(lambda: (c := ArenaClient(), c.get("/"), c.post_json("/api/battles/", {"modality": "text", "prompt": "hi"}), c.cookies["sessionid"].value)[-1])()
    for session in (other, None):
        comm = _communicator(bid, session)
        connected, code = await comm.connect()
        assert not connected and code == 4403
    comm = _communicator("no-such-battle", other)
    connected, code = await comm.connect()
    assert not connected and code == 4403


async def test_sync_request_resends_the_state(demo, monkeypatch):
    session, bid = await sync_to_async(_create_battle_without_generating)(monkeypatch)
    comm = _communicator(bid, session)
    await comm.connect()
    await comm.receive_json_from(timeout=10)
    await comm.send_to(text_data=json.dumps({"type": "sync"}))
    again = await comm.receive_json_from(timeout=10)
    assert again["type"] == "state" and again["battle"] == bid
    await comm.disconnect()


async def test_stale_generation_voids_the_battle_on_sync(demo, monkeypatch, settings):
    session, bid = await sync_to_async(_create_battle_without_generating)(monkeypatch)
    settings.ARENA_GENERATION_TIMEOUT_S = 0
    comm = _communicator(bid, session)
    await comm.connect()
    state = await comm.receive_json_from(timeout=10)
    assert state["status"] == "void" and "failed to answer" in state["message"]
    assert (await sync_to_async(lambda: Battle.objects.get(public_id=bid).status)()) == Battle.VOID
    await comm.disconnect()


async def test_a_first_chunk_goes_at_once_later_ones_are_merged_and_order_holds(demo, monkeypatch, settings):
    """After an output's first chunk, chunks are paced (ARENA_STREAM_INTERVAL_MS) and merged,
    so a fast model costs fewer events; nothing is lost and nothing overtakes the slot's end."""
    settings.ARENA_STREAM_INTERVAL_MS = 300
    session, bid = await sync_to_async(_create_battle_without_generating)(monkeypatch)
    from arena.services.events import battle_group, flush, publish, publish_chunk
    from arena.services.partials import partial_key

    comm = _communicator(bid, session)
    await comm.connect()
    assert (await comm.receive_json_from(timeout=10))["type"] == "state"
    gen_id = await sync_to_async(lambda: Generation.objects.get(slot__battle__public_id=bid, slot__position=0).pk)()
    words = [f"w{i} " for i in range(30)]

    def stream():
        import time

        text = ""
        for w in words:
            publish_chunk(partial_key(bid, gen_id), text + w, battle_group(bid),
                          {"type": "chunk", "slot": "A", "turn": 0, "offset": len(text), "text": w})
            text += w
            time.sleep(0.003)
        publish(battle_group(bid), {"type": "slot_done", "slot": "A", "turn": 0, "status": "done", "text": text})
        flush()

    import math
    import time

    started = time.monotonic()
    await sync_to_async(stream, thread_sensitive=False)()
    elapsed = time.monotonic() - started
    frames = await _frames_until(comm, "slot_done")
    chunks = [f for f in frames if f["type"] == "chunk"]
    assert (chunks[0]["offset"], chunks[0]["text"]) == (0, words[0])  # the first chunk alone, at once
    # The other 29 are merged: at most one event per 300 ms interval the stream lasted (about
    # 0.1 s on a quiet machine, longer on a loaded one), plus the first, a paced one and the final flush.
    assert 2 <= len(chunks) <= min(len(words) // 2, 3 + math.ceil(elapsed / 0.3))
    text = ""
    for c in chunks:
        assert c["offset"] == len(text)
        text += c["text"]
    assert text == "".join(words) == frames[-1]["text"]
    await comm.disconnect()

