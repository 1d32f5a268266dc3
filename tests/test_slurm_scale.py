"""The SLURM executor at study scale, against simulated SLURM commands: waves under the cluster's limits and one
global concurrency limit, the appended job registry, linear squeue parsing, a poll interval that stays backed off,
log tails read from the end, and the code snapshot the jobs import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import slurm_cells
from submitit.core.utils import cloudpickle_dump

from harness import REPO_ROOT
from harness.runner.executors import slurm
from harness.runner.executors.slurm import (
    JobRecord,
    JobRegistry,
    SlurmExecutor,
    SlurmLimits,
    SlurmOptions,
    array_throttles,
    code_snapshot,
    job_states,
    parse_limits,
    parse_squeue,
)
from harness.runner.logtail import read_tail, tail_lines

cell = slurm_cells.smoke_cell
NoProgress = slurm_cells.NoProgress


# ---- limits ------------------------------------------------------------------------------------------------

SCONTROL_CONFIG = """Configuration data as of 2026-01-01T00:00:00
AccountingStorageType   = accounting_storage/slurmdbd
MaxArraySize            = 5
MaxJobCount             = 100
MaxStepCount            = 40000
SLURM_VERSION           = 23.02.7
"""


def test_limits_read_from_scontrol_and_accounting():
    limits = parse_limits(SCONTROL_CONFIG, "\n7\n3\n")  # the smallest association limit applies
    assert (limits.max_array_size, limits.max_job_count, limits.max_submit_jobs) == (5, 100, 3)
    assert limits.max_queued == 3 and limits.array_size == 5
    assert parse_limits(SCONTROL_CONFIG, "\n\n").max_queued == 100  # no MaxSubmitJobs: MaxJobCount bounds


def test_unset_or_garbled_limits_keep_slurms_defaults():
    limits = parse_limits("MaxArraySize = (null)\nMaxJobCount = N/A\ngarbage line\n= 3\n")
    assert limits == SlurmLimits() and (limits.max_array_size, limits.max_job_count) == (1001, 10000)


def test_unreadable_limits_fall_back_to_defaults_and_say_so_once(monkeypatch, capsys):
    def unreachable(cmd, timeout_s=60):
        raise slurm.SlurmUnreachable(f"{cmd[0]}: no controller")

    monkeypatch.setattr(slurm, "_slurm_cmd", unreachable)
    assert slurm.read_limits() == SlurmLimits()
    out = capsys.readouterr().out
    assert out.count("assuming SLURM's defaults MaxArraySize=1001 MaxJobCount=10000") == 1


def test_array_throttles_from_scontrol_show_job():
    text = "JobId=12 ArrayJobId=12 ArrayTaskId=3-9 ArrayTaskThrottle=4 JobName=x\nJobId=13 JobName=y\n"
    assert array_throttles(text) == {"12": 4}


# ---- a simulated cluster: waves, the global limit, throttles raised as arrays drain ---------------------------


class FakeCluster:
    """Job arrays that SLURM would run: each array runs at most its throttle of tasks at once (SLURM's only
    per-array rule); every simulated poll interval, running tasks finish (their result pickle written) and pending
    ones start. Records the peaks the test checks."""

    def __init__(self, tmp_path, limits: SlurmLimits):
        self.tmp_path, self.limits = tmp_path, limits
        self.arrays: dict[str, dict] = {}  # base -> {"throttle", "tasks": {job_id: [state, cfg, record]}}
        self.waves: list[tuple[int, int]] = []
        self.peak_running = self.peak_queued = 0
        self.next_base = 100
        self.raised: list[tuple[str, int]] = []  # (array, throttle) updates the driver asked for

    def submit(self, cells, runs_dir, results_dir, throttle=None, code=None):
        queued = sum(1 for a in self.arrays.values() for t in a["tasks"].values() if t[0] != "COMPLETED")
        assert queued + len(cells) <= self.limits.max_queued, "a wave over MaxSubmitJobs"
        assert len(cells) <= self.limits.array_size, "an array over MaxArraySize"
        base, self.next_base = str(self.next_base), self.next_base + 1
        folder = str(self.tmp_path / "runs" / "_slurm" / "%j")
        records = [JobRecord(c.run_id, f"{base}_{i}", c.config_hash(), folder, 0.0) for i, c in enumerate(cells)]
        self.arrays[base] = {
            "throttle": throttle,
            "tasks": {r.job_id: ["PENDING", c, r] for c, r in zip(cells, records)},
        }
        self.waves.append((len(cells), throttle))
        JobRegistry(runs_dir).add(records)
        return records

    def step(self):
        for array in self.arrays.values():
            for state in array["tasks"].values():
                if state[0] == "RUNNING":
                    cfg, record = state[1], state[2]
                    outcome = slurm_cells.ok_cell(cfg, self.tmp_path / "runs", self.tmp_path / "results")
                    record.job().paths.result_pickle.parent.mkdir(parents=True, exist_ok=True)
                    cloudpickle_dump(("success", outcome), record.job().paths.result_pickle)
                    state[0] = "COMPLETED"
        for array in self.arrays.values():
            running = 0
            for state in array["tasks"].values():
                if state[0] == "PENDING" and (not array["throttle"] or running < array["throttle"]):
                    state[0] = "RUNNING"
                running += state[0] == "RUNNING"
        states = [t[0] for a in self.arrays.values() for t in a["tasks"].values()]
        self.peak_running = max(self.peak_running, states.count("RUNNING"))
        self.peak_queued = max(self.peak_queued, len(states) - states.count("COMPLETED"))

    def states(self, job_ids):
        every = {j: t[0] for a in self.arrays.values() for j, t in a["tasks"].items()}
        return {j: every[j] for j in job_ids if j in every}

    def command(self, cmd, timeout_s=60):
        if cmd[:2] == ["scontrol", "update"]:
            base = cmd[2].split("=")[1]
            self.arrays[base]["throttle"] = int(cmd[3].split("=")[1])
            self.raised.append((base, self.arrays[base]["throttle"]))
            return ""
        raise AssertionError(f"unexpected SLURM command {cmd}")


def run_on_fake_cluster(monkeypatch, tmp_path, n_cells, limits, parallel, detach=False):
    cluster = FakeCluster(tmp_path, limits)
    monkeypatch.setattr(slurm, "read_limits", lambda: limits)
    monkeypatch.setattr(slurm, "code_snapshot", lambda runs_dir: tmp_path / "code")
    monkeypatch.setattr(slurm.SlurmExecutor, "submit", cluster.submit)  # a bound method: no executor self
    monkeypatch.setattr(slurm, "job_states", cluster.states)
    monkeypatch.setattr(slurm, "_slurm_cmd", cluster.command)
    monkeypatch.setattr(SlurmExecutor, "_wait", lambda self, seconds: (self.sleeps.append(seconds), cluster.step()))
    ex = SlurmExecutor(SlurmOptions(gpus_per_node=0, array_parallelism=parallel, detach=detach))
    cells = [cell(s) for s in range(n_cells)]
    outcomes = list(ex.run(cells, tmp_path / "runs", tmp_path / "results", NoProgress()))
    return cluster, cells, outcomes, ex


def test_a_matrix_larger_than_max_submit_jobs_completes_in_waves_under_the_global_limit(monkeypatch, tmp_path):
    limits = SlurmLimits(max_array_size=4, max_job_count=100, max_submit_jobs=6)
    cluster, cells, outcomes, _ = run_on_fake_cluster(monkeypatch, tmp_path, 17, limits, parallel=3)
    assert sorted(o.run_id for o in outcomes) == sorted(c.run_id for c in cells)
    assert all(o.status == "ok" for o in outcomes)
    assert len(cluster.waves) >= 5 and sum(n for n, _ in cluster.waves) == 17  # each cell submitted once
    assert cluster.peak_queued <= 6 and cluster.peak_running <= 3
    assert cluster.peak_running == 3  # the limit is used, not only respected
    assert JobRegistry(tmp_path / "runs").load() == {}


def test_throttles_of_arrays_sum_to_the_global_limit_and_are_raised_as_earlier_arrays_drain(monkeypatch, tmp_path):
    limits = SlurmLimits(max_array_size=5, max_job_count=100, max_submit_jobs=100)
    cluster, _, outcomes, _ = run_on_fake_cluster(monkeypatch, tmp_path, 12, limits, parallel=4)
    assert len(outcomes) == 12 and cluster.peak_running == 4
    assert cluster.waves[0] == (5, 4)  # the first array takes the whole share; later ones what is left of it
    assert all(throttle <= 4 for _, throttle in cluster.waves)
    assert cluster.raised and all(throttle <= 4 for _, throttle in cluster.raised)  # shares moved to later arrays


def test_detach_submits_what_fits_and_says_the_rest_waits(monkeypatch, tmp_path, capsys):
    limits = SlurmLimits(max_array_size=4, max_job_count=100, max_submit_jobs=6)
    cluster, _, outcomes, _ = run_on_fake_cluster(monkeypatch, tmp_path, 10, limits, parallel=3, detach=True)
    assert outcomes == [] and cluster.waves == [(4, 3)]
    assert len(JobRegistry(tmp_path / "runs").load()) == 4
    assert "6 cell(s) are not submitted yet: the same command submits them" in capsys.readouterr().out


# ---- the registry -------------------------------------------------------------------------------------------


def records(n: int, start: int = 0) -> list[JobRecord]:
    return [JobRecord(f"run{i}", f"12_{i}", f"h{i}", "/f/%j", 1.0) for i in range(start, start + n)]


def test_registry_appends_one_line_per_operation_and_compacts_when_loading(tmp_path):
    reg = JobRegistry(tmp_path)
    reg.add(records(40))
    for i in range(30):
        reg.remove([f"run{i}"])
    assert len(reg.path.read_text().splitlines()) == 70  # one line per record and per removal, none rewritten
    live = reg.load()
    assert sorted(live) == sorted(f"run{i}" for i in range(30, 40))
    lines = [json.loads(line) for line in reg.path.read_text().splitlines()]
    assert len(lines) == 10 and all(set(entry) == {"add"} for entry in lines)  # compacted
    assert reg.load() == live  # the round trip keeps every field
    assert live["run35"] == JobRecord("run35", "12_35", "h35", "/f/%j", 1.0)


def test_a_torn_last_line_is_dropped_with_a_message_and_the_next_append_is_not_glued_to_it(tmp_path, capsys):
    reg = JobRegistry(tmp_path)
    reg.add(records(2))
    with open(reg.path, "ab") as f:
        f.write(b'{"add": {"run_id": "run9", "job_id": "12_')  # the driver died inside this write
    reg.add(records(1, start=5))
    assert sorted(reg.load()) == ["run0", "run1", "run5"]
    with open(reg.path, "ab") as f:
        f.write(b'{"remove": ["run0"')
    assert sorted(reg.load()) == ["run0", "run1", "run5"]
    assert "its last line was cut short" in capsys.readouterr().out
    assert reg.path.read_bytes().endswith(b"\n")  # compacted without the torn line


def test_a_registry_in_the_former_single_document_format_is_migrated(tmp_path):
    legacy = tmp_path / slurm.LEGACY_JOBS_FILE
    legacy.write_text(
        json.dumps({"jobs": {"a": {"job_id": "1_0", "config_hash": "h", "folder": "/f", "submitted_at": 0}}})
    )
    reg = JobRegistry(tmp_path)
    assert {k: v.job_id for k, v in reg.load().items()} == {"a": "1_0"}
    assert not legacy.exists() and reg.path.exists()
    assert {k: v.job_id for k, v in reg.load().items()} == {"a": "1_0"}


# ---- squeue/sacct parsing is linear in the jobs ---------------------------------------------------------------


def test_job_states_at_20000_jobs(monkeypatch):
    n = 20_000
    squeue = "".join(f"{100 + i // 1000}_{i % 1000}|{'RUNNING' if i % 3 else 'PENDING'}\n" for i in range(n))
    sacct = "JobID|State\n" + "".join(f"900_{i}|COMPLETED\n" for i in range(n))
    calls = []

    def fake(cmd, timeout_s=60):
        calls.append(cmd[0])
        return squeue if cmd[0] == "squeue" else sacct

    monkeypatch.setattr(slurm, "_slurm_cmd", fake)
    wanted = [f"{100 + i // 1000}_{i % 1000}" for i in range(n)] + [f"900_{i}" for i in range(n)]
    states = job_states(wanted)
    assert len(states) == 2 * n and states["100_0"] == "PENDING" and states["119_999"] == "RUNNING"
    assert states["900_19999"] == "COMPLETED" and calls == ["squeue", "sacct"]
    assert len(parse_squeue(squeue)) == n


# ---- the poll interval --------------------------------------------------------------------------------------


def test_poll_interval_doubles_to_its_cap_and_stays_there_when_jobs_finish(monkeypatch, tmp_path):
    limits = SlurmLimits(max_array_size=1, max_job_count=100, max_submit_jobs=100)
    monkeypatch.setattr(SlurmExecutor, "poll_s", 2.0)
    monkeypatch.setattr(SlurmExecutor, "poll_max_s", 16.0)
    # one task per array and one running at a time: cells finish one per two polls, all through the run
    _, _, outcomes, ex = run_on_fake_cluster(monkeypatch, tmp_path, 6, limits, parallel=1)
    sleeps = ex.sleeps
    assert len(outcomes) == 6 and len(sleeps) > 6
    assert sleeps[:4] == [2.0, 4.0, 8.0, 16.0] and set(sleeps[4:]) == {16.0}  # never reset by a finished job


# ---- log tails ----------------------------------------------------------------------------------------------


def test_log_tail_reads_only_the_end_of_a_50_mb_log(tmp_path, monkeypatch):
    log = tmp_path / "train_log.jsonl"
    record = json.dumps({"step": 7, "total_steps": 9, "loss": 0.5}) + "\n"
    with open(log, "wb") as f:
        f.write(record.encode() * 1000)
        f.truncate(50 * 2**20)  # 50 MB (sparse: no time spent writing it)
        f.seek(0, os.SEEK_END)
        f.write(b"\nfirst of the tail\n" + b"x" * 100 + b"\nlast line\n")
    read_sizes = []
    real_open = open

    class Counting:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def seek(self, *a):
            return self.f.seek(*a)

        def read(self, n=-1):
            data = self.f.read(n)
            read_sizes.append(len(data))
            return data

    monkeypatch.setattr("builtins.open", lambda p, mode="r", *a, **k: Counting(real_open(p, mode, *a, **k)))
    tail = read_tail(log, max_bytes=4096)
    monkeypatch.undo()
    assert sum(read_sizes) <= 4096 and tail.endswith(b"last line\n") and len(tail) < 4096
    assert tail_lines(log, 2) == ["x" * 100, "last line"]
    small = tmp_path / "small.log"
    small.write_text("a\nb\n")
    assert read_tail(small) == b"a\nb\n"  # a file that fits is returned whole, its first line included


def test_progress_follows_a_train_log_from_its_last_record(tmp_path):
    from harness.runner.progress import MatrixProgress
    from harness.runner.train import TRAIN_LOG_NAME

    cfg = cell(0)
    run_dir = tmp_path / cfg.run_id
    run_dir.mkdir()
    with open(run_dir / TRAIN_LOG_NAME, "wb") as f:
        f.truncate(50 * 2**20)
        f.seek(0, os.SEEK_END)
        f.write(b"\n" + json.dumps({"step": 41, "total_steps": 99, "loss": 1.25}).encode() + b"\n")
    progress = MatrixProgress([cfg], tmp_path, 1, {cfg.run_id: 1.0}, enabled=False)
    progress.started(cfg)
    progress.tick()
    assert progress.running[cfg.run_id].n == 41 and progress.running[cfg.run_id].total == 99
    progress.close()


# ---- the code snapshot --------------------------------------------------------------------------------------


def test_jobs_import_a_snapshot_of_the_checkout_whose_code_version_is_the_submissions(tmp_path):
    from harness.runner.cell import code_version

    runs = tmp_path / "runs"
    snap = code_snapshot(runs)
    assert snap.parent == (runs / "_slurm" / "code").resolve()
    assert (snap / "harness" / "runner" / "executors" / "slurm.py").read_bytes() == (
        REPO_ROOT / "harness" / "runner" / "executors" / "slurm.py"
    ).read_bytes()
    assert code_snapshot(runs) == snap  # the same code: the same snapshot
    setup = SlurmExecutor(SlurmOptions(gpus_per_node=0))._job_setup(snap)
    assert "export PYTHONSAFEPATH=1" in setup and setup[2].startswith(f"export PYTHONPATH={snap}")
    # a job started from the checkout's own directory imports the snapshot and records the same code version
    probe = "import harness.runner.cell as c; print(c.__file__); print(c.code_version())"
    env = dict(os.environ, PYTHONSAFEPATH="1", PYTHONPATH=str(snap))
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True, timeout=300
    ).stdout.split()
    assert out[0].startswith(str(snap)) and out[1] == code_version()


def test_a_snapshot_is_not_changed_by_later_edits_to_the_checkout(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    (repo / "mod.py").write_text("X = 1\n")
    (repo / ".gitignore").write_text("runs/\n")
    subprocess.run([*git, "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-qm", "one"], cwd=repo, check=True)
    (repo / "mod.py").write_text("X = 2\n")  # an edit not committed: the jobs run it
    (repo / "new.py").write_text("Y = 1\n")  # untracked, not ignored: copied too
    monkeypatch.setattr(slurm, "REPO_ROOT", repo)
    snap = code_snapshot(repo / "runs")
    (repo / "mod.py").write_text("X = 3\n")
    assert (snap / "mod.py").read_text() == "X = 2\n" and (snap / "new.py").read_text() == "Y = 1\n"
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=snap, capture_output=True, text=True
    )
    assert status.stdout.split() == ["M", "mod.py"]  # dirty as the checkout was: its code_version says -dirty
    assert code_snapshot(repo / "runs") != snap  # other code: another snapshot
    assert not any(p.name == "runs" for p in snap.iterdir())


def test_gc_leaves_the_run_directory_of_a_job_in_the_appended_registry(tmp_path):
    from harness.runner.gc import collect

    runs = tmp_path / "runs"
    (runs / "run0").mkdir(parents=True)
    (runs / "run1").mkdir()
    JobRegistry(runs).add(records(1))  # run0 has a job in flight; run1 nothing
    garbage, _ = collect(tmp_path / "results", runs, tmp_path / "features")
    assert [p.name for p, _ in garbage] == ["run1"]


def test_arrays_of_an_earlier_driver_count_with_the_throttle_slurm_shows(monkeypatch):
    asked = []

    def scontrol(cmd, timeout_s=60):
        asked.append(cmd[-1])
        if cmd[-1] == "12":
            return "JobId=12 ArrayJobId=12 ArrayTaskId=2-9%3 ArrayTaskThrottle=3\n"
        raise slurm.SlurmUnreachable("scontrol: Invalid job id specified")

    monkeypatch.setattr(slurm, "_slurm_cmd", scontrol)
    waves = slurm._Waves([cell(0)], SlurmLimits(), parallel=8)
    attached = [JobRecord(f"a{i}", f"12_{i}", "h", "/f/%j", 0.0) for i in range(8)]
    attached += [JobRecord(f"b{i}", f"13_{i}", "h", "/f/%j", 0.0) for i in range(2)]
    waves.track(attached)
    assert sorted(asked) == ["12", "13"]  # one id per call: scontrol takes no lists
    # array 12 may run 3 at once; array 13's throttle is unknown: both its tasks count as running
    assert waves.free() == 8 - 3 - 2 and waves.next_wave() == (1, 1)
