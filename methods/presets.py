"""The 11 methods of the paper as declarative presets (Table 1), in both recipe variants (`methods.variants`).

`paper`: Appendix C.1 and C.2 as written. eP-ALM follows C.1, which lists no prompt tuning for the re-implementation
(the original eP-ALM used it, Table 1); C.2 names no prompt tuning for DePALM^{c-attn} either.

`official`: each method as the official code configures it (facebookresearch/DePALM at commit d532fe1: the
`config/experiment` and `config/mod` files its `experiments/*.sh` scripts select, with the method-wide overrides of
those scripts), written as the paper preset plus the differences; each difference cites file:line at that commit.
Settings that apply to every method the same way (the LayerNorm and RMSNorm epsilon of 1e-4, utility.py:244 and
adapters/common.py:272; prompt tokens drawn from N(0, 1), adapters/prefix_tokens.py:600-601; QPMapper queries drawn
from N(0, 1), adapters/common.py:262-263) are in OFFICIAL_*.

Trainable parameters for LLaMA-7B + CLIP-L (`run_matrix.py --describe-methods --variant X`). official: exactly the
official code's (LiMBeR 4,198,400; MAPL 2,906,368; eP-ALM 4,313,088; DePALM 17,888,256; DePALM^{QP,inner}
18,097,152; R-avgpool 20,987,904; R-linear 88,100,864; R-QPMapper 18,129,152; R-rand 4,203,520; c-attn 21,060,609).
paper, vs Table 1: DePALM 17.89M (17.9M), DePALM^{QP,inner} 17.95M (18.1M), R-rand 20.99M (21M), R-linear 88.10M
(88M), R-QPMapper 18.13M (18M), R-avgpool 20.99M (21M); they require d_embed-wide FFNs in the transformer layers
(`methods.modules.transformer_layer`) and count the prompt tokens. DePALM^{c-attn} gives 21.0M against the 17.9M
printed (C.2's block with a standard multi-head cross-attention; without its q/k/v input projections it would be
17.85M). Table 1's R-rand "21M" matches the paper variant's d_LLM-wide R-rand, not the official 4.2M.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import methods.injection
import methods.mapping  # noqa: F401  (these register the blocks the presets name)
from methods.config import BlockConfig, ExtractionConfig, FinetuneConfig, MethodConfig, RecipeOverrides
from methods.modules import OFFICIAL_NORM_EPS
from methods.registry import register_preset

FIRST_LAYER = BlockConfig("first-layer")
# DePALM's QPMapper (C.2): d_embed 1024, L_QP = 2 layers, n_Q = 32 queries, RMSNorm after the up-projection.
DEPALM_QPMAPPER = {"d_embed": 1024, "n_layers": 2, "n_queries": 32}

# The official code's transformer layers (adapters/common.py:265-276) and queries (adapters/common.py:262-263).
OFFICIAL_QUERY_POOLER = {"ln_eps": OFFICIAL_NORM_EPS, "query_std": 1.0}
# Its prompt tuning: LearnedPrefixTokensL0, N(0, 1) (adapters/prefix_tokens.py:600-601).
OFFICIAL_PROMPT: dict[str, Any] = {"prompt_init": "normal"}
# Its per-layer token norm and bias tuner on inner-layer tokens (adapters/prefix_tokens.py:100-116, 142-145;
# BiasTuner: models/finetuning.py:34-57): RMSNorm then a scale and a bias per feature, shared by the tokens
# (run.yaml:148-153, share_on_tokens).
OFFICIAL_TOKEN_TUNING = {"token_norm": True, "bias_tuning": True, "norm_eps": OFFICIAL_NORM_EPS}

PAPER_PRESETS: list[MethodConfig] = []  # the 11 methods in Table 1 order (their paper-variant configs)


def _register(
    paper: MethodConfig,
    mapping: dict[str, Any] | None = None,
    injection: dict[str, Any] | None = None,
    **official_fields: Any,
) -> None:
    """Register `paper` as the paper variant and, as the official one, `paper` with these changes (block options
    updated, top-level fields replaced)."""
    paper = dataclasses.replace(paper, variant="paper")
    official = paper.with_options(mapping=mapping, injection=injection, variant="official", **official_fields)
    register_preset(lambda variant: paper if variant == "paper" else official)
    PAPER_PRESETS.append(paper)


def _l0(method_id: str, display_name: str, mapping: BlockConfig) -> MethodConfig:
    """DePALM and DePALM^{*,L0} (C.2): last level, first-layer injection, one prompt-tuning token. Officially the
    same (mod/insert_l0.yaml:9-21, experiment/depalm_resampler.yaml:5-30: one level, layer 0, kept to the end)."""
    return MethodConfig(
        id=method_id,
        display_name=display_name,
        extraction=ExtractionConfig(n_levels=1),
        mapping=mapping,
        injection=FIRST_LAYER,
        finetune=FinetuneConfig(n_prompt=1),
    )


# LiMBeR: one linear layer (experiment/limber.yaml:10-11), layer 0 kept to the end (limber.yaml:7, 19-22), CLS only
# for LiMBeR^(1) (its scripts: adapter.source.keep_features.n_elements=1), all 257 tokens otherwise (limber.yaml:17).
_register(
    MethodConfig(
        id="limber-1",
        display_name="LiMBeR⁽¹⁾",
        extraction=ExtractionConfig(n_levels=1, tokens="cls"),
        mapping=BlockConfig("linear"),
        injection=FIRST_LAYER,
    )
)
_register(
    MethodConfig(
        id="limber-all",
        display_name="LiMBeR⁽ᵃˡˡ⁾",
        extraction=ExtractionConfig(n_levels=1),
        mapping=BlockConfig("linear"),
        injection=FIRST_LAYER,
    )
)

# MAPL: d_embed 256, 4 layers, 32 queries (experiment/mapl.yaml:9-12), a linear up-projection and no norm
# (mapl.yaml:18-19; run.yaml:117 token_norm false), GELU (run.yaml:127).
_register(
    MethodConfig(
        id="mapl",
        display_name="MAPL",
        extraction=ExtractionConfig(n_levels=1),
        mapping=BlockConfig("qpmapper", {"d_embed": 256, "n_layers": 4, "n_queries": 32, "out_norm": False}),
        injection=FIRST_LAYER,
    ),
    mapping=OFFICIAL_QUERY_POOLER,
)

# eP-ALM, officially (experiment/epalm.yaml, which extends epalm-opt.yaml): CLS tokens of the last 6 levels
# (epalm-opt.yaml:31-36), one shared linear layer (epalm-opt.yaml:25-26, 41-43), injected into the 6 layers
# ending 4th from last, i.e. 23..28 of 32 (epalm.yaml:19-21; both ends included: utils/utility.py:82-126), each with
# its own RMSNorm and bias tuner (epalm.yaml:13-15), 10 prompt tokens (epalm-opt.yaml:10-13).
_register(
    MethodConfig(
        id="epalm",
        display_name="eP-ALM",
        extraction=ExtractionConfig(n_levels=6, tokens="cls"),
        mapping=BlockConfig("linear"),
        injection=BlockConfig("inner-layers", {"n_llm": 12, "n_left": 1}),
    ),
    injection={"n_llm": 6, "n_left": 3, **OFFICIAL_TOKEN_TUNING},
    finetune=FinetuneConfig(n_prompt=10, **OFFICIAL_PROMPT),
)

# DePALM (QP-L0): experiment/depalm.yaml + mod/insert_l0.yaml, whose token_norm: false (insert_l0.yaml:8) leaves the
# QPMapper without a norm; 2 layers (its scripts: adapter.transformer.n_layers=2), 32 queries (insert_l0.yaml:16).
_register(
    _l0("depalm", "DePALM", BlockConfig("qpmapper", dict(DEPALM_QPMAPPER))),
    mapping={"out_norm": False, **OFFICIAL_QUERY_POOLER},
    finetune=FinetuneConfig(n_prompt=1, **OFFICIAL_PROMPT),
)

# DePALM^{QP,inner}: experiment/depalm.yaml: 4 levels (depalm.yaml:46-49) through one shared QPMapper
# (depalm.yaml:62-64), 12 layers ending 4th from last, 17..28 (depalm.yaml:56-59), a per-layer RMSNorm and bias
# tuner instead of the QPMapper's norm (depalm.yaml:20, 39-44), 16 prompt tokens (depalm.yaml:10-12).
_register(
    MethodConfig(
        id="depalm-qp-inner",
        display_name="DePALM^{QP,inner}",
        extraction=ExtractionConfig(n_levels=4),
        mapping=BlockConfig("qpmapper", dict(DEPALM_QPMAPPER)),
        injection=BlockConfig("inner-layers", {"n_llm": 12, "n_left": 3}),
        finetune=FinetuneConfig(n_prompt=16),
    ),
    mapping={"out_norm": False, **OFFICIAL_QUERY_POOLER},
    injection=OFFICIAL_TOKEN_TUNING,
    finetune=FinetuneConfig(n_prompt=16, **OFFICIAL_PROMPT),
)

# Resamplers (experiment/depalm_resampler.yaml): RMSNorm after pooling (depalm_resampler.yaml:44,
# adapters/resamplers.py:77-79, 181-182), one prompt token (depalm_resampler.yaml:5-9).
OFFICIAL_RESAMPLER = {"norm_eps": OFFICIAL_NORM_EPS}
OFFICIAL_L0_FINETUNE = FinetuneConfig(n_prompt=1, **OFFICIAL_PROMPT)
# R-avgpool: nn.AvgPool1d(4) on each [4 tokens, d] block (adapters/resamplers.py:107-108, 147-153, 171, 176).
_register(
    _l0("depalm-r-avgpool", "DePALM^{R-avgpool,L0}", BlockConfig("resampler", {"pool": "avgpool"})),
    mapping={"pool": "feature-avgpool", **OFFICIAL_RESAMPLER},
    finetune=OFFICIAL_L0_FINETUNE,
)
_register(
    _l0("depalm-r-linear", "DePALM^{R-linear,L0}", BlockConfig("resampler", {"pool": "linear"})),
    mapping=OFFICIAL_RESAMPLER,
    finetune=OFFICIAL_L0_FINETUNE,
)
# R-QPMapper: the scripts' resampler.type=qsformer is no type of adapters/resamplers.py:106-133 (it would raise);
# the QPMapper pooling is type qpmapper (resamplers.py:119-131), whose FFN activation is adapter.activation, null in
# depalm_resampler.yaml:14, i.e. the identity (utils/utility.py:236-237). 4 layers, one query
# (depalm_resampler.yaml:50-56); d_embed 768 (its scripts).
_register(
    _l0(
        "depalm-r-qpmapper",
        "DePALM^{R-QPMapper,L0}",
        BlockConfig("resampler", {"pool": "qpmapper", "d_embed": 768, "qp_layers": 4}),
    ),
    mapping={"activation": "identity", **OFFICIAL_QUERY_POOLER, **OFFICIAL_RESAMPLER},
    finetune=OFFICIAL_L0_FINETUNE,
)
# R-rand: embed dim "auto" in its scripts = d_feats with no input projection (adapters/prefix_tokens.py:217-219,
# 367); RMSNorm on d_feats then the linear up-projection (depalm_resampler.yaml:18-19); training keeps round(f n_tk)
# patch tokens, one subset for the whole batch (adapters/resamplers.py:32-43); evaluation keeps all of them
# (depalm_resampler.yaml:59, resamplers.py:29-30).
_register(
    _l0("depalm-r-rand", "DePALM^{R-rand,L0}", BlockConfig("rrand")),
    mapping={
        "input_projection": False,
        "eval_fraction": 1.0,
        "subset": "per-batch",
        "rounding": "round",
        **OFFICIAL_RESAMPLER,
    },
    finetune=OFFICIAL_L0_FINETUNE,
)

# DePALM^{c-attn}: experiment/depalm.yaml + mod/cross_attn.yaml. Memory: linear to d_embed 1024, one transformer layer
# (cross_attn.yaml:11, 21-24), then a linear d_embed -> d_embed (cross_attn.yaml:19-20; prefix_tokens.py:463-481,
# 530-533). One CrossAttentionFeatExtractor for all 12 layers (prefix_tokens.py:504-525): text FFN + RMSNorm
# (cross_attn.yaml:14-17; common.py:134-170, 384-385), q/k/v projections and no attention output projection
# (common.py:370-373), RMSNorm on the attention output before the projection to d_LLM (common.py:374, 417-423), one
# tanh gate (common.py:375-377, 425-435), 16 prompt tokens (depalm.yaml:10-12), gradient clipping 0.05 and 2
# accumulated batches (cross_attn.yaml:29-31).
# Deliberate deviations: (1) the official reshapes (common.py:387-389 applied twice to the queries, 404/409, and the
# output's transpose(1, 2).reshape, 413) mix text positions across heads, so a position's output depends on later
# positions (not causal); `methods.modules.CrossAttention` splits heads per position. (2) Its attention dropout is
# active only at evaluation (common.py:412: `if not self.training`); here dropout 0 in training, as the official
# training ran, and none at evaluation.
_register(
    MethodConfig(
        id="depalm-c-attn",
        display_name="DePALM^{c-attn}",
        extraction=ExtractionConfig(n_levels=4),
        mapping=BlockConfig("xattn-memory", {"d_embed": 1024}),
        injection=BlockConfig("gated-cross-attention", {"n_llm": 12, "n_left": 3, "d_embed": 1024}),
    ),
    mapping={"proj_out": True, "ln_eps": OFFICIAL_NORM_EPS},
    injection={
        "attn_out_proj": False,
        "norm": "attention",
        "shared_gate": True,
        "dropout": 0.0,
        "norm_eps": OFFICIAL_NORM_EPS,
    },
    finetune=FinetuneConfig(n_prompt=16, **OFFICIAL_PROMPT),
    recipe=RecipeOverrides(grad_clip=0.05, grad_accum=2),
)
