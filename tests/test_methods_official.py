"""The two recipe variants of the presets: exact trainable-parameter counts of the official code and of the paper
variant (LLaMA-7B + CLIP-L through the describe path), the variant registry, and each official preset's blocks on
tiny configs (facebookresearch/DePALM at d532fe1; the file:line facts are cited in methods/presets.py)."""

from __future__ import annotations

import csv
import dataclasses
import math

import pytest
import torch
from test_methods import PAPER_IDS, one_thread, rrand_training_draws  # noqa: F401
from test_methods_llm import LAYERS, SPEC, VOCAB, batch, build, hidden_arg, small, tiny_llm
from torch import nn

from methods import (
    BlockConfig,
    ExtractionConfig,
    FeatureSpec,
    MethodConfig,
    UnknownMethodError,
    build_connector,
    build_model,
    get_preset,
    list_presets,
    register_preset,
)
from methods.config import LLMDims, RecipeOverrides, TokenLayout
from methods.describe import describe_methods
from methods.injection import GatedCrossAttention, InjectableLayer
from methods.mapping.resampler import BlockResampler
from methods.mapping.rrand import RandomTokenSubset
from methods.modules import CrossAttention, ScaleBias
from methods.registry import block_options
from methods.variants import DEFAULT_VARIANT, VARIANTS

# The official code's modules built with LLaMA-7B (d 4096, 32 layers) + CLIP-L (d 1024, 16x16 patches + CLS).
OFFICIAL_COUNTS = {
    "LiMBeR⁽¹⁾": 4_198_400,
    "LiMBeR⁽ᵃˡˡ⁾": 4_198_400,
    "MAPL": 2_906_368,
    "eP-ALM": 4_313_088,
    "DePALM": 17_888_256,
    "DePALM^{QP,inner}": 18_097_152,
    "DePALM^{R-avgpool,L0}": 20_987_904,
    "DePALM^{R-linear,L0}": 88_100_864,
    "DePALM^{R-QPMapper,L0}": 18_129_152,
    "DePALM^{R-rand,L0}": 4_203_520,
    "DePALM^{c-attn}": 21_060_609,
}
# The appendix presets as they were before the variants existed.
PAPER_COUNTS = {
    "LiMBeR⁽¹⁾": 4_198_400,
    "LiMBeR⁽ᵃˡˡ⁾": 4_198_400,
    "MAPL": 2_906_368,
    "eP-ALM": 4_198_400,
    "DePALM": 17_892_352,
    "DePALM^{QP,inner}": 17_953_792,
    "DePALM^{R-avgpool,L0}": 20_987_904,
    "DePALM^{R-linear,L0}": 88_100_864,
    "DePALM^{R-QPMapper,L0}": 18_129_152,
    "DePALM^{R-rand,L0}": 20_987_904,
    "DePALM^{c-attn}": 20_998_156,
}


@pytest.mark.parametrize("variant,expected", [("official", OFFICIAL_COUNTS), ("paper", PAPER_COUNTS)])
def test_table1_counts_are_exact_per_variant(tmp_path, variant, expected):
    md, table = describe_methods(4096, 1024, 32, 256, tmp_path, variant)
    with table.open() as f:
        rows = list(csv.DictReader(f))
    assert {r["method"]: int(r["trainable_params"]) for r in rows} == expected
    assert {r["variant"] for r in rows} == {variant}
    assert md.read_text().startswith(f"# Table 1: adaptation mechanisms ({variant} variant)")
    assert f"{expected['DePALM']:,}" in md.read_text()


def test_describe_methods_cli_takes_the_variant(tmp_path, capsys):
    from harness.cli import main

    assert main(["--describe-methods", "--variant", "paper", "--out", str(tmp_path)]) == 0
    assert "(paper variant)" in (tmp_path / "table1.md").read_text()
    assert main(["--describe-methods", "--out", str(tmp_path)]) == 0
    assert f"({DEFAULT_VARIANT} variant)" in (tmp_path / "table1.md").read_text()
    capsys.readouterr()
    assert main(["--describe-methods", "--variant", "appendix", "--out", str(tmp_path)]) == 2
    assert "official, paper" in capsys.readouterr().err


def test_the_default_variant_is_official():
    assert VARIANTS == ("official", "paper") and DEFAULT_VARIANT == "official"
    assert get_preset("depalm") == get_preset("depalm", "official")


