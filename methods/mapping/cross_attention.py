"""The perceptual side of DePALM^{c-attn}'s cross-attention block, Appendix C.2 and Figure S1: P_in (d_feats ->
d_embed) and one transformer layer (8 heads, dropout 0.1) acting as a minimal resampler; with `proj_out`, a linear
d_embed -> d_embed after it (the official code's connector ends with one). Its output is the key/value memory of
the gated cross-attention injection (`methods.injection.GatedCrossAttention`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from methods.config import TokenLayout
from methods.mapping.base import MappingBlock
from methods.modules import TORCH_LN_EPS, transformer_layer
from methods.registry import register_block


@register_block("mapping", "xattn-memory")
class CrossAttentionMemory(MappingBlock):
    @dataclass
    class Options:
        d_embed: int = 1024
        n_heads: int = 8
        dropout: float = 0.1
        ln_eps: float = TORCH_LN_EPS
        proj_out: bool = False

    def __init__(self, options: Options, layout: TokenLayout, d_target: int):
        super().__init__(options, layout, d_target)
        self.d_out = options.d_embed
        self.proj_in = nn.Linear(layout.d, options.d_embed)
        self.transformer = transformer_layer(options.d_embed, options.n_heads, options.dropout, ln_eps=options.ln_eps)
        self.proj_out = nn.Linear(options.d_embed, options.d_embed) if options.proj_out else nn.Identity()

    def map_tokens(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_out(self.transformer(self.proj_in(x)))

    def n_out_tokens(self) -> int:
        return self.layout.n_tokens

    @classmethod
    def describe(cls, options: Options) -> str:
        return (
            f"Projection + small transformer (d_embed={options.d_embed}, 1 layer"
            f"{') + projection' if options.proj_out else ')'}"
        )
