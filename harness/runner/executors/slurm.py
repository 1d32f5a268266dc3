"""SLURM executor: one submitit job per cell, submitted as job arrays in waves.

Each job runs `harness.runner.cell.execute_cell` on one node with `--gpus-per-node` GPUs (8 by default, the paper's
8xV100 nodes) and one SLURM task per GPU: the tasks are the ranks of a data-parallel training (RANK/WORLD_SIZE/MASTER_*
exported from SLURM's environment; rank 0 evaluates and writes). The job is a
`submitit.helpers.Checkpointable`: on timeout or preemption submitit calls `checkpoint()`, the job is requeued and
`execute_cell` resumes from the cell's full-state checkpoint.

Size: the cluster's `MaxArraySize`, `MaxJobCount` (`scontrol show config`) and the user's `MaxSubmitJobs`
(accounting) are read once per run; cells go in waves of arrays that keep this study's queued jobs under them, the
next wave submitted as earlier jobs finish. `--array-parallelism` is the number of tasks of the whole study that may
run at once: each array's throttle (`%N`) is its share, the shares sum to at most the limit, and the driver raises
the throttle of a later array (`scontrol update ... ArrayTaskThrottle`) as earlier ones drain.

Code: each submission runs a snapshot of this checkout (its tracked files as they are, edits included, plus the
untracked files git does not ignore) taken into `<runs_dir>/_slurm/code/<digest>/` and put first on the jobs'
PYTHONPATH, so editing the checkout during a multi-day study changes no pending job; the snapshot is a git clone at
the same commit with the same edits, so the `code_version` each row records is the submission's.

Collection: the driver polls SLURM (squeue, then sacct for jobs the controller has forgotten) at an interval that
backs off from 2 s to 60 s and stays there, and turns what it sees into results rows: a job that raised -> `failed`
with the remote traceback; a cancelled job -> `cancelled`; a job that SLURM no longer knows at all -> `cancelled`
after a grace period, with a message saying so. Submitted job ids are appended to `<runs_dir>/slurm_jobs.jsonl`, so
that `--detach` can return at once and the same command, run again, collects the jobs instead of resubmitting them
(and submits the next wave). A job that ended without any result (killed: time limit, memory, node failure) leaves
its cell `interrupted`, re-run by the next plain run. A record whose job already ended is stale when the matrix asks
for its cell again (its row was recorded and the cell is re-run, or the row of its success was deleted): it is
dropped and the cell resubmitted.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from submitit.helpers import Checkpointable, DelayedSubmission, TorchDistributedEnvironment

from harness import REPO_ROOT
from harness.config import RunConfig
from harness.config.study import SlurmOptions
from harness.errors import UsageError
from harness.runner.cell import CellOutcome, execute_cell, record_status
from harness.runner.executors.base import Executor, Progress
from harness.runner.logtail import tail_lines
from harness.store.atomic import write_text

JOBS_FILE = "slurm_jobs.jsonl"
LEGACY_JOBS_FILE = "slurm_jobs.json"  # the registry as one JSON document (before it was appended to): migrated
SUBMITIT_DIR = "_slurm"  # <runs_dir>/_slurm/<job_id>/: submitit's pickles and the job's stdout/stderr
CODE_DIR = "code"  # <runs_dir>/_slurm/code/<digest>/: the code snapshot the jobs of a submission import
RUN_DIR_LOG_LINK = "slurm"  # <run_dir>/slurm -> that job folder: the logs of a cell sit in its run directory
START_HINT = "bash scripts/slurm-local.sh install && bash scripts/slurm-local.sh start"

# SLURM's defaults, used when `scontrol show config` cannot be read: array indices 0..MaxArraySize-1, at most
# MaxJobCount jobs in the controller; MaxSubmitJobs is unlimited unless accounting sets it
DEFAULT_MAX_ARRAY_SIZE = 1001
DEFAULT_MAX_JOB_COUNT = 10000
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


def job_states(job_ids: Iterable[str]) -> dict[str, str]:
    """Current state of each job SLURM knows: the controller's view (squeue, which keeps finished jobs for a few
    minutes) first, then accounting (sacct) for older ones. Raises SlurmUnreachable when squeue fails; a failing
    sacct only leaves its jobs out. Linear in the jobs: set and dict lookups only."""
    wanted = set(job_ids)
    if not wanted:
        return {}
    queue = parse_squeue(_slurm_cmd(["squeue", "--me", "-h", "-r", "-t", "all", "-o", "%i|%T"]))
    states = {k: v for k, v in queue.items() if k in wanted}
    missing = wanted - states.keys()
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


def parse_scontrol_config(text: str) -> dict[str, str]:
    """`scontrol show config` -> key -> value (its "Key = Value" lines; headers and other lines are skipped)."""
    config = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", key.strip()):
            config[key.strip()] = value.strip()
    return config


def _count(value: str | None) -> int | None:
    """A limit's leading integer ("1001", "10000 (per user)") -> int; None for an unset one ("", "(null)", "N/A")."""
    m = re.match(r"\s*(\d+)", value or "")
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class SlurmLimits:
    """The cluster's size limits a submission must stay under."""

    max_array_size: int = DEFAULT_MAX_ARRAY_SIZE  # tasks in one array (indices 0..max_array_size-1)
    max_job_count: int = DEFAULT_MAX_JOB_COUNT  # jobs (array tasks count one each) the controller holds
    max_submit_jobs: int | None = None  # this user's queued jobs (accounting: association or QOS); None: unset

    @property
    def max_queued(self) -> int:
        """At most this many of this study's jobs may be in SLURM (pending or running) at once."""
        return max(1, min(n for n in (self.max_job_count, self.max_submit_jobs) if n is not None))

    @property
    def array_size(self) -> int:
        return max(1, self.max_array_size)


