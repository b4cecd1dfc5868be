"""Rate limits on battle creation, follow-up turns and votes, per voter session, per account and
per network (the salted hash of the client's address), counted by the `limits` library in Redis
(or in memory on the embedded default) with a moving window.

A request is checked against every limit that applies BEFORE anything is written: one over its
limit is refused with `RateLimited` (429, Retry-After, a message a person understands) and is
not counted; one within all its limits is counted against each of them. Which limits apply:

* `network`: every request (the hashed address; IPv6 by /64, arena.services.voters);
* `session`: anonymous voters (the pseudonymous voter bound to the session);
* `account`: signed-in voters (their own, usually larger, caps).

`settings.ARENA_RATE_LIMITS`: "" (the defaults below), "off" (no limits and no proof-of-work
challenge: benchmarks and load tests), or space-separated overrides `ACTION.SCOPE=LIMITS`, where
ACTION is battle|turn|vote, SCOPE is session|account|network and LIMITS is the `limits`
notation ("20/minute;300/day", "5 per second") or "off".
"""
from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass, field

import limits
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

from arena.errors import ArenaError
from arena.models import Voter

ACTIONS = ("battle", "turn", "vote")
SCOPES = ("session", "account", "network")
DEFAULTS: dict[str, str] = {
    "battle.session": "20/minute;300/day",
    "battle.account": "40/minute;1000/day",
    "battle.network": "60/minute;2000/day",
    "turn.session": "30/minute;600/day",
    "turn.account": "60/minute;2000/day",
    "turn.network": "120/minute;4000/day",
    "vote.session": "20/minute;300/day",
    "vote.account": "40/minute;1000/day",
    "vote.network": "60/minute;2000/day",
}
# What the refused person is told they did too often.
NOUNS = {"battle": "new battles", "turn": "follow-up questions", "vote": "votes"}
SCOPE_WORDS = {"session": "this browser", "account": "your account", "network": "your network"}
KEY_PREFIX = "arena-rl"


class RateLimited(ArenaError):
    status = 429

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Policy:
    enabled: bool
    limits: dict[str, list[limits.RateLimitItem]] = field(default_factory=dict)
    pow_after: list[limits.RateLimitItem] = field(default_factory=list)


def parse_policy(raw: str, pow_after: str = "off") -> Policy:
    """ARENA_RATE_LIMITS (and ARENA_POW_AFTER) as a Policy; a clear ImproperlyConfigured otherwise."""
    raw = (raw or "").strip()
    if raw.lower() == "off":
        return Policy(enabled=False)
    table = dict(DEFAULTS)
    for entry in raw.split():
        key, sep, value = entry.partition("=")
        action, _, scope = key.partition(".")
        if not sep or action not in ACTIONS or scope not in SCOPES:
            raise ImproperlyConfigured(
                f"ARENA_RATE_LIMITS: {entry!r} is not ACTION.SCOPE=LIMITS with ACTION one of "
                f"{'|'.join(ACTIONS)} and SCOPE one of {'|'.join(SCOPES)} (e.g. battle.session=20/minute;300/day)."
            )
        table[key] = value
    parsed = {key: _items(f"ARENA_RATE_LIMITS {key}", value) for key, value in table.items()}
    return Policy(enabled=True, limits=parsed, pow_after=_items("ARENA_POW_AFTER", pow_after))


def _items(name: str, value: str) -> list[limits.RateLimitItem]:
    if value.strip().lower() in ("off", "none", ""):
        return []
    try:
        return limits.parse_many(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name}: {value!r} is not a rate such as 20/minute;300/day (or off)."
        ) from None


@functools.lru_cache(maxsize=8)
def _cached_policy(raw: str, pow_after: str) -> Policy:
    return parse_policy(raw, pow_after)


def policy() -> Policy:
    return _cached_policy(settings.ARENA_RATE_LIMITS, settings.ARENA_POW_AFTER)


