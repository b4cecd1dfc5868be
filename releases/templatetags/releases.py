"""{% release_chain_head %}: the newest public release's chain head, for the leaderboard page
(a template tag, so the ratings app needs no import of this one)."""
from __future__ import annotations

from django import template

from releases.selectors import release_latest

register = template.Library()


@register.inclusion_tag("releases/chain_head.html")
def release_chain_head() -> dict:
    return {"release": release_latest()}