def parse_limits(config_text: str, max_submit_text: str = "") -> SlurmLimits:
    """Limits from `scontrol show config` and `sacctmgr -n -P show assoc ... format=MaxSubmit` (one value a line,
    the smallest set one applies); a key that is absent or unset keeps SLURM's default."""
    config = parse_scontrol_config(config_text)
    submit = [n for line in max_submit_text.splitlines() if (n := _count(line)) is not None]
    if (n := _count(config.get("MaxSubmitJobs"))) is not None:
        submit.append(n)
    return SlurmLimits(
        max_array_size=_count(config.get("MaxArraySize")) or DEFAULT_MAX_ARRAY_SIZE,
        max_job_count=_count(config.get("MaxJobCount")) or DEFAULT_MAX_JOB_COUNT,
        max_submit_jobs=min(submit) if submit else None,
    )


def read_limits() -> SlurmLimits:
    """The cluster's limits; SLURM's defaults (said once, here) when `scontrol show config` cannot be read."""
    try:
        config = _slurm_cmd(["scontrol", "show", "config"], timeout_s=30)
    except SlurmUnreachable as e:
        limits = SlurmLimits()
        print(
            f"slurm: cannot read the cluster's limits ({e}); assuming SLURM's defaults MaxArraySize="
            f"{limits.max_array_size} MaxJobCount={limits.max_job_count}, no MaxSubmitJobs"
        )
        return limits
    try:  # accounting may be off or restricted: no per-user limit is then known
        user = getpass.getuser()  # USER may be unset (containers, cron): the password database knows
        submit = _slurm_cmd(
            ["sacctmgr", "-n", "-P", "show", "assoc", "where", f"user={user}", "format=MaxSubmit"], timeout_s=30
        )
    except SlurmUnreachable:
        submit = ""
    return parse_limits(config, submit)


def array_throttles(text: str) -> dict[str, int]:
    """`scontrol show job -o` lines -> array job id -> its ArrayTaskThrottle (0: unlimited)."""
    throttles = {}
    for line in text.splitlines():
        base = re.search(r"\bArrayJobId=(\d+)", line)
        throttle = re.search(r"\bArrayTaskThrottle=(\d+)", line)
        if base and throttle:
            throttles[base.group(1)] = int(throttle.group(1))
    return throttles


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


