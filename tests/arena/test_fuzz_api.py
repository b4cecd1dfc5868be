"""Property-based fuzzing (hypothesis) of every JSON endpoint: whatever the body or query string,
the answer is JSON with a 2xx or 4xx status (never a 500 or an HTML page), and a 4xx writes
nothing. Bodies are arbitrary JSON (NUL characters, unpaired surrogates, huge and non-finite
numbers, deep nesting), near-valid bodies with one field gone wrong, and raw bytes."""
from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from arena.models import Battle, Generation, Prompt, Slot, Turn, Vote, Voter

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

FUZZ = hsettings(max_examples=120, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Every code point, unpaired surrogates and NUL included.
any_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=()), max_size=30)
scalars = st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**80), max_value=2**80) | st.floats() | any_text
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(any_text, kids, max_size=4),
                           max_leaves=10)
letters = st.sampled_from(["A", "B", "C", "D", "a", "", "Z"])

VOTE_BODY = st.fixed_dictionaries({}, optional={
    "outcome": st.sampled_from(["a", "b", "tie", "both_bad"]) | json_values,
    "ranking": st.lists(st.integers(min_value=-3, max_value=7), max_size=6) | json_values,
    "best": letters | json_values,
    "criteria": st.dictionaries(st.sampled_from(["helpfulness", "accuracy", "style"]) | any_text,
                                st.sampled_from(["a", "b", "tie", "x"]) | json_values, max_size=3) | json_values,
    "feedback": any_text | json_values,
    "timings": st.dictionaries(st.sampled_from(["shown_at", "voted_at", "first_interaction_at"]),
                               st.integers(min_value=-1, max_value=2**64) | st.floats() | json_values, max_size=3) | json_values,
    "listen_ms": st.dictionaries(letters, st.floats() | json_values, max_size=3) | json_values,
    "idempotency_key": any_text | json_values,
})
CREATE_BODY = st.fixed_dictionaries({}, optional={
    "modality": st.sampled_from(["text", "image", "audio", "video", "3d", "smell"]) | json_values,
    "prompt": any_text | json_values,
    "mode": st.sampled_from(["pairwise", "kwise", ""]) | json_values,
    "k": st.integers(min_value=-2, max_value=9) | json_values,
    "prompt_id": st.integers(min_value=-1, max_value=2**70) | json_values,
    "models": st.lists(st.sampled_from(["aurora-7b", "pebble-1b", "nope"]) | any_text, max_size=4) | json_values,
})
BODIES = {
    "vote": VOTE_BODY | json_values,
    "create": CREATE_BODY | json_values,
    "turn": st.fixed_dictionaries({}, optional={"prompt": any_text | json_values}) | json_values,
    "opt-out": st.fixed_dictionaries({}, optional={"opt_out": st.booleans() | json_values}) | json_values,
}
RAW = st.binary(max_size=200) | st.sampled_from([b"", b"{", b"[]", b"null", b'{"a":' * 2000, b"\xff\xfe", b"NaN"])


def written() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Battle, Vote, Turn, Prompt, Voter, Slot, Generation))


def check(res) -> None:
    assert res["Content-Type"] == "application/json", (res.status_code, res.content[:200])
    assert 200 <= res.status_code < 500, (res.status_code, res.content[:300])
    json.loads(res.content)


class Arena:
    """A voter with a ready battle; a new one whenever a vote used it up."""

    def __init__(self, client, cb):
        self.client, self.cb = client, cb
        self.bid = self.new_battle()

    def new_battle(self) -> str:
        with self.cb(execute=True):
            res = self.client.post_json("/api/battles/", {"prompt": "Explain tides.", "modality": "text"})
        assert res.status_code == 201, res.content
        return res.json()["battle"]

    def post(self, endpoint: str, raw: bytes):
        url = {"create": "/api/battles/", "vote": f"/api/battles/{self.bid}/vote/",
               "turn": f"/api/battles/{self.bid}/turns/", "opt-out": "/api/voter/release-opt-out/"}[endpoint]
        before = written()
        with self.cb(execute=True):
            res = self.client.post(url, raw, content_type="application/json")
        check(res)
        if res.status_code >= 400:
            assert written() == before, (endpoint, raw[:200], res.json())
        if endpoint in ("vote", "turn") and res.status_code < 300 or Battle.objects.get(public_id=self.bid).status != Battle.READY:
            self.bid = self.new_battle()
        return res


@pytest.fixture
def arena(demo, voter_client, django_capture_on_commit_callbacks):
    return Arena(voter_client, django_capture_on_commit_callbacks)


@pytest.mark.parametrize("endpoint", ["vote", "create", "turn", "opt-out"])
def test_any_json_body_gets_json_2xx_or_4xx_and_a_4xx_writes_nothing(arena, endpoint):
    @FUZZ
    @given(body=BODIES[endpoint])
    def run(body):
        arena.post(endpoint, json.dumps(body).encode())

    run()


def test_a_new_voters_refused_battle_writes_nothing(demo, django_capture_on_commit_callbacks):
    from tests.conftest import ArenaClient

    @FUZZ
    @given(body=CREATE_BODY)
    def run(body):
        before = written()
        with django_capture_on_commit_callbacks(execute=True):
            res = ArenaClient().post("/api/battles/", json.dumps(body), content_type="application/json")
        check(res)
        if res.status_code >= 400:
            assert written() == before, (body, res.json())

    run()


@pytest.mark.parametrize("endpoint", ["vote", "create", "turn", "opt-out"])
def test_any_raw_body_gets_json_2xx_or_4xx(arena, endpoint):
    @FUZZ
    @given(raw=RAW)
    def run(raw):
        arena.post(endpoint, raw)

    run()


QUERY = st.dictionaries(st.sampled_from(["modality", "category", "method", "live", "plots", "zz"]) | any_text,
                        st.sampled_from(["text", "image", "overall", "bt", "elo", "bayes", "1", "category:other"]) | any_text,
                        max_size=4)


@pytest.mark.parametrize("path", ["/api/leaderboard/", "/api/leaderboard/history/", "/api/exposure/",
                                  "/api/competitors/", "/api/prompts/random/", "/api/battles/{bid}/"])
def test_any_query_string_gets_json_2xx_or_4xx(arena, path):
    @FUZZ
    @given(query=QUERY)
    def run(query):
        qs = urlencode({k.encode("utf-8", "surrogatepass"): v.encode("utf-8", "surrogatepass") for k, v in query.items()})
        before = written()
        res = arena.client.get(path.format(bid=arena.bid) + "?" + qs)
        check(res)
        assert written() == before

    run()


def test_any_battle_id_in_the_path_gets_json_4xx(arena):
    @FUZZ
    @given(public_id=any_text.filter(bool))
    def run(public_id):
        pid = quote(public_id.encode("utf-8", "surrogatepass"), safe="")
        for url in (f"/api/battles/{pid}/", f"/api/battles/{pid}/vote/"):
            res = arena.client.get(url) if url.endswith("s/" + pid + "/") else arena.client.post(url, b"{}", content_type="application/json")
            check(res)

    run()
