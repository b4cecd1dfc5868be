from django.urls import path

from arena import views

app_name = "arena"

urlpatterns = [
    path("", views.battle_page, name="battle"),
    path("me/", views.my_votes_page, name="me"),
    path("terms/", views.terms_page, name="terms"),
    path("api/battles/", views.api_battle_create, name="api-battle-create"),
    path("api/battles/<str:public_id>/", views.api_battle_detail, name="api-battle-detail"),
    path("api/battles/<str:public_id>/turns/", views.api_battle_turn, name="api-battle-turn"),
    path("api/battles/<str:public_id>/vote/", views.api_battle_vote, name="api-battle-vote"),
    path("api/prompts/random/", views.api_prompt_random, name="api-prompt-random"),
    path("api/competitors/", views.api_competitors, name="api-competitors"),
    path("api/voter/release-opt-out/", views.api_release_opt_out, name="api-release-opt-out"),
    path("m/<str:name>", views.media, name="media"),
]
