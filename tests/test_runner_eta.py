"""The matrix's run-time estimate (harness.runner.eta) against the paper's own figures.

Table 4 gives each method's training time on AudioCaps (8 V100s). AudioCaps' 49,838 clips make 389 steps of batch
128 per epoch, 4,668 steps over its 12 epochs, so DePALM's 1h25 is 1.09 s/step and LiMBeR(all)'s 4h59 3.8 s/step:
those two are stored as measured step times, and every other method's is modelled from them.

The 550-cell paper matrix (11 methods x 10 Table 4 columns x 5 seeds) on 32 nodes takes 35-50 h by the paper's
numbers: at least 35 h if every cell took its method's AudioCaps time (the sum of Table 4's train times, 22.5 h,
x 10 columns x 5 seeds / 32 nodes), about 48 h once each cell is scaled by its own steps (Table 2 size x Appendix
C.3 epochs / 128: 13.6x AudioCaps' steps over the ten columns), generation on top. `paper_bounds` recomputes both.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from harness.cli import main, parse_study
from harness.runner import matrix
from harness.runner.eta import Estimator, Hardware, StepModel, makespan, split_items, train_steps

V100_NODE = "8x Tesla V100-SXM2-32GB"
PAPER_STEP_S = {"depalm": 1.09, "limber-all": 3.8}  # Table 4 train time / 4,668 AudioCaps steps
PAPER_COLUMNS = ("coco", "coco-1pct", "textcaps", "vqav2", "vqav2-1pct", "textvqa", "okvqa", "aokvqa", "audiocaps",
                 "msrvtt")  # fmt: skip


def _table4_train_s() -> dict[str, float]:
    from harness.report.paper_numbers import paper_rows_by_table

    return {r["method"]: r["train_time_s"] for r in paper_rows_by_table()["table4"] if r["train_time_s"] > 0}


@pytest.fixture(scope="module")
def paper_cells():
    """The paper matrix as `run_matrix.py --methods all --controls false --seeds 5 --profile paper --executor slurm`
    resolves it (the datasets named directly: their files are not here)."""
    study = parse_study(
        ["--methods", "all", "--controls", "false", "--seeds", "5", "--profile", "paper", "--executor", "slurm"]
    )
    profile = matrix.resolve_profile("paper")
    methods = matrix.resolve_methods(study.methods, study.controls)
    lrs = matrix.resolve_lrs(study, profile)
    variants = matrix.resolve_variants(study.variants)
    cells = matrix.build_cells(
        study, profile, methods, list(PAPER_COLUMNS), matrix.resolve_seeds(5), lrs, profile.grad_clip, variants
    )
    return profile, cells


def _measured_rows(cells, step_s: dict[str, float], hardware: str) -> pd.DataFrame:
    """Results rows as cell.execute_cell writes them, for the AudioCaps seed-0 cell of each method in `step_s`."""
    from harness.runner.cell import CellOutcome, primary_of, result_rows

    rows = []
    for cfg in cells:
        if cfg.dataset == "audiocaps" and cfg.seed == 0 and cfg.method in step_s:
            outcome = CellOutcome(cfg.run_id, "ok", metrics={"test": {"SPIDEr": 40.0}}, config_hash=cfg.config_hash())
            outcome.mean_step_s = step_s[cfg.method]
            rows += result_rows(cfg, outcome, {"hardware": hardware}, primary_of(cfg))
    return pd.DataFrame(rows).assign(source="run")


def paper_bounds(cells) -> tuple[float, float]:
    """(lower, upper) hours of the paper matrix on 32 nodes from the paper's numbers (module docstring): each
    method's Table 4 time x 5 seeds, x 10 columns (lower) or x its steps over the columns / its AudioCaps steps
    (upper; the official recipes give DePALM^{c-attn} a batch of 256 on four columns)."""
    table4 = _table4_train_s()
    steps = {(c.method, c.dataset): train_steps(c, split_items(c, "train").n, 8)[0] for c in cells}
    scale = {m: sum(n for (m2, _), n in steps.items() if m2 == m) / steps[m, "audiocaps"] for m in table4}
    lower = sum(table4.values()) * 5 * len(PAPER_COLUMNS) / 3600 / 32
    upper = sum(t * 5 * scale[m] for m, t in table4.items()) / 3600 / 32
    return lower, upper


def test_paper_sizes_give_the_paper_steps(paper_cells):
    _, cells = paper_cells
    by = {c.dataset: c for c in cells if c.method == "depalm" and c.seed == 0}
    ac = split_items(by["audiocaps"], "train")
    assert (ac.n, ac.source) == (49_000, "paper")  # Table 2
    assert train_steps(by["audiocaps"], ac.n, 8) == (49_000 // 128 * 12, 128)  # 12 epochs of batch 128 (C.3)
    assert split_items(by["coco-1pct"], "train").n == 820  # 1% of Table 2's 82K
    assert train_steps(by["vqav2"], split_items(by["vqav2"], "train").n, 8)[0] == 605_000 // 128 * 8


def test_audiocaps_estimates_are_within_2x_of_table4(paper_cells):
    profile, cells = paper_cells
    est = Estimator(profile, _measured_rows(cells, PAPER_STEP_S, V100_NODE), Hardware(8, None), cells)
    table4 = _table4_train_s()
    audiocaps = {c.method: est.cell(c) for c in cells if c.dataset == "audiocaps" and c.seed == 0}
    assert set(audiocaps) == set(table4)
    for method, e in audiocaps.items():
        assert e.step_source == ("measured" if method in PAPER_STEP_S else "modelled"), method
        assert 0.5 <= e.train_s / table4[method] <= 2.0, (method, e.train_s, table4[method])


def test_paper_matrix_on_32_nodes_is_within_2x_of_the_paper(paper_cells):
    profile, cells = paper_cells
    lower, upper = paper_bounds(cells)
    assert 34 < lower < 36 and 46 < upper < 50  # the 35-50 h of the module docstring
    est = Estimator(profile, _measured_rows(cells, PAPER_STEP_S, V100_NODE), Hardware(8, None), cells)
    estimates = [est.cell(c) for c in cells]
    assert len(estimates) == 550
    wall_h = makespan((e.total_s for e in estimates), 32) / 3600
    assert lower / 2 <= wall_h <= upper * 2, wall_h


def test_step_times_are_keyed_on_hardware(paper_cells):
    profile, cells = paper_cells
    depalm = next(c for c in cells if c.dataset == "audiocaps" and c.method == "depalm")
    rows = _measured_rows(cells, PAPER_STEP_S, "1x NVIDIA A100-SXM4-80GB")
    est = Estimator(profile, rows, Hardware(8, None), cells)
    _, source = est.step(depalm)
    assert source == "modelled"  # measured on other hardware: it calibrates the model, it is not this cell's time
    assert est.model() is not None and est.model().on == "1x NVIDIA A100-SXM4-80GB"
    assert Estimator(profile, None, Hardware(8, None), cells).step(depalm) == (profile.est_step_s, "assumed")
    assert Hardware(8, None).matches(V100_NODE) and not Hardware(8, None).matches("cpu")
    assert not Hardware(1, "cpu").matches("")  # rows from before runs recorded their hardware


def test_step_model_fit():
    line = StepModel.fit([(1e12, 2.0), (3e12, 4.0)], "x")
    assert line.overhead_s == pytest.approx(1.0) and line.step_s(2e12) == pytest.approx(3.0)
    one = StepModel.fit([(2e12, 4.0)], "x")  # one point: proportional
    assert one.overhead_s == 0 and one.step_s(1e12) == pytest.approx(2.0)
    assert StepModel.fit([], "x") is None


def test_items_are_counted_from_annotation_files(tmp_path, paper_cells):
    import dataclasses

    profile, cells = paper_cells
    root = tmp_path / "data"
    for split, n in (("train", 300), ("val", 7), ("test", 11)):
        (root / "audiocaps" / "audio" / split).mkdir(parents=True)
        lines = ["audiocap_id,youtube_id,start_time,caption"]
        for i in range(n):
            lines.append(f"{i},yt{split}{i},0,a dog barks")
            (root / "audiocaps" / "audio" / split / f"yt{split}{i}.wav").write_bytes(b"")  # never decoded
        (root / "audiocaps" / f"{split}.csv").write_text("\n".join(lines) + "\n")
    cfg = next(c for c in cells if c.dataset == "audiocaps" and c.method == "depalm")
    cfg = dataclasses.replace(cfg, data_root=str(root))
    assert (split_items(cfg, "train").n, split_items(cfg, "train").source) == (300, "files")
    e = Estimator(profile, None, Hardware(8, None), [cfg]).cell(cfg)
    assert e.steps == 300 // 128 * 12 and e.n_eval == sum(11 if r == "test" else 7 for r in cfg.eval.splits)


def _argv(tmp_path, *extra):
    return ["--methods", "depalm,limber-all", "--controls", "false", "--datasets", "syn-coco", "--seeds", "2",
            "--profile", "smoke", "--results", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs"),
            "--out", str(tmp_path / "reports"), *extra]  # fmt: skip


def test_dry_run_labels_measured_and_modelled(tmp_path, capsys):
    from harness.runner.cell import CellOutcome, primary_of, result_rows
    from harness.runner.eta import planned_hardware
    from harness.store.results import write_result

    study = parse_study(_argv(tmp_path))
    cells = matrix.plan(study).cells
    here = planned_hardware(study.executor, study.slurm)
    cfg = next(c for c in cells if c.method == "depalm")
    outcome = CellOutcome(cfg.run_id, "ok", metrics={"test": {"CIDEr": 50.0}}, config_hash=cfg.config_hash())
    outcome.mean_step_s = 0.5
    write_result(
        result_rows(cfg, outcome, {"hardware": here.label or ""}, primary_of(cfg)), tmp_path / "results", cfg.run_id
    )
    assert main([*_argv(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    lines = {c.run_id: next(line for line in out.splitlines() if c.run_id in line) for c in cells if c != cfg}
    assert all(("x 0.50s measured" in v) == k.startswith("depalm") for k, v in lines.items())
    assert all("modelled" in v for k, v in lines.items() if k.startswith("limber-all"))
    assert "step times: 1 measured, 2 modelled; eval times modelled" in out
    assert "calibrated on 1 measured group(s)" in out and "train items from offline" in out


@pytest.mark.parametrize("encoder", ["clip-b16-embedded", "dinov2-s14-embedded"])
def test_declared_encoder_shapes_match_the_loaded_encoders(encoder):
    from harness.backbones import encoder_entry, load_encoder

    shape = encoder_entry(encoder).shape
    meta = load_encoder(encoder, pretrained=False).meta
    assert (shape.width, shape.layers, shape.grid, shape.has_cls) == (
        meta.d_feats,
        meta.n_levels,
        meta.grid,
        meta.has_cls,
    )


def test_a_swept_width_takes_its_own_measured_step_not_the_default_widths(paper_cells):
    profile, cells = paper_cells
    depalm = next(c for c in cells if c.dataset == "audiocaps" and c.method == "depalm" and c.seed == 0)
    rows = _measured_rows(cells, PAPER_STEP_S, V100_NODE)
    assert Estimator(profile, rows, Hardware(8, None), cells).step(depalm) == (PAPER_STEP_S["depalm"], "measured")
    narrow = dataclasses.replace(depalm, width=64)
    assert Estimator(profile, rows, Hardware(8, None), [*cells, narrow]).step(narrow)[1] == "modelled"
    both = pd.concat([rows, _measured_rows([narrow], {"depalm": 0.5}, V100_NODE)])
    est = Estimator(profile, both, Hardware(8, None), [*cells, narrow])
    assert est.step(narrow) == (0.5, "measured") and est.step(depalm) == (PAPER_STEP_S["depalm"], "measured")


def test_a_swept_train_fraction_counts_its_subset_not_the_whole_split(paper_cells):
    _, cells = paper_cells
    full = next(c for c in cells if c.method == "depalm" and c.dataset == "coco" and c.seed == 0)
    tenth = dataclasses.replace(full, train_fraction=0.1)
    n_full, n_tenth = split_items(full, "train").n, split_items(tenth, "train").n
    assert n_tenth == round(0.1 * n_full)
    assert train_steps(tenth, n_tenth, 8)[0] < train_steps(full, n_full, 8)[0]
