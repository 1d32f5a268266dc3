"""SLURM executor pieces that need no cluster: flags -> sbatch script, parsing of squeue/sacct output, the job
registry, and the clear errors for bad flags or a machine without SLURM."""

from __future__ import annotations

import json

import pytest
import slurm_cells

from harness.cli import main, parse_study
from harness.errors import UsageError
from harness.runner.executors.slurm import (
    JobRecord,
    JobRegistry,
    SlurmOptions,
    _summarise_ids,
    check_options,
    check_slurm_reachable,
    is_active,
    parse_sacct,
    parse_sbatch_arg,
    parse_squeue,
    parse_time_min,
    submitit_parameters,
)


def options(*flags: str) -> SlurmOptions:
    """The slurm options of a command line, checked as the executor checks them."""
    opts = parse_study(list(flags)).slurm
    check_options(opts)
    return opts


def sbatch_script(opts: SlurmOptions, n_cells: int = 3) -> str:
    from submitit.slurm.slurm import _make_sbatch_string

    return _make_sbatch_string(
        command="python -m x", folder="/runs/_slurm/%j", map_count=n_cells, **submitit_parameters(opts, ["cd /work"])
    )


def test_defaults_ask_for_one_8_gpu_node_with_one_task_per_gpu_and_a_capped_array():
    script = sbatch_script(options(), n_cells=100)
    assert "#SBATCH --gpus-per-node=8" in script
    assert "#SBATCH --ntasks-per-node=8" in script and "#SBATCH --nodes=1" in script
    assert "srun --unbuffered" in script and "--kill-on-bad-exit=1" in script  # one rank dies: the job ends
    assert "#SBATCH --array=0-99%32" in script
    assert "#SBATCH --time=1440" in script
    assert "#SBATCH --signal=USR2@90" in script  # submitit's checkpoint-and-requeue signal before the time limit
    assert "--partition" not in script and "--mem" not in script


def test_every_flag_reaches_the_sbatch_script():
    opts = options(
        "--partition",
        "gpu",
        "--account",
        "lab",
        "--qos",
        "high",
        "--time",
        "2-00:00:00",
        "--constraint",
        "volta32gb",
        "--gpus-per-node",
        "4",
        "--cpus-per-task",
        "40",
        "--mem-gb",
        "400",
        "--array-parallelism",
        "5",
        "--sbatch-arg",
        "mail-type=END",
        "--sbatch-arg",
        "exclusive",
    )
    script = sbatch_script(opts, n_cells=12)
    for line in (
        "--partition=gpu",
        "--account=lab",
        "--qos=high",
        "--time=2880",
        "--constraint=volta32gb",
        "--gpus-per-node=4",
        "--ntasks-per-node=4",
        "--cpus-per-task=40",
        "--mem=400GB",
        "--array=0-11%5",
        "--mail-type=END",
        "--exclusive",
    ):
        assert f"#SBATCH {line}" in script.splitlines(), line
    assert "cd /work" in script


def test_gpu_less_cluster_requests_no_gpus_and_one_task():
    script = sbatch_script(options("--gpus-per-node", "0"))
    assert "gpus" not in script and "#SBATCH --ntasks-per-node=1" in script and "kill-on-bad-exit" not in script


@pytest.mark.parametrize(
    "text, minutes", [("90", 90), ("30:30", 31), ("1:00:00", 60), ("2-12", 3600), ("1-00:30", 1470), ("0-00:00:59", 1)]
)
def test_time_accepts_slurm_formats(text, minutes):
    assert parse_time_min(text) == minutes


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--time", "soon"], "--time 'soon'"),
        (["--time", "0"], "must be positive"),
        (["--gpus-per-node", "-1"], "--gpus-per-node -1"),
        (["--cpus-per-task", "0"], "--cpus-per-task 0"),
        (["--mem-gb", "0"], "--mem-gb 0"),
        (["--array-parallelism", "0"], "--array-parallelism 0"),
        (["--sbatch-arg", "mail-type="], "KEY=VALUE"),
        (["--sbatch-arg", "=x"], "KEY=VALUE"),
        (["--sbatch-arg", "array=0-3"], "set by the SLURM executor"),
        (["--sbatch-arg", "output=/tmp/x"], "set by the SLURM executor"),
    ],
)
def test_bad_flags_are_usage_errors_naming_the_flag(flags, needle):
    with pytest.raises(UsageError) as e:
        options(*flags)
    assert needle in str(e.value)


def test_sbatch_arg_forms():
    assert parse_sbatch_arg("mail-user=a@b.c") == ("mail-user", "a@b.c")
    assert parse_sbatch_arg("--exclusive") == ("exclusive", True)
    assert parse_sbatch_arg("comment=a=b") == ("comment", "a=b")


