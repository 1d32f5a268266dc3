"""SLURM executor: one submitit job per cell, submitted as job arrays.

Each job runs `harness.runner.cell.execute_cell` on one node with `--gpus-per-node` GPUs (8 by default, the paper's
8xV100 nodes) and one SLURM task per GPU: the tasks are the ranks of a data-parallel training (RANK/WORLD_SIZE/MASTER_*
exported from SLURM's environment; rank 0 evaluates and writes). The job is a
`submitit.helpers.Checkpointable`: on timeout or preemption submitit calls `checkpoint()`, the job is requeued and
`execute_cell` resumes from the cell's full-state checkpoint. The driver polls SLURM (squeue, then sacct for jobs
the controller has forgotten) and turns what it sees into results rows: a job that raised -> `failed` with the
remote traceback; a cancelled job -> `cancelled`; a job that SLURM no longer knows at all -> `cancelled` after a
grace period, with a message saying so. Submitted job ids are kept in `<runs_dir>/slurm_jobs.json`, so that
`--detach` can return at once and the same command, run again, collects the jobs instead of resubmitting them. A job
that ended without any result (killed: time limit, memory, node failure) leaves its cell `interrupted`, re-run by
the next plain run. A record whose job already ended is stale when the matrix asks for its cell again (its row was
recorded and the cell is re-run, or the row of its success was deleted): it is dropped and the cell resubmitted.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from submitit.helpers import Checkpointable, DelayedSubmission, TorchDistributedEnvironment

from harness import REPO_ROOT
from harness.config import RunConfig
from harness.config.study import SlurmOptions
from harness.errors import UsageError
from harness.runner.cell import CellOutcome, execute_cell, record_status
from harness.runner.executors.base import Executor, Progress
from harness.store.atomic import write_text

JOBS_FILE = "slurm_jobs.json"
SUBMITIT_DIR = "_slurm"  # <runs_dir>/_slurm/<job_id>/: submitit's pickles and the job's stdout/stderr
RUN_DIR_LOG_LINK = "slurm"  # <run_dir>/slurm -> that job folder: the logs of a cell sit in its run directory
START_HINT = "bash scripts/slurm-local.sh install && bash scripts/slurm-local.sh start"

MAX_ARRAY_SIZE = 1000  # SLURM's default MaxArraySize is 1001 (indices 0..1000)
MAX_TIMEOUT_REQUEUES = 20  # a paper-scale cell may need many slots of a short partition; preemptions do not count
RESERVED_SBATCH_KEYS = ("array", "output", "error", "open-mode", "signal", "ntasks-per-node", "parsable", "wrap")

# job states in which a job may still produce its result (squeue shows them; sacct too, with some lag)
ACTIVE_STATES = frozenset(
    {
        "PENDING",
        "RUNNING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "SUSPENDED",
        "COMPLETING",
        "CONFIGURING",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
        "RESV_DEL_HOLD",
        "PREEMPTED",
    }
)


def check_options(options: SlurmOptions) -> None:
    """A UsageError naming the flag of the first invalid option."""
    for name, minimum in (
        ("gpus_per_node", 0),
        ("tasks_per_node", 1),
        ("cpus_per_task", 1),
        ("mem_gb", 1),
        ("array_parallelism", 1),
    ):
        value = getattr(options, name)
        if value is not None and value < minimum:
            raise UsageError(f"--{name.replace('_', '-')} {value}: must be >= {minimum}")
    parse_time_min(options.time)
    for arg in options.sbatch_args:
        parse_sbatch_arg(arg)


def submitit_parameters(options: SlurmOptions, setup: list[str]) -> dict[str, Any]:
    """`submitit.SlurmExecutor.update_parameters` keywords for every job of a matrix."""
    tasks = options.tasks_per_node or max(1, options.gpus_per_node)
    params: dict[str, Any] = {
        "job_name": "depalm-bench",
        "time": parse_time_min(options.time),
        "nodes": 1,
        "ntasks_per_node": tasks,
        "array_parallelism": options.array_parallelism,
        "setup": setup,
    }
    if tasks > 1:  # a rank that dies would leave the others blocked in a collective until its timeout
        params["srun_args"] = ["--kill-on-bad-exit=1"]
    optional = {
        "partition": options.partition,
        "account": options.account,
        "qos": options.qos,
        "constraint": options.constraint,
        "cpus_per_task": options.cpus_per_task,
        "gpus_per_node": options.gpus_per_node or None,
        "mem": f"{options.mem_gb}GB" if options.mem_gb else None,
    }
    params.update({k: v for k, v in optional.items() if v is not None})
    if options.sbatch_args:
        params["additional_parameters"] = dict(parse_sbatch_arg(a) for a in options.sbatch_args)
    return params


def parse_time_min(value: str | int) -> int:
    """A SLURM time limit (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS) -> whole minutes, rounded up."""
    text = str(value).strip()
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        raise UsageError(f"--time {value!r}: pass minutes (e.g. 720) or a SLURM time such as 12:00:00 or 2-00:00:00")
    a = int(m.group(2))
    days, b, c = (int(g) if g is not None else None for g in (m.group(1), m.group(3), m.group(4)))
    if days is not None:  # D-HH[:MM[:SS]]
        seconds = days * 86400 + a * 3600 + (b or 0) * 60 + (c or 0)
    elif b is not None and c is not None:  # HH:MM:SS (a third group implies a second)
        seconds = a * 3600 + b * 60 + c
    elif b is not None:  # MM:SS
        seconds = a * 60 + b
    else:  # minutes
        seconds = a * 60
    if seconds <= 0:
        raise UsageError(f"--time {value!r}: the time limit must be positive")
    return -(-seconds // 60)


def parse_sbatch_arg(text: str) -> tuple[str, str | bool]:
    """`--sbatch-arg KEY=VALUE` (or a bare flag KEY) -> (key, value) for submitit's additional_parameters."""
    key, sep, value = text.partition("=")
    key = key.strip().lstrip("-")
    if not re.fullmatch(r"[a-z][a-z0-9-]*", key) or (sep and not value):
        raise UsageError(
            f"--sbatch-arg {text!r}: pass KEY=VALUE with an sbatch long option as KEY, e.g. "
            f"--sbatch-arg mail-type=END, or a bare flag such as --sbatch-arg exclusive"
        )
    if key in RESERVED_SBATCH_KEYS:
        raise UsageError(
            f"--sbatch-arg {text!r}: --{key} is set by the SLURM executor itself; use "
            f"--array-parallelism / --gpus-per-node or drop it"
        )
    return key, value if sep else True


