"""Arena rating engine: pure Python (numpy, pyarrow), no Django, shared by the server and researchers.

Votes in, leaderboards out::

    from ratings.engine import load_votes, fit_bt, fit_elo, fit_bayes, fit_style, PairCells, BayesRater

    votes = load_votes("export.parquet", filters=["language=en"])     # or votes_from_records(rows)
    lb = fit_bt(votes, ci="bootstrap", rounds=1000, seed=0)          # ci: bootstrap | sandwich | none
    lb.rows()        # [{"model", "rating", "lower", "upper", "rank", "rank_upper", "votes", "win_rate"}]
    lb.to_dict()     # JSON-ready, as ``python -m ratings fit`` writes it
    lb.win_matrix, lb.battle_matrix                                   # (M, M) for plots

    # The server's Celery task: SQL GROUP BY (model_a, model_b, outcome) -> weight sums and counts.
    cells = PairCells.from_counts(model_a=[...], model_b=[...], outcome=[...], weight=[...], count=[...])
    lb = fit_bt(cells, rankings=None, ci="sandwich")

    rater = BayesRater()                      # K-Sort Arena's Bayesian scores, one vote at a time
    rater.update({"model_a": "x", "model_b": "y", "winner": "model_a"})
    state = rater.to_state(); rater = BayesRater.from_state(state); rater.leaderboard()

    fit_elo(votes, ci="bootstrap", rounds=100)            # online Elo, K=4, for older leaderboards
    fit_style(load_votes(path, style=True), ci="sandwich")  # style-controlled BT + coefficients

Modules, one job each: votes (row arrays), io (files), cells (aggregation), bt (BT + Plackett-Luce
MLE), pl (Plackett-Luce terms), sandwich / bootstrap (intervals), leaderboard (result, ranks),
elo, bayes, style, report (tables), cli (``python -m ratings``), kernels (numeric helpers).
Problems a user can cause raise RatingDataError with a readable message.
"""
from __future__ import annotations

from ratings.engine.bayes import BayesRater, fit_bayes
from ratings.engine.bt import fit_bt
from ratings.engine.cells import PairCells, Rankings, comparisons
from ratings.engine.elo import fit_elo
from ratings.engine.errors import RatingDataError
from ratings.engine.io import load_votes, votes_from_records
from ratings.engine.leaderboard import Leaderboard
from ratings.engine.style import fit_style
from ratings.engine.votes import Votes, votes_from_names

__all__ = [
    "BayesRater", "Leaderboard", "PairCells", "Rankings", "RatingDataError", "Votes", "comparisons",
    "fit_bayes", "fit_bt", "fit_elo", "fit_style", "load_votes", "votes_from_names", "votes_from_records",
]