@pytest.mark.parametrize("method_id", PAPER_IDS)
def test_each_preset_records_its_variant(method_id):
    for variant in VARIANTS:
        cfg = get_preset(method_id, variant)
        assert cfg.variant == variant and cfg.id == method_id
        assert dataclasses.asdict(cfg)["variant"] == variant  # so it enters the run config hash
        assert MethodConfig.from_dict(dataclasses.asdict(cfg)) == cfg
        bias_ft = get_preset(f"{method_id}+bias-ft", variant)
        assert bias_ft.variant == variant and bias_ft.finetune.encoder_bias
        assert dataclasses.replace(bias_ft, id=cfg.id, display_name=cfg.display_name, finetune=cfg.finetune) == cfg


def test_unknown_variant_names_the_valid_ones():
    with pytest.raises(ValueError, match="unknown variant 'appendix'; valid: official, paper"):
        get_preset("depalm", "appendix")
    with pytest.raises(ValueError, match="valid: official, paper"):
        dataclasses.replace(get_preset("depalm"), variant="x")
    with pytest.raises(ValueError, match="valid: official, paper"):
        describe_methods(4096, 1024, 32, 256, ".", "x")
    with pytest.raises(UnknownMethodError):
        get_preset("nope", "paper")


def test_a_stored_config_without_a_variant_reads_as_paper():
    d = dataclasses.asdict(get_preset("depalm", "paper"))
    del d["variant"], d["recipe"], d["finetune"]["prompt_init"]
    assert MethodConfig.from_dict(d) == get_preset("depalm", "paper")


def test_recipe_overrides_are_recorded_per_method():
    assert get_preset("depalm-c-attn").recipe == RecipeOverrides(grad_clip=0.05, grad_accum=2)
    assert get_preset("depalm-c-attn", "paper").recipe == RecipeOverrides()
    assert all(get_preset(m).recipe == RecipeOverrides() for m in PAPER_IDS if m != "depalm-c-attn")
    with pytest.raises(ValueError, match="grad_accum"):
        RecipeOverrides(grad_accum=0)


def plugin_config(method_id: str = "test-plugin") -> MethodConfig:
    return MethodConfig(
        id=method_id,
        display_name=method_id,
        extraction=ExtractionConfig(),
        mapping=BlockConfig("linear"),
        injection=BlockConfig("first-layer"),
    )


def test_plugin_forms_register_in_both_variants(isolated_registry):
    register_preset(plugin_config("test-config"))

    @register_preset
    def zero_args() -> MethodConfig:
        return plugin_config("test-zero-args")

    @register_preset
    def per_variant(variant: str) -> MethodConfig:
        return get_preset("depalm", variant).with_options(
            mapping={"n_queries": 4}, id="test-per-variant", display_name="QP4"
        )

    assert callable(zero_args) and callable(per_variant)  # the decorator returns the function
    for method_id in ("test-config", "test-zero-args"):
        official, paper = get_preset(method_id, "official"), get_preset(method_id, "paper")
        assert (official.variant, paper.variant) == ("official", "paper")
        assert dataclasses.replace(paper, variant="official") == official
    for variant in VARIANTS:
        cfg = get_preset("test-per-variant", variant)
        assert cfg.variant == variant and cfg.mapping.options["n_queries"] == 4
        assert dataclasses.replace(
            cfg, id="depalm", display_name="DePALM", mapping=get_preset("depalm", variant).mapping
        ) == get_preset("depalm", variant)
    assert get_preset("test-per-variant+bias-ft", "paper").finetune.encoder_bias
    assert list_presets()[-3:] == ["test-config", "test-zero-args", "test-per-variant"]


def test_plugin_mistakes_fail_clearly(isolated_registry):
    with pytest.raises(ValueError, match="asked for variant 'paper'"):
        register_preset(lambda variant: get_preset("depalm").with_options(id="test-wrong", display_name="w"))
    with pytest.raises(ValueError, match="one id in every variant"):
        register_preset(lambda variant: dataclasses.replace(plugin_config(f"test-{variant}"), variant=variant))
    register_preset(plugin_config())
    register_preset(plugin_config())  # idempotent
    with pytest.raises(ValueError, match="already registered"):
        register_preset(
            lambda variant: dataclasses.replace(
                plugin_config(), variant=variant, display_name="other" if variant == "paper" else "test-plugin"
            )
        )


def test_plugin_example_follows_depalm_in_each_variant(isolated_registry):
    import importlib

    importlib.import_module("methods.contrib.qpmapper8")
    for variant in VARIANTS:
        depalm, qp8 = get_preset("depalm", variant), get_preset("depalm-qp8", variant)
        assert qp8.variant == variant and qp8.mapping.options == {**depalm.mapping.options, "n_queries": 8}


