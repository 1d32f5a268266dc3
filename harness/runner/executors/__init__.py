"""Executors: where the cells of a matrix run (this process, local subprocesses, SLURM jobs)."""

from harness.runner.executors.base import EXECUTORS, Executor, Progress, get_executor

__all__ = ["EXECUTORS", "Executor", "Progress", "get_executor"]