def test_squeue_and_sacct_output_parsing():
    assert parse_squeue("12_0|RUNNING\n12_1|PENDING\n13|CANCELLED\n\n") == {
        "12_0": "RUNNING",
        "12_1": "PENDING",
        "13": "CANCELLED",
    }
    sacct = "JobID|State\n12_0|COMPLETED\n12_1|CANCELLED by 0\n12_[2-4%2]|PENDING\n14|FAILED\n"
    states = parse_sacct(sacct)
    assert states["12_0"] == "COMPLETED" and states["12_1"] == "CANCELLED by 0" and states["14"] == "FAILED"
    assert states["12_3"] == states["12_4"] == "PENDING"
    assert parse_sacct("JobID|State\n") == {}


@pytest.mark.parametrize(
    "state, active",
    [
        ("PENDING", True),
        ("RUNNING", True),
        ("REQUEUED", True),
        ("COMPLETING", True),
        ("COMPLETED", False),
        ("CANCELLED by 0", False),
        ("FAILED", False),
        ("TIMEOUT", False),
        ("OUT_OF_MEMORY", False),
        ("NODE_FAIL", False),
        ("", False),
    ],
)
def test_active_states(state, active):
    assert is_active(state) is active


def test_job_ids_summarised_as_ranges():
    assert _summarise_ids(["12_0", "12_1", "12_2", "12_5", "13"]) == "jobs 12_[0-2,5], 13"


def test_registry_round_trip_and_removal(tmp_path):
    reg = JobRegistry(tmp_path / "runs")
    reg.add([JobRecord("a", "12_0", "h1", "/f/%j", 1.0), JobRecord("b", "12_1", "h2", "/f/%j", 1.0)])
    assert {k: v.job_id for k, v in reg.load().items()} == {"a": "12_0", "b": "12_1"}
    reg.remove(["a"])
    assert list(reg.load()) == ["b"]
    assert [json.loads(line) for line in reg.path.read_text().splitlines()][-1] == {"remove": ["a"]}


def test_unreadable_registry_names_the_file_and_the_fix(tmp_path):
    reg = JobRegistry(tmp_path)
    reg.path.write_text('{not json\n{"remove": []}\n')  # a damaged line that is not the last one
    with pytest.raises(RuntimeError, match="slurm_jobs.jsonl: unreadable job registry.*line 1.*move the file away"):
        reg.load()


def test_no_slurm_on_this_machine_is_a_usage_error_with_the_way_to_start_one(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        UsageError, match="sbatch not found.*slurm-local.sh install && bash scripts/slurm-local.sh start"
    ):
        check_slurm_reachable()


