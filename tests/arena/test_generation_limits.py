"""Per-competitor concurrency limits, health probes and the stale-battle sweep."""
from __future__ import annotations

import pytest

from arena.models import Battle, Competitor, Generation
from arena.services.generation import CompetitorBusy, battles_expire_stale, run_generation
from arena.services.health import competitors_probe_unhealthy

pytestmark = pytest.mark.django_db


def _queued_battle(client, **body):
    # on_commit callbacks are not run here: the generations stay queued
    return client.post_json("/api/battles/", {"modality": "text", "prompt": "What is 17*23?", **body}).json()["battle"]


def test_a_competitor_at_its_limit_waits_then_runs(demo, voter_client):
    Competitor.objects.filter(slug="aurora-7b").update(max_concurrency=1)
    first = _queued_battle(voter_client, models=["aurora-7b", "quill-3"])
    second = _queued_battle(voter_client, models=["aurora-7b", "lumen-13b"])
    busy = Generation.objects.get(slot__battle__public_id=first, slot__competitor__slug="aurora-7b")
    Generation.objects.filter(pk=busy.pk).update(status=Generation.RUNNING)  # as if a worker had it
    waiting = Generation.objects.get(slot__battle__public_id=second, slot__competitor__slug="aurora-7b")
    with pytest.raises(CompetitorBusy):
        run_generation(waiting.pk)
    waiting.refresh_from_db()
    assert waiting.status == Generation.QUEUED  # untouched, to be retried
    # other competitors are not held up
    other = Generation.objects.get(slot__battle__public_id=second, slot__competitor__slug="lumen-13b")
    run_generation(other.pk)
    assert Generation.objects.get(pk=other.pk).status == Generation.DONE
    Generation.objects.filter(pk=busy.pk).update(status=Generation.DONE)
    run_generation(waiting.pk)
    assert Generation.objects.get(pk=waiting.pk).status == Generation.DONE
    assert Battle.objects.get(public_id=second).status == Battle.READY


def test_a_task_delivered_twice_runs_once(demo, voter_client):
    bid = _queued_battle(voter_client)
    gen = Generation.objects.filter(slot__battle__public_id=bid).first()
    run_generation(gen.pk)
    text = Generation.objects.get(pk=gen.pk).text
    run_generation(gen.pk)  # a retry after it finished changes nothing
    assert Generation.objects.get(pk=gen.pk).text == text


def test_redelivery_of_a_task_that_was_running_voids_the_battle(demo, voter_client):
    """A worker died mid-stream; acks_late brings the task back. Text already shown cannot be
    taken back, so the battle is void rather than regenerated."""
    bid = _queued_battle(voter_client)
    gen = Generation.objects.filter(slot__battle__public_id=bid).first()
    Generation.objects.filter(pk=gen.pk).update(status=Generation.RUNNING)
    run_generation(gen.pk)
    battle = Battle.objects.get(public_id=bid)
    assert battle.status == Battle.VOID
    assert "worker lost" in Generation.objects.get(pk=gen.pk).error


def test_stale_battles_are_voided(demo, voter_client):
    bid = _queued_battle(voter_client)
    assert battles_expire_stale() == 0  # young: left alone
    assert battles_expire_stale(older_than_s=0) == 2
    assert Battle.objects.get(public_id=bid).status == Battle.VOID


def test_unhealthy_competitor_comes_back_when_its_probe_answers(demo):
    Competitor.objects.filter(slug="quill-3").update(healthy=False, consecutive_failures=3)
    Competitor.objects.filter(slug="pebble-1b").update(healthy=False, consecutive_failures=3, adapter_config={"fail_rate": 1.0})
    assert competitors_probe_unhealthy() == {"quill-3": True, "pebble-1b": False}
    quill, pebble = Competitor.objects.get(slug="quill-3"), Competitor.objects.get(slug="pebble-1b")
    assert quill.healthy and quill.consecutive_failures == 0
    assert not pebble.healthy and pebble.last_failure.startswith("probe:")


@pytest.mark.django_db(transaction=True)
def test_a_generation_the_database_refused_is_retried_not_lost(demo, voter_client, monkeypatch):
    """Postgres out of connections (or restarting) when the task starts: the task is retried
    and the battle still finishes, instead of the generation staying queued forever."""
    from django.db import OperationalError

    from arena import tasks

    monkeypatch.setattr("arena.services.battles.enqueue_turn", lambda **kw: None)  # we run the tasks
    bid = _queued_battle(voter_client)
    assert Generation.objects.filter(slot__battle__public_id=bid, status=Generation.QUEUED).count() == 2
    real, refused = tasks.run_generation, []

    def refusing_once(generation_id):
        if generation_id not in refused:
            refused.append(generation_id)
            raise OperationalError("connection failed: FATAL:  sorry, too many clients already")
        return real(generation_id)

    monkeypatch.setattr(tasks, "run_generation", refusing_once)
    for gen in Generation.objects.filter(slot__battle__public_id=bid):
        tasks.generate.apply(args=[gen.pk], throw=False)  # the first run ends in Retry; the retry runs it
    assert len(refused) == 2
    assert Battle.objects.get(public_id=bid).status == Battle.READY
    assert all(g.status == Generation.DONE and g.text for g in Generation.objects.filter(slot__battle__public_id=bid))


@pytest.mark.django_db(transaction=True)
def test_slots_finishing_together_make_the_battle_ready_exactly_once(demo, voter_client, monkeypatch):
    """Both outputs are committed before either slot looks at the battle (a barrier holds them
    there): both see every output done, and still only one moves the battle and announces it."""
    import threading

    from django.db import connection

    monkeypatch.setattr("arena.services.battles.enqueue_turn", lambda **kw: None)
    bid = _queued_battle(voter_client)
    both_done = threading.Barrier(2, timeout=20)
    events: list[str] = []

    def record(group, event):
        events.append(event["type"])
        if event["type"] == "slot_done":
            both_done.wait()

    monkeypatch.setattr("arena.services.generation.publish_on_commit", record)

    def run(pk):
        try:
            run_generation(pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(g.pk,)) for g in Generation.objects.filter(slot__battle__public_id=bid)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(events) == ["battle_ready", "slot_done", "slot_done"]
    battle = Battle.objects.get(public_id=bid)
    assert battle.status == Battle.READY and battle.ready_at is not None
