from django.urls import path

from ratings.consumers import LeaderboardConsumer

websocket_urlpatterns = [path("ws/leaderboard/<str:modality>/", LeaderboardConsumer.as_asgi())]
