"""Hyper-parameter choice and sectioning of run results (harness/report/select.py)."""

from __future__ import annotations

import math

import pandas as pd

from harness.report.select import choose_hparams, latest_runs, primary_metric


def _rows(spec):
    """spec: (lr, split, seed, value, status) tuples for one method x dataset cell."""
    return pd.DataFrame(
        [
            dict(
                method="m",
                dataset="d",
                lr=lr,
                grad_clip=math.nan,
                metric="CIDEr",
                split=split,
                seed=seed,
                value=value,
                status=status,
            )
            for lr, split, seed, value, status in spec
        ]
    )


def test_best_mean_val_wins_and_failed_runs_do_not_count():
    rows = _rows(
        [
            (1e-3, "val", 0, 10.0, "ok"),
            (1e-3, "val", 1, 30.0, "ok"),  # mean 20
            (8e-4, "val", 0, 25.0, "ok"),
            (8e-4, "val", 1, math.nan, "failed"),  # mean of finished: 25
            (4e-4, "val", 0, 99.0, "unstable"),
        ]
    )  # an unstable run's number is not trusted
    selected, choices = choose_hparams(rows, {"d": "CIDEr"})
    assert set(selected.lr) == {8e-4}
    assert choices.iloc[0][["lr", "n_candidates", "selected_on"]].tolist() == [8e-4, 3, "val"]


def test_without_val_the_choice_falls_back_to_test_and_says_so():
    rows = _rows([(1e-3, "test", 0, 10.0, "ok"), (8e-4, "test", 0, 20.0, "ok")])
    _, choices = choose_hparams(rows, {"d": "CIDEr"})
    assert choices.iloc[0][["lr", "selected_on"]].tolist() == [8e-4, "test"]


def test_a_single_setting_needs_no_score():
    rows = _rows([(math.nan, "val", 0, math.nan, "failed")])
    selected, choices = choose_hparams(rows, {"d": "CIDEr"})
    assert len(selected) == 1 and choices.iloc[0].selected_on == "only setting"


def test_primary_metric_falls_back_when_the_papers_is_absent():
    assert primary_metric("syn-coco", {"CIDEr", "BLEU_4"}) == "CIDEr"
    assert primary_metric("audiocaps", {"CIDEr", "BLEU_4"}) == "CIDEr"  # SPIDEr missing (no SPICE jars)
    assert primary_metric("audiocaps", {"CIDEr", "SPIDEr"}) == "SPIDEr"
    assert primary_metric("my-plugin-set", {"BLEU_4", "ROUGE_L"}) == "BLEU_4"


def test_latest_run_per_cell_seed_and_setting():
    base = dict(
        method="m", dataset="d", seed=0, lr=1e-3, grad_clip=0.8, llm="l", encoder="e", profile="p", variant="official"
    )
    runs = pd.DataFrame(
        [
            dict(base, run_id="old", created_at="2026-01-01T00:00:00+00:00", status="failed"),
            dict(base, run_id="new", created_at="2026-01-02T00:00:00+00:00", status="ok"),
            dict(base, seed=1, run_id="other-seed", created_at="2025-01-01T00:00:00+00:00", status="ok"),
        ]
    )
    kept, dropped = latest_runs(runs)
    assert sorted(kept.run_id) == ["new", "other-seed"] and dropped == 1
