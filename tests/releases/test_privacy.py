"""Privacy of a release: planted personal data never appears, an opted-out voter's text never
appears (their votes do), no network identity, the delay, non-public models, and pseudonyms
stable within a release but unlinkable across releases."""
from __future__ import annotations

import datetime as dt
import gzip
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from arena.models import Competitor, Vote, Voter
from releases.build import NothingToRelease, release_build
from tests.releases.conftest import age, conversation_battle, manifest, rows

pytestmark = pytest.mark.django_db

PLANTED = {
    "email": ["alice.smith+arena@example.org", "bob@mail.example.co.uk"],
    "phone": ["+1 (415) 555-0134", "020 7946 0958"],
    "card": ["4111 1111 1111 1111", "5500-0000-0000-0004"],
    "api_key": ["sk-proj-A1b2C3d4E5f6G7h8I9j0KlMnOpQr", "ghp_0123456789abcdefghijABCDEFGHIJ012345", "AKIAIOSFODNN7EXAMPLE"],
    "ip": ["203.0.113.42", "2001:db8::8a2e:370:7334"],
}
SECRET_PHRASE = "my grandmother's secret pierogi recipe"


def _all_bytes(folder: Path) -> bytes:
    out = b""
    for p in folder.rglob("*"):
        if p.is_file():
            out += p.read_bytes()
            if p.suffix == ".gz":
                out += gzip.decompress(p.read_bytes())
    return out


@pytest.fixture
def planted(db):
    comps = [Competitor.objects.create(slug=f"p{i}", name=f"Plant {i}", modality="text", adapter="demo_text") for i in range(3)]
    voter = Voter.objects.create()
    user, follow, fb, out = (" and ".join(v[i % len(v)] for v in PLANTED.values()) for i in range(4))
    conversation_battle(voter=voter, models=comps[:2], prompts=[f"Please email {user} about it", f"and also {follow}"],
                        outputs=[["Sure, I wrote to " + out, "done"], ["No.", "ok"]], feedback=f"reach me at {fb}")
    conversation_battle(voter=voter, models=comps, prompts=[f"rank these for {user}"], outputs=[["x"], ["y"], ["z"]],
                        ranking=[1, 3, 2])
    shy = Voter.objects.create(release_opt_out=True)
    shy_votes = [
        conversation_battle(voter=shy, models=comps[:2], prompts=[f"Tell me about {SECRET_PHRASE}"],
                            outputs=[[f"Here is {SECRET_PHRASE}"], ["no"]], feedback=f"loved {SECRET_PHRASE}"),
        conversation_battle(voter=shy, models=comps, prompts=[SECRET_PHRASE], outputs=[["a"], ["b"], ["c"]], ranking=[2, 1, 3]),
    ]
    age(Vote.objects.all())
    return {"voter": voter, "shy": shy, "shy_votes": shy_votes, "comps": comps}


