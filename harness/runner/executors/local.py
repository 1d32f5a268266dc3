"""Local executor: each cell in its own process through submitit's LocalExecutor, up to --max-parallel at once,
the CPU threads split between them."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Iterator

from harness.config import RunConfig
from harness.config.study import LocalOptions
from harness.errors import UsageError
from harness.runner.cell import CellOutcome, execute_cell, record_status
from harness.runner.executors.base import Executor, Progress

JOB_TIMEOUT_MIN = 7 * 24 * 60  # submitit's local default (2 min) would kill real runs; a stuck job is the user's call
POLL_S = 0.5


def run_cell_job(cfg_dict: dict[str, Any], runs_dir: str, results_dir: str, threads: int) -> CellOutcome:
    """Body of one local job (top level, so submitit can pickle it)."""
    import torch

    torch.set_num_threads(threads)
    return execute_cell(RunConfig.from_dict(cfg_dict), Path(runs_dir), Path(results_dir))


class LocalExecutor(Executor):
    name = "local"

    def __init__(self, max_parallel: int = 1, threads: int | None = None) -> None:
        if max_parallel < 1:
            raise UsageError(f"--max-parallel must be >= 1, got {max_parallel}")
        self.max_parallel = max_parallel
        self.threads = threads or max(1, (os.cpu_count() or 1) // max_parallel)

    @classmethod
    def from_options(cls, options: LocalOptions | None = None) -> LocalExecutor:
        return cls(max_parallel=(options or LocalOptions()).max_parallel)

    def run(self, cells: list[RunConfig], runs_dir: Path, results_dir: Path,
            progress: Progress) -> Iterator[CellOutcome]:
        import submitit

        ex = submitit.LocalExecutor(folder=Path(runs_dir) / "_submitit" / "%j")
        ex.update_parameters(timeout_min=JOB_TIMEOUT_MIN)
        pending, running = list(cells), []
        try:
            while pending or running:
                while pending and len(running) < self.max_parallel:
                    cfg = pending.pop(0)
                    job = ex.submit(run_cell_job, cfg.to_dict(), str(runs_dir), str(results_dir), self.threads)
                    running.append((cfg, job))
                    progress.started(cfg)
                finished = [(cfg, job) for cfg, job in running if job.done()]
                for cfg, job in finished:
                    running.remove((cfg, job))
                    outcome = self._collect(cfg, job, results_dir)
                    progress.finished(cfg, outcome)
                    yield outcome
                if not finished:
                    progress.tick()
                    time.sleep(POLL_S)
        finally:
            for _, job in running:  # interrupted driver: do not leave orphan trainings behind
                job.cancel(check=False)

    @staticmethod
    def _collect(cfg: RunConfig, job: Any, results_dir: Path) -> CellOutcome:
        try:
            return job.result()
        except Exception as e:  # noqa: BLE001 - the worker died before writing its result (killed, OOM, ...)
            detail = f"local job {job.job_id} died: {e}\nlogs: {job.paths.stdout} {job.paths.stderr}"
            return record_status(cfg, results_dir, "failed", detail)
