"""Connector framework without an LLM: presets, registries, Table 1 counts (meta device), blocks, describe."""

from __future__ import annotations

import csv
import dataclasses
import importlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import PLUGIN

import methods
from methods import (
    BlockConfig,
    ExtractionConfig,
    FeatureSpec,
    MethodConfig,
    UnknownMethodError,
    build_connector,
    get_preset,
    list_presets,
    register_block,
    register_preset,
    registry,
)
from methods.config import LLMDims, TokenLayout
from methods.describe import CSV_COLUMNS, describe_methods
from methods.extraction import extract
from methods.injection import inner_layer_plan
from methods.mapping import MappingBlock
from methods.mapping.resampler import BlockResampler, group_blocks
from methods.mapping.rrand import RandomTokenSubset

PAPER_IDS = [
    "limber-1",
    "limber-all",
    "mapl",
    "epalm",
    "depalm",
    "depalm-qp-inner",
    "depalm-r-avgpool",
    "depalm-r-linear",
    "depalm-r-qpmapper",
    "depalm-r-rand",
    "depalm-c-attn",
]
# Table 1, LLaMA-7B + CLIP-L (d=1024, 16x16 patches + CLS)
LLAMA7B = LLMDims(d_input=4096, d_hidden=4096, n_layers=32)
CLIP_L = FeatureSpec(d_feats=1024, grid=(16, 16), has_cls=True, n_levels=24)
TABLE1_PARAMS = {
    "depalm": 17.9e6,
    "depalm-qp-inner": 18.1e6,
    "depalm-r-rand": 21e6,
    "depalm-r-linear": 88e6,
    "depalm-r-qpmapper": 18e6,
    "depalm-r-avgpool": 21e6,
}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: thread hand-offs cost more than they save (and the CI machine is shared)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def meta_connector(method_id: str, spec: FeatureSpec = CLIP_L, dims: LLMDims = LLAMA7B, variant: str = "official"):
    with torch.device("meta"):
        return build_connector(get_preset(method_id, variant), spec, dims)


def test_the_eleven_paper_methods_are_registered_in_order():
    assert list_presets()[:11] == PAPER_IDS


@pytest.mark.parametrize("variant", ["official", "paper"])
@pytest.mark.parametrize("method_id", PAPER_IDS)
def test_preset_is_json_able_and_round_trips(method_id, variant):
    cfg = get_preset(method_id, variant)
    d = json.loads(json.dumps(dataclasses.asdict(cfg)))
    assert MethodConfig.from_dict(d) == cfg
    assert cfg.extraction.n_levels >= 1


def test_get_preset_returns_an_independent_copy():
    cfg = get_preset("depalm")
    cfg.mapping.options["n_queries"] = 3
    assert get_preset("depalm").mapping.options["n_queries"] == 32


def test_bias_tuning_variant_of_any_method():
    cfg = get_preset("depalm+bias-ft")
    assert cfg.finetune.encoder_bias and cfg.id == "depalm+bias-ft" and cfg.display_name == "DePALM + bias-FT"
    assert not get_preset("depalm").finetune.encoder_bias
    assert "depalm+bias-ft" not in list_presets()
    with pytest.raises(UnknownMethodError):
        get_preset("nope+bias-ft")


def test_unknown_method_names_the_known_ones():
    with pytest.raises(UnknownMethodError, match="depalm-r-rand"):
        get_preset("no-such-method")


@pytest.mark.parametrize("method_id,paper", sorted(TABLE1_PARAMS.items()))
def test_table1_trainable_parameters_within_3_percent(method_id, paper):
    n = sum(p.numel() for p in meta_connector(method_id, variant="paper").parameters())
    assert abs(n - paper) / paper < 0.03, f"{method_id}: {n / 1e6:.2f}M vs paper {paper / 1e6}M"


