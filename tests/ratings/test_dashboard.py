"""The staff dashboard: staff only; votes per day, excluded votes by reason, exposure, and the
recompute history with what each recompute changed."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from arena.models import Vote
from ratings.dashboard import recompute_history, snapshot_diff, votes_per_day
from ratings.models import LeaderboardSnapshot
from ratings.services import leaderboard_recompute

from .test_pages import STANDARD, make_battle, seed_votes

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    user = get_user_model().objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(user)
    return client


def test_staff_only(demo, client):
    res = client.get("/staff/")
    assert res.status_code == 302 and res["Location"].startswith("/admin/login/") and "next=/staff/" in res["Location"]
    client.force_login(get_user_model().objects.create_user("voter", password="pw"))
    res = client.get("/staff/")
    assert res.status_code == 302 and res["Location"].startswith("/admin/login/")
    client.force_login(get_user_model().objects.create_user("ops", password="pw", is_staff=True))
    res = client.get("/staff/")
    assert res.status_code == 200 and b'data-testid="dashboard"' in res.content


def test_excluded_votes_are_counted_by_reason_with_admin_links(demo, staff_client):
    seed_votes([("aurora-7b", "lumen-13b", "a", 4)])
    seed_votes([("aurora-7b", "lumen-13b", "a", 3)], counted=False, reason=Vote.EXCL_IDENTITY_LEAK)
    seed_votes([("quill-3", "lumen-13b", "b", 2)], counted=False, reason=Vote.EXCL_FRAUD)
    seed_votes([("quill-3", "lumen-13b", "b", 1)], counted=False, reason=Vote.EXCL_NAMED, anonymous=False)
    body = staff_client.get("/staff/").content.decode()
    table = re.search(r'data-testid="exclusions".*?</table>', body, re.S).group(0)
    found = dict(re.findall(r'<a href="[^"]*exclusion_reason=(\w+)">[^<]*</a></td><td class="num" data-testid="exclusion-count">(\d+)<', table))
    assert found == {"identity_leak": "3", "fraud_flag": "2", "named_mode": "1"}
    assert "/admin/arena/vote/?counted__exact=0&amp;exclusion_reason=identity_leak" in table
    assert "6 excluded votes in all" in body
    # the link opens the admin's changelist filtered to exactly those votes
    staff_client.force_login(get_user_model().objects.create_superuser("root", password="pw"))
    res = staff_client.get("/admin/arena/vote/", {"counted__exact": "0", "exclusion_reason": "identity_leak"})
    assert res.status_code == 200 and res.context["cl"].result_count == 3


def test_votes_per_day_counted_and_excluded(demo, staff_client):
    seed_votes([("aurora-7b", "lumen-13b", "a", 3)])
    seed_votes([("aurora-7b", "lumen-13b", "b", 2)], counted=False, reason=Vote.EXCL_FRAUD)
    old = [make_battle(["quill-3", "lumen-13b"], outcome="a").vote for _ in range(4)]
    two_days_ago = timezone.now() - dt.timedelta(days=2)
    Vote.objects.filter(pk__in=[v.pk for v in old]).update(created=two_days_ago)
    days = {d["day"]: d for d in votes_per_day(30)}
    assert len(days) == 30
    assert days[timezone.localdate().isoformat()] == {"day": timezone.localdate().isoformat(), "counted": 3, "excluded": 2}
    assert days[timezone.localdate(two_days_ago).isoformat()]["counted"] == 4
    body = staff_client.get("/staff/").content.decode()
    assert "7 counted · 2 excluded" in body and 'id="plot-votes-per-day"' in body and "plotly.min.js" in body


def test_exposure_per_model_on_the_dashboard(demo, staff_client):
    seed_votes([("aurora-7b", "lumen-13b", "a", 3), ("quill-3", "lumen-13b", "a", 1)])
    body = staff_client.get("/staff/", {"modality": "text"}).content.decode()
    row = re.search(r'data-testid="exposure-row-lumen-13b".*?</tr>', body, re.S).group(0)
    assert re.search(r'data-testid="exposure-all">4<', row)


def test_recompute_history_shows_what_changed(demo, staff_client):
    seed_votes(STANDARD)
    first = leaderboard_recompute(modality="text", method="bt")
    # aurora-7b (first) now loses to everyone many times: it falls
    seed_votes([("aurora-7b", m, "b", 15) for m in ("lumen-13b", "quill-3", "pebble-1b", "mumble-0")])
    second = leaderboard_recompute(modality="text", method="bt")
    other = leaderboard_recompute(modality="text", method="elo")
    before = {r["model"]: r for r in first.rows}
    after = {r["model"]: r for r in second.rows}
    changed = {m for m in after if after[m]["rank"] != before[m]["rank"]}
    assert "aurora-7b" in changed

    hist = {h["snapshot"]: h for h in recompute_history()}
    assert hist[first.pk]["diff"] is None and hist[other.pk]["diff"] is None  # firsts of their leaderboards
    d = hist[second.pk]["diff"]
    assert hist[second.pk]["previous"] == first.pk
    assert {c["model"] for c in d["rank_changes"]} == changed
    assert {(c["model"], c["from"], c["to"]) for c in d["rank_changes"]} == {(m, before[m]["rank"], after[m]["rank"]) for m in changed}
    moves = {m: after[m]["rating"] - before[m]["rating"] for m in after}
    top = max(moves, key=lambda m: abs(moves[m]))
    assert d["largest_move"]["model"] == top and d["largest_move"]["delta"] == pytest.approx(moves[top])

    body = staff_client.get("/staff/").content.decode()
    row = re.search(rf'data-testid="snapshot-{second.pk}".*?</tr>', body, re.S).group(0)
    assert "text / overall / bt" in row and f">{second.vote_count}<" in row
    assert f"aurora-7b {before['aurora-7b']['rank']}→{after['aurora-7b']['rank']}" in row
    assert f'data-testid="largest-move">{moves[top]:+.1f}<' in row
    assert "first snapshot" in re.search(rf'data-testid="snapshot-{first.pk}".*?</tr>', body, re.S).group(0)


def test_snapshot_diff_new_and_gone_models():
    prev = [{"model": "a", "rank": 1, "rating": 1010.0}, {"model": "b", "rank": 2, "rating": 990.0}]
    cur = [{"model": "b", "rank": 1, "rating": 1020.0}, {"model": "c", "rank": 2, "rating": 980.0}]
    d = snapshot_diff(cur, prev)
    assert d["rank_changes"] == [{"model": "b", "from": 2, "to": 1}]
    assert d["new"] == ["c"] and d["gone"] == ["a"]
    assert d["largest_move"] == {"model": "b", "delta": 30.0, "text": "+30.0"}
    assert snapshot_diff(cur, None) is None


def test_history_query_count_does_not_grow_with_snapshots(demo, django_assert_max_num_queries):
    seed_votes(STANDARD)
    for k in range(4):
        seed_votes([("mumble-0", "aurora-7b", "a", 1)])
        leaderboard_recompute(modality="text", method="bt")
    assert LeaderboardSnapshot.objects.count() == 4
    with django_assert_max_num_queries(2):
        assert len(recompute_history()) == 4