def test_planted_personal_data_never_appears_and_is_counted_per_kind(planted, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path
    rel = release_build()
    folder = Path(rel.folder)
    blob = _all_bytes(folder)
    for kind, values in PLANTED.items():
        for value in values:
            assert value.encode() not in blob, (kind, value)
    report = manifest(folder)["pii_scrub"]
    # every planted value was planted in the prompt, the follow-up, the feedback and an answer at
    # least once (values cycle); each kind is counted
    for kind, values in PLANTED.items():
        assert report["total"][kind] >= len(values), (kind, report)
    # one value of each kind in: the first prompt and the follow-up of the pairwise battle and the
    # K-wise prompt (3; each model's conversation repeats the prompts, counted once), the feedback
    # (1) and one answer (1)
    for kind in PLANTED:
        assert report["by_field"]["prompt"][kind] == 3, (kind, report["by_field"])
        assert report["by_field"]["feedback"][kind] == 1 and report["by_field"]["response"][kind] == 1, kind
    first = rows(folder)[0]
    assert "[EMAIL]" in first["conversation_a"][0]["content"] and "[CARD]" in (first["feedback"] or "") + first["conversation_a"][2]["content"]


def test_an_opted_out_voter_keeps_their_votes_but_never_their_text(planted, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path
    folder = Path(release_build().folder)
    assert SECRET_PHRASE.encode() not in _all_bytes(folder)
    data = {r["id"]: r for r in rows(folder)}
    for vote in planted["shy_votes"]:
        row = data[vote.pk]
        assert row["conversation_a"] is None and row["conversation_b"] is None and row["conversations"] is None
        assert row["feedback"] is None and (row["winner"] or row["ranking"])
    w = manifest(folder)["withheld"]
    assert w["votes_without_text_by_voter_choice"] == 2 and w["voters_who_chose_no_text"] == 1


def test_no_network_hash_session_account_or_voter_id_is_released(planted, settings, tmp_path, django_user_model):
    settings.ARENA_RELEASE_DIR = tmp_path
    user = django_user_model.objects.create_user("carol", email="carol.private@example.net", password="x" * 12)
    Voter.objects.filter(pk=planted["voter"].pk).update(user=user)
    folder = Path(release_build().folder)
    blob = _all_bytes(folder)
    for v in Vote.objects.all():
        assert v.network_hash.encode() not in blob
    for voter in Voter.objects.all():
        assert voter.public_id.encode() not in blob
    assert b"carol" not in blob
    import pyarrow.parquet as pq

    names = " ".join(pq.read_schema(folder / "votes.parquet").names)
    for word in ("network", "session", "user", "account", "email", "agent", "ip", "voter_id"):
        assert word not in names.split() and f"{word}_" not in names


def test_no_vote_newer_than_the_delay_is_released(seeded, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path
    now = timezone.now()
    recent = list(Vote.objects.order_by("-id").values_list("id", flat=True)[:40])
    Vote.objects.filter(id__in=recent).update(created=now - dt.timedelta(days=29))
    ids = {r["id"] for r in rows(Path(release_build().folder))}
    assert ids and not ids & set(recent)
    assert max(ids) < min(recent)
    settings.ARENA_RELEASE_DELAY_DAYS = 28
    assert set(recent) <= {r["id"] for r in rows(Path(release_build().folder))}


def test_no_votes_old_enough_is_a_clear_message(seeded, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path
    with pytest.raises(NothingToRelease, match="No votes to release yet"):
        release_build(delay_days=60)
    err = StringIO()
    with pytest.raises(CommandError, match="No votes to release yet") as exc:
        call_command("arena_release", "--delay-days", "60", stdout=StringIO(), stderr=err)
    assert exc.value.returncode == 2
    assert not [p for p in Path(tmp_path).iterdir()]  # nothing half-written


def test_no_votes_at_all_is_a_clear_message(db, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path
    with pytest.raises(CommandError, match="No votes to release yet"):
        call_command("arena_release", stdout=StringIO())


def test_votes_on_non_public_models_are_left_out_until_public(seeded, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path
    secret = Competitor.objects.get(slug="m4")
    secret.public = False
    secret.save()
    folder = Path(release_build().folder)
    data = rows(folder)
    assert all("m4" not in (r["models"] or [r["model_a"], r["model_b"]]) for r in data)
    with_m4 = Vote.objects.filter(battle__slots__competitor=secret).distinct().count()
    assert len(data) == Vote.objects.count() - with_m4
    assert manifest(folder)["withheld"]["votes_on_non_public_models"] == with_m4
    assert b"m4" not in (folder / "MANIFEST.json").read_bytes().replace(b'"m4', b"")  # never named
    secret.public = True
    secret.save()
    assert len(rows(Path(release_build().folder))) == Vote.objects.count()


def test_pseudonyms_are_stable_within_a_release_and_unlinkable_across(planted, seeded, settings, tmp_path):
    settings.ARENA_RELEASE_DIR = tmp_path
    first = {r["id"]: r["judge"] for r in rows(Path(release_build().folder))}
    second = {r["id"]: r["judge"] for r in rows(Path(release_build().folder))}
    by_voter: dict[int, set[str]] = {}
    for vid, voter in Vote.objects.values_list("id", "voter_id"):
        by_voter.setdefault(voter, set()).add(first[vid])
    assert all(len(j) == 1 for j in by_voter.values())  # stable within a release
    assert len({next(iter(j)) for j in by_voter.values()}) == len(by_voter)  # distinct voters, distinct judges
    assert not set(first.values()) & set(second.values())  # no pseudonym recurs in the other release
    assert all(len(j) == 20 and int(j, 16) >= 0 for j in first.values())
