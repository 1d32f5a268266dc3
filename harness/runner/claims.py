"""Running a matrix's cells as their single owner: each cell is claimed (harness.runner.lock) before it runs and
released when its outcome is in, so two drivers on one results directory never train one cell twice.

A cell whose lock a live owner holds is set aside and waited for after the rest; once the lock is ours, the cell's
results file is read again: if its stored status changed since the plan, another driver ran it meanwhile and its
row is the answer; otherwise it runs (resuming from the checkpoint a dead owner left). SIGTERM is turned into an
interruption, so a terminated driver stops its workers like Ctrl-C does.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from pathlib import Path

from harness.config import RunConfig
from harness.runner.cell import CellOutcome
from harness.runner.executors.base import Executor, Progress
from harness.runner.lock import HEARTBEAT_S, CellLock

WAIT_POLL_S = 2.0  # how often the locks of cells another driver runs are tried again


def stored_status(results_dir: Path, cfg: RunConfig) -> str | None:
    """The status the cell's own results file holds now for its config hash (None: absent or unusable)."""
    path = Path(results_dir) / f"{cfg.run_id}.parquet"
    if not path.exists():
        return None
    from harness.store.results import read_results

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a damaged file counts as absent, as the plan counted it
        rows = read_results([path])
    statuses = set(rows.loc[rows["config_hash"] == cfg.config_hash(), "status"])
    return "ok" if "ok" in statuses else (min(statuses) if statuses else None)


class Claims:
    """The locks this driver holds, kept alive by one heartbeat thread."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self.held: dict[str, CellLock] = {}
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="cell-lock-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._mutex:
                lost = [rid for rid, lock in self.held.items() if not lock.heartbeat()]
                for rid in lost:
                    del self.held[rid]
            for rid in lost:
                print(
                    f"lock of {rid} was taken over by another driver (this one stalled > its stale time)",
                    file=sys.stderr,
                )

    def try_claim(self, cfg: RunConfig) -> bool:
        lock = CellLock(self.runs_dir / cfg.run_id)
        if not lock.acquire():
            return False
        with self._mutex:
            self.held[cfg.run_id] = lock
        return True

    def holder(self, cfg: RunConfig) -> str:
        return CellLock(self.runs_dir / cfg.run_id).describe()

    def release(self, run_id: str) -> None:
        with self._mutex:
            lock = self.held.pop(run_id, None)
        if lock is not None:
            lock.release()

    def close(self, leave: AbstractSet[str] = frozenset()) -> None:
        """Release every lock but those in `leave` (cells whose worker may still be dying: their lock turns stale
        by itself once that worker is gone)."""
        self._stop.set()
        for run_id in list(self.held):
            if run_id in leave:
                with self._mutex:
                    self.held.pop(run_id, None)
            else:
                self.release(run_id)


def _joined_by_a_worker(lock: CellLock) -> bool:
    return len((lock.holder() or {}).get("processes", [])) > 1


def run_owned(
    executor: Executor,
    cells: list[RunConfig],
    runs_dir: Path,
    results_dir: Path,
    planned: dict[str, str],
    progress: Progress,
) -> Iterator[CellOutcome]:
    """Run `cells` on `executor`, each as its single owner; `planned`: config_hash -> status the plan saw."""
    claims = Claims(runs_dir)
    pending = list(cells)
    clean = announced = False
    try:
        while pending:
            mine, busy = [], []
            for cfg in pending:
                if not claims.try_claim(cfg):
                    busy.append(cfg)
                    continue
                now = stored_status(results_dir, cfg)
                if now is not None and now != planned.get(cfg.config_hash()):
                    claims.release(cfg.run_id)
                    print(f"{cfg.run_id}: run meanwhile by another driver ({now}); its result is used", file=sys.stderr)
                    outcome = CellOutcome(
                        cfg.run_id,
                        now,
                        error="run meanwhile by another driver on these results",
                        config_hash=cfg.config_hash(),
                    )
                    progress.finished(cfg, outcome)
                    yield outcome
                else:
                    mine.append(cfg)
            if mine:
                for outcome in executor.run(mine, runs_dir, results_dir, progress):
                    claims.release(outcome.run_id)
                    yield outcome
            elif busy:
                if not announced:
                    announced = True
                    print(
                        f"waiting for {len(busy)} cell(s) another driver is running: "
                        + ", ".join(f"{c.run_id} ({claims.holder(c)})" for c in busy[:3])
                        + (" ..." if len(busy) > 3 else ""),
                        file=sys.stderr,
                    )
                deadline = time.monotonic() + WAIT_POLL_S
                while time.monotonic() < deadline:
                    progress.tick()
                    time.sleep(min(0.5, WAIT_POLL_S))
            pending = busy
        clean = True
    finally:
        leave = set() if clean else {rid for rid, lock in claims.held.items() if _joined_by_a_worker(lock)}
        claims.close(leave)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread, so executors stop their workers and locks are released
    as on Ctrl-C (Python's default would end the process at once)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt("SIGTERM")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
