"""States that heal: a worker killed from outside leaves its cell `interrupted`, which a plain re-run runs again;
only an exception of the cell's own code is `failed` (kept until --retry-failed)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from submitit.core.utils import FailedJobError, UncompletedJobError

from harness.cli import parse_study
from harness.runner.cell import record_status
from harness.runner.executors.local import LocalExecutor
from harness.runner.matrix import plan
from harness.store.results import read_results


def _plan(tmp_path, *extra):
    return plan(
        parse_study(
            [
                "--methods",
                "limber-1,mapl",
                "--no-controls",
                "--datasets",
                "syn-coco",
                "--profile",
                "smoke",
                "--results",
                str(tmp_path / "results"),
                *extra,
            ]
        )
    )


class _Job:
    job_id = "4242"
    paths = SimpleNamespace(stdout="out.log", stderr="err.log")

    def __init__(self, error: Exception) -> None:
        self.error = error

    def result(self):
        raise self.error


@pytest.mark.parametrize(
    "error, status",
    [
        (UncompletedJobError("Job 4242 has not produced any output (state: FINISHED)"), "interrupted"),
        (FailedJobError("Job 4242 failed during processing with trace: ValueError"), "failed"),
    ],
)
def test_a_local_worker_that_left_no_result_is_interrupted(tmp_path, error, status):
    cfg = _plan(tmp_path).cells[0]
    outcome = LocalExecutor._collect(cfg, _Job(error), tmp_path / "results")
    assert outcome.status == status
    assert read_results([tmp_path / "results"])["status"].tolist() == [status]


def test_a_plain_rerun_runs_interrupted_cells_and_keeps_failed_ones(tmp_path):
    limber, mapl = _plan(tmp_path).cells
    record_status(limber, tmp_path / "results", "interrupted", "killed by the OOM killer")
    record_status(mapl, tmp_path / "results", "failed", "ValueError in the connector")
    assert [c.method for c in _plan(tmp_path).todo] == ["limber-1"]
    assert [c.method for c in _plan(tmp_path, "--retry-failed").todo] == ["limber-1", "mapl"]
