"""Cell functions standing in for `harness.runner.cell.execute_cell` in the SLURM executor's tests (importable on the
node: tests/ is on the jobs' PYTHONPATH), the smoke cell they run and a live display that shows nothing."""

from __future__ import annotations

import time
from pathlib import Path

FAILURE_MESSAGE = "deliberate failure for the SLURM tests"


def ok_cell(cfg, runs_dir: Path, results_dir: Path):
    from harness.runner.cell import CellOutcome, primary_of, result_rows
    from harness.store.results import write_result

    split, metric = primary_of(cfg)
    outcome = CellOutcome(cfg.run_id, "ok", metrics={split: {metric: 50.0}}, config_hash=cfg.config_hash())
    write_result(result_rows(cfg, outcome, {}, (split, metric)), results_dir, cfg.run_id)
    return outcome


def failed_row_cell(cfg, runs_dir: Path, results_dir: Path):
    """Like execute_cell on a failing run: records its own failed row and returns."""
    from harness.runner.cell import record_status

    return record_status(cfg, results_dir, "failed", f"Traceback (most recent call last):\n{FAILURE_MESSAGE}")


def raising_cell(cfg, runs_dir: Path, results_dir: Path):
    raise ValueError(f"{FAILURE_MESSAGE} ({cfg.run_id})")


def sleeping_cell(cfg, runs_dir: Path, results_dir: Path):
    time.sleep(600)
    raise RuntimeError("sleeping_cell was not cancelled")


def scripted_cell(cfg, runs_dir: Path, results_dir: Path):
    """seed 0: ok, 1: raises, 4: records a failed row itself, others: runs until cancelled."""
    behaviour = {0: ok_cell, 1: raising_cell, 4: failed_row_cell}.get(cfg.seed, sleeping_cell)
    return behaviour(cfg, runs_dir, results_dir)


def smoke_cell(seed: int, method: str = "depalm"):
    """A smoke-profile cell of the offline VQA benchmark."""
    from harness.config import RunConfig

    return RunConfig(
        method=method,
        dataset="syn-vqav2",
        seed=seed,
        lr=1e-3,
        grad_clip=0.8,
        llm="smollm2-135m",
        encoder="clip-b16-embedded",
        profile="smoke",
    )


class NoProgress:
    """The executors' Progress, showing nothing."""

    def started(self, cfg):
        pass

    def step(self, cfg, record):
        pass

    def finished(self, cfg, outcome):
        pass

    def tick(self):
        pass
