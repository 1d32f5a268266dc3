"""The executor interface shared by inline, local and SLURM execution.

An executor runs `harness.runner.cell.execute_cell` for each cell and yields a `CellOutcome` as each finishes; it never
hangs forever. When a worker dies without writing its result (killed, cancelled, lost), the executor records the
row itself with `harness.runner.cell.record_status`.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from harness.config import RunConfig
from harness.errors import UsageError
from harness.runner.cell import CellOutcome

# name -> "module:Class"; imported lazily so that a missing optional dependency only hits its own executor
EXECUTORS: dict[str, str] = {
    "inline": "harness.runner.executors.inline:InlineExecutor",
    "local": "harness.runner.executors.local:LocalExecutor",
    "slurm": "harness.runner.executors.slurm:SlurmExecutor",
}


class Progress(Protocol):
    """Live display of a matrix; executors report to it (see harness.runner.progress.MatrixProgress)."""

    def started(self, cfg: RunConfig) -> None: ...

    def step(self, cfg: RunConfig, record: dict[str, Any]) -> None: ...

    def finished(self, cfg: RunConfig, outcome: CellOutcome) -> None: ...

    def tick(self) -> None: ...


class Executor(ABC):
    name: str = ""

    @classmethod
    def from_options(cls, options: Any = None) -> Executor:
        """An executor configured by its typed options (the study's field named like it: harness.config.study);
        None for one that takes none."""
        return cls()

    @abstractmethod
    def run(
        self, cells: list[RunConfig], runs_dir: Path, results_dir: Path, progress: Progress
    ) -> Iterator[CellOutcome]:
        """Execute `cells`, yielding each outcome as its cell finishes."""


def check_executor_name(name: str) -> None:
    if name not in EXECUTORS:
        raise UsageError(f"--executor {name!r}: unknown executor; valid: {', '.join(EXECUTORS)}")


def get_executor(name: str, options: Any = None) -> Executor:
    check_executor_name(name)
    module, cls = EXECUTORS[name].split(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as e:
        raise UsageError(f"--executor {name}: cannot import {module} ({e})") from e
    return getattr(mod, cls).from_options(options)
