"""Blind controls: reference rows that show whether a connector uses its input (they get no rank or score).

`blind`: the same frozen LLM with prompt tuning only, trained with the same recipe, and no perceptual input (its
mapping emits no tokens): what training alone teaches the LLM about the answers. `prior`: the benchmark's prior
baseline, computed without a model from the training split (`benchmarks.prior`: each VQA question type's majority
answer, or the most common training caption); the runner evaluates it and trains nothing. Both register like any
preset, flagged by `MethodConfig.control`, so the matrix caches and records them as cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import methods.presets  # noqa: F401  (the 11 paper methods and their blocks register first, the controls after)
from methods.config import BlockConfig, ExtractionConfig, FinetuneConfig, MethodConfig, TokenLayout
from methods.mapping.base import MappingBlock
from methods.registry import register_block, register_preset

BLIND_PROMPT_TOKENS = 32  # as many as the 32 query tokens DePALM injects: the same sequence budget, no input


@register_block("mapping", "none")
class NoMapping(MappingBlock):
    """Emits no tokens, whatever the features: a connector with no perceptual input."""

    @dataclass
    class Options:
        pass

    def __init__(self, options: Options, layout: TokenLayout, d_target: int):
        super().__init__(options, layout, d_target)

    def map_tokens(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], 0, self.d_out)

    def n_out_tokens(self) -> int:
        return 0

    @classmethod
    def describe(cls, options: Options) -> str:
        return "none (no perceptual input)"


def _control(id_: str, display_name: str, control: str, n_prompt: int, variant: str) -> MethodConfig:
    # prompt tokens start from vocabulary rows in every variant: a control should be as strong as a text-only model
    # can be, and N(0, 1) tokens (the official connectors' init) swamp a small LLM's embeddings (SmolLM2: 32 of them
    # kept the blind model's answers empty through 24 steps)
    return MethodConfig(
        id=id_,
        display_name=display_name,
        extraction=ExtractionConfig(n_levels=1, tokens="cls"),
        mapping=BlockConfig("none"),
        injection=BlockConfig("first-layer"),
        finetune=FinetuneConfig(n_prompt=n_prompt, prompt_init="vocab"),
        variant=variant,
        control=control,
    )


@register_preset
def prior(variant: str) -> MethodConfig:
    return _control("prior", "Prior (training answers, no model)", "prior", 0, variant)


@register_preset
def blind(variant: str) -> MethodConfig:
    return _control("blind", "Blind (prompt tuning, no input)", "blind", BLIND_PROMPT_TOKENS, variant)


CONTROLS = ("prior", "blind")
