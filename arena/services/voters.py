"""The voter behind a request: a pseudonymous id bound to the session (and the account, if any)."""
from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from django.http import HttpRequest

from arena.models import Voter

SESSION_KEY = "arena_voter"


def voter_for_request(request: HttpRequest, *, create: bool = True) -> Voter | None:
    voter_pk = request.session.get(SESSION_KEY)
    voter = Voter.objects.filter(pk=voter_pk).first() if voter_pk else None
    if voter is None and create:
        user = request.user if getattr(request, "user", None) and request.user.is_authenticated else None
        voter = Voter.objects.create(user=user)
        request.session[SESSION_KEY] = voter.pk
    elif voter is not None and voter.user_id is None and request.user.is_authenticated:
        voter.user = request.user
        voter.save(update_fields=["user", "last_seen"])
    return voter


def voter_pk_from_session(session) -> int | None:
    return session.get(SESSION_KEY) if session is not None else None


def network_hash(request: HttpRequest) -> str:
    """Salted HMAC of the client address: lets integrity checks group votes by network without
    ever storing the address itself."""
    addr = request.META.get("REMOTE_ADDR", "")
    if settings.ARENA_TRUST_X_FORWARDED_FOR:
        fwd = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if fwd:
            addr = fwd.split(",")[0].strip()
    return hmac.new(settings.ARENA_IP_SALT.encode(), addr.encode(), hashlib.sha256).hexdigest()


def voter_set_release_opt_out(*, voter: Voter, opt_out: bool) -> Voter:
    """The voter's choice that their conversations are not released (their votes still are,
    without text). Applies to every release made after it, past votes included."""
    Voter.objects.filter(pk=voter.pk).update(release_opt_out=opt_out)
    voter.release_opt_out = opt_out
    return voter
