"""Inline executor: cells run one after another in this process (debugging; shares loaded backbones across cells)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

from harness.config import RunConfig
from harness.runner.cell import Backbones, CellOutcome, execute_cell
from harness.runner.executors.base import Executor, Progress


class InlineExecutor(Executor):
    name = "inline"

    def run(
        self, cells: list[RunConfig], runs_dir: Path, results_dir: Path, progress: Progress
    ) -> Iterator[CellOutcome]:
        backbones = Backbones()
        for cfg in cells:
            progress.started(cfg)
            outcome = execute_cell(
                cfg, runs_dir, results_dir, backbones=backbones, on_step=functools.partial(progress.step, cfg)
            )
            progress.finished(cfg, outcome)
            yield outcome
