from django.urls import path

from ratings import pages, views

app_name = "ratings"

urlpatterns = [
    path("leaderboard/", pages.leaderboard_page, name="leaderboard"),
    path("staff/", pages.staff_dashboard, name="staff-dashboard"),
    path("api/leaderboard/", views.api_leaderboard, name="api-leaderboard"),
    path("api/leaderboard/history/", views.api_history, name="api-history"),
    path("api/leaderboard/snapshots/<int:snapshot_id>/", views.api_snapshot, name="api-snapshot"),
    path("api/exposure/", pages.api_exposure, name="api-exposure"),
]
