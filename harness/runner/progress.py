"""Live display of a matrix: one bar for the matrix (done / running / failed / ETA) and one bar per running cell
(its optimiser steps), fed by the executor (inline: step callbacks; subprocesses: their train logs)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from harness.config import RunConfig
from harness.runner.cell import CellOutcome
from harness.runner.logtail import tail_lines
from harness.runner.train import TRAIN_LOG_NAME


def _fmt_s(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


class MatrixProgress:
    """tqdm bars on stderr; `estimates[run_id]` are the dry-run seconds used for the ETA until cells finish."""

    def __init__(
        self,
        cells: list[RunConfig],
        runs_dir: Path,
        parallel: int,
        estimates: dict[str, float],
        stream: Any = None,
        enabled: bool = True,
    ) -> None:
        self.runs_dir, self.parallel, self.estimates = Path(runs_dir), max(1, parallel), estimates
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.total = len(cells)
        self.done = self.failed = self.unstable = 0
        self.running: dict[str, tqdm | None] = {}
        self.started_at: dict[str, float] = {}
        self.durations: list[float] = []
        self.t0 = time.perf_counter()
        self.bar = tqdm(
            total=self.total,
            desc="matrix",
            unit="cell",
            position=0,
            file=self.stream,
            disable=not enabled,
            dynamic_ncols=True,
        )
        self._refresh()

    def eta_s(self) -> float:
        remaining = self.total - self.done
        if self.durations:
            per_cell = sum(self.durations) / len(self.durations)
            return per_cell * remaining / min(self.parallel, max(1, remaining))
        return sum(self.estimates.values()) * remaining / max(1, self.total) / self.parallel

    def _refresh(self) -> None:
        self.bar.set_postfix_str(
            f"done {self.done}/{self.total} running {len(self.running)} failed {self.failed}"
            f" unstable {self.unstable} ETA {_fmt_s(self.eta_s())}",
            refresh=True,
        )

    def started(self, cfg: RunConfig) -> None:
        self.running[cfg.run_id] = None
        self.started_at[cfg.run_id] = time.perf_counter()
        self._refresh()

    def _cell_bar(self, cfg_run_id: str, total: int) -> tqdm:
        bar = self.running.get(cfg_run_id)
        if bar is None:
            bar = tqdm(
                total=total,
                desc=cfg_run_id[:48],
                unit="step",
                position=1 + len([b for b in self.running.values() if b is not None]),
                leave=False,
                file=self.stream,
                disable=not self.enabled,
                dynamic_ncols=True,
            )
            self.running[cfg_run_id] = bar
        return bar

    def step(self, cfg: RunConfig, record: dict[str, Any]) -> None:
        bar = self._cell_bar(cfg.run_id, record["total_steps"])
        bar.n = record["step"]
        bar.set_postfix_str(f"loss {record['loss']:.3f} lr {record['lr']:.1e}", refresh=True)

    def tick(self) -> None:
        """Subprocess executors: follow the train logs of running cells (only their last record, read from the end:
        a log of a multi-day run is never read whole)."""
        for run_id in list(self.running):
            log = self.runs_dir / run_id / TRAIN_LOG_NAME
            try:
                lines = tail_lines(log, 1)
            except OSError:
                continue
            if lines:
                try:
                    record = json.loads(lines[-1])
                    total, step, loss = int(record["total_steps"]), int(record["step"]), float(record["loss"])
                except (ValueError, KeyError, TypeError):  # a line being written, or a damaged one: no update
                    continue
                bar = self._cell_bar(run_id, total)
                bar.n = step
                bar.set_postfix_str(f"loss {loss:.3f}", refresh=True)
        self._refresh()

    def finished(self, cfg: RunConfig, outcome: CellOutcome) -> None:
        bar = self.running.pop(cfg.run_id, None)
        if bar is not None:
            bar.close()
        self.durations.append(time.perf_counter() - self.started_at.pop(cfg.run_id, time.perf_counter()))
        self.done += 1
        self.failed += outcome.status in ("failed", "cancelled", "interrupted")
        self.unstable += outcome.status == "unstable"
        self.bar.update(1)
        self._refresh()

    def close(self) -> None:
        for bar in self.running.values():
            if bar is not None:
                bar.close()
        self.bar.close()

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.t0
