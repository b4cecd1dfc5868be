"""The live fraud audit: a flagged voter's votes stay stored but stop counting (fraud:<detector>),
the voter sees no difference, the leaderboards recompute, staff review and undo it, and every
change is in the decision log. The review queue is staff-only."""
from __future__ import annotations

import datetime as dt
import math
import random

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from arena.models import Battle, Competitor, ExclusionDecision, Prompt, Slot, Vote, Voter, VoterFlag
from ratings.models import LeaderboardSnapshot
from ratings.tasks import audit_all, audit_modality

pytestmark = pytest.mark.django_db


def _seed(comps: list[Competitor], *, honest: int = 60, target: Competitor | None = None, fan_votes: int = 100,
          seed: int = 3) -> Voter | None:
    """An honest crowd over the competitors (strength by list order) and, if a target is given, a
    voter who votes only on battles with it and always for it."""
    rng = random.Random(seed)
    prompt = Prompt.objects.create(text="hello", modality="text", category="general", language="en")
    strength = {c.pk: 0.8 - 0.4 * k for k, c in enumerate(comps)}
    now = timezone.now()
    plan = []
    for v in range(honest):
        voter = Voter.objects.create()
        for _ in range(rng.randint(10, 60)):
            a, b = rng.sample(comps, 2)
            p = 1 / (1 + math.exp(-(strength[a.pk] - strength[b.pk])))
            out = "tie" if rng.random() < 0.2 else ("a" if rng.random() < p else "b")
            plan.append((voter, a, b, out, now - dt.timedelta(days=rng.uniform(1, 20))))
    fan = None
    if target is not None:
        fan = Voter.objects.create()
        for _ in range(fan_votes):
            other = rng.choice([c for c in comps if c != target])
            a, b = (target, other) if rng.random() < 0.5 else (other, target)
            plan.append((fan, a, b, "a" if a == target else "b", now - dt.timedelta(hours=rng.uniform(1, 48))))
    _store(prompt, [(v, [a, b], {"a": [1, 2], "b": [2, 1], "tie": [1, 1]}[o], when) for v, a, b, o, when in plan])
    return fan


def _store(prompt: Prompt, plan: list[tuple], *, kwise: bool = False) -> None:
    """Write planned votes (voter, models in the order shown, places, when): battles, slots and
    votes as the app stores them (pairwise: with its outcome), then their times."""
    battles = Battle.objects.bulk_create([
        Battle(mode="kwise" if kwise else "pairwise", k=len(shown), modality="text", voter=v, prompt=prompt,
               status="voted") for v, shown, *_ in plan
    ])
    Slot.objects.bulk_create([Slot(battle=bt, position=p, competitor=c) for bt, (_, shown, *_) in zip(battles, plan)
                              for p, c in enumerate(shown)])
    outcome = {(1, 2): "a", (2, 1): "b", (1, 1): "tie"}
    Vote.objects.bulk_create([
        Vote(battle=bt, voter=v, ranking=places, modality="text", category="general", language="en",
             network_hash=f"net{v.pk}",
             **({"mode": "pairwise", "outcome": outcome[tuple(places)], "model_a": shown[0], "model_b": shown[1]}
                if not kwise else {"mode": "kwise"}))
        for bt, (v, shown, places, _) in zip(battles, plan)
    ])
    for bt, (*_, when) in zip(battles, plan):  # created is auto_now_add: set the history afterwards
        Vote.objects.filter(battle=bt).update(created=when)


@pytest.fixture
def text_models(demo):
    return list(Competitor.objects.filter(modality="text").order_by("pk"))


def _audit(capture):
    with capture(execute=True):
        audit_modality.delay("text")


