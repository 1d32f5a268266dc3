"""Block-based token resamplers, Section 3.2 "Token resamplers" and Appendix B.3 / C.2
(DePALM^{R-avgpool,L0}, DePALM^{R-linear,L0}, DePALM^{R-QPMapper,L0}).

Tokens are projected d_feats -> d_embed, the patch tokens are laid out on their grid and grouped into blocks of
4 tokens: 4 consecutive tokens on a 1D grid (audio), 2x2 on a 2D grid (image), and 1x2x2 on a 3D grid (video: 2x2
within each frame, frames kept apart, so every block still holds 4 tokens and R-linear / R-QPMapper keep their
4-token input). A grid side that is not a multiple of the block side is padded by repeating its last row. Each block
is pooled into one token; the CLS token (if the encoder has one) is prepended, then RMSNorm and a linear projection
d_embed -> d_LLM.

The official R-avgpool (`pool="feature-avgpool"`) applies torch's AvgPool1d(4) to each block laid out as
[4 tokens, d_embed]; AvgPool1d pools the last axis, so each token's features are averaged in groups of 4 consecutive
channels and the 4 tokens' d_embed/4-wide results are concatenated into the block's token (the tokens themselves
are not averaged).

`post_qp_layers` > 0 appends a QPMapper of `post_qp_queries` queries over the normalized resampled tokens, before
the projection to d_LLM: what the official code builds when a cell also sets adapter.transformer.n_layers (its 1%
R-QPMapper scripts), so that only `post_qp_queries` tokens reach the LLM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from methods.config import TokenLayout
from methods.mapping.base import MappingBlock
from methods.mapping.qpmapper import PoolerOptions, QueryPooler
from methods.modules import rms_norm
from methods.registry import register_block

POOLS = ("avgpool", "feature-avgpool", "linear", "qpmapper")


def block_shape(grid: tuple[int, ...]) -> tuple[int, ...]:
    """Block of 4 tokens for a 1D, 2D or 3D grid (see module docstring)."""
    return {1: (4,), 2: (2, 2), 3: (1, 2, 2)}[len(grid)]


def group_blocks(x: torch.Tensor, grid: tuple[int, ...]) -> torch.Tensor:
    """[b, prod(grid), d] patch tokens in row-major grid order -> [b, n_blocks, 4, d]."""
    block = block_shape(grid)
    b, _, d = x.shape
    x = x.reshape(b, *grid, d)
    for axis, (size, k) in enumerate(zip(grid, block), start=1):
        pad = -size % k
        if pad:
            last = x.narrow(axis, size - 1, 1)
            x = torch.cat([x, *([last] * pad)], dim=axis)
    padded = x.shape[1:-1]
    split = [s for size, k in zip(padded, block) for s in (size // k, k)]
    x = x.reshape(b, *split, d)
    n = len(grid)
    order = [0, *range(1, 2 * n, 2), *range(2, 2 * n + 1, 2), 2 * n + 1]
    return x.permute(order).reshape(b, -1, math.prod(block), d)


def n_blocks(grid: tuple[int, ...]) -> int:
    return math.prod(-(-size // k) for size, k in zip(grid, block_shape(grid)))


@register_block("mapping", "resampler")
class BlockResampler(MappingBlock):
    """Block-based resampler; `pool` in avgpool (mean of the 4 tokens) | feature-avgpool (the official R-avgpool,
    see the module docstring) | linear (concatenate the 4 tokens, project 4*d_embed -> d_embed: a strided
    convolution) | qpmapper (one query, `qp_layers` layers with the QueryPooler options, shared across blocks).
    `d_embed=None` means d_LLM (R-avgpool and R-linear, C.2); `norm_eps` is the RMSNorm's epsilon."""

    @dataclass
    class Options(PoolerOptions):
        pool: str = "avgpool"
        d_embed: int | None = None
        qp_layers: int = 4
        norm_eps: float = 1e-6
        post_qp_layers: int = 0
        post_qp_queries: int = 1

        def __post_init__(self) -> None:
            super().__post_init__()
            if self.pool not in POOLS:
                raise ValueError(f"pool must be one of {POOLS}, got {self.pool!r}")
            if self.post_qp_layers < 0 or self.post_qp_queries < 1:
                raise ValueError(
                    f"need post_qp_layers >= 0 and post_qp_queries >= 1, got {self.post_qp_layers}, "
                    f"{self.post_qp_queries}"
                )

    def __init__(self, options: Options, layout: TokenLayout, d_target: int):
        super().__init__(options, layout, d_target)
        if not layout.grid:
            raise ValueError("a block resampler needs patch tokens; it cannot follow CLS-only extraction")
        d = options.d_embed or d_target
        if options.pool == "feature-avgpool" and d % 4:
            raise ValueError(
                f"feature-avgpool pooling averages groups of 4 features: d_embed={d} must be a multiple of 4"
            )
        self.proj_in = nn.Linear(layout.d, d)
        self.pool: nn.Linear | QueryPooler
        if options.pool == "linear":
            self.pool = nn.Linear(4 * d, d)
        elif options.pool == "qpmapper":
            self.pool = QueryPooler(d, options.qp_layers, 1, options)
        self.norm = rms_norm(d, options.norm_eps)
        self.post_qp = (
            QueryPooler(d, options.post_qp_layers, options.post_qp_queries, options)
            if options.post_qp_layers
            else nn.Identity()
        )
        self.proj_out = nn.Linear(d, d_target)

    def map_tokens(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj_in(x)
        n_cls = int(self.layout.has_cls)
        blocks = group_blocks(x[:, n_cls:], self.layout.grid)
        b, nb, k, d = blocks.shape
        if self.options.pool == "avgpool":
            pooled = blocks.mean(dim=2)
        elif self.options.pool == "feature-avgpool":
            pooled = blocks.unflatten(-1, (d // 4, 4)).mean(dim=-1).reshape(b, nb, d)
        elif self.options.pool == "linear":
            pooled = self.pool(blocks.reshape(b, nb, k * d))
        else:
            pooled = self.pool(blocks.reshape(b * nb, k, d)).reshape(b, nb, d)
        return self.proj_out(self.post_qp(self.norm(torch.cat([x[:, :n_cls], pooled], dim=1))))

    def n_out_tokens(self) -> int:
        if self.options.post_qp_layers:
            return self.options.post_qp_queries
        return int(self.layout.has_cls) + n_blocks(self.layout.grid)

    @classmethod
    def describe(cls, options: Options) -> str:
        d = "d_LLM" if options.d_embed is None else str(options.d_embed)
        pool = {
            "avgpool": "average",
            "feature-avgpool": "AvgPool1d over each token's features, tokens concatenated",
            "linear": "linear (strided conv)",
            "qpmapper": f"QPMapper ({options.qp_layers} layers, 1 query"
            f"{', linear FFN' if options.activation == 'identity' else ''})",
        }[options.pool]
        post = (
            f" + QPMapper ({options.post_qp_layers} layers, {options.post_qp_queries} queries)"
            if options.post_qp_layers
            else ""
        )
        return f"Linear projection + block resampler (d_embed={d}, 2x2 blocks, {pool} pooling){post}"
