from django.urls import path

from ratings import pages, review, views

app_name = "ratings"

urlpatterns = [
    path("leaderboard/", pages.leaderboard_page, name="leaderboard"),
    path("staff/", pages.staff_dashboard, name="staff-dashboard"),
    path("staff/integrity/", review.review_queue, name="integrity-queue"),
    path("staff/integrity/<str:public_id>/", review.review_voter, name="integrity-voter"),
    path("staff/integrity/<str:public_id>/count-again/", review.review_count_again, name="integrity-count-again"),
    path("api/leaderboard/", views.api_leaderboard, name="api-leaderboard"),
    path("api/leaderboard/history/", views.api_history, name="api-history"),
    path("api/leaderboard/snapshots/<int:snapshot_id>/", views.api_snapshot, name="api-snapshot"),
    path("api/exposure/", pages.api_exposure, name="api-exposure"),
]
