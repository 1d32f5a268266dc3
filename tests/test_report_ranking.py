"""Table 4's aggregation rules (harness/report/ranking.py) on small hand-checked cases."""

from __future__ import annotations

import math

import pandas as pd

from harness.report.ranking import aggregate, column_ranks, positions


def test_ties_share_a_rank_and_missing_cells_get_the_worst_rank_and_zero_score():
    values = pd.DataFrame({"a": [10.0, 10.0, 5.0], "b": [1.0, math.nan, 2.0]}, index=["x", "y", "z"])
    ranks = column_ranks(values)
    assert ranks["a"].tolist() == [1.0, 1.0, 3.0]
    assert ranks["b"].tolist()[0] == 2.0 and math.isnan(ranks["b"]["y"])
    agg = aggregate(values)
    assert agg["rank"].tolist() == [1.5, 2.0, 2.0]  # y: (1 + 3) / 2, the missing cell ranked 3 = number of methods
    assert agg["score"].round(6).tolist() == [75.0, 50.0, 75.0]  # x: (100 + 50) / 2; y: (100 + 0) / 2
    assert agg["rank_pos"].tolist() == [1, 2, 2] and agg["score_pos"].tolist() == [1, 3, 1]


def test_a_column_whose_best_value_is_zero_scores_zero_instead_of_failing():
    agg = aggregate(pd.DataFrame({"a": [0.0, 0.0]}, index=["x", "y"]))
    assert agg["score"].tolist() == [0.0, 0.0] and agg["rank"].tolist() == [1.0, 1.0]


def test_positions_direction():
    s = pd.Series([2.5, 3.2, 3.2, 10.4], index=list("abcd"))
    assert positions(s, lower_is_better=True).tolist() == [1, 2, 2, 4]
    assert positions(s, lower_is_better=False).tolist() == [4, 2, 2, 1]


def test_empty_input():
    assert aggregate(pd.DataFrame()).empty
