"""The public leaderboard page and the exposure API: what a visitor sees, read from stored
snapshots (never a fit per request)."""
from __future__ import annotations

import html
import json
import re

import pytest

from arena.models import Battle, Competitor, Prompt, Slot, Vote, Voter
from ratings.models import LeaderboardSnapshot
from ratings.pages import category_label
from ratings.services import leaderboard_recompute

pytestmark = pytest.mark.django_db

ROW_RE = re.compile(r'data-testid="lb-row-([\w-]+)"')


# ---- helpers -----------------------------------------------------------------------------------

def make_battle(models: list[str], *, outcome: str | None = None, ranking: list[int] | None = None, modality: str = "text",
                category: str = "general", language: str = "en", counted: bool = True, reason: str = "",
                anonymous: bool = True, vote: bool = True, n_turns: int = 1) -> Battle:
    """A voted battle written straight to the tables (what the arena stores after a vote)."""
    voter = Voter.objects.create()
    prompt = Prompt.objects.create(text="p", modality=modality, category=category, language=language)
    mode = Battle.MODE_PAIRWISE if len(models) == 2 else Battle.MODE_KWISE
    battle = Battle.objects.create(mode=mode, k=len(models), modality=modality, voter=voter, prompt=prompt,
                                   anonymous=anonymous, status=Battle.VOTED if vote else Battle.READY, n_turns=n_turns)
    comps = {c.slug: c for c in Competitor.objects.filter(slug__in=models)}
    for pos, slug in enumerate(models):
        Slot.objects.create(battle=battle, position=pos, competitor=comps[slug])
    if vote:
        if ranking is None:
            ranking = {"a": [1, 2], "b": [2, 1], "tie": [1, 1], "both_bad": [1, 1]}[outcome]
        # the leaderboard columns copied onto the vote when it is cast (where the model has them)
        copied = {"modality": modality, "mode": mode, "category": category, "language": language, "n_turns": n_turns,
                  "model_a": comps[models[0]] if mode == Battle.MODE_PAIRWISE else None,
                  "model_b": comps[models[1]] if mode == Battle.MODE_PAIRWISE else None}
        fields = {f.name for f in Vote._meta.get_fields()}
        Vote.objects.create(battle=battle, voter=voter, outcome=outcome or "", ranking=ranking, counted=counted,
                            exclusion_reason=reason, **{k: v for k, v in copied.items() if k in fields})
    return battle


def seed_votes(spec: list[tuple[str, str, str, int]], **kw) -> None:
    """(model_a, model_b, outcome, times)."""
    for a, b, outcome, n in spec:
        for _ in range(n):
            make_battle([a, b], outcome=outcome, **kw)


STANDARD = [
    ("aurora-7b", "lumen-13b", "a", 9), ("aurora-7b", "lumen-13b", "b", 3),
    ("lumen-13b", "quill-3", "a", 8), ("lumen-13b", "quill-3", "b", 4),
    ("quill-3", "pebble-1b", "a", 6), ("quill-3", "pebble-1b", "b", 4), ("quill-3", "pebble-1b", "tie", 2),
    ("aurora-7b", "pebble-1b", "a", 5), ("aurora-7b", "pebble-1b", "b", 1),
    ("mumble-0", "pebble-1b", "b", 2), ("mumble-0", "aurora-7b", "a", 1), ("mumble-0", "aurora-7b", "b", 1),
]


def page(client, **params):
    return client.get("/leaderboard/", params)


def row_html(body: str, slug: str) -> str:
    m = re.search(rf'<tr data-testid="lb-row-{re.escape(slug)}".*?</tr>', body, re.S)
    assert m, f"no row for {slug}"
    return m.group(0)


def cell(row: str, testid: str) -> str:
    m = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(td|span)>', row, re.S)
    assert m, f"no {testid} in {row}"
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip()


def visible(body: str, testid: str) -> bool:
    m = re.search(rf'<[^>]*data-testid="{testid}"[^>]*>', body)
    assert m, f"no element {testid}"
    return " hidden" not in m.group(0)


# ---- the table ---------------------------------------------------------------------------------

def test_empty_state_before_any_snapshot(demo, client):
    res = page(client)
    assert res.status_code == 200
    body = res.content.decode()
    assert visible(body, "lb-empty") and "No votes yet" in body and visible(body, "lb-invite")
    assert not visible(body, "lb-meta")
    assert ROW_RE.findall(body) == []
    # all five modality tabs, text selected; the nav links here
    for m in ("text", "image", "audio", "video", "3d"):
        assert f'data-testid="lb-tab-{m}"' in body
    assert 'href="/leaderboard/"' in body


