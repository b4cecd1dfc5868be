"""Leaderboard JSON API (documented in the README). Pages: see ratings/pages.py."""
from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from arena.models import MODALITY_CHOICES
from ratings.models import LeaderboardSnapshot
from ratings.selectors import bayes_live, history, leaderboard_latest, snapshot_json
from ratings.services import METHODS
from ratings.votesource import UnknownCategory, category_filter


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _key(request: HttpRequest) -> tuple[str, str, str] | JsonResponse:
    modality = request.GET.get("modality", "text")
    category = request.GET.get("category", "overall")
    method = request.GET.get("method", "bt")
    if modality not in dict(MODALITY_CHOICES):
        return _error(f"Unknown modality {modality!r}; choose one of {', '.join(dict(MODALITY_CHOICES))}.")
    if method not in METHODS:
        return _error(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    try:
        category_filter(category)
    except UnknownCategory as e:
        return _error(str(e))
    return modality, category, method


@require_GET
def api_leaderboard(request: HttpRequest) -> JsonResponse:
    key = _key(request)
    if isinstance(key, JsonResponse):
        return key
    modality, category, method = key
    if method == "bayes" and category == "overall" and request.GET.get("live") == "1":
        live = bayes_live(modality=modality)
        if live is not None:
            return JsonResponse(live)
    snap = leaderboard_latest(modality=modality, category=category, method=method)
    if snap is None:
        # A valid leaderboard that nobody has voted into existence yet: an empty board, not an error.
        note = f"No counted votes for the {modality} / {category} leaderboard yet: judge a few blind battles at /."
        return JsonResponse({
            "snapshot": None, "modality": modality, "category": category, "method": method, "votes": 0,
            "fingerprint": None, "created": None, "params": {}, "code_version": "", "models": [], "fragility": [],
            "note": note, "notes": [note],
        })
    return JsonResponse(snapshot_json(snap, plots=request.GET.get("plots") == "1"))


@require_GET
def api_snapshot(request: HttpRequest, snapshot_id: int) -> JsonResponse:
    snap = LeaderboardSnapshot.objects.filter(pk=snapshot_id).first()
    if snap is None:
        return _error("No such snapshot.", status=404)
    return JsonResponse(snapshot_json(snap, plots=True))


@require_GET
def api_history(request: HttpRequest) -> JsonResponse:
    key = _key(request)
    if isinstance(key, JsonResponse):
        return key
    modality, category, method = key
    return JsonResponse({"modality": modality, "category": category, "method": method,
                         "snapshots": history(modality=modality, category=category, method=method)})
