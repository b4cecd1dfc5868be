"""Small helpers shared by the e2e tests (polling, DB look-ups, the HTTP client)."""
from __future__ import annotations

import http.cookiejar
import json
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, TypeVar

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"

T = TypeVar("T")


def wait_until(fn: Callable[[], T], *, timeout: float = 30, interval: float = 0.1, what: str = "condition") -> T:
    """Poll fn() until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def set_token_delay(ms: int, *, slugs: list[str] | None = None, modality: str = "text") -> None:
    from arena.models import Competitor

    qs = Competitor.objects.filter(modality=modality)
    if slugs is not None:
        qs = qs.filter(slug__in=slugs)
    for c in qs:
        c.adapter_config = {**c.adapter_config, "token_delay_ms": ms}
        c.save(update_fields=["adapter_config"])


def only_battle():
    from arena.models import Battle

    battles = list(Battle.objects.order_by("created", "pk"))
    assert len(battles) == 1, f"expected one battle, found {len(battles)}"
    return battles[0]


def slot_competitors(battle) -> dict[str, Any]:
    """{letter: Competitor} from the database."""
    from arena.models import Slot

    return {s.letter: s.competitor for s in Slot.objects.filter(battle=battle).select_related("competitor")}


def competition_ranking(places: list[int]) -> list[int]:
    """Written independently of the app: a place is 1 + how many outputs were placed strictly better."""
    return [1 + len([q for q in places if q < p]) for p in places]


def identity_terms() -> list[str]:
    """Every competitor's name, slug and organization (lower case)."""
    from arena.models import Competitor

    terms: set[str] = set()
    for c in Competitor.objects.all():
        terms |= {t.lower() for t in (c.name, c.slug, c.organization) if t}
    return sorted(terms)


def find_identity(text: str, terms: list[str]) -> list[str]:
    low = text.lower()
    return [t for t in terms if t in low]


class Http:
    """A stdlib HTTP client with a cookie jar (one voter: one session), sending the CSRF token."""

    def __init__(self, base_url: str):
        self.base = base_url.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.jar if c.name == name), "")

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        token = self.cookie("csrftoken")
        if token:
            req.add_header("X-CSRFToken", token)
        try:
            with self.opener.open(req, timeout=15) as r:
                return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
        except urllib.error.HTTPError as e:
            return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()

    def json(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
        status, _, raw = self.request(method, path, body)
        return status, (json.loads(raw) if raw else {})

    def open_page(self) -> None:
        status, _, _ = self.request("GET", "/")
        assert status == 200
        assert self.cookie("csrftoken"), "the battle page sets no csrftoken cookie"


WS_CLIENT_JS = """
async (path) => await new Promise((resolve) => {
  const msgs = [];
  const ws = new WebSocket(`ws://${location.host}${path}`);
  const done = (extra) => { try { ws.close(); } catch (e) {} resolve(extra ? msgs.concat([extra]) : msgs); };
  ws.onmessage = (e) => { const m = JSON.parse(e.data); msgs.push(m); if (m.type === "state") setTimeout(() => done(), 300); };
  ws.onclose = (e) => done({ type: "closed", code: e.code });
  setTimeout(() => done({ type: "no-state-in-time" }), 10000);
})
"""

NAME_RE = re.compile(r"^\s*·\s*")


def shown_name(text: str) -> str:
    """The revealed name as the card shows it (" · Aurora-7B")."""
    return NAME_RE.sub("", text).strip()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot to test-artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
