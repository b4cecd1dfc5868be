from django.urls import path

from arena.consumers import BattleConsumer

websocket_urlpatterns = [path("ws/battle/<str:public_id>/", BattleConsumer.as_asgi())]
