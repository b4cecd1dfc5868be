"""Write a leaderboard's counted votes in the rating engine's input format, so that
`python -m ratings fit FILE` recomputes the published numbers.

  manage.py ratings_export_votes --modality text [--category overall] [--style] --out votes.jsonl|votes.parquet
"""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from arena.models import MODALITY_CHOICES
from ratings.votesource import UnknownCategory, category_filter, export_records


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser) -> None:
        parser.add_argument("--modality", required=True, choices=[m for m, _ in MODALITY_CHOICES])
        parser.add_argument("--category", default="overall")
        parser.add_argument("--style", action="store_true", help="add conv_metadata style counts (pairwise text)")
        parser.add_argument("--out", required=True, type=Path, help=".jsonl or .parquet")

    def handle(self, *args, modality: str, category: str, style: bool, out: Path, **kw) -> None:
        try:
            category_filter(category)
        except UnknownCategory as e:
            raise CommandError(str(e)) from None
        if out.suffix not in (".jsonl", ".parquet"):
            raise CommandError(f"{out}: write .jsonl or .parquet")
        records = export_records(modality, category, style=style)
        tmp = out.with_name(out.name + ".part")
        if out.suffix == ".jsonl":
            with tmp.open("w") as f:
                for r in records:
                    f.write(json.dumps(r) + "\n")
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(records), tmp)
        tmp.replace(out)  # a reader never sees half a file
        self.stdout.write(f"{len(records)} counted votes of {modality}/{category} written to {out}")