# ---- the job registry: <runs_dir>/slurm_jobs.jsonl ---------------------------------------------------------


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
    """Submitted, not yet collected jobs by run id. A JSON-lines log: `{"add": record}` and `{"remove": [run ids]}`
    lines appended under a file lock (two drivers may share a runs directory), each line in one write, so recording
    a job costs the same at 16,000 jobs as at one. Loading replays the log and compacts it (one `add` line per live
    record, written atomically) once it holds more dead lines than live ones. A last line without its newline is a
    write cut short (the process died inside it): it is dropped, with a message; any other unreadable line makes the
    registry unreadable."""

    def __init__(self, runs_dir: Path) -> None:
        self.path = Path(runs_dir) / JOBS_FILE
        self.legacy_path = Path(runs_dir) / LEGACY_JOBS_FILE

    def _locked(self) -> Any:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(self.path.with_suffix(".lock"), "w")  # noqa: SIM115  (the caller closes it to release the lock)
        fcntl.flock(lock, fcntl.LOCK_EX)
        return lock

    def _unreadable(self, path: Path, why: object) -> RuntimeError:
        return RuntimeError(
            f"{path}: unreadable job registry ({why}); its jobs cannot be collected. Check "
            f"them with squeue/sacct, then move the file away to resubmit the cells"
        )

    def _read_legacy(self) -> dict[str, JobRecord]:
        try:
            data = json.loads(self.legacy_path.read_text())
            return {rid: JobRecord(run_id=rid, **rec) for rid, rec in data["jobs"].items()}
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise self._unreadable(self.legacy_path, e) from e

    def _replay(self) -> tuple[dict[str, JobRecord], int, bool]:
        """(live records, lines in the log, whether its last line was torn)."""
        records = self._read_legacy() if self.legacy_path.exists() else {}
        try:
            data = self.path.read_bytes() if self.path.exists() else b""
        except OSError as e:
            raise self._unreadable(self.path, e) from e
        *lines, rest = data.split(b"\n")
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                if "add" in entry:
                    record = JobRecord(**entry["add"])
                    records[record.run_id] = record
                else:
                    for rid in entry["remove"]:
                        records.pop(rid, None)
            except (ValueError, KeyError, TypeError) as e:
                raise self._unreadable(self.path, f"line {number}: {e}") from e
        torn = bool(rest.strip())
        if torn:
            print(
                f"slurm: {self.path}: its last line was cut short (a driver died while writing it) and is dropped: "
                f"{rest[:120]!r}"
            )
        return records, len(lines), torn

    def _rewrite(self, records: dict[str, JobRecord]) -> None:
        write_text(self.path, "".join(json.dumps({"add": vars(r)}, sort_keys=True) + "\n" for r in records.values()))
        if self.legacy_path.exists():
            self.legacy_path.unlink()

    def _append(self, entries: list[dict[str, Any]]) -> None:
        data = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries).encode()
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":  # a torn last line: drop it, not glue onto it
                tail = os.pread(fd, min(size, 1 << 20), max(0, size - (1 << 20)))
                cut = tail.rfind(b"\n")
                os.ftruncate(fd, size - len(tail) + cut + 1 if cut >= 0 else 0)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def load(self) -> dict[str, JobRecord]:
        with self._locked():
            records, n_lines, torn = self._replay()
            if torn or self.legacy_path.exists() or n_lines > 2 * len(records) + 16:
                self._rewrite(records)
            return records

    def add(self, records: list[JobRecord]) -> None:
        if records:
            with self._locked():
                self._append([{"add": vars(r)} for r in records])

    def remove(self, run_ids: Iterable[str]) -> None:
        run_ids = list(run_ids)
        if run_ids:
            with self._locked():
                self._append([{"remove": run_ids}])


# ---- the code snapshot the jobs import ----------------------------------------------------------------------


def _git(*args: str, cwd: Path | None = None) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd or REPO_ROOT, capture_output=True, check=True, timeout=120).stdout


