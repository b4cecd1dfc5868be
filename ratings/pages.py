"""Server-rendered leaderboard page and the public exposure API. The page reads the latest stored
snapshot (ratings.selectors) and never fits anything per request; it updates itself from the
WebSocket /ws/leaderboard/<modality>/ (static/ratings/leaderboard.js). The staff dashboard lives
in ratings/dashboard.py."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from arena.models import MODALITY_CHOICES
from ratings.dashboard import staff_dashboard  # noqa: F401  (ratings/urls.py routes pages.staff_dashboard)
from ratings.exposure import exposure
from ratings.selectors import categories_available, leaderboard_latest, methods_available, snapshot_json
from ratings.services import METHODS
from ratings.votesource import UnknownCategory, category_filter

METHOD_LABELS = {"bt": "Bradley-Terry", "elo": "Online Elo", "bayes": "Bayesian (μ−3σ)", "style": "Style-controlled BT"}
METHOD_HELP = {
    "bt": "Bradley-Terry model fitted on every counted vote (ties count half), 95% bootstrap intervals.",
    "elo": "Online Elo (K=4) over the votes in order; depends on vote order, shown for comparison.",
    "bayes": "K-Sort Arena's Bayesian score: the conservative rating μ − 3σ; the interval is μ ± 3σ.",
    "style": "Bradley-Terry with style covariates (length, headers, lists, bold) held fixed.",
}


def category_label(category: str) -> str:
    """A readable name for a leaderboard category ("language:fr" -> "language: fr")."""
    kind, _, value = category.partition(":")
    fixed = {"overall": "Overall", "turns:single": "single-turn", "turns:multi": "multi-turn",
             "votes:pairwise": "pairwise votes", "votes:kwise": "K-wise votes"}
    if category in fixed:
        return fixed[category]
    if kind in ("category", "language", "criterion") and value:
        return f"{kind}: {value.replace('_', ' ')}"
    return category


def methods_for(modality: str) -> list[str]:
    return [m for m in METHODS if m != "style" or modality == "text"]


# ---- formatting (the same rules as static/ratings/leaderboard.js) ------------------------------------

def _decimals(rows: list[dict[str, Any]]) -> int:
    """Whole numbers on an Elo-like scale; one decimal for small scales (the Bayesian μ − 3σ)."""
    top = max((abs(r.get("rating") or 0) for r in rows), default=0)
    return 0 if top >= 100 else 1


def _num(x: float, d: int) -> str:
    return f"{x:.{d}f}"


def rank_text(row: dict[str, Any]) -> str:
    lo, hi = row.get("rank"), row.get("rank_upper")
    return f"{lo}" if hi is None or hi == lo else f"{lo}–{hi}"


def ci_text(row: dict[str, Any], d: int) -> str:
    r, lo, hi = row.get("rating"), row.get("lower"), row.get("upper")
    if r is None or lo is None or hi is None:
        return "—"
    return f"+{_num(max(hi - r, 0.0), d)} / −{_num(max(r - lo, 0.0), d)}"


def table_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    d = _decimals(data["models"])
    out = []
    for r in data["models"]:
        wr = r.get("win_rate")
        out.append({
            **r,
            "rank_text": rank_text(r),
            "rating_text": _num(r["rating"], d),
            "ci_text": ci_text(r, d),
            "win_rate_text": "—" if wr is None else f"{wr * 100:.0f}%",
            "votes_text": f"{r.get('votes') or 0:g}",
        })
    return out


def fragility_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Each adjacent pair from the top: how many votes would swap it, as the page words it."""
    names = {r["model"]: r.get("name") or r["model"] for r in data["models"]}
    rank = {r["model"]: r.get("rank") for r in data["models"]}
    out = []
    for f in data.get("fragility", []):
        k = f["votes_to_swap"]
        out.append({**f, "upper_name": names.get(f["upper"], f["upper"]), "lower_name": names.get(f["lower"], f["lower"]),
                    "text": f"{k} vote{'s' if k != 1 else ''} ({100 * f['share']:.2f}% of all)"})
    return out


