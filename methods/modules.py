"""Small neural building blocks shared by the mapping and injection blocks (Appendix B.3, C.2)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# FFN activations of the transformer layers. "identity" is what the official code builds when a config sets no
# activation (its get_activation(None)), e.g. the QPMapper pooling of DePALM^{R-QPMapper,L0}.
ACTIVATIONS = {"gelu": nn.GELU, "identity": nn.Identity}
TORCH_LN_EPS = 1e-5  # nn.LayerNorm's default
OFFICIAL_NORM_EPS = 1e-4  # the official code's LayerNorm and RMSNorm epsilon


def check_activation(name: str) -> None:
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")


def transformer_layer(
    d: int, n_heads: int = 8, dropout: float = 0.1, activation: str = "gelu", ln_eps: float = TORCH_LN_EPS
) -> nn.TransformerEncoderLayer:
    """A standard (post-norm) transformer encoder layer as used inside QPMapper and the c-attn resampler (B.3):
    `n_heads` heads, `activation`, dropout. Its FFN is `d` wide, not 4d, as in the official code: Table 1's 17.9M for
    DePALM (LLaMA-7B + CLIP-L) is matched only with a d_embed-wide FFN (4d would give 30.5M)."""
    if d % n_heads:
        raise ValueError(f"transformer layer: width {d} is not divisible by {n_heads} heads")
    check_activation(activation)
    return nn.TransformerEncoderLayer(
        d,
        n_heads,
        dim_feedforward=d,
        dropout=dropout,
        activation=ACTIVATIONS[activation](),
        layer_norm_eps=ln_eps,
        batch_first=True,
    )


def rms_norm(d: int, eps: float = 1e-6) -> nn.RMSNorm:
    """RMSNorm [Zhang & Sennrich 2019] with a learned gain, applied to tokens before they enter the LLM."""
    return nn.RMSNorm(d, eps=eps)


class ScaleBias(nn.Module):
    """Bias tuning of a token stream: a learned per-feature scale (initialised at 1) then a learned per-feature bias
    (initialised at 0), shared by all tokens (the official code's BiasTuner on injected tokens)."""

    def __init__(self, d: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(d))
        self.bias = nn.Parameter(torch.zeros(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.bias


class CrossAttention(nn.Module):
    """Multi-head cross-attention with separate query, key and value projections and no output projection (the
    official DePALM^{c-attn} block). Heads split each position's features, so every query position attends to the
    memory on its own; attention dropout acts in training only."""

    def __init__(self, d: int, d_mem: int, n_heads: int, dropout: float):
        super().__init__()
        if d % n_heads:
            raise ValueError(f"cross-attention: width {d} is not divisible by {n_heads} heads")
        self.n_heads, self.dropout = n_heads, dropout
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d_mem, d)
        self.v_proj = nn.Linear(d_mem, d)

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        def heads(t: torch.Tensor) -> torch.Tensor:  # [b, n, d] -> [b, heads, n, d / heads]
            return t.unflatten(-1, (self.n_heads, -1)).transpose(1, 2)

        y = F.scaled_dot_product_attention(
            heads(self.q_proj(x)),
            heads(self.k_proj(memory)),
            heads(self.v_proj(memory)),
            dropout_p=self.dropout if self.training else 0.0,
        )
        return y.transpose(1, 2).flatten(2)
