"""run_matrix.py matrix mode: bad input exits 2 naming the valid choices and writes nothing; --dry-run plans."""
from __future__ import annotations

import pytest

from harness.cli import main


def _run(tmp_path, *argv):
    results = tmp_path / "results"
    args = ["--results", str(results), "--out", str(tmp_path / "reports"), "--runs-dir", str(tmp_path / "runs"),
            *argv]
    return main(args), results


def _nothing_written(tmp_path):
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv,needle", [
    (["--methods", "depalm,nope"], "depalm-c-attn"),
    (["--methods", "all", "--datasets", "syn-nope"], "syn-coco"),
    (["--datasets", "syn-coco", "--llm", "gpt-9"], "smollm2-135m"),
    (["--datasets", "syn-coco", "--encoder", "resnet"], "clip-b16-embedded"),
    (["--datasets", "syn-coco", "--seeds", "0"], "seed count must be >= 1"),
    (["--datasets", "syn-coco", "--seeds=-1,2"], "seeds >= 0"),
    (["--datasets", "syn-coco", "--seeds", "two"], "--seeds"),
    (["--datasets", "syn-coco", "--lr=-1e-3"], "positive"),
    (["--datasets", "syn-coco", "--lr", "-0.001"], "positive"),
    (["--datasets", "syn-coco", "--lr", "0"], "positive"),
    (["--datasets", "syn-coco", "--grad-clip=-1"], "positive"),
    (["--datasets", "syn-coco", "--executor", "cloud"], "inline, local, slurm"),
    (["--datasets", "syn-coco", "--profile", "turbo"], "smoke"),
    (["--datasets", "syn-coco", "--max-parallel", "0"], "--max-parallel"),
    (["--datasets", "syn-coco", "--num-beams", "0"], "--num-beams"),
    (["--datasets", "syn-coco", "--lr-grid", "--lr", "1e-3"], "--lr-grid"),
    (["--datasets", "coco", "--data-root", "/nonexistent/depalm"], "coco"),
    (["--datasets", "syn-coco", "--variant", "officail"], "official, paper"),
])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, needle):
    rc, _ = _run(tmp_path, *argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "error" in err and needle in err
    _nothing_written(tmp_path)


def test_dry_run_lists_cells_with_eta_and_writes_nothing(tmp_path, capsys):
    rc, _ = _run(tmp_path, "--methods", "limber-1,depalm", "--datasets", "syn-coco", "--seeds", "2",
                 "--profile", "smoke", "--dry-run")
    out = capsys.readouterr().out
    assert rc == 0
    assert "4 cells: 4 to run" in out and "ETA" in out
    assert out.count("limber-1__syn-coco__s") == 2 and "depalm__syn-coco__s1" in out
    _nothing_written(tmp_path)


def test_bias_tuning_variants_resolve(tmp_path, capsys):
    rc, _ = _run(tmp_path, "--methods", "depalm+bias-ft", "--datasets", "syn-coco", "--profile", "smoke",
                 "--dry-run")
    assert rc == 0 and "depalm+bias-ft__syn-coco__s0" in capsys.readouterr().out
    _nothing_written(tmp_path)


def test_lr_grid_makes_one_cell_per_lr_and_evaluates_val(tmp_path, capsys):
    from harness.cli import build_parser
    from harness.runner.matrix import plan

    args = build_parser().parse_args(["--methods", "depalm", "--datasets", "syn-coco", "--profile", "smoke",
                                      "--lr-grid", "--results", str(tmp_path / "r")])
    p = plan(args)
    assert sorted(c.lr for c in p.todo) == [4e-4, 8e-4, 1e-3]
    assert {c.recipe_source["lr"] for c in p.todo} == {"user"}  # R4: a grid leaves the official per-cell lr
    assert all(c.eval.splits[0] == "val" for c in p.todo)
    assert len({c.config_hash() for c in p.todo}) == 3
    _nothing_written(tmp_path)


def test_datasets_all_skips_what_is_missing_and_says_why(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DEPALM_DATA_ROOT", raising=False)
    rc, _ = _run(tmp_path, "--methods", "limber-1", "--datasets", "all", "--profile", "smoke", "--dry-run",
                 "--data-root", str(tmp_path / "none"))
    out = capsys.readouterr().out
    assert rc == 0
    assert "skipped dataset coco:" in out and "syn-coco__s0" in out


def test_variants_are_a_matrix_axis_in_the_config_hash():
    from harness.cli import build_parser
    from harness.config import RunConfig
    from harness.runner.matrix import plan

    args = build_parser().parse_args(["--methods", "depalm", "--datasets", "syn-coco", "--profile", "smoke",
                                      "--variant", "official,paper"])
    cells = plan(args).cells
    assert [c.variant for c in cells] == ["official", "paper"]
    assert [c.method_config["variant"] for c in cells] == ["official", "paper"]
    assert cells[0].config_hash() != cells[1].config_hash()
    default = plan(build_parser().parse_args(["--methods", "depalm", "--datasets", "syn-coco", "--profile", "smoke"]))
    assert [c.variant for c in default.cells] == ["official"]
    old = cells[1].to_dict()
    del old["variant"]  # a run config written before the variant axis
    assert RunConfig.from_dict(old).variant == "paper"
