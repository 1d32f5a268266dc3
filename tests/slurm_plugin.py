"""Test plugin for the SLURM tests, loaded by the driver with `--plugin slurm_plugin` (tests/ on PYTHONPATH):
methods whose mapping block raises (a cell that fails on the node) or never returns (a job to cancel)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import torch
from slurm_cells import FAILURE_MESSAGE

from methods import BlockConfig, get_preset, register_block, register_preset
from methods.mapping import MappingBlock


@register_block("mapping", "test-raise")
class RaisingMapping(MappingBlock):
    """Fails while the model is built."""

    @dataclass
    class Options:
        pass

    def __init__(self, options, layout, d_target):
        raise RuntimeError(FAILURE_MESSAGE)

    @classmethod
    def describe(cls, options) -> str:
        return "raises (test)"


@register_block("mapping", "test-hang")
class HangingMapping(MappingBlock):
    """Never finishes building a real model: runs until its job is cancelled. A build on the meta device (the
    planner's estimate of the injected tokens) returns at once, as a real block's does."""

    @dataclass
    class Options:
        seconds: float = 3600.0

    def __init__(self, options, layout, d_target):
        super().__init__(options, layout, d_target)
        if torch.get_default_device().type != "meta":
            time.sleep(options.seconds)
            raise RuntimeError("test-hangs was not cancelled")

    def n_out_tokens(self) -> int:
        return 1

    @classmethod
    def describe(cls, options) -> str:
        return "hangs (test)"


def _variant(block: str, method_id: str):
    return dataclasses.replace(
        get_preset("limber-1"), id=method_id, display_name=method_id, mapping=BlockConfig(block, {})
    )


register_preset(_variant("test-raise", "test-raises"))
register_preset(_variant("test-hang", "test-hangs"))
