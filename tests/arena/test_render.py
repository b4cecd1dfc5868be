"""Model text is shown as Markdown, sanitised: formatting survives, no script gets through."""
from __future__ import annotations

import pytest

from html.parser import HTMLParser

from arena.services.render import markdown_html


def _tags_and_attrs(html: str) -> list[tuple[str, dict]]:
    found: list[tuple[str, dict]] = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, dict(attrs)))

    P().feed(html)
    return found


def test_markdown_formatting_is_rendered():
    html = markdown_html("# Title\n\n- **bold** item\n- `code`\n\n```python\nprint(1)\n```")
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html and "<code>code</code>" in html
    assert "<pre><code" in html and "print(1)" in html


@pytest.mark.parametrize(
    "evil",
    [
        "<script>alert(1)</script>",
        '<img src=x onerror="alert(1)">',
        "[click](javascript:alert(1))",
        '<a href="#" onclick="alert(1)">x</a>',
        "<iframe src='https://example.org'></iframe>",
        "![tracker](https://example.org/pixel.png)",
        '<svg onload="alert(1)"></svg>',
    ],
)
def test_no_script_or_remote_fetch_gets_through(evil):
    html = markdown_html(f"Hello\n\n{evil}\n")
    for tag, attrs in _tags_and_attrs(html):
        assert tag not in ("script", "img", "iframe", "svg"), html
        assert not any(a.startswith("on") for a in attrs), html
        assert not (attrs.get("href") or "").lower().startswith("javascript"), html


def test_links_do_not_leak_the_referrer():
    assert 'rel="noopener noreferrer nofollow"' in markdown_html("[docs](https://example.org)")
