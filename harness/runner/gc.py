"""`run_matrix.py --gc [--yes]`: what no current result refers to, and how much disk it takes.

Lists the run directories under the runs directory whose run has no row in the results directory (a deleted or
superseded result, a run interrupted for good), and the feature-cache entries (harness.runner.features) that no
run with a current result read (`feature_cache` in its metrics.json) or that are of a format this version never
reads. It is a dry run unless `--yes`; nothing in use is listed: a run directory whose cell lock a live owner holds,
a cell with a registered SLURM job, a cache entry being written. The feature cache may be shared by several
results directories (DEPALM_CACHE): entries are only listed when every run with a result here says which entries it
read and no cell is running.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from pathlib import Path

from harness import REPO_ROOT
from harness.config.study import StudyConfig
from harness.errors import UsageError
from harness.runner.lock import CellLock
from harness.runner.rundir import METRICS_NAME, CorruptRunFile, read_json


def _size(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).lstat().st_size
    return total


def _fmt_bytes(n: float) -> str:
    unit = "B"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            break
        n /= 1000
    return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"


def _registered_jobs(runs_dir: Path) -> set[str]:
    from harness.runner.executors.slurm import JobRegistry

    registry = JobRegistry(runs_dir)
    if not (registry.path.exists() or registry.legacy_path.exists()):
        return set()
    try:
        return set(registry.load())
    except RuntimeError as e:
        raise UsageError(f"--gc: {e}") from None


def _entry_busy(entry: Path) -> bool:
    """A feature-cache entry another process is filling holds its flock."""
    lock = entry / ".lock"
    if not lock.exists():
        return False
    with open(lock, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
    return False


def collect(results_dir: Path, runs_dir: Path, features_root: Path) -> tuple[list[tuple[Path, str]], list[str]]:
    """([(path, why it is unreferenced)], notes on what was left alone)."""
    import warnings

    from harness.store.results import read_results

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rows = read_results([results_dir]) if results_dir.is_dir() else None
    notes = [str(w.message) for w in caught]
    referenced = set() if rows is None else set(rows.loc[rows["source"] == "run", "run_id"])
    jobs = _registered_jobs(runs_dir) if runs_dir.is_dir() else set()
    garbage: list[tuple[Path, str]] = []
    busy, used_entries, entries_known = 0, set(), True
    for run_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []:
        if run_dir.name.startswith(("_", ".")):
            continue  # executors' own folders (_submitit, _slurm)
        if run_dir.name in referenced:
            try:
                info = read_json(run_dir / METRICS_NAME).get("info", {})
            except CorruptRunFile:
                info = {}
            if "feature_cache" in info:
                used_entries.update(info["feature_cache"])
            else:
                entries_known = False
        elif CellLock(run_dir).held_by_live_owner() or run_dir.name in jobs:
            busy += 1
        else:
            has_ckpt = any(run_dir.glob("checkpoint.*"))
            garbage.append(
                (run_dir, "no result refers to it" + (" (it holds a resumable checkpoint)" if has_ckpt else ""))
            )
    if busy:
        notes.append(
            f"{busy} run director{'y is' if busy == 1 else 'ies are'} in use (a live cell lock or a "
            f"submitted SLURM job): left alone"
        )
    if features_root.is_dir():
        if busy:
            notes.append("feature cache not examined: cells are running")
        elif not entries_known:
            notes.append("feature cache not examined: some runs predate the record of the entries they read")
        else:
            from harness.runner.features import FORMAT_VERSION, entry_format

            for entry in sorted(p for p in features_root.iterdir() if p.is_dir()):
                if _entry_busy(entry):
                    continue
                version = entry_format(entry)
                if version is not None and version != FORMAT_VERSION:
                    garbage.append((entry, f"feature-cache entry of format {version}, which this version never reads"))
                elif entry.name not in used_entries:
                    garbage.append((entry, f"feature-cache entry no run with a result in {results_dir} read"))
    return garbage, notes


def main(study: StudyConfig) -> int:
    from harness.runner.features import features_root

    if len(study.results) > 1:
        raise UsageError("--gc: pass one --results directory")
    results_dir = Path(study.results[0]) if study.results else REPO_ROOT / "results"
    if not results_dir.is_dir():
        raise UsageError(f"--results {results_dir}: no such directory")
    runs_dir = Path(study.runs_dir) if study.runs_dir else results_dir / "runs"
    garbage, notes = collect(results_dir, runs_dir, features_root())
    for note in notes:
        print(f"note: {note}")
    sizes = [_size(p) for p, _ in garbage]
    for (path, why), size in zip(garbage, sizes):
        print(f"{_fmt_bytes(size):>9}  {path}  ({why})")
    print(
        f"{len(garbage)} unreferenced item(s), {_fmt_bytes(sum(sizes))}"
        + ("" if study.yes or not garbage else "; dry run: pass --gc --yes to remove them")
    )
    if study.yes:
        for path, _ in garbage:
            shutil.rmtree(path)
        if garbage:
            print(f"removed {len(garbage)} item(s)")
    return 0
