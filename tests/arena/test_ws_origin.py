"""The battle WebSocket accepts only its own site as Origin, port included: a page on the same
host but another port (another program, a dev server) cannot open a voter's socket."""
from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from config.asgi import application
from config.wsorigin import origin_allowed

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("close_db_after")]


@pytest.mark.asyncio
async def test_the_voter_connects_from_the_site_itself_but_not_from_another_port(demo, monkeypatch):
    from tests.arena.test_consumer import _create_battle_without_generating

    session, bid = await sync_to_async(_create_battle_without_generating)(monkeypatch)

    async def connect(origin: bytes) -> bool:
        comm = WebsocketCommunicator(application, f"/ws/battle/{bid}/", headers=[
            (b"origin", origin), (b"host", b"127.0.0.1:8000"), (b"cookie", f"sessionid={session}".encode())])
        connected, _ = await comm.connect()
        if connected:
            await comm.disconnect()
        return connected

    assert await connect(b"http://127.0.0.1:8000")
    for other in (b"http://127.0.0.1:8001", b"http://127.0.0.1:9999", b"http://127.0.0.1"):
        assert not await connect(other), other  # same host name, another port


def test_origin_rules(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://arena.example.org"]
    assert origin_allowed("http://127.0.0.1:8000", "127.0.0.1:8000")
    assert origin_allowed("https://arena.example.org", "arena.example.org")  # 443 both
    assert origin_allowed("https://arena.example.org", "backend:8000")  # trusted: a proxy rewrote Host
    assert not origin_allowed("http://arena.example.org", "arena.example.org:8000")
    assert not origin_allowed("https://arena.example.org:8443", "other:8000")
    assert not origin_allowed(None, "127.0.0.1:8000")
    assert not origin_allowed("null", "127.0.0.1:8000")
    assert not origin_allowed("http://127.0.0.1:notaport", "127.0.0.1:8000")
