from django.urls import path

from releases import views

app_name = "releases"

urlpatterns = [
    path("releases/", views.releases_page, name="page"),
    path("releases/<slug:release_id>/<path:name>", views.release_file, name="file"),
    path("api/releases/", views.api_releases, name="api"),
    path("api/releases/full/", views.api_release_full, name="api-full"),
]