@pytest.mark.parametrize(
    "method_id,expected",
    [
        ("limber-1", 1),
        ("limber-all", 257),
        ("mapl", 32),
        ("epalm", 1),
        ("depalm", 33),
        ("depalm-qp-inner", 32 + 16),
        ("depalm-r-avgpool", 1 + 64 + 1),
        ("depalm-r-linear", 66),
        ("depalm-r-qpmapper", 66),
        ("depalm-r-rand", 1 + 128 + 1),
        ("depalm-c-attn", 0),
    ],
)
def test_injected_tokens_paper_variant(method_id, expected):
    assert meta_connector(method_id, variant="paper").n_injected_tokens == expected


def test_mlp_mapping_for_the_figure3_sweep():
    cfg = get_preset("limber-all").with_options(id="limber-all-mlp", mapping=None)
    cfg.mapping = BlockConfig("mlp", {"hidden": 64})
    connector = build_connector(cfg, CLIP_L, LLMDims(32, 32, 4))
    assert sum(p.numel() for p in connector.parameters()) == 1024 * 64 + 64 + 64 * 32 + 32
    assert connector(torch.randn(2, 1, 257, 1024)).shape == (2, 1, 257, 32)


def test_inner_layer_plan_follows_b2():
    # eP-ALM on LLaMA-7B: 12 layers 19..30 (last one left out), 6 levels -> 2 consecutive layers per level
    assert inner_layer_plan(32, 12, 1, 6) == {19 + r: r // 2 for r in range(12)}
    # DePALM^{QP,inner}: 12 layers 17..28, 4 levels -> 3 layers each
    assert inner_layer_plan(32, 12, 3, 4) == {17 + r: r // 3 for r in range(12)}
    with pytest.raises(ValueError, match="at least 14 layers"):
        inner_layer_plan(12, 12, 1, 6)


def test_methods_fail_clearly_on_bad_geometry():
    with pytest.raises(ValueError, match="only 2"):
        meta_connector("epalm", spec=FeatureSpec(d_feats=8, grid=(4,), has_cls=True, n_levels=2))
    with pytest.raises(ValueError, match="at least 14"):
        meta_connector("epalm", dims=LLMDims(d_input=64, d_hidden=64, n_layers=12), variant="paper")
    with pytest.raises(ValueError, match="unknown option"), torch.device("meta"):
        build_connector(get_preset("depalm").with_options(mapping={"n_querys": 8}), CLIP_L, LLAMA7B)


def test_extraction_levels_and_cls():
    spec = FeatureSpec(d_feats=3, grid=(2, 2), has_cls=True, n_levels=5)
    feats = torch.randn(2, 5, 5, 3)
    x = extract(feats, ExtractionConfig(n_levels=2), spec)
    assert torch.equal(x, feats[:, 3:])
    assert torch.equal(extract(feats, ExtractionConfig(n_levels=1, tokens="cls"), spec), feats[:, 4:, :1])
    with pytest.raises(ValueError, match=r"features must be \[B, n_levels, 5, 3\]"):
        extract(feats[:, :, 1:], ExtractionConfig(), spec)


def test_extraction_without_cls_uses_the_mean_patch_token():
    spec = FeatureSpec(d_feats=3, grid=(6,), has_cls=False, n_levels=2)
    feats = torch.randn(2, 2, 6, 3)
    cls = extract(feats, ExtractionConfig(n_levels=2, tokens="cls"), spec)
    assert torch.allclose(cls, feats.mean(dim=2, keepdim=True))
    assert torch.equal(extract(feats, ExtractionConfig(n_levels=1), spec), feats[:, 1:])


def test_blocks_group_2x2_on_images_and_4_on_audio():
    x = torch.arange(16.0).reshape(1, 16, 1)  # 4x4 grid, row-major
    blocks = group_blocks(x, (4, 4))
    assert blocks[0, :, :, 0].tolist() == [[0, 1, 4, 5], [2, 3, 6, 7], [8, 9, 12, 13], [10, 11, 14, 15]]
    assert group_blocks(torch.arange(8.0).reshape(1, 8, 1), (8,))[0, :, :, 0].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    video = group_blocks(torch.arange(8.0).reshape(1, 8, 1), (2, 2, 2))  # 2 frames of 2x2: one block per frame
    assert video[0, :, :, 0].tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    odd = group_blocks(torch.arange(9.0).reshape(1, 9, 1), (3, 3))  # edge rows/columns repeated
    assert odd.shape == (1, 4, 4, 1) and odd[0, 3, :, 0].tolist() == [8, 8, 8, 8]


def test_avgpool_resampler_is_a_2x2_average_pool_with_cls_first():
    layout = TokenLayout(d=4, grid=(4, 6), has_cls=True)
    block = BlockResampler(BlockResampler.Options(pool="avgpool"), layout, d_target=4).eval()
    x = torch.randn(2, 1 + 24, 4)
    captured = {}
    block.norm.register_forward_hook(lambda m, inp, out: captured.setdefault("pooled", inp[0]))
    assert block(x.unsqueeze(1)).shape == (2, 1, 1 + 6, 4)
    proj = block.proj_in(x)
    grid = proj[:, 1:].reshape(2, 4, 6, 4).permute(0, 3, 1, 2)
    expected = F.avg_pool2d(grid, 2).flatten(2).transpose(1, 2)
    assert torch.allclose(captured["pooled"][:, 1:], expected, atol=1e-6)
    assert torch.allclose(captured["pooled"][:, 0], proj[:, 0])


def rrand_block(n_patches: int = 256) -> RandomTokenSubset:
    return RandomTokenSubset(RandomTokenSubset.Options(), TokenLayout(d=8, grid=(n_patches,), has_cls=True), 8)


def test_rrand_keeps_f_max_at_evaluation():
    block = rrand_block().eval()
    x = torch.randn(3, 1, 257, 8)
    out = block(x)
    assert out.shape == (3, 1, 1 + 128, 8) and block.n_out_tokens() == 129
    assert torch.equal(out, block(x))  # deterministic: evenly spaced patches
    seen = []
    block.proj_in.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    block(x)
    assert torch.equal(seen[0][:, 1:], x[:, 0, 1::2]) and torch.equal(seen[0][:, 0], x[:, 0, 0])
    every = RandomTokenSubset(RandomTokenSubset.Options(eval_fraction=1.0), block.layout, 8).eval()
    assert every(x).shape[2] == 257 and every.n_out_tokens() == 257  # Section 3.2's "keep all tokens"


def rrand_training_draws(
    block: RandomTokenSubset, probe: torch.nn.Module, x: torch.Tensor, n: int
) -> tuple[list[torch.Tensor], list[int]]:
    """`n` training passes of `x` (seed 0): the tokens entering `probe` in each, and the patch tokens kept."""
    torch.manual_seed(0)
    block.train()
    seen: list[torch.Tensor] = []
    probe.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    return seen, [block(x).shape[2] - 1 for _ in range(n)]


def test_rrand_training_draws_f_in_range_and_keeps_cls():
    block = rrand_block()
    x = torch.randn(2, 1, 257, 8)
    seen, counts = rrand_training_draws(block, block.proj_in, x, 200)
    assert all(torch.equal(s[:, 0], x[:, 0, 0]) for s in seen)  # CLS always first and kept
    assert min(counts) >= math.floor(256 / 16) and max(counts) == 128
    assert 0.05 < counts.count(128) / len(counts) < 0.35  # f_max w.p. 1/10, plus N(1/4, 0.2) mass clipped at 1/2
    assert len(set(counts)) > 10
    kept = seen[0][0, 1:]  # patches keep their grid order
    idx = [int((x[0, 0] == row).all(-1).nonzero()) for row in kept]
    assert idx == sorted(idx)


def mean_token_block():
    @dataclass
    class MeanOptions:
        scale: float = 1.0

    class MeanToken(MappingBlock):
        """A one-file custom block: the mean token, projected."""

        Options = MeanOptions

        def __init__(self, options, layout, d_target):
            super().__init__(options, layout, d_target)
            self.proj = torch.nn.Linear(layout.d, d_target)

        def map_tokens(self, x):
            return self.proj(x.mean(dim=1, keepdim=True)) * self.options.scale

        def n_out_tokens(self):
            return 1

        @classmethod
        def describe(cls, options):
            return "mean token"

    return MeanToken


def test_custom_block_and_preset_register_and_build(isolated_registry):
    block = register_block("mapping", "test-mean-token")(mean_token_block())
    cfg = MethodConfig(
        id="test-mean",
        display_name="Mean",
        extraction=ExtractionConfig(),
        mapping=BlockConfig("test-mean-token", {"scale": 2.0}),
        injection=BlockConfig("first-layer"),
    )
    register_preset(cfg)
    register_preset(cfg)  # idempotent
    assert "test-mean" in list_presets()
    with pytest.raises(ValueError, match="already registered"):
        register_preset(dataclasses.replace(cfg, display_name="other"))
    with pytest.raises(ValueError, match="already registered"):
        register_block("mapping", "linear")(block)
    with pytest.raises(TypeError, match="Options"):
        register_block("mapping", "test-no-options")(torch.nn.Linear)
    with pytest.raises(ValueError, match="must be non-empty"):
        register_preset(dataclasses.replace(cfg, id="depalm+bias-ft"))
    connector = build_connector(get_preset("test-mean"), CLIP_L, LLMDims(16, 16, 4))
    assert connector(torch.randn(2, 1, 257, 1024)).shape == (2, 1, 1, 16)


def test_test_registrations_do_not_leak():
    assert "test-mean" not in list_presets() and "test-mean-token" not in registry.list_blocks("mapping")


def test_plugin_example_registers_and_builds(isolated_registry):
    importlib.import_module(PLUGIN)

    cfg = get_preset("depalm-qp8")
    assert cfg.mapping.options["n_queries"] == 8
    assert meta_connector("depalm-qp8").n_injected_tokens == 8 + 1


def test_methods_readme_examples_run(isolated_registry):
    import re

    readme = (Path(methods.__file__).parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 2
    for code in blocks:
        exec(compile(code, "methods/README.md", "exec"), {})
    connector = build_connector(get_preset("maxpool4"), CLIP_L, LLMDims(16, 16, 4))
    assert connector.n_injected_tokens == math.ceil(257 / 4) + 1
    assert connector(torch.randn(2, 1, 257, 1024)).shape == (2, 1, 65, 16)


def test_describe_methods_writes_table1(tmp_path):
    paths = describe_methods(4096, 1024, 32, 256, tmp_path)
    assert [p.name for p in paths] == ["table1.md", "table1.csv"]
    with paths[1].open() as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    assert list(next(iter(rows.values()))) == CSV_COLUMNS
    assert rows["DePALM"]["injected_tokens"] == "33"
    assert abs(int(rows["DePALM^{R-linear,L0}"]["trainable_params"]) - 88e6) / 88e6 < 0.03
    assert "| DePALM | Tokens from last layer |" in paths[0].read_text()


def test_describe_methods_reports_methods_that_do_not_fit(tmp_path, capsys):
    describe_methods(64, 32, 8, 16, tmp_path)  # an 8-layer LLM: no room for 12 inner layers
    with (tmp_path / "table1.csv").open() as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    assert rows["eP-ALM"]["trainable_params"] == "" and rows["DePALM"]["trainable_params"] != ""
    assert "epalm" in capsys.readouterr().err


def test_describe_methods_cli(tmp_path, capsys, isolated_registry):
    from harness.cli import main

    assert main(["--describe-methods", "--out", str(tmp_path), "--plugin", "methods.contrib.qpmapper8"]) == 0
    assert str(tmp_path / "table1.md") in capsys.readouterr().out
    assert "DePALM^{QP8}" in (tmp_path / "table1.md").read_text()
