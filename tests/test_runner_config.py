"""RunConfig: JSON round trip, what the config hash covers, deterministic run ids; profiles and their files."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness.config import REPORTED_SPLIT, EvalSettings, RunConfig, TrainSettings
from harness.config.profiles import PROFILES, Profile, get_profile, parse_profile


def _cfg(**kw) -> RunConfig:
    base = dict(
        method="depalm",
        dataset="syn-coco",
        seed=0,
        lr=8e-4,
        grad_clip=0.8,
        llm="smollm2-135m",
        encoder="clip-b16-embedded",
        profile="cpu",
        method_config={"id": "depalm", "x": [1, 2]},
        train=TrainSettings(max_steps=10),
        eval=EvalSettings(num_beams=1, splits=("test",)),
    )
    return RunConfig(**{**base, **kw})


def test_json_round_trip_keeps_the_hash():
    cfg = _cfg(plugins=("methods.contrib.qpmapper8",))
    again = RunConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.config_hash() == cfg.config_hash()


@pytest.mark.parametrize(
    "change",
    [
        {"lr": 4e-4},
        {"seed": 1},
        {"profile": "paper"},
        {"llm": "opt-125m"},
        {"encoder": "dinov2-s14-embedded"},
        {"grad_clip": 1.0},
        {"method_config": {"id": "depalm", "x": [1, 3]}},
        {"train": TrainSettings(max_steps=11)},
        {"train": TrainSettings(max_steps=10, grad_sum_steps=2)},
        {"train": TrainSettings(max_steps=10, subset_seed=0)},
        {"train": TrainSettings(max_steps=10, gate_lr_scale=50.0)},
        {"eval": EvalSettings(num_beams=3, splits=("test",))},
    ],
)
def test_everything_that_changes_a_result_changes_the_hash(change):
    assert _cfg(**change).config_hash() != _cfg().config_hash()


@pytest.mark.parametrize("change", [{"data_root": "/data"}, {"plugins": ("x",)}, {"recipe_source": {"lr": "user"}}])
def test_locations_and_loading_hints_do_not_change_the_hash(change):
    assert _cfg(**change).config_hash() == _cfg().config_hash()


def test_a_neutral_gate_lr_scale_is_left_out_of_the_hash():
    # results cached before the setting existed keep their run ids
    assert "gate_lr_scale" not in _cfg().hashed_dict()["train"]
    assert _cfg(train=TrainSettings(max_steps=10, gate_lr_scale=50.0)).hashed_dict()["train"]["gate_lr_scale"] == 50


def test_profile_numbers_written_as_integers_read_as_the_fields_floats():
    # `gate_lr_scale: 50` and `lr: 1` must hash as 50.0 and 1.0 do, as a --flag or --config value would
    text = "summary: s\nlr: 1\ngrad_clip: 1\nest_step_s: 1\nest_eval_item_s: 1\ntrain: {gate_lr_scale: 50}"
    p = parse_profile("ints", text)
    assert [type(v) for v in (p.lr, p.grad_clip, p.est_step_s, p.train.gate_lr_scale)] == [float] * 4
    assert type(p.train.checkpoint_every) is int


def test_run_id_is_deterministic_and_readable():
    cfg = _cfg()
    assert cfg.run_id == _cfg().run_id
    assert cfg.run_id.startswith("depalm__syn-coco__s0__lr0.0008__") and cfg.run_id.endswith(cfg.config_hash()[:10])


@pytest.mark.parametrize("bad", [{"lr": -1e-3}, {"lr": float("nan")}, {"grad_clip": 0.0}, {"seed": -1}])
def test_invalid_values_are_refused(bad):
    with pytest.raises(ValueError, match="invalid run config"):
        _cfg(**bad)


def test_paper_profile_is_the_c3_recipe():
    p = get_profile("paper")
    t = p.train
    assert (p.lr, p.grad_clip) == (8e-4, 0.8)
    assert (t.weight_decay, t.adam_eps, t.warmup_frac, t.min_lr_ratio, t.label_smoothing) == (
        0.1,
        1e-4,
        0.2,
        1e-4,
        2e-3,
    )
    assert (t.batch_size, t.micro_batch_size, t.augment, t.epochs, t.max_steps) == (128, 16, True, None, None)
    assert (p.eval.num_beams, p.eval.max_new_tokens) == (3, 50)


def test_profiles_are_distinct_and_quick_ones_skip_augmentation():
    assert set(PROFILES) == {"smoke", "quick", "cpu", "paper"}
    assert len({dataclasses.astuple(p.train) for p in PROFILES.values()}) == 4
    assert not any(PROFILES[name].train.augment for name in ("smoke", "quick", "cpu"))
    with pytest.raises(KeyError, match="smoke"):
        get_profile("fast")


# The profiles as they were written in Python before they became files: the files must hold exactly these values
# (the config hash of every cell, and so every cached result, depends on them).
PYTHON_PROFILES = {
    "paper": Profile(
        name="paper",
        summary="Appendix C.3: effective batch 128, the benchmark's epochs, augmentation, beam 3, 50 new tokens",
        lr=8e-4,
        grad_clip=0.8,
        train=TrainSettings(checkpoint_every_s=600.0, num_workers=None),
        eval=EvalSettings(),
        est_step_s=2.0,
        est_eval_item_s=0.05,
        official_budget=True,
    ),
    "cpu": Profile(
        name="cpu",
        summary="2-core CPU, about 30 min for all methods x 3 seeds on one offline benchmark: frozen-feature "
        "cache, 96 px images, 24 steps of batch 8, greedy <= 16 new tokens on every test item, captions scored "
        "with CIDEr + BLEU-4 only",
        lr=1e-3,
        grad_clip=0.8,
        train=TrainSettings(
            max_steps=24,
            batch_size=8,
            micro_batch_size=8,
            max_target_tokens=16,
            augment=False,
            train_size=192,
            image_size=96,
            checkpoint_every=8,
            log_every=4,
            feature_batch_size=32,
            backbone_dtype="auto",
            gate_lr_scale=50.0,  # reset to 1 for methods without gates, whose hashes it leaves as they were
        ),
        eval=EvalSettings(
            num_beams=1,
            max_new_tokens=16,
            batch_size=24,
            splits=(REPORTED_SPLIT,),
            metrics=("CIDEr", "BLEU_4"),
        ),
        est_step_s=3.0,
        est_eval_item_s=0.1,
    ),
    "quick": Profile(
        name="quick",
        summary="first look, under 5 min on 2 CPU cores: 8 steps of batch 8, 64 px images, greedy <= 8 new tokens "
        "on 32 test items; cannot rank",
        lr=1e-3,
        grad_clip=0.8,
        train=TrainSettings(
            max_steps=8,
            batch_size=8,
            micro_batch_size=8,
            max_target_tokens=8,
            augment=False,
            train_size=64,
            image_size=64,
            checkpoint_every=8,
            log_every=2,
            feature_batch_size=32,
            backbone_dtype="auto",
            gate_lr_scale=150.0,
        ),
        eval=EvalSettings(
            num_beams=1,
            max_new_tokens=8,
            batch_size=32,
            splits=(REPORTED_SPLIT,),
            size=32,
            metrics=("CIDEr", "BLEU_4"),
        ),
        est_step_s=2.0,
        est_eval_item_s=0.08,
    ),
    "smoke": Profile(
        name="smoke",
        summary="seconds per run for tests/CI: 4 steps of batch 4 on 16 items, greedy 6 new tokens on 8 items",
        lr=1e-3,
        grad_clip=0.8,
        train=TrainSettings(
            max_steps=4,
            batch_size=4,
            micro_batch_size=2,
            max_target_tokens=12,
            augment=False,
            train_size=16,
            image_size=64,
            checkpoint_every=2,
            log_every=1,
            feature_batch_size=16,
            backbone_dtype="float32",
        ),
        eval=EvalSettings(
            num_beams=1, max_new_tokens=6, batch_size=8, splits=(REPORTED_SPLIT,), size=8, metrics=("CIDEr", "BLEU_4")
        ),
        est_step_s=0.5,
        est_eval_item_s=0.05,
    ),
}


def test_profile_files_hold_exactly_the_python_profiles_values():
    assert PROFILES == PYTHON_PROFILES
    assert all(type(v) is tuple for p in PROFILES.values() for v in (p.eval.splits, p.train.adam_betas))


@pytest.mark.parametrize(
    "text, needle",
    [
        (
            "summary: s\nlr: 0.001\ngrad_clip: 0.8\nest_step_s: 1\nest_eval_item_s: 1\ntrain: {max_step: 3}\n",
            "unknown train setting(s) max_step",
        ),
        ("summary: s\nlr: 1e-3\ngrad_clip: 0.8\nest_step_s: 1\nest_eval_item_s: 1\n", "lr '1e-3' is not a number"),
        ("summary: s\nlr: 0.001\n", "missing key(s) grad_clip, est_step_s, est_eval_item_s"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_a_profile_file_with_a_wrong_key_or_value_is_refused(text, needle):
    with pytest.raises(ValueError) as e:
        parse_profile("mine", text)
    assert needle in str(e.value) and "profile mine" in str(e.value)


def test_a_cell_builds_its_method_from_the_run_config_not_from_the_registry(tmp_path):
    """The resolved config is the single source of a run: a config stored by an earlier resolution (another preset
    version, an id no longer registered) runs the method it holds."""
    from harness.cli import parse_study
    from harness.runner.cell import Backbones, CellRun
    from harness.runner.matrix import plan

    study = parse_study(
        [
            "--methods",
            "depalm",
            "--no-controls",
            "--datasets",
            "syn-coco",
            "--profile",
            "smoke",
            "--results",
            str(tmp_path / "results"),
        ]
    )
    cfg = plan(study).cells[0]
    method_config = json.loads(json.dumps(cfg.method_config))
    method_config["id"] = "depalm-stored"
    method_config["mapping"]["options"]["n_queries"] = 4
    stored = RunConfig.from_dict({**cfg.to_dict(), "method": "depalm-stored", "method_config": method_config})
    cell = CellRun(stored, tmp_path / "run", Backbones())
    assert cell.preset.id == "depalm-stored" and cell.preset.mapping.options["n_queries"] == 4
    with pytest.raises(ValueError, match="no method_config"):
        CellRun(dataclasses.replace(cfg, method_config={}), tmp_path / "run", Backbones())


def test_low_data_subset_follows_the_run_seed_unless_fixed(tmp_path):
    """D4: the official code draws the 1% subset with the run seed; TrainSettings.subset_seed fixes it across
    seeds (and enters the config hash)."""
    from harness.cli import parse_study
    from harness.runner.cell import Backbones, CellRun
    from harness.runner.matrix import plan

    args = parse_study(
        [
            "--methods",
            "limber-1",
            "--no-controls",
            "--datasets",
            "syn-coco-1pct",
            "--profile",
            "smoke",
            "--seeds",
            "0,1",
            "--results",
            str(tmp_path / "results"),
        ]
    )
    cells = plan(args).cells
    ids = [[it.id for it in CellRun(c, tmp_path / "run", Backbones()).items("train")] for c in cells]
    assert ids[0] != ids[1]
    fixed = [dataclasses.replace(c, train=dataclasses.replace(c.train, subset_seed=7)) for c in cells]
    fixed_ids = [[it.id for it in CellRun(c, tmp_path / "run", Backbones()).items("train")] for c in fixed]
    assert fixed_ids[0] == fixed_ids[1] and fixed[0].config_hash() != cells[0].config_hash()


def test_the_subset_seed_is_a_study_setting(tmp_path):
    from harness.cli import parse_study
    from harness.errors import UsageError
    from harness.runner.matrix import plan

    base = [
        "--methods",
        "limber-1",
        "--no-controls",
        "--datasets",
        "syn-coco-1pct",
        "--profile",
        "smoke",
        "--seeds",
        "0,1",
        "--results",
        str(tmp_path / "r"),
    ]
    assert {c.train.subset_seed for c in plan(parse_study([*base, "--train.subset_seed", "0"])).cells} == {0}
    with pytest.raises(UsageError, match="subset_seed -1: must be an integer >= 0"):
        plan(parse_study([*base, "--train.subset_seed=-1"]))
