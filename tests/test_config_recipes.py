"""Per-cell recipes (Appendix C.3 "further adapt[ed] for each experiment"; ledger C1-C8, R3, R5, R6): the official
scripts' lr, clip, batch and method overrides per (method, benchmark), and what each profile and variant keeps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config.profiles import get_profile
from harness.config.recipes import OFFICIAL_CELLS, official_cells, resolve_recipe
from methods import get_preset, list_presets

FIXTURES = Path(__file__).parent / "fixtures"
TABLE4 = ["coco", "coco-1pct", "textcaps", "vqav2", "vqav2-1pct", "textvqa", "okvqa", "aokvqa", "audiocaps", "msrvtt"]
NO_SCRIPT = {("depalm-c-attn", "textvqa"), ("depalm-c-attn", "msrvtt")}  # C6: no official script, no inference


def _recipe(method, dataset, variant="official", profile="paper", encoder=None, **user):
    from benchmarks import get_benchmark

    p = get_profile(profile)
    spec = get_benchmark(dataset).spec
    return resolve_recipe(get_preset(method, variant), dataset, encoder or spec.default_encoder, p, p.train, **user)


def test_every_table4_cell_has_its_script_or_is_a_known_gap():
    cells = official_cells()
    assert cells.ranks == 8
    for method in list_presets()[:11]:
        for bench in TABLE4:
            cell = cells.lookup(method, bench, "no-such-encoder")
            if (method, bench) in NO_SCRIPT:
                assert cell is None
                continue
            assert cell is not None, (method, bench)
            if (method, bench) == ("depalm-c-attn", "coco-1pct"):
                assert cell.script is None and "no official script" in cell.inferred
            else:
                path, line = cell.script.rsplit(":", 1)
                assert path.startswith("experiments/") and path.endswith(".sh") and line == "8"
    raw = json.loads(OFFICIAL_CELLS.read_text())["cells"]
    assert len(raw) == len(cells.cells) == 162  # 107 Table 4 scripts + 1 inferred + 44 DINOv2 + 10 bias-ft


def test_official_cell_values_under_the_paper_profile():
    r = _recipe("depalm-c-attn", "vqav2-1pct")  # experiments/vqa_1%/vqa_1%_depalm-c-attn.sh:8
    assert (r.lr, r.grad_clip) == (4e-3, 0.1)
    assert (r.train.batch_size, r.train.micro_batch_size, r.train.grad_sum_steps) == (256, 16, 2)
    assert r.source["lr"] == "official:experiments/vqa_1%/vqa_1%_depalm-c-attn.sh:8"
    r = _recipe("limber-all", "coco")  # 4 per rank x 8 ranks x 4 accumulation steps
    assert (r.lr, r.grad_clip, r.train.batch_size, r.train.micro_batch_size, r.train.grad_sum_steps) == (
        8e-4,
        0.8,
        128,
        4,
        4,
    )
    r = _recipe("mapl", "coco")
    assert (r.lr, r.grad_clip, r.train.batch_size, r.train.grad_sum_steps) == (8e-4, 0.2, 128, 1)
    r = _recipe("depalm-r-rand", "msrvtt")
    assert (r.lr, r.train.micro_batch_size, r.train.grad_sum_steps) == (4e-4, 2, 8)


def test_cells_without_a_script_use_the_defaults_and_the_method_recipe():
    r = _recipe("depalm-c-attn", "textvqa")  # mod/cross_attn.yaml: clip 0.05, 2 accumulation steps
    assert (r.lr, r.grad_clip, r.train.batch_size, r.train.grad_sum_steps) == (8e-4, 0.05, 256, 2)
    assert r.source["lr"].startswith("no official script")
    assert _recipe("depalm-c-attn", "coco-1pct").source["lr"].startswith("inferred:")


def test_supplementary_scripts_by_encoder_and_bias_tuning():
    assert _recipe("depalm", "coco-1pct", encoder="dinov2-l").lr == 2e-3
    assert _recipe("depalm", "coco-1pct").lr == 8e-4
    assert _recipe("depalm", "coco", encoder="clip-vit-b16").lr == 4e-4  # no script for it: the benchmark's own
    r = _recipe("depalm-r-qpmapper", "vqav2-1pct", encoder="dinov2-l")
    assert r.method_config.mapping.options["post_qp_queries"] == 32
    bias = _recipe("limber-1+bias-ft", "coco")  # experiments/coco_100%_bias-ft/...limber-1...
    assert (bias.lr, bias.train.micro_batch_size) == (8e-4, 4) and "bias-tuning" in bias.source["lr"]
    assert _recipe("limber-1+bias-ft", "vqav2").source["lr"] == _recipe("limber-1", "vqav2").source["lr"]


@pytest.mark.parametrize("profile", ["cpu", "smoke"])
def test_cpu_profiles_keep_their_budget_but_not_the_methods_clip(profile):
    p = get_profile(profile)
    r = _recipe("depalm-c-attn", "vqav2-1pct", profile=profile)
    assert (r.lr, r.grad_clip) == (p.lr, 0.05)  # c-attn's own clipping (mod/cross_attn.yaml:30) is no budget
    assert r.train == p.train
    r = _recipe("mapl", "coco", profile=profile)
    assert (r.lr, r.grad_clip, r.train) == (p.lr, p.grad_clip, p.train)


def test_the_gate_lr_scale_reaches_gated_methods_only(tmp_path):
    from harness.cli import parse_study
    from harness.runner.matrix import plan

    p = get_profile("cpu")
    assert p.train.gate_lr_scale > 1  # c-attn's zero-init gate could not open in the cpu budget otherwise
    methods = ["depalm-c-attn", "mapl", "epalm", "depalm-qp-inner", "limber-1"]
    argv = ["--methods", ",".join(methods), "--datasets", "syn-vqav2", "--profile", "cpu", "--results", str(tmp_path)]
    scale = {c.method: c.train.gate_lr_scale for c in plan(parse_study(argv)).cells}
    # reset to 1 where there is no gate, and 1 is left out of the hash: those methods keep the results they have
    assert scale == {
        "depalm-c-attn": p.train.gate_lr_scale,
        **dict.fromkeys(methods[1:], 1.0),
        "blind": 1.0,
        "prior": 1.0,
    }


@pytest.mark.parametrize("profile", ["paper", "cpu"])
def test_cell_overrides_of_the_method_apply_under_every_profile(profile):
    r = _recipe("depalm-r-qpmapper", "coco-1pct", profile=profile)  # adapter.transformer.n_layers=1 (C3)
    assert {k: r.method_config.mapping.options[k] for k in ("post_qp_layers", "post_qp_queries")} == {
        "post_qp_layers": 1,
        "post_qp_queries": 1,
    }
    assert (
        _recipe("depalm-r-qpmapper", "coco", profile=profile).method_config.mapping.options.get("post_qp_layers", 0)
        == 0
    )
    assert _recipe("limber-all", "msrvtt", profile=profile).method_config.extraction.time_pool == "official"
    assert _recipe("limber-1", "msrvtt", profile=profile).method_config.extraction.time_pool == "none"
    assert _recipe("limber-1", "audiocaps", profile=profile).method_config.extraction.cls_token == "patch-mean"


def test_paper_variant_keeps_the_profile_recipe_and_the_texts_time_averaging():
    p = get_profile("paper")
    r = _recipe("depalm-c-attn", "vqav2-1pct", variant="paper")
    assert (r.lr, r.grad_clip, r.train) == (p.lr, p.grad_clip, p.train)
    assert _recipe("limber-1", "msrvtt", variant="paper").method_config.extraction.time_pool == "mean"
    assert _recipe("depalm-r-rand", "msrvtt", variant="paper").method_config.extraction.time_pool == "mean"
    assert _recipe("limber-all", "msrvtt", variant="paper").method_config.extraction.time_pool == "none"
    assert (
        _recipe("depalm-r-qpmapper", "coco-1pct", variant="paper").method_config.mapping.options.get(
            "post_qp_layers", 0
        )
        == 0
    )


def test_explicit_lr_and_clip_win_and_are_recorded():
    r = _recipe("depalm-c-attn", "vqav2-1pct", lr=1e-4, grad_clip=0.3)
    assert (r.lr, r.grad_clip) == (1e-4, 0.3) and r.source["lr"] == r.source["grad_clip"] == "user"
    assert r.train.batch_size == 256  # the batch is still the cell's


def test_matrix_cells_carry_the_resolved_recipe(tmp_path):
    from harness.cli import parse_study
    from harness.runner.matrix import plan

    base = [
        "--methods",
        "depalm-c-attn,depalm-r-qpmapper",
        "--no-controls",
        "--datasets",
        "vqav2-1pct",
        "--profile",
        "paper",
        "--data-root",
        str(FIXTURES),
        "--results",
        str(tmp_path / "r"),
    ]
    cells = {c.method: c for c in plan(parse_study(base)).cells}
    attn, rqp = cells["depalm-c-attn"], cells["depalm-r-qpmapper"]
    assert (attn.lr, attn.grad_clip, attn.train.batch_size, attn.train.grad_sum_steps) == (4e-3, 0.1, 256, 2)
    assert rqp.method_config["mapping"]["options"]["post_qp_layers"] == 1
    assert attn.recipe_source["lr"].startswith("official:")
    user = plan(parse_study([*base, "--lr", "2e-4"])).cells[0]
    assert user.lr == 2e-4 and user.recipe_source["lr"] == "user" and user.grad_clip == 0.1
    assert user.config_hash() != attn.config_hash()
    own = plan(parse_study([*base, "--train.batch_size", "64"])).cells[0]  # a batch the user sets wins too
    assert (own.train.batch_size, own.train.micro_batch_size, own.train.grad_sum_steps) == (64, 16, 1)
    assert own.recipe_source["batch"] == "user" and own.lr == 4e-3


def test_cells_configure_the_encoder_input_by_variant(tmp_path):
    """F4, F6: under official images and frames are squashed to the encoder's square input; MSR-VTT takes 16
    frames with CLIP statistics (8 and the encoder's own under paper)."""
    from harness.backbones.preprocess import CLIP_MEAN, CLIP_STD
    from harness.cli import parse_study
    from harness.runner.cell import Backbones, CellRun
    from harness.runner.matrix import plan

    args = parse_study(
        [
            "--methods",
            "limber-all",
            "--no-controls",
            "--datasets",
            "msrvtt,coco,audiocaps",
            "--profile",
            "paper",
            "--variant",
            "official,paper",
            "--data-root",
            str(FIXTURES),
            "--results",
            str(tmp_path / "r"),
        ]
    )
    inputs = {
        (c.dataset, c.variant): CellRun(c, tmp_path / "run", Backbones()).encoder_inputs() for c in plan(args).cells
    }
    assert inputs[("msrvtt", "official")] == {"resize": "squash", "frames": 16, "mean_std": (CLIP_MEAN, CLIP_STD)}
    assert inputs[("msrvtt", "paper")] == {"frames": 8}
    assert inputs[("coco", "official")] == {"resize": "squash"} and inputs[("coco", "paper")] == {}
    assert inputs[("audiocaps", "official")] == {}
