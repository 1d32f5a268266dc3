"""run_matrix.py matrix mode: bad input exits 2 naming the valid choices and writes nothing; --dry-run plans."""

from __future__ import annotations

import pytest

from harness.cli import main


def _run(tmp_path, *argv):
    results = tmp_path / "results"
    args = ["--results", str(results), "--out", str(tmp_path / "reports"), "--runs-dir", str(tmp_path / "runs"), *argv]
    return main(args), results


def _nothing_written(tmp_path):
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv,needle",
    [
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
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, needle):
    rc, _ = _run(tmp_path, *argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "error" in err and needle in err
    _nothing_written(tmp_path)


def test_dry_run_lists_cells_with_eta_and_writes_nothing(tmp_path, capsys):
    rc, _ = _run(
        tmp_path,
        "--methods",
        "limber-1,depalm",
        "--datasets",
        "syn-coco",
        "--seeds",
        "2",
        "--profile",
        "smoke",
        "--dry-run",
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "8 cells: 8 to run" in out and "ETA" in out  # 2 methods + the 2 blind controls, 2 seeds
    assert out.count("limber-1__syn-coco__s") == 2 and "depalm__syn-coco__s1" in out
    assert out.count("blind__syn-coco__s") == 2 and out.count("prior__syn-coco__s") == 2
    _nothing_written(tmp_path)


def test_bias_tuning_variants_resolve(tmp_path, capsys):
    rc, _ = _run(tmp_path, "--methods", "depalm+bias-ft", "--datasets", "syn-coco", "--profile", "smoke", "--dry-run")
    assert rc == 0 and "depalm+bias-ft__syn-coco__s0" in capsys.readouterr().out
    _nothing_written(tmp_path)


def test_lr_grid_makes_one_cell_per_lr_and_evaluates_val(tmp_path, capsys):
    from harness.cli import parse_study
    from harness.runner.matrix import plan

    study = parse_study(
        [
            "--methods",
            "depalm",
            "--datasets",
            "syn-coco",
            "--profile",
            "smoke",
            "--lr-grid",
            "--results",
            str(tmp_path / "r"),
        ]
    )
    p = plan(study)
    assert [c.method for c in p.todo].count("prior") == 1  # the prior trains nothing: one cell for the grid
    assert sorted(c.lr for c in p.todo if c.method == "blind") == [4e-4, 8e-4, 1e-3]
    p.todo = [c for c in p.todo if c.method == "depalm"]
    assert sorted(c.lr for c in p.todo) == [4e-4, 8e-4, 1e-3]
    assert {c.recipe_source["lr"] for c in p.todo} == {"user"}  # R4: a grid leaves the official per-cell lr
    assert all(c.eval.splits[0] == "val" for c in p.todo)
    assert len({c.config_hash() for c in p.todo}) == 3
    _nothing_written(tmp_path)


def test_datasets_all_skips_what_is_missing_and_says_why(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DEPALM_DATA_ROOT", raising=False)
    rc, _ = _run(
        tmp_path,
        "--methods",
        "limber-1",
        "--datasets",
        "all",
        "--profile",
        "smoke",
        "--dry-run",
        "--data-root",
        str(tmp_path / "none"),
    )
    out = capsys.readouterr().out
    assert rc == 0
    assert "skipped dataset coco:" in out and "syn-coco__s0" in out


def test_variants_are_a_matrix_axis_in_the_config_hash():
    from harness.cli import parse_study
    from harness.config import RunConfig
    from harness.runner.matrix import plan

    study = parse_study(
        ["--methods", "depalm", "--datasets", "syn-coco", "--profile", "smoke", "--variant", "official,paper"]
        + ["--no-controls"]
    )
    cells = plan(study).cells
    assert [c.variant for c in cells] == ["official", "paper"]
    assert [c.method_config["variant"] for c in cells] == ["official", "paper"]
    assert cells[0].config_hash() != cells[1].config_hash()
    default = plan(parse_study(["--methods", "depalm", "--datasets", "syn-coco", "--profile", "smoke"]))
    assert [c.variant for c in default.cells] == ["official"] * 3  # depalm, prior, blind
    old = cells[1].to_dict()
    del old["variant"]  # a run config written before the variant axis
    assert RunConfig.from_dict(old).variant == "paper"


# ---- the study config: dotted options, YAML files, profiles as defaults, shorthands -----------------------------

SMOKE_CELL = ["--methods", "depalm", "--datasets", "syn-coco", "--profile", "smoke", "--no-controls"]


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["--train.nope", "1"], "unrecognized arguments: --train.nope 1"),
        (["--train.max_steps", "abc"], "--train.max_steps abc: expected an int or null"),
        (["--eval.num_beams", "two"], "--eval.num_beams (--num-beams) two: expected an int"),
        (["--mode", "train"], "expected one of run, report-only, describe-methods, doctor"),
        (["--train.augment", "maybe"], "expected true or false"),
        (["--eval.size", "0"], "--eval.size 0: must be >= 1"),
        (["--train.warmup_frac", "1.5"], "in [0, 1)"),
        (["--eval.splits", "[tst]"], "reported, train, val, test"),
        (["--eval.metrics", "[CIDEr, BLEU4]"], "unknown caption metric(s) BLEU4"),
        (["--config", "/nonexistent/study.yaml"], "--config"),
        (["--dry-run=yes"], "--dry-run takes no value"),
        (["--num-beams"], "--num-beams: expected a value"),
    ],
)
def test_bad_options_are_one_line_usage_errors(tmp_path, capsys, argv, needle):
    rc, _ = _run(tmp_path, *SMOKE_CELL, *argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.startswith("run_matrix.py: error: ") and len(err.strip().splitlines()) == 1, err
    assert needle in err
    _nothing_written(tmp_path)


def test_train_and_eval_overrides_reach_the_cells_and_their_hash():
    from harness.cli import parse_study
    from harness.runner.matrix import plan

    (default,) = plan(parse_study(SMOKE_CELL)).cells
    (cell,) = plan(parse_study([*SMOKE_CELL, "--train.max_steps", "3", "--eval.size", "4"])).cells
    assert (default.train.max_steps, default.eval.size) == (4, 8)  # the smoke profile's
    assert (cell.train.max_steps, cell.eval.size) == (3, 4)
    assert cell.to_dict()["train"]["max_steps"] == 3  # what config.json stores
    assert cell.config_hash() != default.config_hash()
    (same,) = plan(parse_study([*SMOKE_CELL, "--train.max_steps", "4"])).cells  # the profile's own value
    assert same.config_hash() == default.config_hash()


def test_the_profile_sets_defaults_that_files_and_later_flags_override(tmp_path):
    from harness.cli import parse_study

    study_file = tmp_path / "study.yaml"
    study_file.write_text("profile: smoke\nlr: 0.0004\ntrain:\n  max_steps: 7\neval:\n  metrics: [CIDEr]\n")
    study = parse_study(["--config", str(study_file)])
    assert (study.profile, study.lr, study.grad_clip) == ("smoke", 4e-4, 0.8)
    assert (study.train.max_steps, study.train.batch_size, study.eval.metrics) == (7, 4, ("CIDEr",))
    assert parse_study(["--config", str(study_file), "--train.max_steps", "9"]).train.max_steps == 9
    assert parse_study(["--train.max_steps", "9", "--config", str(study_file)]).train.max_steps == 7
    cpu = parse_study(["--config", str(study_file), "--profile", "cpu"])
    assert (cpu.train.max_steps, cpu.train.batch_size) == (7, 8)  # the file's value; cpu's for the rest
    assert parse_study(["--profile", "smoke", "--lr-grid"]).lr is None  # the grid sweeps it


def test_print_config_round_trips_through_config(tmp_path, capsys):
    from harness.cli import main, parse_study

    argv = [
        *SMOKE_CELL,
        "--seeds",
        "0,3",
        "--variant",
        "official,paper",
        "--train.max_steps",
        "3",
        "--num-beams",
        "2",
        "--eval.splits",
        "[val, test]",
        "--executor",
        "slurm",
        "--time",
        "2-00:00:00",
        "--sbatch-arg",
        "mail-type=END",
        "--sbatch-arg",
        "exclusive",
        "--plugin",
        "json",
    ]
    assert main([*argv, "--print-config"]) == 0
    printed = capsys.readouterr().out
    study_file = tmp_path / "study.yaml"
    study_file.write_text(printed)
    again = parse_study(["--config", str(study_file)])
    assert again == parse_study(argv)
    assert again.slurm.time == "2-00:00:00" and again.slurm.sbatch_args == ("mail-type=END", "exclusive")
    assert main(["--config", str(study_file), "--print-config"]) == 0
    assert capsys.readouterr().out == printed


def test_the_first_flags_are_shorthands_for_the_fields():
    from harness.cli import parse_study

    short = parse_study(
        [
            "--report-only",
            "--results",
            "a",
            "--results",
            "b",
            "--plugin",
            "json",
            "--lr-grid",
            "--grad-clip",
            "0.5",
            "--variant",
            "paper",
            "--data-root",
            "/d",
            "--runs-dir",
            "r",
            "--dry-run",
            "--retry-failed",
            "--num-beams",
            "2",
            "--max-new-tokens",
            "7",
            "--max-parallel",
            "3",
            "--partition",
            "gpu",
            "--gpus-per-node",
            "0",
            "--sbatch-arg",
            "x=1",
            "--detach",
            "--d-llm",
            "512",
        ]
    )
    dotted = parse_study(
        [
            "--mode",
            "report-only",
            "--results",
            "a",
            "--results",
            "b",
            "--plugins",
            "[json]",
            "--lr_grid",
            "true",
            "--grad_clip",
            "0.5",
            "--variants",
            "paper",
            "--data_root",
            "/d",
            "--runs_dir",
            "r",
            "--dry_run",
            "true",
            "--retry_failed",
            "true",
            "--eval.num_beams",
            "2",
            "--eval.max_new_tokens",
            "7",
            "--local.max_parallel",
            "3",
            "--slurm.partition",
            "gpu",
            "--slurm.gpus_per_node",
            "0",
            "--slurm.sbatch_args",
            "[x=1]",
            "--slurm.detach",
            "true",
            "--describe.d_llm",
            "512",
        ]
    )
    assert short == dotted
    assert (short.mode, short.results, short.plugins, short.eval.num_beams) == ("report-only", ("a", "b"), ("json",), 2)


def test_lists_in_yaml_and_comma_lists_resolve_alike(tmp_path):
    from harness.cli import parse_study
    from harness.runner.matrix import plan

    study_file = tmp_path / "study.yaml"
    study_file.write_text("methods: [depalm, limber-1]\nseeds: [0, 2]\ndatasets: [syn-coco]\nprofile: smoke\n")
    listed = plan(parse_study(["--config", str(study_file)])).cells
    commas = plan(
        parse_study(["--methods", "depalm,limber-1", "--seeds", "0,2", "--datasets", "syn-coco", "--profile", "smoke"])
    ).cells
    assert [c.run_id for c in listed] == [c.run_id for c in commas] and len(listed) == 8  # + prior, blind


def test_every_study_gets_the_blind_controls_unless_told_not_to():
    from harness.cli import parse_study
    from harness.runner.matrix import plan

    base = ["--datasets", "syn-coco", "--profile", "smoke"]
    cells = plan(parse_study(["--methods", "depalm", *base])).cells
    assert [c.method for c in cells] == ["depalm", "prior", "blind"]
    assert [c.method_config["control"] for c in cells] == ["", "prior", "blind"]
    assert [c.method for c in plan(parse_study(["--methods", "depalm", "--no-controls", *base])).cells] == ["depalm"]
    everything = [c.method for c in plan(parse_study(["--methods", "all", *base])).cells]
    assert everything[-2:] == ["prior", "blind"] and len(everything) == 13
    assert "blind" not in [c.method for c in plan(parse_study(["--methods", "all", "--no-controls", *base])).cells]


def test_executors_are_built_from_their_typed_options():
    from harness.cli import parse_study
    from harness.runner.executors import get_executor

    study = parse_study(["--executor", "local", "--max-parallel", "2"])
    assert get_executor(study.executor, study.executor_options).max_parallel == 2
    assert parse_study(["--executor", "inline"]).executor_options is None


def test_help_lists_the_groups_and_the_shorthands(capsys):
    from harness.cli import main

    with pytest.raises(SystemExit) as done:
        main(["--profile", "smoke", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for text in (
        "--train.*: Optimisation recipe",
        "--eval.*: Generation and scoring",
        "--slurm.*: SLURM executor",
        "--train.max_steps",
        "cap on optimiser steps",
        "default: 4",
        "--eval.size",
        "--local.max_parallel",
        "shorthands",
        "--num-beams X",
        "--eval.num_beams X",
        "--print-config",
        "--config CONFIG",
    ):
        assert text in out, text


def test_depalm_bench_is_the_same_entry_point_as_run_matrix():
    import tomllib
    from pathlib import Path

    import run_matrix
    from harness import cli

    project = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert project["project"]["scripts"] == {"depalm-bench": "harness.cli:main"}
    assert "*.yaml" in project["tool"]["setuptools"]["package-data"]["*"]  # the profile files ship with it
    assert run_matrix.main is cli.main


def test_the_readmes_commands_parse(tmp_path, monkeypatch, capsys):
    """Every `python run_matrix.py ...` line of the README is a valid command line (the plugin's is run end to end
    by test_methods_plugin_e2e); a `--print-config > FILE` line writes the file a later `--config FILE` reads."""
    import shlex
    from pathlib import Path

    from harness.cli import main, parse_study

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    commands = [line.split("#")[0] for line in readme.splitlines() if line.startswith("python run_matrix.py")]
    monkeypatch.chdir(tmp_path)
    assert len(commands) >= 10
    for command in commands:
        argv, _, target = command.partition(">")
        argv = shlex.split(argv)[2:]
        if "--plugin" in argv:
            continue
        if target:
            assert main(argv) == 0, command
            Path(target.strip()).write_text(capsys.readouterr().out)
        else:
            parse_study(argv)
