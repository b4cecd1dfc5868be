"""The exclusion-decision log of a release (exclusions.jsonl): every change of a vote's `counted`
flag up to the release's last vote id, in decision order, each line chained like the votes
(sha256(previous || canonical bytes)), so a decision changed or dropped later is visible too.

The decisions are arena.models.ExclusionDecision rows (an append-only log written by the
integrity services). Public releases name the detector, or only "staff" for a person, and leave
the free-text detail out; a staff full export keeps both.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ratings.engine.chain import DECISIONS_GENESIS, decision_bytes, link, timestamp_text


def decision_model():
    from arena import models

    return getattr(models, "ExclusionDecision", None)


def decisions_write(path: Path, *, last_id: int, full: bool) -> dict[str, Any]:
    model = decision_model()
    head, n = DECISIONS_GENESIS, 0
    with path.open("w", encoding="utf-8") as f:
        if model is not None:
            rows = model.objects.filter(vote_id__lte=last_id).order_by("pk").values_list(
                "pk", "vote_id", "previous_counted", "counted", "previous_reason", "reason", "by_kind", "by", "detail",
                "created")
            for pk, vote, was, now, was_reason, reason, kind, by, detail, created in rows.iterator(chunk_size=5000):
                d = {"decision": pk, "vote": vote, "previous_counted": was, "counted": now,
                     "previous_reason": was_reason or None, "reason": reason or None, "by_kind": kind,
                     "by": by if (full or kind != "staff") else "staff", "time": timestamp_text(created)}
                if full:
                    d["detail"] = detail
                head = link(head, decision_bytes(d))
                n += 1
                f.write(json.dumps({**d, "chain": head}, ensure_ascii=False) + "\n")
    return {"file": path.name, "decisions": n, "genesis": DECISIONS_GENESIS, "head": head}
