"""The voter behind a request: a pseudonymous id bound to the session (and the account, if any)."""
from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest

from arena.models import Voter

SESSION_KEY = "arena_voter"


def voter_for_request(request: HttpRequest, *, create: bool = True, known: Voter | None = None) -> Voter | None:
    """The session's voter (created if `create`). `known`: a voter row already read (the owner
    of the battle a request names), used instead of reading it again when it is the session's."""
    voter_pk = request.session.get(SESSION_KEY)
    if known is not None and voter_pk == known.pk:
        voter = known
    else:
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


@functools.lru_cache(maxsize=8)
def _networks(proxies: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _is_trusted_proxy(addr: str) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in _networks(tuple(settings.ARENA_TRUSTED_PROXIES)))


def client_address(request: HttpRequest) -> str:
    """The client's network address. The socket's peer, unless ARENA_TRUST_X_FORWARDED_FOR is on
    AND that peer is one of ARENA_TRUSTED_PROXIES: then X-Forwarded-For is read from the right
    (each trusted proxy appends the address it saw) and the first address that is not a trusted
    proxy is the client. Anything a client writes to the left of that is ignored, so a spoofed
    header cannot give each request a new identity."""
    addr = request.META.get("REMOTE_ADDR", "") or ""
    if not settings.ARENA_TRUST_X_FORWARDED_FOR or not _is_trusted_proxy(addr):
        return addr
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return addr  # garbage in the header: the proxy's own address, never the garbage
        if not _is_trusted_proxy(hop):
            return hop
    return hops[0] if hops else addr


def network_of(addr: str) -> str:
    """The network an address stands for: an IPv4 address itself, an IPv6 address its /64 (one
    subscriber's prefix: rotating through it must not make a new identity per request)."""
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return addr
    if ip.version == 6 and ip.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip.ipv4_mapped or ip) if ip.version == 6 else str(ip)


def network_hash(request: HttpRequest) -> str:
    """Salted HMAC of the client's network: lets integrity checks (and rate limits) group
    requests by network without ever storing the address itself."""
    addr = network_of(client_address(request))
    return hmac.new(settings.ARENA_IP_SALT.encode(), addr.encode(), hashlib.sha256).hexdigest()


def voter_set_release_opt_out(*, voter: Voter, opt_out: bool) -> Voter:
    """The voter's choice that their conversations are not released (their votes still are,
    without text). Applies to every release made after it, past votes included."""
    Voter.objects.filter(pk=voter.pk).update(release_opt_out=opt_out)
    voter.release_opt_out = opt_out
    return voter
