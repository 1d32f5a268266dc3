"""PerceptualLM on tiny random HF LLMs (OPT, Llama, GPT-2, Gemma-3; built in-process, no download): every preset's
shapes and gradients, injection placement, padding invariance, cached generation with beams."""

from __future__ import annotations

import math

import pytest
import torch
from test_methods import one_thread  # noqa: F401  (autouse fixture)
from torch import nn
from transformers import (
    Gemma3ForCausalLM,
    Gemma3TextConfig,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    OPTConfig,
    OPTForCausalLM,
)

from methods import FeatureSpec, build_model, get_preset, list_presets
from methods.finetune import enable_bias_tuning
from methods.injection import InjectableLayer

VOCAB, D, LAYERS, EOS = 64, 32, 16, 2
SPEC = FeatureSpec(d_feats=24, grid=(4, 4), has_cls=True, n_levels=6)
PAPER_IDS = list_presets()[:11]
MODES = ["depalm", "depalm-qp-inner", "depalm-c-attn"]  # first-layer, inner-layer, cross-attention injection


def tiny_llm(arch: str) -> nn.Module:
    torch.manual_seed(0)
    common = dict(vocab_size=VOCAB, pad_token_id=0, bos_token_id=1, eos_token_id=EOS)
    if arch == "llama":
        cfg = LlamaConfig(
            hidden_size=D,
            intermediate_size=64,
            num_hidden_layers=LAYERS,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=128,
            **common,
        )
        return LlamaForCausalLM(cfg).eval()
    if arch == "opt":
        cfg = OPTConfig(
            hidden_size=D,
            ffn_dim=64,
            num_hidden_layers=LAYERS,
            num_attention_heads=4,
            max_position_embeddings=128,
            word_embed_proj_dim=D,
            **common,
        )
        return OPTForCausalLM(cfg).eval()
    if arch == "gpt2":
        cfg = GPT2Config(n_embd=D, n_layer=LAYERS, n_head=4, n_positions=128, **common)
        return GPT2LMHeadModel(cfg).eval()
    cfg = Gemma3TextConfig(
        hidden_size=D,
        intermediate_size=64,
        num_hidden_layers=LAYERS,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=128,
        sliding_window=64,
        **common,
    )
    return Gemma3ForCausalLM(cfg).eval()


def small(method_id: str, variant: str = "official"):
    """The preset with latent widths cut to 32 (structure unchanged) so tests stay fast."""
    cfg = get_preset(method_id, variant)
    if "d_embed" in cfg.mapping.options:
        cfg.mapping.options["d_embed"] = 32
    if "d_embed" in cfg.injection.options:
        cfg.injection.options["d_embed"] = 32
    return cfg


def build(method_id: str, arch: str = "llama", variant: str = "official"):
    torch.manual_seed(1)
    return build_model(small(method_id, variant), SPEC, tiny_llm(arch)).eval()