# --- official blocks on tiny configs ------------------------------------------------------------------------------


def trainable_names(model) -> set[str]:
    return {n for n, p in model.connector.named_parameters() if p.requires_grad}


def test_official_epalm_injects_into_6_layers_with_per_layer_norm_and_bias():
    model = build("epalm")  # 16-layer LLM: layers 16 - 6 - 3 = 7 .. 12, one level each
    plan = {7 + r: r for r in range(6)}
    assert model.connector.injection.layer_plan() == plan and set(model.injected_layers) == set(plan)
    tuners = model.connector.injection.tuners
    assert len(tuners) == 6 and all(isinstance(t[0], nn.RMSNorm) and isinstance(t[1], ScaleBias) for t in tuners)
    assert all(t[0].eps == 1e-4 for t in tuners)
    assert {
        f"injection.tuners.{i}.{p}" for i in range(6) for p in ("0.weight", "1.scale", "1.bias")
    } <= trainable_names(model)
    assert model.connector.prompt.tokens.shape[0] == 10 and model.n_injected_tokens == 1 + 10
    for t in tuners:  # trained values, so the check is not the identity
        nn.init.normal_(t[0].weight)
        nn.init.normal_(t[1].scale)
        nn.init.normal_(t[1].bias)
    feats, ids, mask = batch()
    seen: dict[int, torch.Tensor] = {}
    for i in plan:
        model.injected_layers[i].layer.register_forward_pre_hook(
            lambda m, args, kwargs, i=i: seen.__setitem__(i, hidden_arg(args, kwargs)[:, 0]), with_kwargs=True
        )
    with torch.no_grad():
        model(feats, ids, mask)
        mapped = model.connector(feats)  # [B, 6 levels, 1 CLS token, d]
    for rank, (i, level) in enumerate(plan.items()):
        norm, tune = tuners[rank]
        assert torch.allclose(seen[i], tune(norm(mapped[:, level, 0])), atol=1e-6)
    out = model(feats, ids, mask, labels=ids)
    out.loss.backward()
    assert all(p.grad is not None for t in tuners for p in t.parameters())


def test_official_depalm_has_no_token_norm_and_normal_init():
    paper, official = build("depalm", variant="paper"), build("depalm")
    assert isinstance(paper.connector.mapping.norm, nn.RMSNorm)
    assert isinstance(official.connector.mapping.norm, nn.Identity)
    assert not any(isinstance(m, nn.RMSNorm) for m in official.connector.modules())
    assert all(layer.norm1.eps == 1e-4 for layer in official.connector.mapping.pool.layers)
    cfg = get_preset("depalm")
    assert cfg.finetune.prompt_init == "normal" and cfg.finetune.n_prompt == 1
    torch.manual_seed(0)
    wide = build_connector(cfg, FeatureSpec(d_feats=8, grid=(2, 2), has_cls=True, n_levels=1), LLMDims(4096, 4096, 4))
    assert wide.prompt.tokens.std().item() == pytest.approx(1.0, abs=0.05)  # N(0, 1), not vocabulary rows
    assert wide.mapping.pool.queries.std().item() == pytest.approx(1.0, abs=0.05)
    embeds = official.adapter.embed.weight
    assert not any(torch.equal(official.connector.prompt.tokens[0], row) for row in embeds)
    assert any(torch.equal(paper.connector.prompt.tokens[0], row) for row in paper.adapter.embed.weight)


def test_official_qp_inner_tunes_each_of_its_12_layers():
    model = build("depalm-qp-inner")
    assert len(model.connector.injection.tuners) == 12 and isinstance(model.connector.mapping.norm, nn.Identity)
    assert model.connector.prompt.tokens.shape[0] == 16
    assert not build("depalm-qp-inner", variant="paper").connector.injection.tuners


