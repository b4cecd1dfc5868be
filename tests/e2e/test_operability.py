"""On the real stack (uvicorn x2 + a Celery worker): the probes answer, /metrics adds up every
process (the generation latency is measured in the worker, read from the web server), and the
request id of the request that created a battle is on the worker's log lines about it."""
from __future__ import annotations

import json
import re
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from arena.models import Battle

from .helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def http(url: str, *, data: dict | None = None, headers: dict | None = None) -> tuple[int, dict, bytes]:
    req = urllib.request.Request(url, data=json.dumps(data).encode() if data is not None else None,
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def generation_count(base: str, token: str) -> float:
    status, _, body = http(base + "/metrics", headers={"Authorization": f"Bearer {token}"})
    assert status == 200
    return sum(s.value for fam in text_string_to_metric_families(body.decode()) for s in fam.samples
               if s.name == "arena_generation_seconds_count")


def test_probes_metrics_and_request_ids_across_processes(e2e_demo, arena_stack_factory, tmp_path):
    stack = arena_stack_factory(env={"ARENA_METRICS_TOKEN": "e2e-metrics", "ARENA_METRICS_DIR": str(tmp_path / "metrics")})
    base = stack.base_url
    assert http(base + "/healthz")[:1] == (200,)
    status, _, body = http(base + "/readyz")
    assert status == 200 and json.loads(body)["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}
    assert http(base + "/metrics")[0] == 404  # not public

    before = generation_count(base, "e2e-metrics")
    # The demo pages get a CSRF cookie first; the API needs it like the battle page sends it.
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    opener.open(base + "/").read()
    jar = next(h for h in opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor)).cookiejar
    csrf = next(c.value for c in jar if c.name == "csrftoken")
    req = urllib.request.Request(base + "/api/battles/", data=json.dumps({"prompt": "Explain tides.", "modality": "text"}).encode(),
                                 headers={"Content-Type": "application/json", "X-CSRFToken": csrf,
                                          "X-Request-ID": "e2e-req-4242"})
    with opener.open(req, timeout=10) as r:
        assert r.status == 201 and r.headers["X-Request-ID"] == "e2e-req-4242"
        bid = json.loads(r.read())["battle"]
    wait_until(lambda: Battle.objects.get(public_id=bid).status == Battle.READY, timeout=30, what="battle ready")

    # Generation latency is recorded by the worker process and read through the web server.
    assert wait_until(lambda: generation_count(base, "e2e-metrics") >= before + 2, timeout=10, what="metrics")
    # The worker's lines about this battle's generations carry the request id, with time and level.
    line = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[e2e-req-4242\] arena\.services\.generation: generation \d+ .* done", re.M)
    found = wait_until(lambda: len(line.findall(stack.worker.log())) >= 2, timeout=10, what="worker log lines")
    assert found
