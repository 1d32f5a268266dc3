"""Ranking stability across disjoint seed sets (harness/report/stability.py)."""

from __future__ import annotations

import math

import pytest
from test_report_stats import write_study

from harness.report.stability import kendall_tau_b, main, stability


def test_kendall_tau_b_known_values():
    assert kendall_tau_b([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert kendall_tau_b([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)  # 5 concordant, 1 discordant
    # one tie in y: C=5, D=0, ties_y=1 -> 5 / sqrt(5 * 6)
    assert kendall_tau_b([1, 2, 3, 4], [1, 2, 2, 4]) == pytest.approx(5 / math.sqrt(30))
    assert math.isnan(kendall_tau_b([1, 1], [2, 2]))


def test_well_separated_methods_rank_the_same_on_disjoint_seeds_and_controls_are_left_out(tmp_path):
    root = write_study(
        tmp_path / "r",
        {"a": 0.9, "b": 0.7, "c": 0.5, "d": 0.3, "blind": 0.95},
        controls={"blind": "blind"},
        seeds=6,
        n_items=400,
    )
    (s,) = stability([root], [0, 1, 2], [3, 4, 5])
    assert list(s.ranks_a.index) == ["a", "b", "c", "d"]  # the control takes no rank
    assert s.tau == 1.0 and list(s.ranks_a) == [1.0, 2.0, 3.0, 4.0]


def test_the_command_prints_both_rankings_and_refuses_overlapping_seed_sets(tmp_path, capsys):
    root = write_study(tmp_path / "r", {"a": 0.9, "b": 0.2}, seeds=4)
    assert main(["--results", str(root), "--seeds-a", "0,1", "--seeds-b", "2,3"]) == 0
    out = capsys.readouterr().out
    assert "Kendall tau-b between the two rankings: 1.000 (2 methods)" in out
    assert main(["--results", str(root), "--seeds-a", "0,1", "--seeds-b", "1,2"]) == 2
    assert "the seed sets must be disjoint, both hold [1]" in capsys.readouterr().err
    assert main(["--results", str(tmp_path / "none"), "--seeds-a", "0", "--seeds-b", "1"]) == 2
