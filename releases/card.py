"""MANIFEST.json and README.md (a Hugging Face dataset card with its YAML header) of a release."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings

from ratings.engine.chain import GENESIS
from releases.scrub import KINDS

TASKS = {"text": "text-generation", "image": "text-to-image", "audio": "text-to-audio", "video": "text-to-video",
         "3d": "text-to-3d"}


def _size_category(n: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if n < bound:
            return label
    return "100M<n<1B"


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def manifest(*, rid, full, now, cutoff, delay_days, tally, head, decisions, leaderboards, previous, missing_media,
             criteria) -> dict[str, Any]:
    from ratings.services import code_version

    pii_total: dict[str, int] = {kind: 0 for kind, _, _ in KINDS}
    for counts in tally.pii.values():
        for kind, n in counts.items():
            pii_total[kind] += n
    prev = None
    if previous is not None:
        prev = {"release": previous.release_id, "last_vote_id": previous.last_vote_id, "head": previous.chain_head}
        # False when a row the previous release held was changed, withdrawn or slipped in since
        # (an opted-out voter's text, a model made public later): verify --previous names it.
        prev["prefix_intact"] = tally.watch_chain == previous.chain_head
    by_modality = {m: {**dict(c), "total": sum(c.values())} for m, c in sorted(tally.by_modality.items())}
    return {
        "release": rid,
        "kind": "full" if full else "public",
        "created": _iso(now),
        "cutoff": _iso(cutoff),
        "delay_days": delay_days,
        "rows": tally.rows,
        "vote_ids": {"first": tally.first_id, "last": tally.last_id},
        "time_range": {"first": tally.first_time, "last": tally.last_time},
        "counts": {"by_modality": by_modality, "counted": tally.counted, "excluded": sum(tally.excluded.values()),
                   "excluded_by_reason": dict(sorted(tally.excluded.items()))},
        "withheld": {
            "votes_on_non_public_models": tally.withheld_non_public,
            "votes_without_text_by_voter_choice": tally.opt_out_votes,
            "voters_who_chose_no_text": len(tally.opt_out_voters),
        },
        "pii_scrub": {"total": pii_total, "by_field": {f: dict(sorted(c.items())) for f, c in tally.pii.items()},
                      "kinds": {kind: tag for kind, _, tag in KINDS}},
        "criteria": criteria,
        "media": {"files": len(tally.media) - missing_media, "missing": missing_media},
        "leaderboards": leaderboards,
        "chain": {
            "algorithm": "chain = sha256(previous chain (32 bytes) || canonical bytes of the row), hex; canonical "
                         "bytes: the row as JSON with sorted keys, no spaces, UTF-8, without judge, counted, "
                         "exclusion_reason and chain; timestamps as YYYY-MM-DDTHH:MM:SS.ffffffZ",
            "genesis": GENESIS,
            "head": head,
            "rows": tally.rows,
            "checkpoints": tally.checkpoints,
            "previous": prev,
        },
        "exclusion_log": decisions,
        "code_version": code_version(),
    }


def dataset_card(m: dict[str, Any], schema: dict[str, Any]) -> str:
    modalities = list(m["counts"]["by_modality"])
    tasks = sorted({TASKS[x] for x in modalities if x in TASKS})
    header = [
        "---",
        f"license: {settings.ARENA_RELEASE_LICENSE}",
        f"pretty_name: Arena votes {m['release']}",
        "task_categories:", *[f"- {t}" for t in tasks],
        "size_categories:", f"- {_size_category(m['rows'])}",
        "tags:", "- human-feedback", "- preference", "- arena", "- bradley-terry",
        "configs:", "- config_name: default", "  data_files:", "  - split: train", "    path: votes.parquet",
        "---",
    ]
    counts = "\n".join(
        f"| {mod} | {c.get('pairwise', 0)} | {c.get('kwise', 0)} | {c['total']} |" for mod, c in m["counts"]["by_modality"].items()
    )
    columns = "\n".join(f"| `{c['name']}` | `{c['type']}` | {c['description']} |" for c in schema["columns"])
    pii = ", ".join(f"{k}: {v}" for k, v in m["pii_scrub"]["total"].items())
    boards = "\n".join(f"| `{b['id']}` | `{b['command']}` | {b.get('votes', '—')} | {b.get('snapshot') or '—'} |"
                       for b in m["leaderboards"] if "skipped" not in b)
    w = m["withheld"]
    return "\n".join(header) + f"""

# Arena votes, release {m['release']}

Human votes from blind battles between generative models: one row per vote, {m['rows']} votes cast
from {m['time_range']['first']} to {m['time_range']['last']} (vote ids {m['vote_ids']['first']}–{m['vote_ids']['last']}).
No vote newer than {m['delay_days']:g} days before {m['created']} is included (cutoff {m['cutoff']}).

| modality | pairwise | K-wise | total |
|---|---|---|---|
{counts}

Counted: {m['counts']['counted']}; not counted: {m['counts']['excluded']} (reasons in `exclusion_reason`).

## Load it

```python
import pandas as pd; df = pd.read_parquet("votes.parquet")
import pyarrow.parquet as pq; table = pq.read_table("votes.parquet")
from datasets import load_dataset; ds = load_dataset("parquet", data_files="votes.parquet")["train"]
```

`votes.jsonl.gz` holds the same rows as JSON lines.

## Columns

Pairwise rows fill `model_a`, `model_b`, `winner`, `conversation_a`, `conversation_b`; K-wise rows
fill `models`, `ranking` (place of each model, 1 = best) and `conversations`.

| column | type | meaning |
|---|---|---|
{columns}

## Privacy

- `judge` is an HMAC-SHA256 of the voter under a secret drawn for this release and then discarded:
  the same voter has the same `judge` within this release, and an unrelated one in any other.
- No network address or its hash, session, account id, e-mail or user agent is in any file.
- Prompts, follow-ups, feedback and model outputs are scrubbed of e-mail addresses, phone numbers,
  card-like numbers, API keys and tokens and IP addresses (each replaced by a tag such as `[EMAIL]`).
  Replaced here: {pii}.
- Voters can choose on the battle page that their conversations are not released: their
  {w['votes_without_text_by_voter_choice']} votes are here without any text (conversations and feedback null).
- Votes on models not yet public are left out until the models are public ({w['votes_on_non_public_models']} votes).

## Reproduce the leaderboard

Each leaderboard recorded in `MANIFEST.json` (`leaderboards`) is what this command prints
(Bradley-Terry; rows with `counted = false` are left out). The ratings are the maximum-likelihood
fit, the same whatever the interval method (`--ci`):

| leaderboard | command | votes | live snapshot |
|---|---|---|---|
{boards}

## Check that nothing was altered

Every row carries `chain` = sha256(previous row's chain || the row's canonical bytes), in vote-id
order (see `MANIFEST.json`, `chain`). The head of this release is `{m['chain']['head']}`;
the arena's leaderboard page shows the head of its latest release.

```sh
python -m ratings verify votes.parquet [--previous PREVIOUS_MANIFEST.json]
```

names any row that was changed, inserted or removed, and checks `exclusions.jsonl`, the chained
log of exclusion decisions (which change `counted`). `MANIFEST.json` lists the sha256 of every file.
"""
