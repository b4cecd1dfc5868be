"""Operable: health and readiness probes, Prometheus metrics that are not public, a request id on
every response and log line."""
from __future__ import annotations

import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.django_db


def test_healthz_answers_json_without_touching_the_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        res = client.get("/healthz")
    assert res.status_code == 200 and res.json() == {"status": "ok"}
    assert "no-cache" in res["Cache-Control"]


def test_readyz_checks_database_redis_and_broker(client, settings):
    res = client.get("/readyz")
    assert res.status_code == 200, res.content
    assert res.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "broker": "ok"}}


def test_readyz_names_what_is_down(client, settings):
    settings.REDIS_URL = settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    res = client.get("/readyz")
    body = res.json()
    assert res.status_code == 503 and body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unavailable") and body["checks"]["broker"].startswith("unavailable")
    assert "127.0.0.1:1" not in res.content.decode()  # no addresses or secrets in the answer


def scrape(client, token: str) -> dict[tuple[str, tuple], float]:
    res = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert res.status_code == 200
    out: dict[tuple[str, tuple], float] = {}
    for fam in text_string_to_metric_families(res.content.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(samples, name: str, **labels) -> float:
    want = set(labels.items())
    return sum(v for (n, lab), v in samples.items() if n == name and want <= set(lab))


def test_metrics_are_not_public(demo, client, settings, django_user_model):
    settings.ARENA_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.ARENA_METRICS_TOKEN = "s3cret-token"
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 404
    client.force_login(django_user_model.objects.create_user("voter", password="pw"))
    assert client.get("/metrics").status_code == 404
    client.force_login(django_user_model.objects.create_user("ops", password="pw", is_staff=True))
    assert client.get("/metrics").status_code == 200


def test_metrics_count_requests_battles_votes_generations_and_recomputes(demo, client, voter_client, settings,
                                                                          django_capture_on_commit_callbacks):
    settings.ARENA_METRICS_TOKEN = "tok"
    before = scrape(client, "tok")
    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    with django_capture_on_commit_callbacks(execute=True):
        assert voter_client.vote(bid, outcome="a").status_code == 201
    after = scrape(client, "tok")

    def delta(name, **labels):
        return total(after, name, **labels) - total(before, name, **labels)

    assert delta("arena_battles_created_total", modality="text", mode="pairwise") == 1
    assert delta("arena_votes_total", modality="text", counted="true") == 1
    assert delta("arena_generation_seconds_count") == 2  # both models, labelled by model
    from arena.models import Battle

    slugs = {s.competitor.slug for s in Battle.objects.get(public_id=bid).slots.select_related("competitor")}
    assert all(delta("arena_generation_seconds_count", model=m) == 1 for m in slugs)
    assert delta("arena_http_requests_total", route="/api/battles/<str:public_id>/vote/", status="201") == 1
    assert delta("arena_recompute_seconds_count", method="bt") >= 1
    assert ("arena_queue_depth", (("queue", "default"),)) in after


def test_generation_failures_are_counted_per_model(demo, client, voter_client, settings, django_capture_on_commit_callbacks):
    from arena.models import Competitor

    settings.ARENA_METRICS_TOKEN = "tok"
    Competitor.objects.filter(modality="text").exclude(slug__in=["aurora-7b", "pebble-1b"]).update(active=False)
    c = Competitor.objects.get(slug="pebble-1b")
    c.adapter_config = {**c.adapter_config, "fail_rate": 1.0}
    c.save()
    before = total(scrape(client, "tok"), "arena_generation_failures_total", model="pebble-1b")
    voter_client.start(django_capture_on_commit_callbacks)
    assert total(scrape(client, "tok"), "arena_generation_failures_total", model="pebble-1b") == before + 1


def test_every_response_carries_a_request_id_and_logs_name_it(client, caplog):
    res = client.get("/healthz")
    assert len(res["X-Request-ID"]) == 32
    res = client.get("/healthz", headers={"X-Request-ID": "lb-abc-123"})
    assert res["X-Request-ID"] == "lb-abc-123"  # a proxy's id is kept
    res = client.get("/healthz", headers={"X-Request-ID": "bad id\n<script>"})
    assert res["X-Request-ID"] != "bad id\n<script>" and len(res["X-Request-ID"]) == 32

    from config.requestid import RequestIdFilter

    seen = []

    class Grab(logging.Handler):
        def emit(self, record):
            seen.append(record)

    handler = Grab()
    handler.addFilter(RequestIdFilter())
    logging.getLogger("django.request").addHandler(handler)
    try:
        client.get("/no-such-page/", headers={"X-Request-ID": "req-404-check"})
    finally:
        logging.getLogger("django.request").removeHandler(handler)
    assert any(r.request_id == "req-404-check" and "Not Found" in r.getMessage() for r in seen)


def test_log_lines_have_time_level_and_request_id():
    from django.conf import settings

    fmt = settings.LOGGING["formatters"]["arena"]["format"]
    assert all(part in fmt for part in ("%(asctime)s", "%(levelname)s", "%(request_id)s"))
    assert settings.LOGGING["handlers"]["console"]["filters"] == ["request_id"]
