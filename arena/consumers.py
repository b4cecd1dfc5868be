"""WebSocket /ws/battle/<id>/: the battle's state on connect, then every event as it happens."""
from __future__ import annotations

from datetime import timedelta

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from arena.models import Battle
from arena.selectors import battle_public_state
from arena.services.events import battle_group
from arena.services.voters import voter_pk_from_session


class ForwardsEvents:
    """For a JSON WebSocket consumer in a group: every "arena.event" message (published by
    arena.services.events) goes to the socket as it is."""

    async def dispatch(self, message) -> None:
        # Channels closes stale database connections before every handler, which costs a thread
        # hop per message; forwarding an event touches no database, and a battle streams dozens
        # of them a second.
        if message["type"] == "arena.event":
            await self.arena_event(message)
            return
        await super().dispatch(message)  # type: ignore[misc]

    async def arena_event(self, message) -> None:
        await self.send_json(message["event"])  # type: ignore[attr-defined]


class BattleConsumer(ForwardsEvents, AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        self.public_id = self.scope["url_route"]["kwargs"]["public_id"]
        group = battle_group(self.public_id)
        # Join before reading the state: a chunk sent in between is then delivered twice at
        # worst (the browser drops it by its offset), never lost. Joining only subscribes this
        # socket; nothing is sent to it unless the battle turns out to be the voter's.
        await self.channel_layer.group_add(group, self.channel_name)
        state = await self._state(owner_only=True)
        if state is None:
            await self.channel_layer.group_discard(group, self.channel_name)
            await self.close(code=4403)  # not yours (or no such battle): say nothing about it
            return
        self.group = group
        await self.accept()
        await self.send_json({"type": "state", **state})

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "sync":
            await self._send_state()

    async def _send_state(self) -> None:
        state = await self._state()
        if state is not None:
            await self.send_json({"type": "state", **state})

    @database_sync_to_async
    def _state(self, owner_only: bool = False):
        """The battle's public state; with `owner_only`, None unless the socket's session is the
        battle's voter's. (The session is loaded here, in the same thread hop as the battle.)"""
        from arena.services.generation import battles_expire_stale

        battle = Battle.objects.filter(public_id=self.public_id).first()
        if battle is None:
            return None
        if owner_only:
            voter_pk = voter_pk_from_session(self.scope.get("session"))
            if voter_pk is None or battle.voter_id != voter_pk:
                return None
        # No generation of a battle younger than the timeout can be stale: skip the query then.
        young = timezone.now() - battle.created < timedelta(seconds=settings.ARENA_GENERATION_TIMEOUT_S)
        if battle.status == Battle.GENERATING and not young and battles_expire_stale(battle_id=battle.pk):
            battle.refresh_from_db()
        return battle_public_state(battle)
