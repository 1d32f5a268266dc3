"""The SLURM path against a real cluster: job arrays, failed / cancelled / lost jobs, --detach and
re-attach, and requeue with resume. Needs a running SLURM (`bash scripts/slurm-local.sh start`); skipped without one,
except under CI (CI=true) where a missing cluster fails the tests."""

from __future__ import annotations

import functools
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import slurm_cells

from harness.errors import UsageError
from harness.runner.executors.slurm import (
    CODE_DIR,
    JOBS_FILE,
    RUN_DIR_LOG_LINK,
    START_HINT,
    JobRecord,
    JobRegistry,
    SlurmExecutor,
    SlurmOptions,
    job_states,
)
from harness.store.results import read_results

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
DRIVER_TIMEOUT_S = 1500  # a driver that hangs fails its test instead of stalling CI
SMOKE_MATRIX = [
    "--datasets",
    "syn-vqav2",
    "--profile",
    "smoke",
    "--executor",
    "slurm",
    "--gpus-per-node",
    "0",
    "--array-parallelism",
    "2",
    "--time",
    "60",
    "--plugin",
    "slurm_plugin",
]


@functools.cache
def slurm_problem() -> str | None:
    """Why no job can run here, or None when a SLURM node is up."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "SLURM's commands (sinfo, sbatch) are not installed"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"sinfo failed: {e}"
    if proc.returncode != 0:
        return f"sinfo: {proc.stderr.strip()}"
    if not any(s.rstrip("*~#$@^-+") in ("idle", "mixed", "allocated", "completing") for s in proc.stdout.split()):
        return f"no node accepts jobs (sinfo states: {proc.stdout.split() or 'none'})"
    return None


@pytest.fixture(scope="module")
def slurm():
    problem = slurm_problem()
    if problem:
        message = f"no SLURM cluster is running ({problem}); start one on this machine with: {START_HINT}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true needs a running SLURM: {message}", pytrace=False)
        pytest.skip(message)
    # sbatch exports the submitting environment: the jobs must import the test plugin too
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), old) if p)
    yield
    if old is None:
        os.environ.pop("PYTHONPATH", None)
    else:
        os.environ["PYTHONPATH"] = old


cell = slurm_cells.smoke_cell
NoProgress = slurm_cells.NoProgress


def registered_jobs(runs_dir: Path) -> dict[str, str]:
    """run id -> SLURM job id, from the driver's registry."""
    if not (runs_dir / JOBS_FILE).exists():
        return {}
    return {rid: r.job_id for rid, r in JobRegistry(runs_dir).load().items()}


def wait_for(predicate, timeout_s: float, what: str, interval_s: float = 0.2):
    end = time.time() + timeout_s
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def scancel(*args: str) -> None:
    subprocess.run(["scancel", *args], check=True, timeout=60)


def rows_by_run(results_dir: Path):
    df = read_results([results_dir])
    return {rid: g for rid, g in df.groupby("run_id")}


# ---- the executor on trivial cells: every way a job can end, in one array -------------------------------------


@pytest.fixture(scope="module")
def scripted(slurm, tmp_path_factory):
    """Seeds 0-3 of a scripted cell (ok / raises / cancelled while running / cancelled while pending), collected by
    the executor while this fixture cancels jobs the way a user would."""
    root = tmp_path_factory.mktemp("scripted")
    runs, results = root / "runs", root / "results"
    cells = [cell(s) for s in range(4)]
    ex = SlurmExecutor(SlurmOptions(gpus_per_node=0, time="10", array_parallelism=2), cell_fn=slurm_cells.scripted_cell)
    ex.lost_grace_s = 5.0  # the pending task cancelled below leaves no trace in squeue or sacct

    def canceller():
        jobs = wait_for(lambda: len(registered_jobs(runs)) == 4 and registered_jobs(runs), 120, "submission")
        scancel(jobs[cells[3].run_id])  # pending: only 2 array tasks run at once
        running = jobs[cells[2].run_id]
        wait_for(lambda: job_states([running]).get(running) == "RUNNING", 300, f"job {running} to run")
        scancel(running)

    thread = threading.Thread(target=canceller, daemon=True)
    thread.start()
    t0 = time.time()
    outcomes = {o.run_id: o for o in ex.run(cells, runs, results, NoProgress())}
    thread.join(timeout=60)
    return {"cells": cells, "outcomes": outcomes, "runs": runs, "results": results, "wall_s": time.time() - t0}


