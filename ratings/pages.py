"""Server-rendered leaderboard pages and the staff dashboard (being written)."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse


def leaderboard_page(request: HttpRequest) -> HttpResponse:
    return HttpResponse("leaderboard")


def staff_dashboard(request: HttpRequest) -> HttpResponse:
    return HttpResponse("staff")


def api_exposure(request: HttpRequest) -> JsonResponse:
    return JsonResponse({})
