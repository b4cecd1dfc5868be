"""WebSocket /ws/leaderboard/<modality>/: a message whenever a new snapshot lands."""
from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from arena.consumers import ForwardsEvents
from arena.models import MODALITY_CHOICES


class LeaderboardConsumer(ForwardsEvents, AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        modality = self.scope["url_route"]["kwargs"]["modality"]
        if modality not in dict(MODALITY_CHOICES):
            await self.close(code=4404)
            return
        self.group = f"leaderboard.{modality}"
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)
