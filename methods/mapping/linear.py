"""Linear projection and 2-layer MLP mappings (Section 3.2 "Linear projection"; MLP_2 of Figure 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from methods.config import TokenLayout
from methods.mapping.base import MappingBlock
from methods.modules import ACTIVATIONS, check_activation
from methods.registry import register_block


@register_block("mapping", "linear")
class LinearMapping(MappingBlock):
    """One linear layer d_feats -> d_LLM applied to every token independently (LiMBeR, eP-ALM; C.1)."""

    @dataclass
    class Options:
        pass

    def __init__(self, options: Options, layout: TokenLayout, d_target: int):
        super().__init__(options, layout, d_target)
        self.proj = self.projection(options, layout.d, d_target)

    @staticmethod
    def projection(options: Any, d_in: int, d_out: int) -> nn.Module:  # Any: subclasses take their own Options
        return nn.Linear(d_in, d_out)

    def map_tokens(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)

    def n_out_tokens(self) -> int:
        return self.layout.n_tokens

    @classmethod
    def describe(cls, options: Any) -> str:
        return "Linear projection"


@register_block("mapping", "mlp")
class MLPMapping(LinearMapping):
    """Two-layer projection with a `hidden`-wide bottleneck: the parameter sweep of Figure 3 (LiMBeR, eP-ALM). The
    activation between the layers is GELU, or `identity` (a factorised linear map) as the official LiMBeR and eP-ALM
    configs set for two layers (experiment/limber.yaml:8, experiment/epalm.yaml:17: `activation: null`)."""

    @dataclass
    class Options:
        hidden: int = 1024
        activation: str = "gelu"

        def __post_init__(self) -> None:
            if self.hidden < 1:
                raise ValueError(f"hidden must be >= 1, got {self.hidden}")
            check_activation(self.activation)

    @staticmethod
    def projection(options: Options, d_in: int, d_out: int) -> nn.Module:
        return nn.Sequential(
            nn.Linear(d_in, options.hidden), ACTIVATIONS[options.activation](), nn.Linear(options.hidden, d_out)
        )

    @classmethod
    def describe(cls, options: Options) -> str:
        act = "" if options.activation == "gelu" else f", {options.activation} activation"
        return f"MLP (2 layers, hidden {options.hidden}{act})"
