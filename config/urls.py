from django.contrib import admin
from django.urls import include, path

from config.health import healthz, readyz
from config.metrics import metrics_view

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),  # optional voter accounts (django-allauth)
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("", include("arena.urls")),
    path("", include("ratings.urls")),
    path("", include("releases.urls")),
]