def test_a_flagged_voter_is_shadow_excluded_and_the_leaderboard_recomputes(text_models, django_capture_on_commit_callbacks):
    fan = _seed(text_models, target=text_models[-1])
    _audit(django_capture_on_commit_callbacks)
    votes = Vote.objects.filter(voter=fan)
    assert votes.count() == 100  # kept
    assert not votes.filter(counted=True).exists()
    assert set(votes.values_list("exclusion_reason", flat=True)) == {"fraud:target_concentration"}
    assert ExclusionDecision.objects.filter(vote__voter=fan, by_kind="detector", counted=False).count() == 100
    assert not Vote.objects.exclude(voter=fan).filter(counted=False).exists()  # the honest crowd counts
    snap = LeaderboardSnapshot.objects.filter(modality="text", category="overall", method="bt").first()
    assert snap is not None and snap.vote_count == Vote.objects.filter(counted=True).count()
    flag = VoterFlag.objects.get(voter=fan)
    assert flag.status == "excluded" and flag.evidence["reasons"]
    # A second run changes nothing and logs nothing.
    _audit(django_capture_on_commit_callbacks)
    assert ExclusionDecision.objects.count() == 100


def test_the_flagged_voter_sees_no_difference_when_voting(text_models, voter_client, django_capture_on_commit_callbacks):
    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    voter = Battle.objects.get(public_id=bid).voter
    fan = _seed(text_models, target=text_models[-1])
    Vote.objects.filter(voter=fan).update(voter=voter)  # the fan's history is this browser's
    Battle.objects.filter(vote__voter=voter).update(voter=voter)
    _audit(django_capture_on_commit_callbacks)
    voter.refresh_from_db()
    assert voter.shadow_reason == "fraud:target_concentration"
    with django_capture_on_commit_callbacks(execute=True):
        res = voter_client.vote(bid, outcome="a")
    body = res.json()
    assert res.status_code == 201 and body["counted"] is True and body["excluded_because"] == ""
    vote = Vote.objects.get(battle__public_id=bid)
    assert not vote.counted and vote.exclusion_reason == "fraud:target_concentration"


def test_staff_count_again_undoes_it_logs_it_and_recomputes(text_models, client, django_capture_on_commit_callbacks):
    fan = _seed(text_models, target=text_models[-1])
    _audit(django_capture_on_commit_callbacks)
    before = LeaderboardSnapshot.objects.filter(modality="text", category="overall", method="bt").first().vote_count
    client.force_login(User.objects.create_user("reviewer", "r@example.org", "pw", is_staff=True))
    page = client.get("/staff/integrity/").content.decode()
    assert fan.public_id in page and "target_concentration" in page
    detail = client.get(f"/staff/integrity/{fan.public_id}/").content.decode()
    assert "served in" in detail and "Network cluster" in detail and "fraud:target_concentration" in detail
    with django_capture_on_commit_callbacks(execute=True):
        res = client.post(f"/staff/integrity/{fan.public_id}/count-again/", {"note": "a fan, not a bot"})
    assert res.status_code == 302
    assert Vote.objects.filter(voter=fan, counted=True).count() == 100
    assert ExclusionDecision.objects.filter(vote__voter=fan, by_kind="staff", by="reviewer", counted=True).count() == 100
    assert ExclusionDecision.objects.filter(detail="a fan, not a bot").count() == 100
    after = LeaderboardSnapshot.objects.filter(modality="text", category="overall", method="bt").first().vote_count
    assert after == before + 100
    fan.refresh_from_db()
    assert fan.shadow_reason == "" and VoterFlag.objects.get(voter=fan).status == "cleared"
    _audit(django_capture_on_commit_callbacks)  # the audit respects the review
    assert Vote.objects.filter(voter=fan, counted=True).count() == 100
    assert VoterFlag.objects.get(voter=fan).evidence.get("after_review") is True


