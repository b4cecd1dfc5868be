"""``python -m ratings``: the researcher's command line (see ratings.engine.cli)."""
from __future__ import annotations

import os

# The engine parallelises over bootstrap replicas with its own threads; multithreaded BLAS on top of
# them oversubscribes the cores (OpenBLAS threads spin) and made the bootstrap 2x slower. Set before
# numpy is imported; a caller's explicit setting wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from ratings.engine.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
