"""Local executor: each cell in its own process through submitit's LocalExecutor, up to --max-parallel at once,
the CPU threads split between them. Workers die with the driver (harness.runner.lock.die_with) and train only under
the cell lock their driver holds; a worker that dies without a result (killed from outside, OOM) leaves its cell
`interrupted`, which the next plain run re-runs."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.config import RunConfig
from harness.config.study import LocalOptions
from harness.errors import UsageError
from harness.runner.cell import CellOutcome, execute_cell, record_status
from harness.runner.executors.base import Executor, Progress
from harness.runner.lock import CellLock, die_with, this_process

JOB_TIMEOUT_MIN = 7 * 24 * 60  # submitit's local default (2 min) would kill real runs; a stuck job is the user's call
POLL_S = 0.5


def run_cell_job(
    cfg_dict: dict[str, Any], runs_dir: str, results_dir: str, threads: int, driver: list | None = None
) -> CellOutcome:
    """Body of one local job (top level, so submitit can pickle it); `driver`: the driving process, whose death
    ends this one and whose cell lock this one joins."""
    import torch

    cfg = RunConfig.from_dict(cfg_dict)
    lock = CellLock(Path(runs_dir) / cfg.run_id)
    if driver is not None:
        die_with(driver)
        if not lock.join(driver) and not lock.acquire():  # no lock of its driver's: the worker takes its own
            return CellOutcome(
                cfg.run_id,
                "interrupted",
                config_hash=cfg.config_hash(),
                error=f"another process owns the cell ({lock.describe()}): not run",
            )
    torch.set_num_threads(threads)
    try:
        return execute_cell(cfg, Path(runs_dir), Path(results_dir))
    finally:
        lock.release()  # only a lock this worker took itself


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

    def run(
        self, cells: list[RunConfig], runs_dir: Path, results_dir: Path, progress: Progress
    ) -> Iterator[CellOutcome]:
        import submitit

        ex = submitit.LocalExecutor(folder=Path(runs_dir) / "_submitit" / "%j")
        ex.update_parameters(timeout_min=JOB_TIMEOUT_MIN)
        pending: list[RunConfig] = list(cells)
        running: list[Any] = []
        try:
            while pending or running:
                while pending and len(running) < self.max_parallel:
                    cfg = pending.pop(0)
                    job = ex.submit(
                        run_cell_job, cfg.to_dict(), str(runs_dir), str(results_dir), self.threads, this_process()
                    )
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
        from submitit.core.utils import FailedJobError, UncompletedJobError

        try:
            return job.result()
        except FailedJobError as e:  # the job raised outside the cell's own error handling
            detail = f"local job {job.job_id} raised: {e}\nlogs: {job.paths.stdout} {job.paths.stderr}"
            return record_status(cfg, results_dir, "failed", detail)
        except UncompletedJobError as e:  # no result at all: the worker was killed (OOM killer, kill -9, ...)
            detail = (
                f"local job {job.job_id} was killed before it finished (no result): {e}\nThe next run of the "
                f"matrix runs it again (it resumes from its checkpoint). Logs: {job.paths.stdout} "
                f"{job.paths.stderr}"
            )
            return record_status(cfg, results_dir, "interrupted", detail)