_limiters: dict[str, limits.strategies.MovingWindowRateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter() -> limits.strategies.MovingWindowRateLimiter:
    """One limiter (and Redis connection pool) per process. Built under a lock: `limits` imports
    its storage's client lazily, and a second request thread checking the half-imported module
    meanwhile was refused with a ConfigurationError (a 500) under a flood."""
    uri = settings.ARENA_RATE_LIMIT_STORAGE
    found = _limiters.get(uri)
    if found is not None:
        return found
    with _limiters_lock:
        if uri not in _limiters:
            options = {"key_prefix": KEY_PREFIX} if uri.startswith(("redis://", "rediss://", "unix://")) else {}
            _limiters[uri] = limits.strategies.MovingWindowRateLimiter(limits.storage.storage_from_string(uri, **options))
        return _limiters[uri]


@dataclass(frozen=True)
class Identity:
    """Who a request comes from, as the limits see it."""

    network: str
    voter: Voter | None
    account: int | None

    @classmethod
    def of(cls, request: HttpRequest, voter: Voter | None) -> "Identity":
        from arena.services.voters import network_hash

        user = getattr(request, "user", None)
        account = user.pk if user is not None and user.is_authenticated else None
        return cls(network=network_hash(request), voter=voter, account=account)

    def scopes(self) -> list[tuple[str, str]]:
        """(scope, identifier) pairs that apply; an anonymous request without a voter yet has none
        for the session (a new voter has used nothing)."""
        out = [("network", self.network)]
        if self.account is not None:
            out.append(("account", str(self.account)))
        elif self.voter is not None:
            out.append(("session", self.voter.public_id))
        return out


def _retry_after(lim: limits.RateLimitItem, *ids: str) -> int:
    # The window still holds its oldest request AT reset_time (limits counts `>=`): one more second.
    reset = limiter().get_window_stats(lim, *ids).reset_time
    return max(1, math.floor(reset - time.time()) + 1)


def _human_period(lim: limits.RateLimitItem) -> str:
    unit = lim.GRANULARITY.name
    return f"{lim.amount} per {unit}" if lim.multiples == 1 else f"{lim.amount} per {lim.multiples} {unit}s"


def _human_wait(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{math.ceil(seconds / 60)} minutes"
    return f"{math.ceil(seconds / 3600)} hours"


def check(*, action: str, identity: Identity) -> None:
    """Refuse (RateLimited) when any limit on `action` for this identity is used up; counts
    nothing then. Call before writing anything."""
    pol = policy()
    if not pol.enabled:
        return
    lim = limiter()
    worst: tuple[int, str, limits.RateLimitItem] | None = None
    for scope, ident in identity.scopes():
        for item in pol.limits.get(f"{action}.{scope}", []):
            if not lim.test(item, action, scope, ident):
                wait = _retry_after(item, action, scope, ident)
                if worst is None or wait > worst[0]:
                    worst = (wait, scope, item)
    if worst is not None:
        wait, scope, item = worst
        raise RateLimited(
            f"Too many {NOUNS[action]} from {SCOPE_WORDS[scope]} (at most {_human_period(item)}). "
            f"Please wait {_human_wait(wait)} and try again.",
            retry_after=wait,
        )


def count(*, action: str, identity: Identity) -> None:
    """Count one request against every limit on `action` that applies (after `check` passed).
    A request that slipped past `check` in a race is refused here, still before any write."""
    pol = policy()
    if not pol.enabled:
        return
    lim = limiter()
    for scope, ident in identity.scopes():
        for item in pol.limits.get(f"{action}.{scope}", []):
            if not lim.hit(item, action, scope, ident):
                wait = _retry_after(item, action, scope, ident)
                raise RateLimited(
                    f"Too many {NOUNS[action]} from {SCOPE_WORDS[scope]} (at most {_human_period(item)}). "
                    f"Please wait {_human_wait(wait)} and try again.",
                    retry_after=wait,
                )


def over_pow_threshold(identity: Identity) -> bool:
    """Anonymous voters whose session or network cast more votes than ARENA_POW_AFTER allows
    must solve a proof-of-work challenge for each further vote."""
    pol = policy()
    if not pol.enabled or identity.account is not None or not pol.pow_after:
        return False
    lim = limiter()
    idents = [("network", identity.network)] + ([("session", identity.voter.public_id)] if identity.voter else [])
    return any(not lim.test(item, "pow", scope, ident) for scope, ident in idents for item in pol.pow_after)


def count_pow_threshold(identity: Identity) -> None:
    pol = policy()
    if not pol.enabled or identity.account is not None:
        return
    lim = limiter()
    idents = [("network", identity.network)] + ([("session", identity.voter.public_id)] if identity.voter else [])
    for scope, ident in idents:
        for item in pol.pow_after:
            lim.hit(item, "pow", scope, ident)  # past the threshold it stays past: no refusal here