def style_effects(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Style-controlled BT: the fitted effect of each style feature (with its interval if any)."""
    coef = data.get("style_coefficients") or {}
    ci = data.get("style_coefficient_intervals") or {}
    out = []
    for k, b in coef.items():
        lo, hi = (ci.get(k) or [None, None])[:2]
        out.append({"feature": k, "beta": f"{b:+.3f}",
                    "interval": "" if lo is None or hi is None else f"[{lo:+.3f}, {hi:+.3f}]"})
    return out


def table_parts(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows grouped by connected part of the comparison graph (one group when all are connected)."""
    parts: list[dict[str, Any]] = []
    for r in rows:
        p = r.get("part") or 1
        if not parts or parts[-1]["part"] != p:
            parts.append({"part": p, "rows": []})
        parts[-1]["rows"].append(r)
    return parts


# ---- exposure (ratings.exposure: day-old, rounded figures only) ------------------------------------

@require_GET
def api_exposure(request: HttpRequest) -> JsonResponse:
    modality = request.GET.get("modality", "text")
    if modality not in dict(MODALITY_CHOICES):
        return JsonResponse({"error": f"Unknown modality {modality!r}; choose one of {', '.join(dict(MODALITY_CHOICES))}."},
                            status=400)
    return JsonResponse(exposure(modality))


# ---- the page --------------------------------------------------------------------------------------

def _url(**params: str) -> str:
    from urllib.parse import urlencode

    return reverse("ratings:leaderboard") + "?" + urlencode(params)


@require_GET
def leaderboard_page(request: HttpRequest) -> HttpResponse:
    modality = request.GET.get("modality") or "text"
    category = request.GET.get("category") or "overall"
    method = request.GET.get("method") or "bt"
    errors = []
    if modality not in dict(MODALITY_CHOICES):
        errors.append(f"Unknown modality “{modality}”. Choose one of: {', '.join(dict(MODALITY_CHOICES).values())}.")
        modality = "text"
    if method not in METHODS:
        errors.append(f"Unknown ranking method “{method}”. Choose one of: {', '.join(METHOD_LABELS.values())}.")
        method = "bt"
    try:
        category_filter(category)
    except UnknownCategory:
        errors.append(f"Unknown leaderboard category “{category}”.")
        category = "overall"

    snap = None if errors else leaderboard_latest(modality=modality, category=category, method=method)
    data = snapshot_json(snap, plots=True) if snap is not None else None
    rows = table_rows(data) if data else []
    cats = categories_available(modality=modality)
    if category not in cats:
        cats.append(category)
    have = set(methods_available(modality=modality, category=category))
    ctx = {
        "errors": errors,
        "modality": modality,
        "modality_label": dict(MODALITY_CHOICES)[modality],
        "category": category,
        "category_label": category_label(category),
        "method": method,
        "method_label": METHOD_LABELS[method],
        "method_help": METHOD_HELP[method],
        "tabs": [{"value": v, "label": lbl, "url": _url(modality=v), "active": v == modality} for v, lbl in MODALITY_CHOICES],
        "categories": [{"value": c, "label": category_label(c)} for c in cats],
        "methods": [{"value": m, "label": METHOD_LABELS[m], "available": m in have} for m in methods_for(modality) + ([method] if method not in methods_for(modality) else [])],
        "other_methods": [{"label": METHOD_LABELS[m], "url": _url(modality=modality, category=category, method=m)}
                          for m in sorted(have) if m != method],
        "snap": snap,
        "data": data,
        "rows": rows,
        "parts": table_parts(rows),
        "several_parts": any(r.get("part") for r in rows),
        "style_effects": style_effects(data) if data else [],
        "fragility": fragility_rows(data) if data else [],
        "preliminary_votes": settings.RATINGS_PRELIMINARY_VOTES,
        "config": {
            "modality": modality, "category": category, "method": method,
            "api": reverse("ratings:api-leaderboard"), "history": reverse("ratings:api-history"),
            "ws": f"/ws/leaderboard/{modality}/", "preliminary": settings.RATINGS_PRELIMINARY_VOTES,
        },
        "exposure": exposure(modality),
        "exposure_url": reverse("ratings:api-exposure") + f"?modality={modality}",
    }
    return render(request, "ratings/leaderboard.html", ctx, status=400 if errors else 200)