def batch(b: int = 2, s: int = 6, pad_left: bool = False, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(b, SPEC.n_levels, SPEC.n_tokens, SPEC.d_feats, generator=g)
    ids = torch.randint(3, VOCAB, (b, s), generator=g)
    mask = torch.ones(b, s, dtype=torch.long)
    mask[0, : s // 2] = 0  # sample 0 is shorter
    if not pad_left:
        mask = mask.flip(1)
    return feats, ids.masked_fill(mask == 0, 0), mask


def hidden_arg(args: tuple, kwargs: dict) -> torch.Tensor:
    return args[0] if args else kwargs["hidden_states"]


def layer_input_lengths(model) -> tuple[dict[int, int], list]:
    """Sequence length entering each original decoder layer (hooks on the layers inside any wrappers)."""
    lengths: dict[int, int] = {}
    handles = []
    for i, layer in enumerate(model.adapter.layers):
        inner = layer.layer if isinstance(layer, InjectableLayer) else layer
        handles.append(
            inner.register_forward_pre_hook(
                lambda m, args, kwargs, i=i: lengths.__setitem__(i, hidden_arg(args, kwargs).shape[1]), with_kwargs=True
            )
        )
    return lengths, handles


@pytest.mark.parametrize(
    "arch,method_id,variant",
    [("llama", m, v) for m in PAPER_IDS for v in ("official", "paper")]
    + [(a, m, "official") for a in ("opt", "gpt2") for m in ("limber-all", "epalm", *MODES)],
)
def test_forward_shapes_injected_tokens_and_gradients(arch, method_id, variant):
    model = build(method_id, arch, variant)
    feats, ids, mask = batch()
    lengths, _ = layer_input_lengths(model)
    out = model(feats, ids, mask, labels=ids.masked_fill(mask == 0, -100), label_smoothing=0.002)
    assert out.logits.shape == (2, ids.shape[1], VOCAB)
    assert torch.isfinite(out.loss)
    assert max(lengths.values()) - ids.shape[1] == model.n_injected_tokens
    out.loss.backward()
    trainable = model.trainable_parameters()
    assert trainable and all(p.grad is not None for p in trainable)
    assert all(not p.requires_grad and p.grad is None for p in model.llm.parameters())
    assert {id(p) for p in model.parameters() if p.requires_grad} == {id(p) for p in trainable}


AUDIO = FeatureSpec(d_feats=24, grid=(10,), has_cls=False, n_levels=6)  # Whisper-like: no CLS, 1D
VIDEO = FeatureSpec(d_feats=24, grid=(2, 4, 4), has_cls=True, n_levels=6)  # frames x H x W


@pytest.mark.parametrize(
    "spec,method_id,expected",
    [
        (AUDIO, "limber-1", 1),
        (AUDIO, "depalm-r-avgpool", 3 + 1),
        (AUDIO, "depalm-r-rand", 5 + 1),
        (VIDEO, "depalm-r-linear", 1 + 8 + 1),
        (VIDEO, "depalm-r-qpmapper", 1 + 8 + 1),
        (VIDEO, "limber-all", 33),
    ],
)
def test_audio_and_video_token_grids_paper_variant(spec, method_id, expected):
    torch.manual_seed(1)
    model = build_model(small(method_id, "paper"), spec, tiny_llm("llama")).eval()
    assert model.n_injected_tokens == expected
    _, ids, mask = batch()
    feats = torch.randn(2, spec.n_levels, spec.n_tokens, spec.d_feats)
    lengths, _ = layer_input_lengths(model)
    assert model(feats, ids, mask).logits.shape == (2, ids.shape[1], VOCAB)
    assert lengths[0] - ids.shape[1] == expected


@pytest.mark.parametrize("arch", ["llama", "opt", "gpt2"])
def test_inner_injection_lands_on_b2_layers_and_is_dropped(arch):
    model = build("epalm", arch, "paper")  # 6 CLS levels into 12 layers, last one left out: layers 3..14, 2 per level
    plan = {3 + r: r // 2 for r in range(12)}
    assert model.connector.injection.layer_plan() == plan
    feats, ids, mask = batch()
    lengths, _ = layer_input_lengths(model)
    first_tokens: dict[int, torch.Tensor] = {}
    outputs: dict[int, int] = {}
    for i in plan:
        wrapper = model.injected_layers[i]
        wrapper.layer.register_forward_pre_hook(
            lambda m, args, kwargs, i=i: first_tokens.__setitem__(i, hidden_arg(args, kwargs)[:, 0]), with_kwargs=True
        )
        wrapper.register_forward_hook(lambda m, args, out, i=i: outputs.__setitem__(i, out.shape[1]))
    model(feats, ids, mask)
    s = ids.shape[1]
    assert lengths == {i: s + 1 if i in plan else s for i in range(LAYERS)}
    assert all(n == s for n in outputs.values())
    mapped = model.connector(feats)  # [B, 6, 1, d]
    for i, level in plan.items():
        assert torch.allclose(first_tokens[i], mapped[:, level, 0], atol=1e-6)
    assert set(model.injected_layers) == set(plan)


def test_inner_injection_equals_a_hand_written_llama_pass():
    """Reference without wrappers: run Llama's layers one by one, concatenating the level's tokens before each planned
    layer under a plain causal mask (no padding), positions counted from the first token of the layer's sequence."""
    model = build("depalm-qp-inner", "llama", "paper")
    llm = model.llm.model
    feats, ids, _ = batch(b=1)
    mask = torch.ones_like(ids)
    plan = model.connector.injection.layer_plan()
    with torch.no_grad():
        got = model(feats, ids, mask).logits
        mapped = model.connector(feats)
        h = torch.cat([model.connector.prompt(1), llm.embed_tokens(ids)], dim=1)
        for i, layer in enumerate(model.adapter.layers):
            layer = layer.layer if isinstance(layer, InjectableLayer) else layer
            k = mapped.shape[2] if i in plan else 0
            x = torch.cat([mapped[:, plan[i]], h], dim=1) if k else h
            pos = torch.arange(x.shape[1])[None]
            h = layer(x, attention_mask=None, position_ids=pos, position_embeddings=llm.rotary_emb(x, pos))[:, k:]
        expected = model.llm.lm_head(llm.norm(h))[:, -ids.shape[1] :]
    assert torch.allclose(got, expected, atol=1e-5)


def opt_reference_logits(model, feats, ids, first_positioned: bool) -> torch.Tensor:
    """OPT run layer by layer on one unpadded sample, as the official code runs it: learned positions added at the
    input to [prompt tokens, text]; the first-layer tokens put in front of layer 0's input, with positions (counted
    with them) or without (inserted after OPT's embedding, `prefix_tokens.py:147`)."""
    dec = model.llm.model.decoder
    with torch.no_grad():
        first = model.connector.injection.input_tokens(model.connector(feats))
        rest = dec.embed_tokens(ids)
        if model.connector.prompt is not None:
            rest = torch.cat([model.connector.prompt(1), rest], dim=1)

        def positioned(x):
            return x + dec.embed_positions(torch.ones(x.shape[:2]), 0, position_ids=torch.arange(x.shape[1])[None])

        x = positioned(torch.cat([first, rest], dim=1)) if first_positioned else torch.cat([first, positioned(rest)], 1)
        causal = torch.full((x.shape[1], x.shape[1]), torch.finfo(x.dtype).min).triu(1)[None, None]
        for layer in model.adapter.layers:
            out = layer(x, attention_mask=causal)
            x = out[0] if isinstance(out, tuple) else out
        return model.llm.lm_head(dec.final_layer_norm(x))[:, -ids.shape[1] :]


@pytest.mark.parametrize("method_id", ["depalm", "limber-all", "depalm-r-linear"])
def test_official_opt_first_layer_tokens_carry_no_position_embedding(method_id):
    """T3: under the official variant OPT's first-layer tokens get no learned position and do not shift the
    positions of prompt tokens and text; the paper variant positions them like text."""
    feats, ids, _ = batch(b=1)
    mask = torch.ones_like(ids)
    for variant, first_positioned in (("official", False), ("paper", True)):
        model = build(method_id, "opt", variant)
        with torch.no_grad():
            got = model(feats, ids, mask).logits
        assert torch.allclose(got, opt_reference_logits(model, feats, ids, first_positioned), atol=1e-5), variant
        assert not torch.allclose(got, opt_reference_logits(model, feats, ids, not first_positioned), atol=1e-3)


def test_official_opt_with_projected_inputs_refuses_first_layer_tokens():
    torch.manual_seed(0)
    llm = OPTForCausalLM(
        OPTConfig(
            vocab_size=VOCAB,
            hidden_size=D,
            ffn_dim=64,
            num_hidden_layers=LAYERS,
            num_attention_heads=4,
            max_position_embeddings=128,
            word_embed_proj_dim=16,
        )
    ).eval()
    feats, ids, mask = batch()
    with pytest.raises(ValueError, match="project_in"):
        build_model(small("depalm"), SPEC, llm)(feats, ids, mask)


@pytest.mark.parametrize("arch", ["llama", "opt", "gemma3"])
def test_the_lm_head_reads_only_the_text_positions_contiguously(arch):
    """A strided view of the hidden states that requires grad makes torch's matmul copy the [V, d] head once per batch
    row; the head must get a contiguous [B, n_text, d] input (positions, not a count, as logits_to_keep)."""
    model = build("depalm", arch).train()
    feats, ids, mask = batch()
    seen = []
    head = model.llm.get_output_embeddings()
    head.register_forward_pre_hook(lambda m, args: seen.append((args[0].shape, args[0].is_contiguous())))
    out = model(feats, ids, mask, labels=ids.masked_fill(mask == 0, -100))
    out.loss.backward()
    assert seen == [((2, ids.shape[1], D), True)]


@pytest.mark.parametrize("variant", ["official", "paper"])
@pytest.mark.parametrize("arch", ["llama", "opt", "gpt2"])
def test_cross_attention_starts_as_the_frozen_llm(arch, variant):
    """Gates at 0: the frozen LLM on [prompt tokens (official: 16, paper: none), text]."""
    model = build("depalm-c-attn", arch, variant)
    feats, ids, mask = batch()
    with torch.no_grad():
        valid = mask.bool()  # padded positions get other position ids in the plain call
        embeds, full_mask = model.adapter.embed_ids(ids), mask
        n_pt = model.connector.cfg.finetune.n_prompt
        if n_pt:
            embeds = torch.cat([model.connector.prompt(ids.shape[0]), embeds], dim=1)
            full_mask = torch.cat([mask.new_ones(ids.shape[0], n_pt), mask], dim=1)
        frozen = model.llm(inputs_embeds=embeds, attention_mask=full_mask).logits[:, n_pt:][valid]
        assert torch.equal(model(feats, ids, mask).logits[valid], frozen)
        model.connector.injection.gates.fill_(0.5)
        assert not torch.allclose(model(feats, ids, mask).logits[valid], frozen, atol=1e-4)


@pytest.mark.parametrize(
    "arch,method_id",
    [("llama", m) for m in PAPER_IDS]
    + [(a, m) for a in ("opt", "gpt2") for m in MODES]
    + [("gemma3", "depalm"), ("gemma3", "depalm-qp-inner")],
)
def test_logits_same_alone_and_in_padded_batch(arch, method_id):
    model = build(method_id, arch)
    feats, ids, mask = batch()
    n = int(mask[0].sum())
    with torch.no_grad():
        together = model(feats, ids, mask).logits[0, :n]
        alone = model(feats[:1], ids[:1, :n], mask[:1, :n]).logits[0]
    assert torch.allclose(together, alone, atol=1e-5)


def greedy_reference(model, feats, ids, mask, steps):
    """Greedy decoding by full forward passes (no cache), EOS banned as `min_new_tokens` does."""
    new = []
    for _ in range(steps):
        logits = model(feats, ids, mask).logits[:, -1]
        logits[:, EOS] = -math.inf
        nxt = logits.argmax(-1, keepdim=True)
        new.append(nxt)
        ids = torch.cat([ids, nxt], dim=1)
        mask = torch.cat([mask, torch.ones_like(nxt)], dim=1)
    return torch.cat(new, dim=1)


@pytest.mark.parametrize(
    "arch,method_id",
    [("llama", m) for m in PAPER_IDS]
    + [(a, m) for a in ("opt", "gpt2") for m in MODES]
    + [("gemma3", "depalm-qp-inner")],
)
def test_cached_generation_matches_uncached_greedy(arch, method_id):
    model = build(method_id, arch)
    feats, ids, mask = batch(pad_left=True)
    with torch.no_grad():
        expected = greedy_reference(model, feats, ids, mask, steps=4)
    got = model.generate(feats, ids, mask, max_new_tokens=4, min_new_tokens=4, num_beams=1)
    assert torch.equal(got, expected)


@pytest.mark.parametrize("method_id", MODES)
def test_beam_search_batched_equals_alone(method_id):
    model = build(method_id, "llama")
    feats, ids, mask = batch(b=3, pad_left=True)
    n = int(mask[0].sum())
    together = model.generate(feats, ids, mask, max_new_tokens=5, num_beams=3)
    alone = model.generate(feats[:1], ids[:1, -n:], mask[:1, -n:], max_new_tokens=5, num_beams=3)
    assert together.shape[0] == 3 and together.shape[1] <= 5
    assert torch.equal(together[0, : alone.shape[1]], alone[0])


def test_trainable_state_dict_round_trip():
    model, other = build("depalm-qp-inner"), build("depalm-qp-inner")
    nn.init.normal_(model.connector.mapping.proj_out.weight)
    sd = model.trainable_state_dict()
    assert sd and all(k.split(".")[0] in {"mapping", "injection", "prompt"} for k in sd)
    other.load_trainable_state_dict(sd)
    feats, ids, mask = batch()
    with torch.no_grad():
        assert torch.equal(model(feats, ids, mask).logits, other(feats, ids, mask).logits)


def test_train_mode_keeps_the_llm_in_eval():
    model = build("depalm").train()
    assert model.connector.training and not model.llm.training


def test_bias_tuning_trains_only_encoder_biases():
    encoder = nn.Sequential(nn.Linear(8, SPEC.d_feats), nn.GELU(), nn.Linear(SPEC.d_feats, SPEC.d_feats))
    biases = enable_bias_tuning(encoder)
    assert [p.shape for p in biases] == [(SPEC.d_feats,), (SPEC.d_feats,)]
    model = build("depalm")
    _, ids, mask = batch()
    feats = encoder(torch.randn(2, 1, SPEC.n_tokens, 8))
    model(feats, ids, mask, labels=ids).loss.backward()
    assert all(p.grad is not None for p in biases)
    assert encoder[0].weight.grad is None and not encoder[0].weight.requires_grad
    with pytest.raises(ValueError, match="no bias"):
        enable_bias_tuning(nn.Linear(2, 2, bias=False))


def test_half_precision_llm():
    torch.manual_seed(1)
    model = build_model(small("depalm-qp-inner"), SPEC, tiny_llm("llama").to(torch.bfloat16)).eval()
    feats, ids, mask = batch()
    out = model(feats.half(), ids, mask, labels=ids)
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.dtype == torch.float32 and p.grad is not None for p in model.trainable_parameters())


@pytest.mark.parametrize("method_id", PAPER_IDS)
def test_cached_fp16_features_under_cpu_bf16_autocast(method_id):
    """The trainer's path under backbone_dtype bfloat16: a bf16 LLM in autocast, fed the feature cache's fp16."""
    torch.manual_seed(1)
    model = build_model(small(method_id), SPEC, tiny_llm("llama").to(torch.bfloat16))
    feats, ids, mask = batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(feats.half(), ids, mask, labels=ids.masked_fill(mask == 0, -100))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(p.dtype == torch.float32 and p.grad is not None for p in model.trainable_parameters())


def test_c_attn_gate_takes_the_scaled_lr_and_the_rest_does_not():
    """One AdamW step of c-attn's model: the gate moves by ~its own lr (scaled), every other weight as at scale 1."""
    from harness.config import TrainSettings
    from harness.runner.train import build_optimizer

    moved = {}
    for scale in (1.0, 50.0):
        torch.manual_seed(0)
        model = build("depalm-c-attn")
        params = model.trainable_parameters()
        before = [p.detach().clone() for p in params]
        opt = build_optimizer(params, 1e-3, TrainSettings(gate_lr_scale=scale), gates=model.gate_parameters())
        feats, ids, mask = batch()
        model(feats, ids, mask, labels=ids.masked_fill(mask == 0, -100)).loss.backward()
        opt.step()
        moved[scale] = [(p.detach() - b).abs().max().item() for p, b in zip(params, before)]
    gate = next(i for i, p in enumerate(model.trainable_parameters()) if p is model.gate_parameters()[0])
    assert moved[1.0][gate] == pytest.approx(1e-3, rel=0.05) and moved[50.0][gate] == pytest.approx(5e-2, rel=0.05)
    assert [m for i, m in enumerate(moved[50.0]) if i != gate] == [m for i, m in enumerate(moved[1.0]) if i != gate]


def test_gemma3_soft_tokens_use_its_embedding_scale():
    model = build("depalm", "gemma3")
    assert model.adapter.dims.embed_scale == pytest.approx(math.sqrt(D))
    feats, ids, mask = batch()
    first_layer = []
    model.adapter.layers[0].register_forward_pre_hook(
        lambda m, args, kwargs: first_layer.append(hidden_arg(args, kwargs)), with_kwargs=True
    )
    with torch.no_grad():
        model(feats, ids, mask)
        prompt = model.connector.prompt.tokens[0] * math.sqrt(D)
    assert torch.allclose(first_layer[0][0, 32], prompt.to(first_layer[0].dtype), atol=1e-5)


def test_bad_inputs_fail_clearly():
    model = build("depalm")
    feats, ids, mask = batch()
    with pytest.raises(ValueError, match="batch mismatch"):
        model(feats[:1], ids, mask)
    with pytest.raises(ValueError, match="features must be"):
        model(feats[..., :5], ids, mask)
    with pytest.raises(ValueError, match="KV cache"):
        model.generate(feats, ids, mask, max_new_tokens=2, num_beams=1, use_cache=False)
    with pytest.raises(ValueError, match="at least 14 layers"):
        build_model(
            small("epalm", "paper"),
            SPEC,
            LlamaForCausalLM(
                LlamaConfig(
                    vocab_size=VOCAB, hidden_size=D, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4
                )
            ),
        )


def test_models_sharing_one_llm_each_inject_their_own_tokens():
    llm = tiny_llm("llama")
    torch.manual_seed(1)
    epalm = build_model(small("epalm"), SPEC, llm).eval()
    qp_inner = build_model(small("depalm-qp-inner"), SPEC, llm).eval()
    assert all(not isinstance(w.layer, InjectableLayer) for w in qp_inner.injected_layers.values())
    feats, ids, mask = batch()
    for model in (epalm, qp_inner, epalm):
        lengths, handles = layer_input_lengths(model)
        with torch.no_grad():
            model(feats, ids, mask)
        for h in handles:
            h.remove()
        assert max(lengths.values()) - ids.shape[1] == model.n_injected_tokens
        assert {i for i, n in lengths.items() if n > lengths[0]} == set(model.injected_layers)
