"""Interface of feature-mapping blocks (Section 3.2 "Feature mapping", Appendix B.3)."""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from methods.config import TokenLayout


class MappingBlock(nn.Module):
    """Maps extracted tokens [B, L, T, d_feats] to [B, L, N, d_out]; encoder levels are independent batch elements
    sharing the weights (C.2, DePALM^{QP,inner}). Subclasses implement `map_tokens` on [b, T, d_feats].

    `d_target` is the width the injection block needs; blocks that produce a latent memory instead (the c-attn
    resampler) set `d_out` to their own width."""

    Options: ClassVar[type]

    def __init__(self, options: Any, layout: TokenLayout, d_target: int):
        super().__init__()
        self.options = options
        self.layout = layout
        self.d_out = d_target

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n_levels = x.shape[:2]
        y = self.map_tokens(x.flatten(0, 1))
        return y.unflatten(0, (b, n_levels))

    def map_tokens(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def n_out_tokens(self) -> int:
        """Tokens per level at evaluation (R-rand may inject fewer during training)."""
        raise NotImplementedError

    @classmethod
    def describe(cls, options: Any) -> str:
        raise NotImplementedError