def test_the_review_queue_is_staff_only(text_models, client, django_capture_on_commit_callbacks):
    fan = _seed(text_models, target=text_models[-1], honest=30)
    _audit(django_capture_on_commit_callbacks)
    urls = ["/staff/integrity/", f"/staff/integrity/{fan.public_id}/"]
    for url in urls:
        res = client.get(url)
        assert res.status_code == 302 and "/admin/login/" in res["Location"]
    client.force_login(User.objects.create_user("voter", "v@example.org", "pw"))
    for url in urls:
        assert client.get(url).status_code == 302
    assert client.post(f"/staff/integrity/{fan.public_id}/count-again/").status_code == 302
    assert not Vote.objects.filter(voter=fan, counted=True).exists()
    client.force_login(User.objects.create_user("staff", "s@example.org", "pw", is_staff=True))
    assert client.get(f"/staff/integrity/{fan.public_id}/count-again/").status_code == 405
    assert client.get("/staff/integrity/nobody/").status_code == 404


def test_the_audit_runs_after_every_nth_vote_of_a_voter(text_models, voter_client, settings, django_capture_on_commit_callbacks):
    settings.ARENA_AUDIT_EVERY_N_VOTES = 2
    fan = _seed(text_models, target=text_models[-1])
    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    with django_capture_on_commit_callbacks(execute=True):
        voter_client.vote(bid, outcome="a")  # this voter's first vote: no audit yet
    assert not VoterFlag.objects.exists()
    bid = voter_client.start(django_capture_on_commit_callbacks).json()["battle"]
    with django_capture_on_commit_callbacks(execute=True):
        voter_client.vote(bid, outcome="b")  # the second: the audit runs and finds the fan
    assert VoterFlag.objects.filter(voter=fan, status="excluded").exists()


def test_beat_audits_every_modality(text_models, django_capture_on_commit_callbacks):
    fan = _seed(text_models, target=text_models[-1])
    with django_capture_on_commit_callbacks(execute=True):
        audit_all.delay()
    assert not Vote.objects.filter(voter=fan, counted=True).exists()


def _seed_kwise(comps: list[Competitor], target: Competitor, *, k: int = 3, honest: int = 50, seed: int = 5) -> Voter:
    """K-wise battles: an honest crowd ranking k outputs (Plackett-Luce over strengths by list
    order), and a voter who ranks only battles with the target, always the target first."""
    rng = random.Random(seed)
    prompt = Prompt.objects.create(text="hello", modality="text", category="general", language="en")
    strength = {c.pk: 0.8 - 0.4 * j for j, c in enumerate(comps)}
    now = timezone.now()
    plan = []
    for _ in range(honest):
        voter = Voter.objects.create()
        for _ in range(rng.randint(10, 50)):
            shown = rng.sample(comps, k)
            score = [strength[c.pk] - math.log(-math.log(rng.random())) for c in shown]  # + Gumbel noise
            plan.append((voter, shown, [1 + sum(s > x for s in score) for x in score], now - dt.timedelta(days=rng.uniform(1, 20))))
    fan = Voter.objects.create()
    for _ in range(80):
        shown = rng.sample([c for c in comps if c != target], k - 1)
        shown.insert(rng.randrange(k), target)
        rest = iter(range(2, k + 1))
        places = [1 if c == target else next(rest) for c in shown]
        plan.append((fan, shown, places, now - dt.timedelta(hours=rng.uniform(1, 48))))
    _store(prompt, plan, kwise=True)
    return fan


def test_kwise_votes_are_audited_live(text_models, django_capture_on_commit_callbacks):
    target = text_models[-1]
    fan = _seed_kwise(text_models, target, k=min(3, len(text_models)))
    _audit(django_capture_on_commit_callbacks)
    votes = Vote.objects.filter(voter=fan)
    assert votes.count() == 80 and not votes.filter(counted=True).exists()
    assert set(votes.values_list("exclusion_reason", flat=True)) <= {"fraud:target_concentration", "fraud:outcome_bias"}
    assert VoterFlag.objects.get(voter=fan).evidence["votes_audited"] == 80
    assert not Vote.objects.exclude(voter=fan).filter(counted=False).exists()  # the honest K-wise crowd counts