def test_table_shows_the_snapshot_in_order_with_rank_intervals_and_ci(demo, client, settings):
    settings.RATINGS_PRELIMINARY_VOTES = 1
    seed_votes(STANDARD)
    snap = leaderboard_recompute(modality="text", category="overall", method="bt")
    assert snap is not None and snap.vote_count == sum(n for *_, n in STANDARD)

    res = page(client, modality="text", category="overall", method="bt")
    assert res.status_code == 200
    body = res.content.decode()
    assert ROW_RE.findall(body) == [r["model"] for r in snap.rows]
    assert cell(body, "lb-votes") == str(snap.vote_count)
    assert "Bradley-Terry" in body and not visible(body, "lb-empty")
    some_interval = False
    for r in snap.rows:
        row = row_html(body, r["model"])
        assert cell(row, "lb-name") == Competitor.objects.get(slug=r["model"]).name
        assert Competitor.objects.get(slug=r["model"]).organization in row
        expected_rank = str(r["rank"]) if r["rank"] == r["rank_upper"] else f"{r['rank']}–{r['rank_upper']}"
        some_interval |= r["rank"] != r["rank_upper"]
        assert cell(row, "lb-rank") == expected_rank
        assert cell(row, "lb-rating") == f"{r['rating']:.0f}"
        assert cell(row, "lb-ci") == f"+{r['upper'] - r['rating']:.0f} / −{r['rating'] - r['lower']:.0f}"
        assert cell(row, "lb-model-votes") == str(r["votes"])
        assert cell(row, "lb-winrate") == f"{r['win_rate'] * 100:.0f}%"
    assert some_interval, "this data should leave some rank uncertain"
    # the data the script re-renders from is embedded, with the plots
    data = json.loads(re.search(r'<script id="lb-data" type="application/json">(.*?)</script>', body, re.S).group(1))
    assert data["snapshot"] == snap.pk and set(data["plots"]) >= {"models", "win_matrix", "battle_matrix"}


def test_models_below_the_vote_floor_are_marked_preliminary(demo, client, settings):
    seed_votes(STANDARD)
    snap = leaderboard_recompute(modality="text", method="bt")
    votes = {r["model"]: r["votes"] for r in snap.rows}
    assert votes["mumble-0"] == 4 and votes["aurora-7b"] >= 20
    settings.RATINGS_PRELIMINARY_VOTES = 10
    body = page(client).content.decode()
    for slug, n in votes.items():
        assert ('data-testid="lb-preliminary"' in row_html(body, slug)) == (n < 10), slug


def test_newest_snapshot_is_shown(demo, client):
    seed_votes(STANDARD)
    first = leaderboard_recompute(modality="text", method="bt")
    seed_votes([("mumble-0", "aurora-7b", "a", 3)])
    second = leaderboard_recompute(modality="text", method="bt")
    assert second.pk != first.pk
    body = page(client).content.decode()
    assert cell(body, "lb-votes") == str(second.vote_count) == str(first.vote_count + 3)


def test_page_never_fits(demo, client, monkeypatch):
    seed_votes(STANDARD)
    snap = leaderboard_recompute(modality="text", method="bt")
    import ratings.engine
    import ratings.services

    def boom(*a, **k):
        raise AssertionError("the page must not fit")

    monkeypatch.setattr(ratings.services, "_fit", boom)
    monkeypatch.setattr(ratings.services, "leaderboard_recompute", boom)
    for name in ("fit_bt", "fit_elo", "fit_bayes", "fit_style"):
        monkeypatch.setattr(ratings.engine, name, boom)
        monkeypatch.setattr(ratings.services, name, boom)
    res = page(client)
    assert res.status_code == 200
    assert ROW_RE.findall(res.content.decode()) == [r["model"] for r in snap.rows]
    assert page(client, method="elo").status_code == 200  # no elo snapshot: empty state, still no fit
    assert LeaderboardSnapshot.objects.count() == 1


@pytest.mark.parametrize("params, message", [
    ({"category": "planet:mars"}, "Unknown leaderboard category"),
    ({"method": "glicko"}, "Unknown ranking method"),
    ({"modality": "smell"}, "Unknown modality"),
])
def test_unknown_choices_get_a_400_page_with_a_clear_message(demo, client, params, message):
    res = page(client, **params)
    assert res.status_code == 400
    body = res.content.decode()
    assert message in body and 'data-testid="lb-error"' in body
    assert not visible(body, "lb-empty")


def test_categories_and_methods_have_readable_labels(demo, client):
    seed_votes(STANDARD[:6], language="fr", category="coding")
    seed_votes(STANDARD[6:], n_turns=2)
    make_battle(["aurora-7b", "lumen-13b", "quill-3"], ranking=[1, 2, 3])
    for cat in ("overall", "language:fr", "turns:multi", "votes:kwise", "category:coding"):
        assert leaderboard_recompute(modality="text", category=cat, method="bt") is not None, cat
    leaderboard_recompute(modality="text", category="overall", method="elo")
    body = page(client, category="language:fr").content.decode()
    options = re.findall(r'<option value="([^"]+)"(?: data-label="[^"]*")?( selected)?>([^<]+)</option>', body)
    labels = {v: t for v, _, t in options}
    assert labels["language:fr"] == "language: fr"
    assert labels["turns:multi"] == "multi-turn"
    assert labels["votes:kwise"] == "K-wise votes"
    assert labels["category:coding"] == "category: coding"
    assert labels["overall"] == "Overall"
    assert labels["bt"] == "Bradley-Terry"
    assert labels["elo"] == "Online Elo (no data yet)"  # elo exists for overall only
    assert labels["bayes"].startswith("Bayesian (μ−3σ)") and labels["style"].startswith("Style-controlled BT")
    assert [v for v, sel, _ in options if sel] == ["language:fr", "bt"]
    assert ROW_RE.findall(body)  # the French leaderboard is shown


