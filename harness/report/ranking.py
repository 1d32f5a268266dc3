"""Table 4's aggregates: per-benchmark ranks, average rank, average normalized score and positions (Sec. 4.2).

Rules (they reproduce every aggregate the paper prints): on each benchmark a method's rank is 1 + the number of
methods with a strictly better value (pandas' `rank(method="min")`), and a missing cell gets the worst rank (the
number of methods); the normalized score is 100 x value / the column's best value, and a missing cell counts 0; both
are averaged over all benchmark columns. A method's position is 1 + the number of methods with a strictly better
average. Values equal to 9 decimals tie, so that summation noise never breaks a tie.
"""

from __future__ import annotations

import pandas as pd

RULES = (
    "Average rank: on each benchmark a method's rank is 1 + the number of methods with a strictly better "
    "value; a missing cell gets the worst rank (the number of methods). Average score: 100 × value / the "
    "column's best value; a missing cell counts 0. Both are averaged over all benchmark columns. In "
    "parentheses: the method's position, 1 + the number of methods with a strictly better average."
)
_DECIMALS = 9


def column_ranks(values: pd.DataFrame) -> pd.DataFrame:
    """Competition rank of each cell within its column (1 = best, higher values better); NaN stays NaN."""
    return values.round(_DECIMALS).rank(method="min", ascending=False)


def positions(averages: pd.Series, lower_is_better: bool) -> pd.Series:
    """1 + the number of methods with a strictly better average (ties share a position)."""
    return averages.round(_DECIMALS).rank(method="min", ascending=lower_is_better).astype(int)


def aggregate(values: pd.DataFrame) -> pd.DataFrame:
    """values: methods x benchmarks (NaN = missing) -> DataFrame[rank, rank_pos, score, score_pos] per method."""
    if values.empty:
        return pd.DataFrame(columns=["rank", "rank_pos", "score", "score_pos"], index=values.index)
    ranks = column_ranks(values).fillna(float(len(values.index)))
    scores = (100.0 * values / values.max(axis=0)).fillna(0.0)
    out = pd.DataFrame({"rank": ranks.mean(axis=1), "score": scores.mean(axis=1)}, index=values.index)
    out["rank_pos"] = positions(out["rank"], lower_is_better=True)
    out["score_pos"] = positions(out["score"], lower_is_better=False)
    return out[["rank", "rank_pos", "score", "score_pos"]]
