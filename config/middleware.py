"""Middleware of every request: its id (logs, Celery), its metrics, and JSON errors under /api/.

Each works in both sync and async mode, so under ASGI they add no thread hop."""
from __future__ import annotations

import time
from http import HTTPStatus

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, JsonResponse

from config import requestid

API_PREFIX = "/api/"


def _route(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return ("/" + match.route) if match is not None and match.route else "unmatched"


def _as_json_error(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """An error page (404 of an unknown URL, 405, CSRF refusal, 413, 500) under /api/ as JSON, so
    an API client never has to parse HTML."""
    if (
        not request.path.startswith(API_PREFIX)
        or response.status_code < 400
        or response.get("Content-Type", "").startswith("application/json")
        or getattr(response, "streaming", False)
    ):
        return response
    status = response.status_code
    messages = {
        403: "Forbidden: this request did not come from the arena's own pages (CSRF check failed).",
        404: "No such API endpoint.",
        405: "Method not allowed.",
        413: "The request is too large.",
        500: "Something went wrong on our side; nothing was saved. Please try again.",
    }
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    out = JsonResponse({"error": messages.get(status, phrase + ".")}, status=status)
    for header in ("Allow", "Retry-After", "Content-Security-Policy", "X-Request-ID"):
        if header in response:
            out[header] = response[header]
    return out


def _refuse_query(request: HttpRequest) -> HttpResponse | None:
    """A NUL in the path or the query string would reach a database filter (a battle id, a
    modality; Postgres refuses NUL): 404 / 400 before any view runs."""
    if "\x00" in request.path:
        if request.path.startswith(API_PREFIX):
            return JsonResponse({"error": "No such API endpoint."}, status=404)
        return HttpResponse("Not found.", status=404, content_type="text/plain; charset=utf-8")
    if any("\x00" in k or "\x00" in v for k, values in request.GET.lists() for v in values):
        message = "The query string contains a character that cannot be stored (a NUL)."
        if request.path.startswith(API_PREFIX):
            return JsonResponse({"error": message}, status=400)
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    return None


class ArenaMiddleware:
    """Request id in, metrics and JSON API errors out."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if self.is_async:
            return self.__acall__(request)
        start = self._before(request)
        response = _refuse_query(request) or self.get_response(request)
        return self._after(request, response, start)

    async def __acall__(self, request: HttpRequest):
        start = self._before(request)
        response = _refuse_query(request) or await self.get_response(request)
        return self._after(request, response, start)

    @staticmethod
    def _before(request: HttpRequest):
        rid = requestid.new_id(request.headers.get("X-Request-ID"))
        request.request_id = rid  # type: ignore[attr-defined]
        # Kept until the response is closed (Django logs a 4xx/5xx after the middleware chain
        # returns): config.requestid resets it on request_finished.
        requestid.request_id.set(rid)
        return time.perf_counter()

    @staticmethod
    def _after(request: HttpRequest, response: HttpResponse, start: float) -> HttpResponse:
        response = _as_json_error(request, response)
        response["X-Request-ID"] = request.request_id  # type: ignore[attr-defined]
        from config.metrics import REQUEST_SECONDS, REQUESTS, safely

        route, method = _route(request), request.method or "-"
        safely(lambda: REQUESTS.labels(method, route, str(response.status_code)).inc())
        safely(lambda: REQUEST_SECONDS.labels(method, route).observe(time.perf_counter() - start))
        return response


class SyncChain:
    """Last in MIDDLEWARE, and sync only. Under ASGI Django runs a middleware that can work both
    ways in async mode while the handler inside it is async, and then each hook of each
    `MiddlewareMixin` (security, CSP, sessions, CSRF, auth, messages...) hops to the request's
    thread and back: 18 thread hops for a request that does nothing, most of its CPU. With this
    one innermost, every middleware above it runs in sync mode, all of them in ONE hop to the
    request's thread (the same thread their hooks ran in before). Views are unchanged: an async
    view still runs on the event loop, a sync view in the request's thread."""

    sync_capable = True
    async_capable = False

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        return self.get_response(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF refusal: JSON under /api/, Django's page elsewhere."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"error": "Forbidden: this request did not come from the arena's own pages (CSRF check failed)."},
                            status=403)
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason)


requestid.connect_request_signals()