def code_snapshot(runs_dir: Path) -> Path:
    """A copy of this checkout for the jobs of a submission: a git clone at HEAD with the checkout's edits to
    tracked files and its untracked, not ignored files copied over (so `code_version` reads the same in it), under
    `<runs_dir>/_slurm/code/<digest of the files>/`; an identical earlier snapshot is reused."""
    runs_dir = Path(runs_dir).resolve()
    head = _git("rev-parse", "HEAD").decode().strip()
    indexed = set(_git("ls-files", "-z", "--cached").decode().split("\0")) - {""}
    untracked = set(_git("ls-files", "-z", "--others", "--exclude-standard").decode().split("\0")) - {""}
    files = sorted(
        rel
        for rel in indexed | untracked
        if (REPO_ROOT / rel).is_file() and runs_dir not in (REPO_ROOT / rel).resolve().parents
    )
    digest = hashlib.sha256(head.encode())
    for rel in files:
        digest.update(b"\0" + rel.encode() + b"\0" + (REPO_ROOT / rel).read_bytes())
    dest = runs_dir / SUBMITIT_DIR / CODE_DIR / digest.hexdigest()[:16]
    if dest.is_dir():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        _git("clone", "--quiet", "--no-checkout", str(REPO_ROOT), str(tmp))
        _git("checkout", "--quiet", "--detach", head, cwd=tmp)
        tracked_at_head = set(_git("ls-files", "-z", cwd=tmp).decode().split("\0")) - {""}
        for rel in tracked_at_head - set(files):  # deleted in the checkout
            (tmp / rel).unlink(missing_ok=True)
        for rel in files:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / rel, tmp / rel)
        staged = sorted(indexed.intersection(files) - tracked_at_head)  # added, not committed: dirty here too
        if staged:
            _git("add", "-f", "--", *staged, cwd=tmp)
        try:
            tmp.rename(dest)
        except OSError:  # another driver made the same snapshot meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
    except (OSError, subprocess.SubprocessError) as e:
        shutil.rmtree(tmp, ignore_errors=True)
        detail = e.stderr.decode(errors="replace").strip() if isinstance(e, subprocess.CalledProcessError) else e
        raise UsageError(
            f"--executor slurm: cannot take the snapshot of {REPO_ROOT} the jobs run ({detail}); the jobs need "
            f"a git checkout and room under {dest.parent}"
        ) from None
    return dest


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
    result_pickle: Path = field(init=False)  # looked up once: submitit builds its paths anew on every access
    has_result: bool = False  # the result pickle was there at the last look

    def __post_init__(self) -> None:
        self.result_pickle = self.job.paths.result_pickle


@dataclass
class _Array:
    """A submitted array's share of the study's concurrency: its throttle (0: none) and its uncollected tasks."""

    throttle: int
    unfinished: set[str] = field(default_factory=set)

    def share(self) -> int:
        """Tasks of this array that may run at once."""
        n = len(self.unfinished)
        return min(self.throttle, n) if self.throttle else n