def test_array_of_scripted_cells_all_collected(scripted):
    assert set(scripted["outcomes"]) == {c.run_id for c in scripted["cells"]}
    assert registered_jobs(scripted["runs"]) == {}, "collected jobs must leave the registry"
    rows = rows_by_run(scripted["results"])
    assert set(rows) == {c.run_id for c in scripted["cells"]}


def test_ok_job_result_and_logs_in_run_dir(scripted):
    c = scripted["cells"][0]
    assert scripted["outcomes"][c.run_id].status == "ok"
    assert list(rows_by_run(scripted["results"])[c.run_id]["status"]) == ["ok"]
    logs = scripted["runs"] / c.run_id / RUN_DIR_LOG_LINK
    assert logs.is_symlink() and any(p.name.endswith("_log.out") for p in logs.iterdir())


def test_job_raising_on_the_node_is_failed_with_remote_traceback(scripted):
    c = scripted["cells"][1]
    outcome = scripted["outcomes"][c.run_id]
    assert outcome.status == "failed"
    for needle in ("Traceback", "raising_cell", slurm_cells.FAILURE_MESSAGE, "raised on the node"):
        assert needle in outcome.error
    row = rows_by_run(scripted["results"])[c.run_id]
    assert list(row["status"]) == ["failed"] and slurm_cells.FAILURE_MESSAGE in row["error"].iloc[0]


def test_cancelled_running_job_is_cancelled(scripted):
    c = scripted["cells"][2]
    assert scripted["outcomes"][c.run_id].status == "cancelled"
    row = rows_by_run(scripted["results"])[c.run_id]
    assert list(row["status"]) == ["cancelled"] and "was cancelled" in row["error"].iloc[0]


def test_cancelled_pending_job_slurm_forgets_is_cancelled_not_waited_for(scripted):
    c = scripted["cells"][3]
    outcome = scripted["outcomes"][c.run_id]
    assert outcome.status == "cancelled" and "no longer knows" in outcome.error
    assert scripted["wall_s"] < 300, "the driver waited far longer than the lost-job grace period"


def test_detach_returns_at_once_and_rerun_collects(slurm, tmp_path):
    runs, results = tmp_path / "runs", tmp_path / "results"
    ok, failing = cell(0), cell(4)  # ok / records its own failed row

    def executor():
        return SlurmExecutor(SlurmOptions(gpus_per_node=0, time="10", detach=True), cell_fn=slurm_cells.scripted_cell)

    assert list(executor().run([ok, failing], runs, results, NoProgress())) == []  # submitted, nothing finished
    jobs = registered_jobs(runs)
    assert set(jobs) == {ok.run_id, failing.run_id}
    wait_for(lambda: set(job_states(list(jobs.values())).values()) == {"COMPLETED"}, 300, "both jobs")
    # the failed cell has its row by now, so a matrix passes only the other one (and reports the cached failure)
    outcomes = {o.run_id: o.status for o in executor().run([ok], runs, results, NoProgress())}
    assert outcomes == {ok.run_id: "ok"}
    assert registered_jobs(runs) == {}, "finished jobs leave the registry"
    assert set(rows_by_run(results)[failing.run_id]["status"]) == {"failed"}
    arrays = {p.name.split("_")[0] for p in (runs / "_slurm").iterdir() if p.is_dir() and p.name != CODE_DIR}
    assert len(arrays) == 1, "re-running must collect, not resubmit"