def test_category_label_covers_every_kind():
    assert category_label("criterion:style") == "criterion: style"
    assert category_label("turns:single") == "single-turn"
    assert category_label("votes:pairwise") == "pairwise votes"
    assert category_label("category:creative_writing") == "category: creative writing"


def test_disconnected_parts_are_shown_separately_with_the_note(demo, client):
    seed_votes([("aurora-7b", "lumen-13b", "a", 6), ("aurora-7b", "lumen-13b", "b", 3),
                ("quill-3", "pebble-1b", "a", 5), ("quill-3", "pebble-1b", "b", 3)])
    snap = leaderboard_recompute(modality="text", method="bt")
    assert {r.get("part") for r in snap.rows} == {1, 2}
    body = page(client).content.decode()
    assert 'data-testid="lb-part-1"' in body and 'data-testid="lb-part-2"' in body
    assert "never compared with part 1" in body
    part2 = body.split('data-testid="lb-part-2"')[1]
    assert set(ROW_RE.findall(part2)) == {r["model"] for r in snap.rows if r["part"] == 2}
    for note in snap.extra["notes"]:
        assert html.escape(note) in body


def test_votes_cast_through_the_arena_reach_the_page(demo, voter_client, django_capture_on_commit_callbacks, client):
    """The real path: battles and votes through the JSON API; the (eager) recompute writes the snapshot."""
    for outcome in ("a", "b", "a"):
        state = voter_client.start(django_capture_on_commit_callbacks).json()
        with django_capture_on_commit_callbacks(execute=True):
            assert voter_client.vote(state["battle"], outcome=outcome).status_code == 201
    snap = LeaderboardSnapshot.objects.filter(modality="text", category="overall", method="bt").first()
    assert snap is not None and snap.vote_count == 3
    body = page(client).content.decode()
    assert cell(body, "lb-votes") == "3"
    assert ROW_RE.findall(body) == [r["model"] for r in snap.rows]


def stored_snapshot(method: str, rows: list[dict], **extra) -> LeaderboardSnapshot:
    return LeaderboardSnapshot.objects.create(
        modality="text", category="overall", method=method, params={}, params_hash="p", vote_count=40, max_vote_id=40,
        vote_hash=f"h-{method}", rows=rows, plots={}, extra=extra, code_version="test")


def test_stored_snapshot_formatting_style_effects_and_small_scales(db, client):
    stored_snapshot("style", [
        {"model": "x", "name": "X-1", "organization": "Org X", "rating": 1050.4, "lower": 1030.1, "upper": 1071.6,
         "rank": 1, "rank_upper": 2, "votes": 40, "win_rate": 0.625},
        {"model": "y", "name": "Y-2", "organization": "Org Y", "rating": 1020.0, "lower": 990.0, "upper": 1049.6,
         "rank": 1, "rank_upper": 2, "votes": 40, "win_rate": None, "flags": ["no votes"]},
    ], notes=["style control uses pairwise votes only"], style_coefficients={"length": 0.25, "bold": -0.05},
        style_coefficient_intervals={"length": [0.1, 0.4], "bold": [-0.2, 0.1]})
    body = page(client, method="style").content.decode()
    x, y = row_html(body, "x"), row_html(body, "y")
    assert (cell(x, "lb-rank"), cell(x, "lb-rating"), cell(x, "lb-ci"), cell(x, "lb-winrate")) == ("1–2", "1050", "+21 / −20", "62%")
    assert cell(y, "lb-winrate") == "—" and "no votes" in y
    assert visible(body, "lb-style") and "+0.250" in body and "[+0.100, +0.400]" in body and "-0.050" in body
    assert "style control uses pairwise votes only" in body
    assert "Style-controlled BT" in body

    stored_snapshot("bayes", [{"model": "x", "name": "X-1", "organization": "", "rating": 21.37, "lower": 15.2,
                               "upper": 27.5, "rank": 1, "rank_upper": 1, "votes": 40, "win_rate": 0.5}])
    body = page(client, method="bayes").content.decode()
    x = row_html(body, "x")
    assert (cell(x, "lb-rank"), cell(x, "lb-rating"), cell(x, "lb-ci")) == ("1", "21.4", "+6.1 / −6.2")
    assert not visible(body, "lb-style")
