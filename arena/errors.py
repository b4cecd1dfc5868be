"""Errors a user can cause. Each carries the HTTP status and a message a person understands;
views turn them into JSON 4xx responses. Raised before anything is written, or inside the
transaction that would have written it, so nothing is half-written."""
from __future__ import annotations


class ArenaError(Exception):
    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(ArenaError):
    status = 400


class Forbidden(ArenaError):
    status = 403


class NotFound(ArenaError):
    status = 404


class Conflict(ArenaError):
    status = 409


class TooLarge(ArenaError):
    status = 413


class Unprocessable(ArenaError):
    """The request is well-formed but contradicts an earlier one (an idempotency key replayed
    with another payload: IETF draft-ietf-httpapi-idempotency-key-header)."""

    status = 422


class Unavailable(ArenaError):
    status = 503