def test_sbatch_refusal_is_a_usage_error_and_registers_nothing(slurm, tmp_path):
    ex = SlurmExecutor(SlurmOptions(gpus_per_node=0, partition="no-such-partition"), cell_fn=slurm_cells.ok_cell)
    with pytest.raises(UsageError, match="(?s)sbatch refused the jobs: .*invalid partition.*\\(check --partition"):
        list(ex.run([cell(0)], tmp_path / "runs", tmp_path / "results", NoProgress()))
    assert registered_jobs(tmp_path / "runs") == {} and not (tmp_path / "results").exists()


def test_job_unknown_to_slurm_is_recorded_not_waited_for(slurm, tmp_path):
    runs, results = tmp_path / "runs", tmp_path / "results"
    c = cell(0)
    JobRegistry(runs).add(
        [JobRecord(c.run_id, "987654_3", c.config_hash(), str(runs / "_slurm" / "%j"), time.time() - 3600)]
    )
    ex = SlurmExecutor(SlurmOptions(gpus_per_node=0), cell_fn=slurm_cells.ok_cell)
    ex.lost_grace_s = 2.0
    t0 = time.time()
    outcomes = list(ex.run([c], runs, results, NoProgress()))
    assert time.time() - t0 < 60
    assert [o.status for o in outcomes] == ["cancelled"]
    assert "SLURM no longer knows job 987654_3" in outcomes[0].error


def test_more_cells_than_max_submit_jobs_go_in_waves_under_one_global_running_limit(slurm, tmp_path):
    """The cluster's own limits, read by the executor (scripts/slurm-local.sh sets MaxArraySize 4 and MaxSubmitJobs
    6 per user, enforced): more cells than MaxSubmitJobs go in waves of arrays no larger than MaxArraySize, and
    never more than --array-parallelism (3) of them run at once across the arrays, a later array's throttle raised
    as an earlier one drains. SLURM itself refuses a submission over its limits, so finishing proves the waves."""
    from harness.runner.executors import slurm as executor

    limits = executor.read_limits()
    if limits.max_submit_jobs is None or limits.max_array_size > 16:
        pytest.skip(f"this cluster's limits ({limits}) are too high to test waves quickly; see scripts/slurm-local.sh")
    runs, results = tmp_path / "runs", tmp_path / "results"
    cells = [cell(s) for s in range(limits.max_submit_jobs + 3)]
    ex = SlurmExecutor(SlurmOptions(gpus_per_node=0, time="10", array_parallelism=3), cell_fn=slurm_cells.ok_cell)
    ex.poll_max_s = 2.0
    peaks = {"running": 0, "queued": 0}
    done = threading.Event()

    def sample():
        while not done.is_set():
            ids = set(registered_jobs(runs).values())
            out = subprocess.run(
                ["squeue", "--me", "-h", "-r", "-o", "%i|%T"], capture_output=True, text=True, timeout=60
            ).stdout
            states = [state for job, _, state in (line.partition("|") for line in out.splitlines()) if job in ids]
            peaks["running"] = max(peaks["running"], states.count("RUNNING"))
            peaks["queued"] = max(peaks["queued"], len(states))
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        outcomes = {o.run_id: o.status for o in ex.run(cells, runs, results, NoProgress())}
    finally:
        done.set()
        thread.join(timeout=60)
    assert outcomes == {c.run_id: "ok" for c in cells}
    assert registered_jobs(runs) == {}
    arrays = {p.name.split("_")[0] for p in (runs / "_slurm").iterdir() if p.is_dir() and p.name != CODE_DIR}
    assert len(arrays) >= math.ceil(len(cells) / limits.max_array_size), arrays
    assert 1 <= peaks["running"] <= 3 and peaks["queued"] <= limits.max_submit_jobs, peaks


# ---- the real thing through run_matrix.py: smoke-profile cells ------------------------------------------------


