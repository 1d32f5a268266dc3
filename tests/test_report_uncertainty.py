"""Bootstrap intervals and ties of Table 4's aggregates (harness/report/uncertainty.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.report import ranking, uncertainty
from harness.report.uncertainty import Run, bootstrap, section_cells


def _runs(p_correct: float, seeds: int, n_items: int, rng: np.random.Generator) -> list[Run]:
    """Runs whose per-item accuracies are 0 / 100 with probability `p_correct`; the value is their mean."""
    runs = []
    for _ in range(seeds):
        scores = 100.0 * (rng.random(n_items) < p_correct)
        runs.append(Run(float(scores.mean()), {f"q{i}": float(s) for i, s in enumerate(scores)}))
    return runs


def _cells(p: dict[str, float], seeds=3, n_items=200, datasets=("a", "b"), seed=1):
    rng = np.random.default_rng(seed)
    return {(m, d): _runs(pm, seeds, n_items, rng) for m, pm in p.items() for d in datasets}


def test_average_rank_score_follows_the_ranking_rules_on_a_stack_of_tables():
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 4, size=(20, 5, 3)).astype(float)  # many ties
    stack[rng.random(stack.shape) < 0.2] = np.nan
    rank, score = ranking.average_rank_score(stack)
    for b in range(len(stack)):
        values = pd.DataFrame(stack[b])
        ref_rank = ranking.column_ranks(values).fillna(5.0).mean(axis=1)
        ref_score = (100.0 * values / values.max(axis=0)).fillna(0.0).mean(axis=1)
        np.testing.assert_allclose(rank[b], ref_rank, rtol=0, atol=1e-12)
        np.testing.assert_allclose(score[b], ref_score, rtol=0, atol=1e-12)


def test_bootstrap_is_deterministic():
    cells = _cells({"x": 0.6, "y": 0.55})
    a, b = bootstrap(cells, ["x", "y"], ["a", "b"]), bootstrap(cells, ["x", "y"], ["a", "b"])
    pd.testing.assert_frame_equal(a.frame, b.frame)
    other = bootstrap(cells, ["x", "y"], ["a", "b"], seed=7)
    assert not other.frame[["score_lo", "score_hi"]].equals(a.frame[["score_lo", "score_hi"]])


def test_clearly_separated_methods_are_not_tied():
    u = bootstrap(_cells({"good": 0.8, "bad": 0.3}), ["bad", "good"], ["a", "b"])
    assert u.computed and u.best == "good" and u.cells_with_items == 4
    assert u.frame.loc["good", ["rank_lo", "rank_hi"]].tolist() == [1.0, 1.0]
    assert u.frame.loc["good", ["score_lo", "score_hi"]].tolist() == [100.0, 100.0]
    assert u.frame.loc["bad", "score_hi"] < 50.0
    assert u.frame.tied.tolist() == [False, False] and u.separable


def test_methods_within_the_noise_are_tied_and_the_budget_cannot_separate_them():
    u = bootstrap(_cells({"x": 0.62, "y": 0.6, "z": 0.61}, n_items=60), ["x", "y", "z"], ["a", "b"])
    assert u.computed
    tied = u.frame.tied
    assert not tied[u.best] and tied.drop(u.best).all()
    assert u.n_tied == 2 and not u.separable
    lo, hi = u.frame.loc[u.best, ["rank_lo", "rank_hi"]]
    assert lo == 1.0 and hi > 1.0


def test_fewer_than_three_seeds_computes_nothing():
    u = bootstrap(_cells({"x": 0.8, "y": 0.3}, seeds=2), ["x", "y"], ["a", "b"])
    assert not u.computed and u.min_seeds == 2 and u.best == ""
    assert u.frame[["rank_lo", "score_hi"]].isna().all().all() and u.frame.tied.isna().all()


def test_without_per_item_scores_only_seeds_are_resampled():
    cells = {("x", "a"): [Run(v) for v in (50.0, 51.0, 52.0)], ("y", "a"): [Run(v) for v in (40.0, 40.0, 40.0)]}
    u = bootstrap(cells, ["x", "y"], ["a"])
    assert u.cells_with_items == 0 and u.cells == 2
    # y never varies and x's seeds lie in [50, 52]: y's score interval is 100 x 40 / [50, 52]
    assert 100 * 40 / 52 <= u.frame.loc["y", "score_lo"] <= u.frame.loc["y", "score_hi"] <= 100 * 40 / 50
    assert u.frame.loc["y", "tied"] == False  # noqa: E712 - a pandas boolean


def test_items_are_paired_across_methods():
    """Two methods with the same per-item scores up to one item: paired resampling keeps their difference tiny,
    so their score intervals move together (x is never behind y in any replicate)."""
    rng = np.random.default_rng(3)
    base = 100.0 * (rng.random(100) < 0.5)
    better = base.copy()
    better[np.argmin(base)] = 100.0  # one more correct answer
    cells = {}
    for name, scores in (("x", better), ("y", base)):
        cells[(name, "a")] = [Run(float(scores.mean()), {f"q{i}": s for i, s in enumerate(scores)})] * 3
    u = bootstrap(cells, ["x", "y"], ["a"])
    assert u.best == "x" and u.frame.loc["x", "rank_hi"] == 1.0


def test_section_cells_pairs_rows_with_their_item_scores():
    rows = pd.DataFrame(
        {
            "method": ["m", "m", "m"],
            "dataset": ["d", "d", "d"],
            "seed": [1, 0, 2],
            "run_id": ["r1", "r0", "r2"],
            "split": ["test", "test", "test"],
            "metric": ["CIDEr", "CIDEr", "CIDEr"],
            "value": [2.0, 1.0, np.nan],
            "status": ["ok", "ok", "failed"],
        }
    )
    items = pd.DataFrame(
        {
            "run_id": ["r0", "r0", "r1", "r0"],
            "split": ["test", "test", "test", "val"],
            "metric": ["CIDEr", "CIDEr", "BLEU_4", "CIDEr"],
            "item_id": ["a", "b", "a", "a"],
            "score": [0.5, 1.5, 9.0, 7.0],
        }
    )
    cells = section_cells(rows, [("d", "CIDEr", "test")], items)
    assert cells == {("m", "d"): [Run(1.0, {"a": 0.5, "b": 1.5}), Run(2.0, None)]}


@pytest.mark.parametrize("n_boot", [1, 50])
def test_interval_columns(n_boot):
    u = bootstrap(_cells({"x": 0.7, "y": 0.5}), ["x", "y"], ["a", "b"], n_boot=n_boot)
    assert list(u.frame.columns) == uncertainty.COLUMNS and u.n_boot == n_boot
    assert (u.frame.rank_lo <= u.frame.rank_hi).all() and (u.frame.score_lo <= u.frame.score_hi).all()
