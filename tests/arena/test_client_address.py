"""The client's address comes from X-Forwarded-For only when ARENA_TRUST_X_FORWARDED_FOR is on
AND the connection comes from a configured proxy; a spoofed header never makes a new identity."""
from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.test import RequestFactory

from arena.services.voters import client_address, network_hash
from tests.conftest import ArenaClient

rf = RequestFactory()


def _req(remote: str, xff: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return rf.get("/", **extra)


def test_the_header_is_ignored_unless_trusting_it_is_configured(settings):
    settings.ARENA_TRUST_X_FORWARDED_FOR = False
    assert client_address(_req("203.0.113.5", "1.2.3.4")) == "203.0.113.5"
    assert network_hash(_req("203.0.113.5", "1.2.3.4")) == network_hash(_req("203.0.113.5", "5.6.7.8"))


def test_the_header_is_ignored_from_a_peer_that_is_not_a_trusted_proxy(settings):
    settings.ARENA_TRUST_X_FORWARDED_FOR = True
    settings.ARENA_TRUSTED_PROXIES = ["10.0.0.2"]
    assert client_address(_req("203.0.113.5", "1.2.3.4")) == "203.0.113.5"


def test_behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client(settings):
    settings.ARENA_TRUST_X_FORWARDED_FOR = True
    settings.ARENA_TRUSTED_PROXIES = ["10.0.0.0/24", "192.0.2.9"]
    assert client_address(_req("10.0.0.2", "198.51.100.4")) == "198.51.100.4"
    # the client wrote its own (spoofed) entry first; the proxies appended the real one
    assert client_address(_req("10.0.0.2", "1.1.1.1, 198.51.100.4")) == "198.51.100.4"
    # two proxies in a chain
    assert client_address(_req("10.0.0.2", "6.6.6.6, 198.51.100.4, 192.0.2.9")) == "198.51.100.4"
    # garbage from the right is not an address: the proxy's own address, never the garbage
    assert client_address(_req("10.0.0.2", "198.51.100.4, not-an-ip")) == "10.0.0.2"
    assert client_address(_req("10.0.0.2", "")) == "10.0.0.2"


def test_ipv6_clients_are_grouped_by_their_slash_64(settings):
    settings.ARENA_TRUST_X_FORWARDED_FOR = False
    assert network_hash(_req("2001:db8:1:2::1")) == network_hash(_req("2001:db8:1:2:ffff:1:2:3"))
    assert network_hash(_req("2001:db8:1:2::1")) != network_hash(_req("2001:db8:1:3::1"))
    assert network_hash(_req("203.0.113.5")) != network_hash(_req("203.0.113.6"))


@pytest.mark.django_db
def test_a_flood_with_a_new_spoofed_header_each_time_is_still_one_network(settings, demo, django_capture_on_commit_callbacks):
    """The attack of issue 12: a fresh X-Forwarded-For (and a fresh cookie) per request."""
    settings.ARENA_RATE_LIMITS = "battle.network=5/minute"
    settings.ARENA_TRUST_X_FORWARDED_FOR = False
    codes = []
    with time_machine.travel(dt.datetime(2026, 3, 2, 12, tzinfo=dt.timezone.utc), tick=False):
        for i in range(8):
            with django_capture_on_commit_callbacks(execute=True):
                res = ArenaClient().post_json("/api/battles/", {"prompt": "Hi there", "modality": "text"},
                                              REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=f"10.9.{i}.{i}")
            codes.append(res.status_code)
    assert codes == [201] * 5 + [429] * 3


@pytest.mark.django_db
def test_behind_a_configured_proxy_each_real_client_has_its_own_allowance(settings, demo, django_capture_on_commit_callbacks):
    settings.ARENA_RATE_LIMITS = "battle.network=1/minute"
    settings.ARENA_TRUST_X_FORWARDED_FOR = True
    settings.ARENA_TRUSTED_PROXIES = ["127.0.0.1"]
    with time_machine.travel(dt.datetime(2026, 3, 2, 12, tzinfo=dt.timezone.utc), tick=False):
        def start(xff: str) -> int:
            with django_capture_on_commit_callbacks(execute=True):
                return ArenaClient().post_json("/api/battles/", {"prompt": "Hi there", "modality": "text"},
                                               REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=xff).status_code
        assert start("198.51.100.1") == 201
        assert start("198.51.100.2") == 201
        assert start("198.51.100.1") == 429
        assert start("9.9.9.9, 198.51.100.1") == 429  # a spoofed left entry changes nothing