class _Waves:
    """The cells not yet submitted and the arrays in flight: how large the next wave may be under the cluster's
    limits, and its throttle under the study's global limit (the shares of all arrays sum to at most `parallel`)."""

    def __init__(self, queue: list[RunConfig], limits: SlurmLimits, parallel: int) -> None:
        self.queue, self.limits, self.parallel = list(queue), limits, parallel
        self.arrays: dict[str, _Array] = {}
        self.array_of: dict[str, str] = {}  # run id -> array job id

    def track(self, records: list[JobRecord], throttle: int | None = None) -> None:
        """Arrays of `records`; `throttle` None: an earlier driver's arrays, whose throttles are read from SLURM
        (unknown: counted as if every uncollected task could run)."""
        new: dict[str, set[str]] = {}
        for r in records:
            base = r.job_id.split("_")[0]
            new.setdefault(base, set()).add(r.run_id)
            self.array_of[r.run_id] = base
        known = {} if throttle is not None or not new else self._read_throttles(list(new))
        for base, run_ids in new.items():
            array = self.arrays.setdefault(base, _Array(throttle if throttle is not None else known.get(base, 0)))
            array.unfinished |= run_ids

    @staticmethod
    def _read_throttles(bases: list[str]) -> dict[str, int]:
        """One `scontrol show job` per array (it takes one id); an array SLURM no longer shows is left out."""
        throttles: dict[str, int] = {}
        for base in bases:
            try:
                throttles.update(array_throttles(_slurm_cmd(["scontrol", "show", "job", "-o", base])))
            except SlurmUnreachable:
                continue
        return throttles

    def finished(self, run_id: str) -> None:
        base = self.array_of.pop(run_id, None)
        if base is not None:
            self.arrays[base].unfinished.discard(run_id)
            if not self.arrays[base].unfinished:
                del self.arrays[base]

    def in_flight(self) -> int:
        return sum(len(a.unfinished) for a in self.arrays.values())

    def free(self) -> int:
        return self.parallel - sum(a.share() for a in self.arrays.values())

    def next_wave(self) -> tuple[int, int]:
        """(cells, throttle) of the wave to submit now; (0, 0) when it must wait for running jobs to finish. A wave
        waits for room for a quarter of the queue limit (or the rest of the cells), so that a long study is not
        submitted as thousands of one-task arrays."""
        room = self.limits.max_queued - self.in_flight()
        n = min(room, self.limits.array_size, len(self.queue))
        throttle = min(n, self.free())
        if throttle < 1 or n < min(len(self.queue), self.limits.array_size, max(1, self.limits.max_queued // 4)):
            return 0, 0
        return n, throttle

    def raise_throttles(self) -> list[tuple[str, int]]:
        """(array job id, new throttle) for arrays whose throttle the freed share can raise, oldest first."""
        free, raised = self.free(), []
        for base, array in self.arrays.items():
            if free < 1:
                break
            n = len(array.unfinished)
            if array.throttle and array.throttle < n:
                new = min(n, array.throttle + free)
                raised.append((base, new))
                free -= new - array.throttle
        return raised


class SlurmExecutor(Executor):
    """Submits cells as SLURM job arrays through submitit and collects them (see the module docstring)."""

    name = "slurm"
    poll_s = 2.0  # first interval between looks at the jobs (result files, then squeue/sacct) ...
    poll_max_s = 60.0  # ... doubling up to this one, where it stays: a long matrix does not flood the controller
    lost_grace_s = 60.0  # a job absent from squeue and sacct this long is gone (sacct lags a few seconds)
    result_grace_s = 30.0  # a finished job's result pickle may appear late on a network filesystem
    unreachable_s = 600.0  # give up waiting (jobs stay registered) when squeue (or sbatch, for a wave) fails this long

    def __init__(
        self,
        options: SlurmOptions | None = None,
        cell_fn: Callable[[RunConfig, Path, Path], CellOutcome] = execute_cell,
    ) -> None:
        self.options = options or SlurmOptions()
        check_options(self.options)
        self.cell_fn = cell_fn
        self.max_parallel = self.options.array_parallelism
        self.sleeps: list[float] = []  # the intervals waited, in order

    @classmethod
    def from_options(cls, options: SlurmOptions | None = None) -> SlurmExecutor:
        executor = cls(options)
        check_slurm_reachable()
        return executor

    # -- submission --

    def _job_setup(self, code: Path) -> list[str]:
        """Shell lines run before each job: same working directory; the code snapshot first on the import path,
        then the driver's directory (unless it is the checkout) and PYTHONPATH (where plugins live), with the working
        directory kept off sys.path (PYTHONSAFEPATH) so a job started from the checkout does not import the live
        copy; offline hubs unless the driver says otherwise."""
        cwd = Path.cwd()
        # the checkout itself stays off the path: a module added to it later must not reach a pending job
        paths = [str(code)] + ([str(cwd)] if cwd.resolve() != REPO_ROOT.resolve() else [])
        return [
            f"cd {shlex.quote(os.getcwd())}",
            "export PYTHONSAFEPATH=1",
            f"export PYTHONPATH={shlex.quote(os.pathsep.join(paths))}${{PYTHONPATH:+:$PYTHONPATH}}",
            "export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1} TRANSFORMERS_OFFLINE=${TRANSFORMERS_OFFLINE:-1}",
        ]

    def submit(
        self,
        cells: list[RunConfig],
        runs_dir: Path,
        results_dir: Path,
        throttle: int | None = None,
        code: Path | None = None,
    ) -> list[JobRecord]:
        """Submit `cells` as one job array of at most `throttle` running tasks (None: --array-parallelism) that
        imports the snapshot `code` (None: one taken now); registers and returns their job records."""
        import submitit

        runs_dir, results_dir = Path(runs_dir).resolve(), Path(results_dir).resolve()
        folder = runs_dir / SUBMITIT_DIR / "%j"
        ex = submitit.SlurmExecutor(folder=folder, max_num_timeout=MAX_TIMEOUT_REQUEUES)  # runs sys.executable
        params = submitit_parameters(self.options, self._job_setup(code or code_snapshot(runs_dir)))
        params["array_parallelism"] = throttle or self.options.array_parallelism
        ex.update_parameters(**params)
        try:
            with ex.batch():
                jobs = [
                    ex.submit(SlurmCellJob(c.to_dict(), str(runs_dir), str(results_dir), self.cell_fn)) for c in cells
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
        records = [JobRecord(c.run_id, j.job_id, c.config_hash(), str(folder), now) for c, j in zip(cells, jobs)]
        JobRegistry(runs_dir).add(records)
        for r in records:
            self._link_logs(runs_dir, r)
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
        hashes = {c.run_id: c.config_hash() for c in cells}
        attach = {
            c.run_id: known[c.run_id]
            for c in cells
            if c.run_id in known
            and known[c.run_id].config_hash == hashes[c.run_id]
            and not self._stale(known[c.run_id], results_dir)
        }
        registry.remove([c.run_id for c in cells if c.run_id in known and c.run_id not in attach])
        if attach:
            print(f"slurm: re-attaching to {len(attach)} job(s) submitted earlier (from {registry.path})")
        self._forget_finished_elsewhere(known, set(hashes), registry)
        to_submit = [c for c in cells if c.run_id not in attach]
        waves = _Waves(to_submit, read_limits() if to_submit else SlurmLimits(), self.options.array_parallelism)
        waves.track(list(attach.values()))
        tracked = {rid: _Tracked(c, attach[rid], attach[rid].job()) for c in cells if (rid := c.run_id) in attach}
        code = code_snapshot(runs_dir) if to_submit else None
        submitted = self._submit_waves(waves, tracked, runs_dir, results_dir, code)
        if submitted or waves.queue:
            print(
                f"slurm: submitted {submitted} job(s) now, {len(waves.queue)} in later waves "
                f"(at most {waves.limits.max_queued} queued, {waves.parallel} running at once; code snapshot "
                f"{code}); logs in {runs_dir}/<run_id>/{RUN_DIR_LOG_LINK}/"
            )
        yield from self._collect(tracked, waves, registry, runs_dir, results_dir, code, progress)

    def _submit_waves(
        self,
        waves: _Waves,
        tracked: dict[str, _Tracked],
        runs_dir: Path,
        results_dir: Path,
        code: Path | None,
    ) -> int:
        """Submit every wave the limits allow now; the cells submitted. A refusal of the first wave is a usage
        error (bad options); a later one (a limit reached by other jobs) raises UsageError for the caller to retry."""
        submitted = 0
        while (wave := waves.next_wave())[0]:
            n, throttle = wave
            cells = waves.queue[:n]
            records = self.submit(cells, runs_dir, results_dir, throttle=throttle, code=code)
            del waves.queue[:n]
            waves.track(records, throttle)
            for c, r in zip(cells, records):
                tracked[c.run_id] = _Tracked(c, r, r.job())
            submitted += n
            print(
                f"slurm: wave of {n} job(s) at most {throttle} running: {_summarise_ids([r.job_id for r in records])}"
            )
        return submitted

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
        self,
        tracked: dict[str, _Tracked],
        waves: _Waves,
        registry: JobRegistry,
        runs_dir: Path,
        results_dir: Path,
        code: Path | None,
        progress: Progress,
    ) -> Iterator[CellOutcome]:
        """Look at the jobs at an interval that doubles from `poll_s` to `poll_max_s` and stays there; each look
        collects what ended, raises throttles by the freed shares and submits the waves that now fit."""
        interval = self.poll_s
        unreachable_since: float | None = None
        refused_since: float | None = None
        try:
            while tracked or waves.queue:
                states = None
                for t in tracked.values():  # one stat per job and look
                    t.has_result = t.result_pickle.exists()
                pending = [t.record.job_id for t in tracked.values() if not t.has_result]
                try:
                    states = job_states(pending)
                    unreachable_since = None
                except SlurmUnreachable as e:
                    unreachable_since = unreachable_since or time.time()
                    if time.time() - unreachable_since > self.unreachable_s:
                        self._report_left(
                            tracked, registry, f"SLURM has not answered for {self.unreachable_s:.0f} s ({e})", waves
                        )
                        return
                for run_id, t in list(tracked.items()):
                    outcome = self._poll_one(t, states, results_dir, progress)
                    if outcome is not None:
                        del tracked[run_id]
                        waves.finished(run_id)
                        registry.remove([run_id])
                        progress.finished(t.cfg, outcome)
                        yield outcome
                if states is not None:
                    self._raise_throttles(waves)
                    try:
                        self._submit_waves(waves, tracked, runs_dir, results_dir, code)
                        refused_since = None
                    except UsageError as e:
                        if refused_since is None:
                            print(f"slurm: the next wave waits: {e}".splitlines()[0])
                        refused_since = refused_since or time.time()
                        if not tracked and time.time() - refused_since > self.unreachable_s:
                            self._report_left(tracked, registry, f"sbatch refused the next wave ({e})", waves)
                            return
                if self.options.detach and (tracked or waves.queue):
                    self._report_left(tracked, registry, "--detach", waves)
                    return
                if tracked or waves.queue:
                    progress.tick()
                    self._wait(interval)
                    interval = min(self.poll_max_s, interval * 2)
        except KeyboardInterrupt:
            self._report_left(tracked, registry, "interrupted", waves)

    def _wait(self, seconds: float) -> None:
        """The pause between two looks at the jobs."""
        self.sleeps.append(seconds)
        time.sleep(seconds)

    @staticmethod
    def _raise_throttles(waves: _Waves) -> None:
        for base, throttle in waves.raise_throttles():
            try:
                _slurm_cmd(["scontrol", "update", f"JobId={base}", f"ArrayTaskThrottle={throttle}"])
            except SlurmUnreachable as e:  # the array keeps its lower share: the global limit still holds
                print(f"slurm: could not raise array {base}'s throttle to {throttle} ({e})")
                continue
            waves.arrays[base].throttle = throttle

    def _poll_one(
        self, t: _Tracked, states: dict[str, str] | None, results_dir: Path, progress: Progress
    ) -> CellOutcome | None:
        """The outcome of a job that has ended, else None (and updates what is known of it)."""
        job_id, now = t.record.job_id, time.time()
        if t.has_result:
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
    def _report_left(
        tracked: dict[str, _Tracked], registry: JobRegistry, why: str, waves: _Waves | None = None
    ) -> None:
        counts: dict[str, int] = {}
        for t in tracked.values():
            key = t.state.split()[0].lower() if t.state else "unknown"
            counts[key] = counts.get(key, 0) + 1
        ids = _summarise_ids([t.record.job_id for t in tracked.values()])
        status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        unsubmitted = len(waves.queue) if waves else 0
        later = f" {unsubmitted} cell(s) are not submitted yet: the same command submits them." if unsubmitted else ""
        print(
            f"slurm: {why}: not waiting for {len(tracked)} job(s) ({status}; {ids}). They stay recorded in "
            f"{registry.path}: run the same command again to collect them, or `scancel` them.{later}"
        )


def _log_tail(job: Any, lines: int = 30) -> str:
    parts = []
    for path in (job.paths.stderr, job.paths.stdout):
        try:
            text = tail_lines(path, lines)
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