class SlurmCellJob(Checkpointable):
    """The body of one SLURM job: run a cell with the allocated CPUs. Being Checkpointable, submitit requeues it
    unchanged on timeout/preemption; the cell's own checkpoint carries the training state across requeues."""

    def __init__(
        self,
        cfg: dict[str, Any],
        runs_dir: str,
        results_dir: str,
        cell_fn: Callable[[RunConfig, Path, Path], CellOutcome] = execute_cell,
    ) -> None:
        self.cfg, self.runs_dir, self.results_dir, self.cell_fn = cfg, runs_dir, results_dir, cell_fn

    def __call__(self) -> CellOutcome:
        import torch

        tasks_here = int(os.environ.get("SLURM_NTASKS_PER_NODE") or os.environ.get("SLURM_NTASKS") or 1)
        torch.set_num_threads(
            int(os.environ.get("SLURM_CPUS_PER_TASK") or 0)
            or max(1, int(os.environ.get("SLURM_CPUS_ON_NODE") or 1) // tasks_here)
        )
        if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
            # every task sees all the node's GPUs and picks cuda:LOCAL_RANK (execute_cell's launched ranks)
            TorchDistributedEnvironment().export(set_cuda_visible_devices=False, overwrite=True)
        return self.cell_fn(RunConfig.from_dict(self.cfg), Path(self.runs_dir), Path(self.results_dir))

    def checkpoint(self) -> DelayedSubmission:
        run_dir = Path(self.runs_dir) / RunConfig.from_dict(self.cfg).run_id
        print(f"depalm-bench: job interrupted (timeout or preemption): requeued; it resumes from {run_dir}", flush=True)
        return DelayedSubmission(self)


# ---- talking to SLURM ---------------------------------------------------------------------------------------


class SlurmUnreachable(RuntimeError):
    """squeue failed: the controller does not answer (or SLURM's commands are missing)."""


def _slurm_cmd(cmd: list[str], timeout_s: float = 60) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SlurmUnreachable(f"{' '.join(cmd[:2])}: {e}") from e
    if proc.returncode != 0:
        raise SlurmUnreachable(f"{' '.join(cmd[:2])} exited {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def parse_squeue(text: str) -> dict[str, str]:
    """`squeue -h -r -o %i|%T` lines -> job id (e.g. "12_3") -> state."""
    states = {}
    for line in text.splitlines():
        job_id, _, state = line.strip().partition("|")
        if job_id and state:
            states[job_id] = state.strip()
    return states


def parse_sacct(text: str) -> dict[str, str]:
    """`sacct -X --parsable2 -o JobID,State` (with its header) -> job id -> state; array ranges such as
    "12_[2-5%2]" are expanded (submitit's parser)."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    return {k: v.get("State", "") for k, v in SlurmInfoWatcher().read_info(text).items()}


def job_states(job_ids: list[str]) -> dict[str, str]:
    """Current state of each job SLURM knows: the controller's view (squeue, which keeps finished jobs for a few
    minutes) first, then accounting (sacct) for older ones. Raises SlurmUnreachable when squeue fails; a failing
    sacct only leaves its jobs out."""
    if not job_ids:
        return {}
    states = {
        k: v
        for k, v in parse_squeue(_slurm_cmd(["squeue", "--me", "-h", "-r", "-t", "all", "-o", "%i|%T"])).items()
        if k in job_ids
    }
    missing = [j for j in job_ids if j not in states]
    if missing:
        bases = sorted({j.split("_")[0] for j in missing})
        try:
            accounting = parse_sacct(
                _slurm_cmd(["sacct", "-X", "--parsable2", "-o", "JobID,State", "-j", ",".join(bases)])
            )
        except SlurmUnreachable:
            accounting = {}
        states.update({j: accounting[j] for j in missing if j in accounting})
    return states


def is_active(state: str) -> bool:
    return state.split()[0].upper() in ACTIVE_STATES if state else False


def check_slurm_reachable() -> None:
    if shutil.which("sbatch") is None:
        raise UsageError(
            f"--executor slurm: sbatch not found, so this machine is no SLURM login node. To try the "
            f"SLURM path on this machine: {START_HINT}"
        )
    try:
        _slurm_cmd(["squeue", "--me", "-h", "-o", "%i"], timeout_s=30)
    except SlurmUnreachable as e:
        raise UsageError(
            f"--executor slurm: the SLURM controller does not answer ({e}); check `sinfo`, or start "
            f"the local test cluster: {START_HINT}"
        ) from None


# ---- the job registry: <runs_dir>/slurm_jobs.json ----------------------------------------------------------


@dataclass
class JobRecord:
    run_id: str
    job_id: str
    config_hash: str
    folder: str  # submitit folder template (with %j)
    submitted_at: float

    def job(self) -> Any:
        from submitit import SlurmJob

        return SlurmJob(folder=self.folder, job_id=self.job_id)


class JobRegistry:
    """Submitted, not yet collected jobs by run id; read-modify-write under a file lock (two drivers may share a
    runs directory), written atomically."""

    def __init__(self, runs_dir: Path) -> None:
        self.path = Path(runs_dir) / JOBS_FILE

    def _locked(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(self.path.with_suffix(".lock"), "w")  # noqa: SIM115  (the caller closes it to release the lock)
        fcntl.flock(lock, fcntl.LOCK_EX)
        return lock

    def _read(self) -> dict[str, JobRecord]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text())
            return {rid: JobRecord(run_id=rid, **rec) for rid, rec in data["jobs"].items()}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise RuntimeError(
                f"{self.path}: unreadable job registry ({e}); its jobs cannot be collected. Check "
                f"them with squeue/sacct, then move the file away to resubmit the cells"
            ) from e

    def _write(self, records: dict[str, JobRecord]) -> None:
        data = {"jobs": {rid: {k: v for k, v in vars(r).items() if k != "run_id"} for rid, r in records.items()}}
        write_text(self.path, json.dumps(data, indent=1, sort_keys=True))

    def load(self) -> dict[str, JobRecord]:
        with self._locked():
            return self._read()

    def add(self, records: list[JobRecord]) -> None:
        with self._locked():
            current = self._read()
            current.update({r.run_id: r for r in records})
            self._write(current)

    def remove(self, run_ids: list[str]) -> None:
        with self._locked():
            current = self._read()
            if any(rid in current for rid in run_ids):
                self._write({rid: r for rid, r in current.items() if rid not in run_ids})


# ---- the executor -------------------------------------------------------------------------------------------


@dataclass
class _Tracked:
    cfg: RunConfig
    record: JobRecord
    job: Any
    seen_running: bool = False
    unknown_since: float | None = None
    ended_at: float | None = None
    state: str = "PENDING"


class SlurmExecutor(Executor):
    """Submits cells as SLURM job arrays through submitit and collects them (see the module docstring)."""

    name = "slurm"
    poll_s = 2.0  # result files checked this often
    query_max_s = 60.0  # squeue/sacct at most this far apart
    lost_grace_s = 60.0  # a job absent from squeue and sacct this long is gone (sacct lags a few seconds)
    result_grace_s = 30.0  # a finished job's result pickle may appear late on a network filesystem
    unreachable_s = 600.0  # give up waiting (jobs stay registered) when squeue fails this long

    def __init__(
        self,
        options: SlurmOptions | None = None,
        cell_fn: Callable[[RunConfig, Path, Path], CellOutcome] = execute_cell,
    ) -> None:
        self.options = options or SlurmOptions()
        check_options(self.options)
        self.cell_fn = cell_fn
        self.max_parallel = self.options.array_parallelism

    @classmethod
    def from_options(cls, options: SlurmOptions | None = None) -> SlurmExecutor:
        executor = cls(options)
        check_slurm_reachable()
        return executor

    # -- submission --

    def _job_setup(self) -> list[str]:
        """Shell lines run before each job: same working directory, same importable code (this checkout and the
        driver's PYTHONPATH, where plugins live) and offline hubs unless the driver says otherwise."""
        paths = list(dict.fromkeys([str(REPO_ROOT), os.getcwd()]))
        return [
            f"cd {shlex.quote(os.getcwd())}",
            f"export PYTHONPATH={shlex.quote(os.pathsep.join(paths))}${{PYTHONPATH:+:$PYTHONPATH}}",
            "export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1}",
        ]

    def submit(self, cells: list[RunConfig], runs_dir: Path, results_dir: Path) -> list[JobRecord]:
        """Submit `cells` as job arrays; registers and returns their job records."""
        import submitit

        folder = Path(runs_dir).resolve() / SUBMITIT_DIR / "%j"
        ex = submitit.SlurmExecutor(folder=folder, max_num_timeout=MAX_TIMEOUT_REQUEUES)  # runs sys.executable
        ex.update_parameters(**submitit_parameters(self.options, self._job_setup()))
        records: list[JobRecord] = []
        registry = JobRegistry(runs_dir)
        for start in range(0, len(cells), MAX_ARRAY_SIZE):
            chunk = cells[start : start + MAX_ARRAY_SIZE]
            try:
                with ex.batch():
                    jobs = [
                        ex.submit(SlurmCellJob(c.to_dict(), str(runs_dir), str(results_dir), self.cell_fn))
                        for c in chunk
                    ]
            except (
                subprocess.CalledProcessError,
                submitit.core.utils.FailedJobError,
                submitit.core.utils.FailedSubmissionError,
            ) as e:
                raise UsageError(
                    f"sbatch refused the jobs: {str(e).strip()}\n(check --partition, --time, "
                    f"--account, --qos, --constraint, --sbatch-arg; on a cluster without GPUs pass "
                    f"--gpus-per-node 0)"
                ) from None
            now = time.time()
            new = [JobRecord(c.run_id, j.job_id, c.config_hash(), str(folder), now) for c, j in zip(chunk, jobs)]
            registry.add(new)
            records += new
        for r in records:
            self._link_logs(Path(runs_dir), r)
        return records

    @staticmethod
    def _link_logs(runs_dir: Path, record: JobRecord) -> None:
        run_dir = runs_dir / record.run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        link = run_dir / RUN_DIR_LOG_LINK
        if link.is_symlink():
            link.unlink()
        if not link.exists():
            link.symlink_to(Path("..") / SUBMITIT_DIR / record.job_id)

    # -- collection --

    def run(
        self, cells: list[RunConfig], runs_dir: Path, results_dir: Path, progress: Progress
    ) -> Iterator[CellOutcome]:
        runs_dir, results_dir = Path(runs_dir), Path(results_dir)
        registry = JobRegistry(runs_dir)
        known = registry.load()
        attach = {
            c.run_id: known[c.run_id]
            for c in cells
            if c.run_id in known
            and known[c.run_id].config_hash == c.config_hash()
            and not self._stale(known[c.run_id], results_dir)
        }
        registry.remove([c.run_id for c in cells if c.run_id in known and c.run_id not in attach])
        to_submit = [c for c in cells if c.run_id not in attach]
        if attach:
            print(f"slurm: re-attaching to {len(attach)} job(s) submitted earlier (from {registry.path})")
        submitted = self.submit(to_submit, runs_dir, results_dir) if to_submit else []
        if submitted:
            print(
                f"slurm: submitted {len(submitted)} job(s): {_summarise_ids([r.job_id for r in submitted])}; "
                f"logs in {runs_dir}/<run_id>/{RUN_DIR_LOG_LINK}/"
            )
        self._forget_finished_elsewhere(known, {c.run_id for c in cells}, registry)
        by_run = {r.run_id: r for r in [*attach.values(), *submitted]}
        tracked = {c.run_id: _Tracked(c, by_run[c.run_id], by_run[c.run_id].job()) for c in cells}
        yield from self._collect(tracked, registry, results_dir, progress)

    @staticmethod
    def _stale(record: JobRecord, results_dir: Path) -> bool:
        """A registered job that has already ended with a result is not worth re-attaching to when the matrix asks
        for its cell again: its row records a failure (and the cell is being re-run, e.g. --retry-failed) or it was
        a success whose row has since been deleted. A recorded success and an uncollected failure are collected;
        the rest resubmit."""
        job = record.job()
        if not job.paths.result_pickle.exists():
            return False  # pending, running, or ended without a result: collecting it tells which
        row = Path(results_dir) / f"{record.run_id}.parquet"
        if row.exists():
            from harness.store.results import read_results

            return set(read_results([row]).status) != {"ok"}
        try:
            return job.exception() is None
        except Exception:  # noqa: BLE001 - an unreadable result pickle: nothing to collect from it
            return True

    @staticmethod
    def _forget_finished_elsewhere(known: dict[str, JobRecord], cell_ids: set[str], registry: JobRegistry) -> None:
        """Unregister jobs that finished after their driver left and wrote their own row: their cells are cached
        now (the matrix reports a cached failure itself), so no run will ask for them again."""
        registry.remove(
            [rid for rid, r in known.items() if rid not in cell_ids and r.job().paths.result_pickle.exists()]
        )

    def _collect(
        self, tracked: dict[str, _Tracked], registry: JobRegistry, results_dir: Path, progress: Progress
    ) -> Iterator[CellOutcome]:
        """Result files are checked every `poll_s`; SLURM is asked at a backing-off interval (reset whenever a job
        ends), so a long matrix does not flood a shared controller."""
        query_every, next_query = self.poll_s, 0.0
        unreachable_since: float | None = None
        try:
            while tracked:
                states = None
                if time.time() >= next_query:
                    try:
                        states = job_states(
                            [t.record.job_id for t in tracked.values() if not t.job.paths.result_pickle.exists()]
                        )
                        unreachable_since = None
                    except SlurmUnreachable as e:
                        unreachable_since = unreachable_since or time.time()
                        if time.time() - unreachable_since > self.unreachable_s:
                            self._report_left(
                                tracked, registry, f"SLURM has not answered for {self.unreachable_s:.0f} s ({e})"
                            )
                            return
                    next_query = time.time() + query_every
                    query_every = min(self.query_max_s, query_every * 1.5)
                for run_id, t in list(tracked.items()):
                    outcome = self._poll_one(t, states, results_dir, progress)
                    if outcome is not None:
                        query_every = self.poll_s
                        del tracked[run_id]
                        registry.remove([run_id])
                        progress.finished(t.cfg, outcome)
                        yield outcome
                if self.options.detach and tracked:
                    self._report_left(tracked, registry, "--detach")
                    return
                if tracked:
                    progress.tick()
                    time.sleep(self.poll_s)
        except KeyboardInterrupt:
            self._report_left(tracked, registry, "interrupted")

    def _poll_one(
        self, t: _Tracked, states: dict[str, str] | None, results_dir: Path, progress: Progress
    ) -> CellOutcome | None:
        """The outcome of a job that has ended, else None (and updates what is known of it)."""
        job_id, now = t.record.job_id, time.time()
        if t.job.paths.result_pickle.exists():
            return self._outcome_from_result(t, results_dir)
        if states is None:
            return None
        state = states.get(job_id)
        if state is None:
            # not in squeue nor sacct: right after submission sacct may lag; after the grace period it is gone
            t.unknown_since = t.unknown_since or now
            if now - t.unknown_since < self.lost_grace_s:
                return None
            return record_status(
                t.cfg,
                results_dir,
                "cancelled",
                (
                    f"SLURM no longer knows job {job_id} (absent from squeue and sacct for {self.lost_grace_s:.0f} s) "
                    f"and it left no result: it was cancelled before it started (SLURM keeps no record of a pending "
                    f"array task that is cancelled), purged, or submitted to another cluster. Recorded as cancelled; "
                    f"running the matrix again resubmits it. Logs, if any: {t.job.paths.folder}"
                ),
            )
        t.unknown_since, t.state = None, state
        if is_active(state):
            if state.startswith("RUNNING") and not t.seen_running:
                t.seen_running = True
                progress.started(t.cfg)
            return None
        if state.upper().startswith("CANCELLED"):
            return record_status(
                t.cfg,
                results_dir,
                "cancelled",
                f"SLURM job {job_id} was cancelled (state {state!r}) before it finished; running "
                f"the matrix again resubmits it (it resumes from its checkpoint). "
                f"Logs: {t.job.paths.stdout} {t.job.paths.stderr}",
            )
        # ended without a result pickle: give a slow filesystem a moment, then report what the logs say
        t.ended_at = t.ended_at or now
        if now - t.ended_at < self.result_grace_s:
            return None
        return record_status(
            t.cfg,
            results_dir,
            "interrupted",
            f"SLURM job {job_id} ended in state {state!r} without a result (killed: time limit, "
            f"memory, node failure?); running the matrix again resubmits it (it resumes from "
            f"its checkpoint).\n{_log_tail(t.job)}",
        )

    @staticmethod
    def _outcome_from_result(t: _Tracked, results_dir: Path) -> CellOutcome:
        from submitit.core.utils import FailedJobError, UncompletedJobError

        try:
            outcome = t.job.result()
        except FailedJobError as e:
            return record_status(t.cfg, results_dir, "failed", f"SLURM job {t.record.job_id} raised on the node:\n{e}")
        except UncompletedJobError as e:
            return record_status(
                t.cfg,
                results_dir,
                "interrupted",
                f"SLURM job {t.record.job_id} ended without a result; running the matrix again resubmits it:\n{e}",
            )
        if not isinstance(outcome, CellOutcome):
            return record_status(
                t.cfg,
                results_dir,
                "failed",
                f"SLURM job {t.record.job_id} returned {type(outcome).__name__}, not a CellOutcome",
            )
        return outcome

    @staticmethod
    def _report_left(tracked: dict[str, _Tracked], registry: JobRegistry, why: str) -> None:
        counts: dict[str, int] = {}
        for t in tracked.values():
            key = t.state.split()[0].lower() if t.state else "unknown"
            counts[key] = counts.get(key, 0) + 1
        ids = _summarise_ids([t.record.job_id for t in tracked.values()])
        status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        print(
            f"slurm: {why}: not waiting for {len(tracked)} job(s) ({status}; {ids}). They stay recorded in "
            f"{registry.path}: run the same command again to collect them, or `scancel` them."
        )


def _log_tail(job: Any, lines: int = 30) -> str:
    parts = []
    for path in (job.paths.stderr, job.paths.stdout):
        try:
            text = path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            parts.append(f"{path}: (no log)")
            continue
        parts.append(f"--- last lines of {path}\n" + "\n".join(text))
    return "\n".join(parts)


def _summarise_ids(job_ids: list[str]) -> str:
    """ "12_0 12_1 12_2 13" -> "jobs 12_[0-2], 13" (for messages)."""
    arrays: dict[str, list[int]] = {}
    singles = []
    for j in job_ids:
        base, _, idx = j.partition("_")
        (arrays.setdefault(base, []).append(int(idx)) if idx.isdigit() else singles.append(j))
    parts = []
    for base, indices in arrays.items():
        indices.sort()
        ranges: list[str] = []
        lo: int | None = indices[0]
        for prev, cur in zip(indices, [*indices[1:], None]):
            if cur != prev + 1:
                ranges.append(f"{lo}" if lo == prev else f"{lo}-{prev}")
                lo = cur
        parts.append(f"{base}_[{','.join(ranges)}]")
    return "jobs " + ", ".join(parts + singles)