def test_cli_without_slurm_exits_2(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert (
        main(
            ["--executor", "slurm", "--methods", "depalm", "--datasets", "syn-vqav2", "--profile", "smoke", "--dry-run"]
        )
        == 2
    )
    assert "sbatch not found" in capsys.readouterr().err


# ---- collection logic with SLURM's answers simulated ----------------------------------------------------------


def tracked_job(tmp_path, job_id: str = "77_0"):
    from harness.runner.executors.slurm import _Tracked

    cfg = slurm_cells.smoke_cell(0)
    record = JobRecord(cfg.run_id, job_id, cfg.config_hash(), str(tmp_path / "runs" / "_slurm" / "%j"), 0.0)
    registry = JobRegistry(tmp_path / "runs")
    registry.add([record])
    return {cfg.run_id: _Tracked(cfg, record, record.job())}, registry


def collect(monkeypatch, tmp_path, states, **executor_attrs):
    from harness.runner.executors import slurm

    tracked, registry = tracked_job(tmp_path)
    monkeypatch.setattr(slurm, "job_states", states)
    monkeypatch.setattr(slurm.time, "sleep", lambda s: None)
    ex = slurm.SlurmExecutor(SlurmOptions(gpus_per_node=0))
    for k, v in executor_attrs.items():
        setattr(ex, k, v)
    waves = slurm._Waves([], slurm.SlurmLimits(), ex.options.array_parallelism)  # nothing left to submit
    outcomes = ex._collect(
        tracked, waves, registry, tmp_path / "runs", tmp_path / "results", None, slurm_cells.NoProgress()
    )
    return list(outcomes), registry


def test_job_ending_without_result_is_interrupted_with_its_state_and_log_tail(monkeypatch, tmp_path):
    outcomes, registry = collect(monkeypatch, tmp_path, lambda ids: {"77_0": "OUT_OF_MEMORY"}, result_grace_s=0)
    assert [o.status for o in outcomes] == ["interrupted"]  # killed from outside: a plain re-run runs it again
    assert "state 'OUT_OF_MEMORY' without a result" in outcomes[0].error and "77_0_0_log.err" in outcomes[0].error
    assert registry.load() == {}


def test_controller_silent_too_long_stops_waiting_and_keeps_the_jobs(monkeypatch, tmp_path, capsys):
    from harness.runner.executors.slurm import SlurmUnreachable

    def unreachable(ids):
        raise SlurmUnreachable("squeue exited 1: Unable to contact slurm controller")

    outcomes, registry = collect(monkeypatch, tmp_path, unreachable, unreachable_s=-1)
    assert outcomes == []
    assert len(registry.load()) == 1  # still registered: a later run collects it
    out = capsys.readouterr().out
    assert "SLURM has not answered" in out and "run the same command again" in out


# ---- stale registry records (the job ended before this run asked for its cell again) ----------------------


def _ended_job(tmp_path, result):
    """A registered job that has ended; `result(cfg)` gives what its result pickle holds (a str: it raised)."""
    from submitit.core.utils import cloudpickle_dump

    tracked_by_run, registry = tracked_job(tmp_path)
    (tracked,) = tracked_by_run.values()
    outcome_or_trace = result(tracked.cfg)
    tracked.job.paths.result_pickle.parent.mkdir(parents=True, exist_ok=True)
    kind = "error" if isinstance(outcome_or_trace, str) else "success"
    cloudpickle_dump((kind, outcome_or_trace), tracked.job.paths.result_pickle)
    return tracked.cfg, registry


def _run_with_fake_submission(monkeypatch, tmp_path, cfg):
    """SlurmExecutor.run with sbatch replaced: a submitted job 'runs' slurm_cells.ok_cell at once."""
    import slurm_cells
    from submitit.core.utils import cloudpickle_dump

    from harness.runner.executors import slurm

    submitted = []

    def fake_submit(self, cells, runs_dir, results_dir, throttle=None, code=None):
        records = []
        for c in cells:
            record = JobRecord(
                c.run_id, f"{90 + len(submitted)}_0", c.config_hash(), str(tmp_path / "runs" / "_slurm" / "%j"), 0.0
            )
            outcome = slurm_cells.ok_cell(c, runs_dir, results_dir)
            record.job().paths.result_pickle.parent.mkdir(parents=True, exist_ok=True)
            cloudpickle_dump(("success", outcome), record.job().paths.result_pickle)
            submitted.append(c.run_id)
            records.append(record)
        JobRegistry(runs_dir).add(records)
        return records

    monkeypatch.setattr(slurm.SlurmExecutor, "submit", fake_submit)
    monkeypatch.setattr(slurm, "job_states", lambda ids: {})
    monkeypatch.setattr(slurm.time, "sleep", lambda s: None)
    ex = slurm.SlurmExecutor(SlurmOptions(gpus_per_node=0))
    outcomes = list(ex.run([cfg], tmp_path / "runs", tmp_path / "results", slurm_cells.NoProgress()))
    return outcomes, submitted


def test_retry_failed_resubmits_a_cell_whose_detached_job_recorded_its_failure(monkeypatch, tmp_path):
    from harness.runner.cell import record_status
    from harness.store.results import read_results

    cfg, registry = _ended_job(tmp_path, lambda c: record_status(c, tmp_path / "results", "failed", "the old one"))
    outcomes, submitted = _run_with_fake_submission(monkeypatch, tmp_path, cfg)
    assert submitted == [cfg.run_id] and [o.status for o in outcomes] == ["ok"]
    assert set(read_results([tmp_path / "results"])["status"]) == {"ok"}
    assert registry.load() == {}


def test_a_deleted_result_of_a_finished_job_is_resubmitted_not_reported_as_run(monkeypatch, tmp_path):
    from harness.runner.cell import CellOutcome
    from harness.store.results import read_results

    cfg, _ = _ended_job(tmp_path, lambda c: CellOutcome(c.run_id, "ok", metrics={"test": {"VQA_acc": 50.0}}))
    assert not (tmp_path / "results").exists()  # its row was deleted
    outcomes, submitted = _run_with_fake_submission(monkeypatch, tmp_path, cfg)
    assert submitted == [cfg.run_id] and [o.status for o in outcomes] == ["ok"]
    assert read_results([tmp_path / "results"])["run_id"].tolist() == [cfg.run_id]


def test_an_uncollected_failure_of_a_detached_job_is_collected_not_resubmitted(monkeypatch, tmp_path):
    from harness.store.results import read_results

    cfg, registry = _ended_job(tmp_path, lambda c: "Traceback (most recent call last):\nValueError: on the node")
    outcomes, submitted = _run_with_fake_submission(monkeypatch, tmp_path, cfg)
    assert submitted == [] and [o.status for o in outcomes] == ["failed"]
    assert "on the node" in outcomes[0].error
    assert read_results([tmp_path / "results"])["status"].tolist() == ["failed"]
    assert registry.load() == {}
