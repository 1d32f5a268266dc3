"""Test plugin for the runner tests (`--plugin runner_plugin`, tests/ on PYTHONPATH): a connector whose mapping
produces NaN from its second training step on (a run that must end `unstable`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from methods import BlockConfig, get_preset, register_block, register_preset
from methods.mapping.linear import LinearMapping


@register_block("mapping", "test-nan-later")
class NanAfterFirstStep(LinearMapping):
    """A linear mapping that returns NaN once it has been called `after` times in training mode."""

    @dataclass
    class Options:
        after: int = 2

    def __init__(self, options, layout, d_target):
        super().__init__(options, layout, d_target)
        self.calls = 0

    def map_tokens(self, x: torch.Tensor) -> torch.Tensor:
        y = super().map_tokens(x)
        if self.training:
            self.calls += 1
            if self.calls > self.options.after:
                return y * float("nan")
        return y

    @classmethod
    def describe(cls, options) -> str:
        return "linear, NaN after a few calls (test)"


register_preset(
    dataclasses.replace(
        get_preset("limber-1"),
        id="test-nan",
        display_name="test-nan",
        mapping=BlockConfig("test-nan-later", {"after": 2}),
    )
)
