"""PII scrubbing of released text: e-mail addresses, phone numbers, card-like numbers, API keys and
tokens, IP addresses, each replaced by a tag ([EMAIL], [PHONE], ...) and counted per kind.

Vectorised over Arrow string arrays with RE2 (pyarrow.compute): one cheap pass finds the texts
that may hold anything (an '@', three digits in a row, a long token, '::', 'bearer'); only those
go through the per-kind patterns. Order matters: keys before cards and phones (a token holds
digit runs), cards before phones (a card number is a long digit run).
"""
from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pyarrow.compute as pc

_HEX4 = "[0-9A-Fa-f]{1,4}"
KINDS: list[tuple[str, str, str]] = [
    ("api_key", r"(?:\b(?:sk|pk|rk)-(?:[A-Za-z]+-)?[A-Za-z0-9_\-]{16,}|\bgh[pousr]_[A-Za-z0-9]{20,}|\bgithub_pat_[A-Za-z0-9_]{20,}"
                r"|\bAKIA[0-9A-Z]{16}\b|\bAIza[0-9A-Za-z_\-]{30,}|\bxox[abprs]-[A-Za-z0-9\-]{10,}|\bhf_[A-Za-z0-9]{20,}"
                r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}|(?i:bearer)\s+[A-Za-z0-9._~+/\-]{16,}=*"
                r"|\b[A-Za-z0-9_\-]{32,}\b)", "[KEY]"),
    ("email", r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}", "[EMAIL]"),
    ("card", r"\b\d(?:[ \-]?\d){12,18}\b", "[CARD]"),
    ("ip", r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b"
           rf"|\b(?:{_HEX4}:){{7}}{_HEX4}\b|\b(?:{_HEX4}:){{1,6}}:(?:{_HEX4}(?::{_HEX4}){{0,5}})?", "[IP]"),
    ("phone", r"(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{2,4}\)|\b\d{2,4})[\s.\-]?\d{3,4}[\s.\-]?\d{3,5}\b", "[PHONE]"),
]
# A superset of every kind, cheap to test: '@', a run of 7+ digits and separators, a dotted quad,
# a long token, '::' (IPv6), 'bearer'.
_MAYBE = r"@|\d[\d \-.()]{5,}\d|\d\.\d{1,3}\.\d|[A-Za-z0-9_\-]{32,}|::|(?i:bearer)|\b(?:sk|pk|rk)-"


def scrub_array(arr: pa.Array, counts: Counter[str]) -> pa.Array:
    """The array with PII replaced by tags; adds what it replaced, per kind, to ``counts``."""
    if len(arr) == 0 or arr.null_count == len(arr):
        return arr
    maybe = pc.fill_null(pc.match_substring_regex(arr, _MAYBE), False)
    hits = pc.indices_nonzero(maybe)
    if len(hits) == 0:
        return arr
    part = pc.take(arr, hits)
    changed = False
    for kind, pattern, tag in KINDS:
        has = pc.fill_null(pc.match_substring_regex(part, pattern), False)
        if not pc.any(has).as_py():
            continue
        rows = pc.take(part, pc.indices_nonzero(has))
        counts[kind] += pc.sum(pc.count_substring_regex(rows, pattern)).as_py() or 0
        part = pc.replace_with_mask(part, has, pc.replace_substring_regex(rows, pattern, tag))
        changed = True
    return pc.replace_with_mask(arr, maybe, part) if changed else arr


def scrub_texts(texts: list[str | None], counts: Counter[str]) -> list[str | None]:
    """Python strings in, scrubbed Python strings out (one Arrow round trip for the whole list)."""
    if not texts:
        return texts
    return scrub_array(pa.array(texts, pa.large_string()), counts).to_pylist()
