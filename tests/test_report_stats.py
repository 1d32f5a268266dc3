"""Runs sections that show their noise: mean ± std and seed counts, bootstrap intervals of average rank and score,
ties with the best, and control rows that are shown but never ranked (harness/report/tables.py, uncertainty.py)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.report import render_reports
from harness.store.items import write_item_scores
from harness.store.results import ResultsWarning, write_result

DATASETS = {"easy-vqa": "VQA_acc", "syn-coco": "CIDEr"}  # both reported on test


def write_study(
    root: Path,
    methods: dict[str, float],
    *,
    controls: dict[str, str] | None = None,
    seeds: int = 3,
    n_items: int = 80,
    items: bool = True,
    seed: int = 0,
    profile: str = "smoke",
) -> Path:
    """One run per method x dataset x seed whose per-item scores are 0 / 100 with probability `methods[m]` (its
    value is their mean), each with its per-item scores file unless `items` is False."""
    rng = np.random.default_rng(seed)
    controls = controls or {}
    for method, p in methods.items():
        for dataset, metric in DATASETS.items():
            for s in range(seeds):
                scores = 100.0 * (rng.random(n_items) < p)
                run_id = f"{profile}-{method}-{dataset}-s{s}"
                row = dict(
                    method=method,
                    method_display=method.capitalize(),
                    control=controls.get(method, ""),
                    dataset=dataset,
                    seed=s,
                    lr=1e-3,
                    grad_clip=1.0,
                    profile=profile,
                    variant="official",
                    split="test",
                    metric=metric,
                    value=float(scores.mean()),
                    created_at="2026-01-01T00:00:00+00:00",
                )
                write_result([row], root, run_id)
                if items:
                    per_item = {f"{dataset}-{i}": float(v) for i, v in enumerate(scores)}
                    write_item_scores({"test": {metric: per_item}}, root, run_id)
    return root


def _render(root: Path, out: Path) -> tuple[str, str, pd.DataFrame]:
    render_reports([root], out)
    csv = pd.read_csv(out / "table4.csv").set_index("method")
    return (out / "table4.md").read_text(), (out / "table4.tex").read_text(), csv


def _md_rows(md: str) -> dict[str, list[str]]:
    rows = {}
    for line in md.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0]] = cells[1:]
    return rows


def test_separated_methods_show_mean_std_intervals_and_no_tie(tmp_path):
    root = write_study(tmp_path / "r", {"alpha": 0.85, "beta": 0.5, "gamma": 0.2})
    md, tex, csv = _render(root, tmp_path / "out")
    rows = _md_rows(md)
    head = next(line for line in md.splitlines() if line.startswith("| Method"))
    assert head.startswith("| Method (n=3 seeds) |") and "Avg. rank ↓<br>[95% CI]" in head
    alpha = rows["Alpha"]
    assert re.fullmatch(r"\*\*\d+\.\d\d±\d+\.\d\d\*\*", alpha[0])  # mean ± std, highlighted first
    assert alpha[-2] == "**1.0 (1) [1.0, 1.0]**" and alpha[-1] == "**100.0 (1) [100.0, 100.0]**"
    assert rows["Gamma"][-2] == "*3.0 (3) [3.0, 3.0]*" and "≈" not in md.split("\n- ")[0]
    assert "95% percentile-bootstrap interval" in md and "paired" in md and "cannot separate" not in md
    assert csv.loc["alpha", ["rank_lo", "rank_hi"]].tolist() == [1.0, 1.0]
    assert csv.tied.tolist() == [False, False, False]
    assert (csv.score_lo <= csv.score).all() and (csv.score <= csv.score_hi).all()
    # LaTeX: the same numbers, ± and the interval
    assert r"\textbf{1.0 (1) [1.0, 1.0]}" in tex and r"\ensuremath{\pm}" in tex and "[95\\% CI]" in tex


def test_methods_within_the_noise_are_marked_tied_and_the_footnote_says_so(tmp_path):
    root = write_study(tmp_path / "r", {"alpha": 0.5, "beta": 0.5, "gamma": 0.5}, n_items=40)
    md, tex, csv = _render(root, tmp_path / "out")
    best = csv.score.idxmax()
    assert csv.tied.sum() == 2 and not csv.loc[best, "tied"]
    rows = _md_rows(md)
    tied = [name for name, cells in rows.items() if cells[-1].endswith("≈")]
    assert sorted(tied) == sorted(m.capitalize() for m in csv.index if m != best)
    assert "2 of 3 ranked methods are tied with the best" in md and "cannot separate the methods" in md
    assert f"tied with the best average score ({best.capitalize()})" in md
    assert r"\ensuremath{\approx}" in tex


def test_controls_are_shown_marked_and_never_ranked_nor_change_the_scores(tmp_path):
    methods = {"alpha": 0.6, "beta": 0.4}
    _, _, without = _render(write_study(tmp_path / "a", methods), tmp_path / "out-a")
    # a blind control that beats every method, and a prior below them
    controls = {"blind": "blind", "prior": "prior"}
    root = write_study(tmp_path / "b", methods | {"blind": 0.95, "prior": 0.1}, controls=controls)
    md, tex, csv = _render(root, tmp_path / "out-b")
    assert list(csv.index) == ["alpha", "beta", "blind", "prior"]  # controls after the ranked methods
    assert csv.loc[["blind", "prior"], "control"].tolist() == ["blind", "prior"]
    assert csv.loc[["blind", "prior"], ["rank_pos", "score_pos", "rank", "score"]].isna().all().all()
    for col in ("rank", "score", "rank_pos", "score_pos", "rank_lo", "rank_hi", "score_lo", "score_hi"):
        assert csv.loc[["alpha", "beta"], col].tolist() == without.loc[["alpha", "beta"], col].tolist(), col
    rows = _md_rows(md)
    blind = rows["*Blind* (control: blind)"]
    assert blind[-2:] == ["—", "—"] and not any("**" in c or "<ins>" in c for c in blind)
    assert rows["Alpha"][0].startswith("**")  # the column best is the best ranked method, not the control
    assert "*Prior* (control: prior)" in rows
    assert "A control gets no rank and no score and does not enter the column best" in md
    assert "blind: a trained model with no perceptual input" in md and "prior: a baseline computed without" in md
    assert r"\textit{Blind} (control: blind)" in tex
    body = tex[tex.index(r"\midrule") + len(r"\midrule") :]
    assert body.index(r"\midrule") < body.index(r"\textit{Blind}")  # a rule between methods and controls
    s2 = (tmp_path / "out-b" / "tableS2.md").read_text()
    assert "*Blind* (control: blind)" in s2 and "Controls are not ranked." in s2


def test_the_report_is_deterministic(tmp_path):
    root = write_study(tmp_path / "r", {"alpha": 0.55, "beta": 0.5})
    render_reports([root], tmp_path / "one")
    render_reports([root], tmp_path / "two")
    for name in ("table4.md", "table4.tex", "table4.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_without_per_item_scores_the_intervals_resample_seeds_only(tmp_path):
    md, _, csv = _render(write_study(tmp_path / "r", {"alpha": 0.7, "beta": 0.3}, items=False), tmp_path / "out")
    assert "No per-item scores in the results: the intervals resample seeds only" in md
    assert csv.rank_lo.notna().all()


def test_a_damaged_per_item_file_is_skipped_and_its_cell_falls_back_to_seeds(tmp_path):
    root = write_study(tmp_path / "r", {"alpha": 0.7, "beta": 0.3})
    victim = root / "smoke-beta-syn-coco-s1.items.parquet"
    data = bytearray(victim.read_bytes())
    data[len(data) // 3] ^= 0xFF  # in the column data (compressed): unreadable or a checksum mismatch
    victim.write_bytes(bytes(data))
    with pytest.warns(ResultsWarning, match=r"smoke-beta-syn-coco-s1\.items\.parquet"):
        md, _, _ = _render(root, tmp_path / "out")
    assert "1 of 4 cells have no per-item scores" in md


def test_fewer_than_three_seeds_cannot_rank(tmp_path):
    md, _, csv = _render(write_study(tmp_path / "r", {"alpha": 0.7, "beta": 0.3}, seeds=2), tmp_path / "out")
    assert "Fewer than 3 seeds in some cell (fewest: 2): this table cannot rank the methods" in md
    assert "[95% CI]" not in md and csv.rank_lo.isna().all() and csv.tied.isna().all()
    assert "Method (n=2 seeds)" in md and "±" in md


def test_the_input_check_names_connectors_not_above_the_blind_control(tmp_path):
    root = write_study(
        tmp_path / "r", {"strong": 0.9, "weak": 0.3, "blind": 0.3}, controls={"blind": "blind"}, n_items=200
    )
    md, _, _ = _render(root, tmp_path / "out")
    note = next(line for line in md.splitlines() if "Input check" in line)
    assert "1 of 2 connectors score above the blind control's seed mean + 2 std" in note
    assert note.endswith("not shown to use their input: Weak.")


def test_the_input_check_is_silent_without_a_blind_control_and_whole_when_all_beat_it(tmp_path):
    md, _, _ = _render(write_study(tmp_path / "a", {"alpha": 0.8, "beta": 0.6}), tmp_path / "oa")
    assert "Input check" not in md
    root = write_study(tmp_path / "b", {"alpha": 0.8, "blind": 0.1}, controls={"blind": "blind"})
    md, _, _ = _render(root, tmp_path / "ob")
    assert (
        "- Input check: 1 of 1 connectors score above the blind control's seed mean + 2 std on at least one benchmark."
        in md
    )


def test_runs_whose_loss_did_not_go_down_are_named(tmp_path):
    root = tmp_path / "r"
    for seed, (first, final) in enumerate([(5.0, 2.0), (5.0, 6.0), (4.0, 1.0)]):
        for method in ("good", "spiky"):
            end = final if method == "spiky" else 1.0
            row = dict(
                method=method,
                dataset="syn-coco",
                seed=seed,
                profile="smoke",
                variant="official",
                split="test",
                metric="CIDEr",
                value=10.0 + seed,
                first_loss=first,
                final_loss=end,
                created_at="2026-01-01T00:00:00+00:00",
            )
            write_result([row], root, f"{method}-s{seed}")
    md, _, _ = _render(root, tmp_path / "out")
    assert "- Training did not lower the loss (last step above the first) in 1 run(s): spiky (1)." in md


def test_connectors_below_the_prior_on_every_benchmark_are_named(tmp_path):
    root = write_study(tmp_path / "r", {"good": 0.9, "poor": 0.2, "prior": 0.5}, controls={"prior": "prior"})
    md, _, _ = _render(root, tmp_path / "out")
    assert "- Below the prior (the training answers, no model) on every benchmark: Poor." in md