def official_avgpool_reference(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """The official TokensResampler with type avg_pool on projected patch tokens [b, H*W, d]: 2x2 blocks, then
    nn.AvgPool1d(4) on each [4, d] block, regrouped to [b, n_blocks, d]."""
    b, _, d = tokens.shape
    h, w = grid
    blocks = tokens.reshape(b, h // 2, 2, w // 2, 2, d).transpose(2, 3).reshape(b * h * w // 4, 4, d)
    return nn.AvgPool1d(4)(blocks).reshape(b, -1, d)


def test_official_r_avgpool_pools_as_the_official_code():
    cfg = get_preset("depalm-r-avgpool").mapping
    layout = TokenLayout(d=8, grid=(4, 6), has_cls=True)
    block = BlockResampler(block_options("mapping", cfg), layout, d_target=16).eval()
    captured = {}
    block.norm.register_forward_hook(lambda m, inp, out: captured.setdefault("pooled", inp[0]))
    x = torch.randn(3, 1 + 24, 8)
    assert block(x.unsqueeze(1)).shape == (3, 1, 1 + 6, 16)
    proj = block.proj_in(x)
    assert torch.allclose(captured["pooled"][:, 1:], official_avgpool_reference(proj[:, 1:], (4, 6)), atol=1e-6)
    assert torch.allclose(captured["pooled"][:, 0], proj[:, 0])
    assert not torch.allclose(captured["pooled"][:, 1], proj[:, [1, 2, 7, 8]].mean(1))  # not the mean of tokens
    assert block.norm.eps == 1e-4
    with pytest.raises(ValueError, match="multiple of 4"):
        BlockResampler(block_options("mapping", cfg), layout, d_target=18)


def test_official_r_qpmapper_has_a_linear_ffn():
    model = build("depalm-r-qpmapper")
    layers = model.connector.mapping.pool.layers
    assert len(layers) == 4 and all(isinstance(layer.activation, nn.Identity) for layer in layers)
    assert all(layer.norm1.eps == 1e-4 for layer in layers)
    paper = build("depalm-r-qpmapper", variant="paper").connector.mapping.pool.layers
    assert all(isinstance(layer.activation, nn.GELU) for layer in paper)


def official_rrand(n_patches: int = 256, d: int = 8) -> RandomTokenSubset:
    return RandomTokenSubset(
        block_options("mapping", get_preset("depalm-r-rand").mapping),
        TokenLayout(d=d, grid=(n_patches,), has_cls=True),
        d_target=16,
    )


def test_official_r_rand_keeps_all_tokens_at_evaluation():
    block = official_rrand().eval()
    assert isinstance(block.proj_in, nn.Identity) and block.norm.normalized_shape == (8,)
    assert block.proj_out.in_features == 8 and block.norm.eps == 1e-4
    seen = []
    block.norm.register_forward_hook(lambda m, inp, out: seen.append(inp[0]))
    x = torch.randn(2, 1, 257, 8)
    assert block(x).shape == (2, 1, 257, 16) and block.n_out_tokens() == 257
    assert torch.equal(seen[0], x[:, 0])
    assert build("depalm-r-rand").n_injected_tokens == SPEC.n_tokens + 1  # all tokens + the prompt token


def test_official_r_rand_draws_one_subset_per_batch_in_training():
    block = official_rrand()
    x = torch.randn(4, 1, 257, 8)
    seen, counts = rrand_training_draws(block, block.norm, x, 100)
    for s in seen:
        kept = [[int((x[b, 0] == row).all(-1).nonzero()) for row in s[b]] for b in range(4)]
        assert kept[0][0] == 0 and kept[0] == sorted(kept[0])  # CLS first, patches in grid order
        assert all(k == kept[0] for k in kept)  # the same subset for every sample of the batch
    assert min(counts) >= 16 and max(counts) == 128 and len(set(counts)) > 10
    assert block.n_kept(0.3) == 77 and official_rrand().n_kept(1 / 512) == 1  # round(76.8), at least one
    paper = RandomTokenSubset(RandomTokenSubset.Options(), TokenLayout(d=8, grid=(256,), has_cls=True), 8)
    assert paper.n_kept(0.3) == 76  # floor (C.2)


def official_xattn(d: int = 16, d_llm: int = 24, n_levels: int = 4) -> GatedCrossAttention:
    cfg = get_preset("depalm-c-attn").injection
    cfg.options["d_embed"] = d
    return GatedCrossAttention(block_options("injection", cfg), LLMDims(d_llm, d_llm, 16), n_levels, d)


def test_official_c_attn_blocks():
    model = build("depalm-c-attn")
    inj, mem = model.connector.injection, model.connector.mapping
    assert inj.gates.shape == (1,) and isinstance(inj.attn, CrossAttention)
    assert not hasattr(inj.attn, "out_proj") and inj.norm.normalized_shape == (32,)  # d_embed, before proj_out
    assert isinstance(mem.proj_out, nn.Linear) and mem.transformer.norm1.eps == 1e-4
    assert model.connector.prompt.tokens.shape[0] == 16 and model.n_injected_tokens == 16
    paper = build("depalm-c-attn", variant="paper").connector.injection
    assert paper.gates.shape == (12,) and isinstance(paper.attn, nn.MultiheadAttention)
    assert paper.norm.normalized_shape == (32,) and paper.proj_out.out_features == 32  # d_LLM = 32 here


def test_official_c_attn_is_the_standard_multi_head_computation():
    torch.manual_seed(0)
    block = official_xattn().eval()
    nn.init.normal_(block.gates)
    hidden, memory = torch.randn(2, 5, 24), torch.randn(2, 7, 16)
    with torch.no_grad():
        q = block.text_norm(block.text_ffn(hidden))
        a = block.attn
        heads = 8
        qh, kh, vh = (t.reshape(2, -1, heads, 2) for t in (a.q_proj(q), a.k_proj(memory), a.v_proj(memory)))
        weights = torch.einsum("bqhc,bkhc->bhqk", qh, kh).div(math.sqrt(2)).softmax(-1)
        y = torch.einsum("bhqk,bkhc->bqhc", weights, vh).reshape(2, 5, 16)
        expected = hidden + torch.tanh(block.gates[0]) * block.proj_out(block.norm(y))
        for rank in (0, 5, 11):  # one gate shared by all layers
            assert torch.allclose(block.cross_attend(hidden, memory, rank), expected, atol=1e-5)


def test_official_c_attn_is_causal():
    model = build("depalm-c-attn")
    model.connector.injection.gates.data.fill_(0.8)
    feats, ids, _ = batch(b=1, s=8)
    mask = torch.ones_like(ids)
    later = ids.clone()
    later[0, 5:] = (later[0, 5:] + 7) % VOCAB
    with torch.no_grad():
        a, b = model(feats, ids, mask).logits, model(feats, later, mask).logits
    assert torch.allclose(a[:, :5], b[:, :5], atol=1e-6)
    assert not torch.allclose(a[:, 5:], b[:, 5:], atol=1e-3)


def test_c_attn_attention_dropout_acts_in_training_only():
    assert get_preset("depalm-c-attn").injection.options["dropout"] == 0.0
    torch.manual_seed(0)
    block = official_xattn()
    block.attn.dropout = 0.5
    nn.init.normal_(block.gates)
    hidden, memory = torch.randn(2, 5, 24), torch.randn(2, 7, 16)
    block.eval()
    with torch.no_grad():
        assert torch.equal(block.cross_attend(hidden, memory, 0), block.cross_attend(hidden, memory, 0))
        block.train()
        assert not torch.equal(block.cross_attend(hidden, memory, 0), block.cross_attend(hidden, memory, 0))


def test_official_epalm_fits_a_tiny_llm_only_with_room_for_its_layers():
    assert LAYERS == 16
    llm = tiny_llm("llama")
    with pytest.raises(ValueError, match="at least 10 layers"), torch.device("meta"):
        build_connector(small("epalm"), SPEC, LLMDims(32, 32, 9))
    assert build_model(small("epalm"), SPEC, llm).n_injected_tokens == 11
    assert all(isinstance(llm.model.layers[i], InjectableLayer) for i in range(7, 13))


def test_resampler_with_a_final_qpmapper_as_the_official_1pct_r_qpmapper_cells():
    """The 1% R-QPMapper scripts also set adapter.transformer.n_layers=1: a one-query QPMapper follows the
    resampler, so one perceptual token reaches the LLM (a per-cell override of the mapping options)."""
    cfg = get_preset("depalm-r-qpmapper").with_options(mapping={"d_embed": 32, "post_qp_layers": 1})
    torch.manual_seed(0)
    connector = build_connector(cfg, SPEC, LLMDims(48, 48, 4)).eval()
    block = connector.mapping
    assert block.n_out_tokens() == 1 and connector.n_injected_tokens == 1 + 1
    assert len(block.post_qp.layers) == 1 and isinstance(block.post_qp.layers[0].activation, nn.Identity)
    x = torch.randn(2, 1, SPEC.n_tokens, SPEC.d_feats)
    with torch.no_grad():
        resampled = []
        block.norm.register_forward_hook(lambda m, inp, out: resampled.append(out))
        out = connector(x)
        assert out.shape == (2, 1, 1, 48)
        assert torch.allclose(out[:, 0], block.proj_out(block.post_qp(resampled[0])), atol=1e-6)
    assert "QPMapper (1 layers, 1 queries)" in BlockResampler.describe(block.options)
    with pytest.raises(ValueError, match="post_qp_queries"):
        BlockResampler.Options(post_qp_queries=0)