def driver(args: list[str]) -> dict:
    """Keyword arguments of subprocess.run/Popen for `python run_matrix.py ARGS` from the repository root."""
    return {
        "args": [sys.executable, str(REPO / "run_matrix.py"), *args],
        "cwd": REPO,
        "text": True,
        "env": dict(os.environ, HF_HUB_OFFLINE="1"),
    }


def run_matrix(args: list[str], timeout_s: float = DRIVER_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(**driver(args), capture_output=True, timeout=timeout_s)


def dirs(root: Path) -> list[str]:
    return ["--results", str(root / "results"), "--runs-dir", str(root / "runs"), "--out", str(root / "reports")]


@pytest.fixture(scope="module")
def matrix(slurm, tmp_path_factory):
    """2 methods x 1 offline benchmark x 2 seeds, plus a method that raises and one whose jobs get cancelled."""
    root = tmp_path_factory.mktemp("matrix")
    args = ["--methods", "depalm,limber-1,test-raises,test-hangs", "--seeds", "2", *SMOKE_MATRIX, *dirs(root)]
    proc = subprocess.Popen(**driver(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out_lines: list[str] = []
    reader = threading.Thread(target=lambda: out_lines.extend(proc.stdout), daemon=True)
    reader.start()
    t0 = time.time()
    try:
        cancelled: set[str] = set()
        while proc.poll() is None and time.time() - t0 < DRIVER_TIMEOUT_S:
            for run_id, job_id in registered_jobs(root / "runs").items():
                # cancel each test-hangs job once it runs (its cell is built, so it started for real)
                if (
                    run_id.startswith("test-hangs")
                    and run_id not in cancelled
                    and (root / "runs" / run_id / "config.json").exists()
                ):
                    scancel(job_id)
                    cancelled.add(run_id)
            time.sleep(0.5)
    finally:
        if proc.poll() is None:
            proc.kill()
            for job_id in registered_jobs(root / "runs").values():
                subprocess.run(["scancel", job_id], timeout=60)
    reader.join(timeout=10)
    output = "".join(out_lines)
    assert proc.returncode is not None and time.time() - t0 < DRIVER_TIMEOUT_S, f"driver hung:\n{output[-3000:]}"
    return {"root": root, "rc": proc.returncode, "output": output, "rows": rows_by_run(root / "results"), "args": args}


def rows_of(matrix, method: str):
    return {rid: g for rid, g in matrix["rows"].items() if rid.startswith(method + "__")}


def test_matrix_on_slurm_every_cell_lands_in_parquet_ok(matrix):
    from benchmarks import get_benchmark

    spec = get_benchmark("syn-vqav2").spec
    for method in ("depalm", "limber-1"):
        rows = rows_of(matrix, method)
        assert len(rows) == 2, (method, list(matrix["rows"]), matrix["output"][-3000:])
        for rid, g in rows.items():
            assert set(g["status"]) == {"ok"}, (rid, g["error"].iloc[0][-2000:])
            reported = g[(g["split"] == spec.eval_split) & (g["metric"] == spec.primary_metric)]["value"]
            assert len(reported) == 1 and math.isfinite(reported.iloc[0])
            assert (matrix["root"] / "runs" / rid / RUN_DIR_LOG_LINK).is_symlink()


def test_matrix_failing_cell_recorded_failed_with_remote_traceback(matrix):
    rows = rows_of(matrix, "test-raises")
    assert len(rows) == 2
    for g in rows.values():
        assert set(g["status"]) == {"failed"}
        error = g["error"].iloc[0]
        assert "Traceback" in error and slurm_cells.FAILURE_MESSAGE in error and "slurm_plugin.py" in error


def test_matrix_cancelled_jobs_recorded_cancelled_and_driver_finishes(matrix):
    rows = rows_of(matrix, "test-hangs")
    assert len(rows) == 2
    for g in rows.values():
        assert set(g["status"]) == {"cancelled"}, g["error"].iloc[0]
    assert matrix["rc"] == 1  # failed and cancelled cells make the exit status non-zero
    assert "table4.md" in matrix["output"], "the driver renders the tables after collecting"
    assert registered_jobs(matrix["root"] / "runs") == {}


def test_matrix_rerun_skips_finished_cells_and_resubmits_cancelled(matrix):
    out = run_matrix([*matrix["args"], "--dry-run"], timeout_s=300)
    assert out.returncode == 0, out.stderr
    assert "2 to run" in out.stdout and all(
        "test-hangs" in line for line in out.stdout.splitlines() if line.startswith("  ") and "__" in line
    )


def test_one_task_per_rank_trains_a_cell_data_parallel(slurm, tmp_path):
    """One SLURM task per GPU is one DDP rank; on this GPU-less cluster two CPU tasks (gloo) stand in for 2 GPUs."""
    from harness.cli import parse_study
    from harness.runner.matrix import plan

    args = parse_study(["--methods", "depalm", "--no-controls", "--seeds", "1", *SMOKE_MATRIX, *dirs(tmp_path)])
    (cfg,) = plan(args).todo
    ex = SlurmExecutor(SlurmOptions(gpus_per_node=0, tasks_per_node=2, time="60"))
    (outcome,) = ex.run([cfg], tmp_path / "runs", tmp_path / "results", NoProgress())
    assert outcome.status == "ok", outcome.error
    run_dir = tmp_path / "runs" / cfg.run_id
    assert json.loads((run_dir / "metrics.json").read_text())["info"]["world_size"] == 2
    logs = sorted(p.name for p in (run_dir / RUN_DIR_LOG_LINK).glob("*_log.out"))
    assert [name.rsplit("_", 2)[-2] for name in logs] == ["0", "1"], logs  # one log per task
    assert set(rows_by_run(tmp_path / "results")[cfg.run_id]["status"]) == {"ok"}


def test_detach_requeue_and_the_same_command_collects_the_resumed_run(matrix, tmp_path):
    """--detach submits and returns; the job is then interrupted the way SLURM does before a time limit (SIGUSR2,
    submitit's --signal=USR2@90, also what submitit uses for preemption): it requeues itself and resumes from its
    checkpoint; the same command, run again, re-attaches and collects metrics equal to an uninterrupted run's."""
    args = ["--methods", "depalm", "--seeds", "1", "--no-controls", *SMOKE_MATRIX, *dirs(tmp_path)]  # one job
    t0 = time.time()
    first = run_matrix([*args, "--detach"], timeout_s=300)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "--detach: not waiting for 1 job" in first.stdout and "run the same command again" in first.stdout
    assert time.time() - t0 < 120, "--detach must not wait for the job"
    ((run_id, job_id),) = registered_jobs(tmp_path / "runs").items()
    run_dir = tmp_path / "runs" / run_id
    try:
        wait_for((run_dir / "checkpoint.safetensors").exists, DRIVER_TIMEOUT_S, "the first checkpoint", 0.05)
        scancel("--signal=USR2", job_id)
        second = run_matrix(args)
    finally:
        subprocess.run(["scancel", job_id], timeout=60)  # no-op once the job is done
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert "re-attaching to 1 job" in second.stdout and "table4.md" in second.stdout
    log = (run_dir / RUN_DIR_LOG_LINK / f"{job_id}_0_log.out").read_text()
    assert "requeued; it resumes" in log and log.count("Starting with JobEnvironment") == 2, log[-3000:]
    resumed = json.loads((run_dir / "metrics.json").read_text())
    assert resumed["status"] == "ok"
    assert 0 < resumed["info"]["resumed_from"] < resumed["info"]["steps"], resumed["info"]
    reference = json.loads((matrix["root"] / "runs" / run_id / "metrics.json").read_text())
    assert reference["info"]["resumed_from"] == 0
    assert resumed["metrics"] == reference["metrics"]
    assert resumed["info"]["final_loss"] == pytest.approx(reference["info"]["final_loss"], rel=1e-6)
    third = run_matrix([*args, "--detach"], timeout_s=300)
    assert "0 to run" in third.stdout and "submitted" not in third.stdout
