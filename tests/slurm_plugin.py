"""Test plugin for the SLURM tests (loaded with `--plugin slurm_plugin`, tests/ on PYTHONPATH): methods whose
mapping block raises or never returns, and trivial cell functions for the executor's own tests."""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from methods import BlockConfig, get_preset, register_block, register_preset
from methods.mapping import MappingBlock

FAILURE_MESSAGE = "deliberate failure of the test-raises method"


@register_block("mapping", "test-raise")
class RaisingMapping(MappingBlock):
    """Fails while the model is built: a cell that errors on the node."""

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
    """Never finishes building: a cell that runs until it is cancelled."""

    @dataclass
    class Options:
        seconds: float = 3600.0

    def __init__(self, options, layout, d_target):
        time.sleep(options.seconds)
        raise RuntimeError("test-hangs was not cancelled")

    @classmethod
    def describe(cls, options) -> str:
        return "hangs (test)"


def _variant(block: str, method_id: str):
    return dataclasses.replace(get_preset("limber-1"), id=method_id, display_name=method_id,
                               mapping=BlockConfig(block, {}))


register_preset(_variant("test-raise", "test-raises"))
register_preset(_variant("test-hang", "test-hangs"))


# ---- cell functions standing in for harness.run.execute_cell --------------------------------------------------

def ok_cell(cfg, runs_dir: Path, results_dir: Path):
    from harness.results import write_result
    from harness.run import CellOutcome, primary_of, result_rows

    split, metric = primary_of(cfg)
    outcome = CellOutcome(cfg.run_id, "ok", metrics={split: {metric: 50.0}}, config_hash=cfg.config_hash())
    write_result(result_rows(cfg, outcome, {}, (split, metric)), results_dir, cfg.run_id)
    return outcome


def raising_cell(cfg, runs_dir: Path, results_dir: Path):
    raise ValueError(f"{FAILURE_MESSAGE} outside execute_cell ({cfg.run_id})")


def sleeping_cell(cfg, runs_dir: Path, results_dir: Path):
    time.sleep(600)
    raise RuntimeError("sleeping_cell was not cancelled")
