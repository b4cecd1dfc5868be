from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),  # optional voter accounts (django-allauth)
    path("", include("arena.urls")),
    path("", include("ratings.urls")),
    path("", include("releases.urls")),
]
