"""Table 4's aggregates: per-benchmark ranks, average rank, average normalized score and positions (Sec. 4.2).

Rules (they reproduce every aggregate the paper prints): on each benchmark a method's rank is 1 + the number of
methods with a strictly better value (pandas' `rank(method="min")`), and a missing cell gets the worst rank (the
number of methods); the normalized score is 100 x value / the column's best value, and a missing cell counts 0; both
are averaged over all benchmark columns. A method's position is 1 + the number of methods with a strictly better
average. Values equal to 9 decimals tie, so that summation noise never breaks a tie.
"""

from __future__ import annotations

import numpy as np
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


def average_rank_score(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average rank and average normalized score per method under `RULES`, over the last two axes of `values`
    (..., methods, benchmarks; NaN = missing), so that a stack of bootstrap replicates is ranked in one call."""
    values = np.asarray(values, dtype=float)
    n_methods = values.shape[-2]
    rounded = values.round(_DECIMALS)
    # rank = 1 + the number of methods strictly better in the column (NaN compares False: never better)
    ranks = 1.0 + (rounded[..., None, :, :] > rounded[..., :, None, :]).sum(axis=-2)
    ranks = np.where(np.isnan(values), float(n_methods), ranks)
    best = np.fmax.reduce(values, axis=-2, keepdims=True)  # NaN only where the whole column is missing
    with np.errstate(divide="ignore", invalid="ignore"):
        scores = np.nan_to_num(100.0 * values / best, nan=0.0, posinf=np.inf, neginf=-np.inf)
    return ranks.mean(axis=-1), scores.mean(axis=-1)


def aggregate(values: pd.DataFrame) -> pd.DataFrame:
    """values: methods x benchmarks (NaN = missing) -> DataFrame[rank, rank_pos, score, score_pos] per method."""
    if values.empty:
        return pd.DataFrame(columns=["rank", "rank_pos", "score", "score_pos"], index=values.index)
    rank, score = average_rank_score(values.to_numpy(dtype=float))
    out = pd.DataFrame({"rank": rank, "score": score}, index=values.index)
    out["rank_pos"] = positions(out["rank"], lower_is_better=True)
    out["score_pos"] = positions(out["score"], lower_is_better=False)
    return out[["rank", "rank_pos", "score", "score_pos"]]
