"""QPMapper, Section 3.2 and Appendix B.3: learnable query tokens pool the encoder tokens through a few transformer
layers; only the query outputs are kept (DePALM, MAPL, DePALM^{QP,inner})."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from methods.config import TokenLayout
from methods.mapping.base import MappingBlock
from methods.modules import TORCH_LN_EPS, check_activation, rms_norm, transformer_layer
from methods.registry import register_block


@dataclass
class PoolerOptions:
    """The transformer layers of a QueryPooler: FFN `activation`, LayerNorm `ln_eps`, and the standard deviation of
    the queries' normal initialisation (`query_std`; the official code draws them from N(0, 1))."""

    n_heads: int = 8
    dropout: float = 0.1
    activation: str = "gelu"
    ln_eps: float = TORCH_LN_EPS
    query_std: float = 0.02

    def __post_init__(self) -> None:
        check_activation(self.activation)
        if self.ln_eps <= 0 or self.query_std <= 0:
            raise ValueError(f"ln_eps and query_std must be > 0, got {self.ln_eps}, {self.query_std}")


class QueryPooler(nn.Module):
    """The QPMapper core (B.3): [b, T, d] tokens, n_Q learned queries appended, L_QP transformer encoder layers;
    returns the n_Q query outputs [b, n_Q, d]. Also the pooling function of R-QPMapper (one query per block of 4
    tokens)."""

    def __init__(self, d: int, n_layers: int, n_queries: int, options: PoolerOptions):
        super().__init__()
        self.queries = nn.Parameter(torch.empty(n_queries, d))
        if not self.queries.is_meta:  # a meta tensor has no values to draw, and drawing on it imports torch._dynamo
            nn.init.normal_(self.queries, std=options.query_std)
        self.layers = nn.ModuleList(
            transformer_layer(d, options.n_heads, options.dropout, options.activation, options.ln_eps)
            for _ in range(n_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_q = self.queries.shape[0]
        h = torch.cat([x, self.queries.to(x.dtype).expand(x.shape[0], -1, -1)], dim=1)
        for layer in self.layers:
            h = layer(h)
        return h[:, -n_q:]


@register_block("mapping", "qpmapper")
class QPMapper(MappingBlock):
    """Linear d_feats -> d_embed, QueryPooler, linear d_embed -> d_LLM, then RMSNorm (`out_norm`; Section 3.2 for
    DePALM; MAPL's C.1 recipe and the official code have none)."""

    @dataclass
    class Options(PoolerOptions):
        d_embed: int = 1024
        n_layers: int = 2
        n_queries: int = 32
        out_norm: bool = True

        def __post_init__(self) -> None:
            super().__post_init__()
            if min(self.d_embed, self.n_layers, self.n_queries, self.n_heads) < 1:
                raise ValueError("d_embed, n_layers, n_queries and n_heads must be >= 1")
            if self.d_embed % self.n_heads:
                raise ValueError(f"d_embed {self.d_embed} must be a multiple of n_heads {self.n_heads}")

    def __init__(self, options: Options, layout: TokenLayout, d_target: int):
        super().__init__(options, layout, d_target)
        self.proj_in = nn.Linear(layout.d, options.d_embed)
        self.pool = QueryPooler(options.d_embed, options.n_layers, options.n_queries, options)
        self.proj_out = nn.Linear(options.d_embed, d_target)
        self.norm = rms_norm(d_target) if options.out_norm else nn.Identity()

    def map_tokens(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj_out(self.pool(self.proj_in(x))))

    def n_out_tokens(self) -> int:
        return self.options.n_queries

    @classmethod
    def describe(cls, options: Options) -> str:
        return (
            f"QPMapper (d_embed={options.d_embed}, {options.n_layers} layers, {options.n_queries} queries"
            f"{', RMSNorm' if options.out_norm else ''})"
        )
