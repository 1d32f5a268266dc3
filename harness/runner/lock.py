"""One owner per cell: an exclusive lock file per run directory that works on a shared cluster filesystem, and local
workers that die with their driver.

`<run_dir>/.owner.lock` is created with O_CREAT|O_EXCL (atomic on local filesystems and on NFS, unlike `flock`,
which may be local to a node). It names the owner's host and processes (the driver's, then the local worker that
trains the cell, each as pid + start time so a reused pid does not count) and its mtime is the owner's heartbeat,
touched every `HEARTBEAT_S`. Another process takes the lock over only when it is stale: on the owner's host when none
of its processes is alive any more, elsewhere when the heartbeat is older than `STALE_S`. Breaking a stale lock is
serialised by a second O_EXCL file, so two takers never both win.

A local worker (`die_with`) asks the kernel to kill it when its parent dies (PR_SET_PDEATHSIG, Linux) and watches its
driver, killing itself when the driver is gone, so a killed driver leaves no orphan training behind; a re-run waits
for the lock until the orphan is dead.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from harness.store.atomic import FILE_MODE, write_text

LOCK_NAME = ".owner.lock"
HEARTBEAT_S = 30.0  # the owner touches its lock this often
STALE_S = 600.0  # a lock on another host whose heartbeat is older than this is abandoned
WATCH_S = 1.0  # how often a local worker checks that its driver is alive

Process = list  # [pid, start time] ("" when the start time is unknown)


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), "" elsewhere: tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]


def this_process() -> Process:
    return [os.getpid(), _start_time(os.getpid())]


def alive(proc: Process) -> bool:
    pid, start = int(proc[0]), str(proc[1])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        pass
    return not start or _start_time(pid) in ("", start)


class CellLock:
    """The lock of one run directory. `acquire()` -> bool, `release()`, `heartbeat()`, `join(driver)` (a worker
    adds itself to its driver's lock), `holder()` (who has it, for messages)."""

    def __init__(self, run_dir: Path, stale_s: float = STALE_S) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.stale_s = stale_s
        self.token: str | None = None

    def holder(self) -> dict[str, Any] | None:
        try:
            info = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def describe(self) -> str:
        info = self.holder() or {}
        pids = ", ".join(str(p[0]) for p in info.get("processes", []) if isinstance(p, list) and p)
        return f"{info.get('host', '?')} pid {pids or '?'}"

    def _stale(self, info: dict[str, Any] | None, mtime: float) -> bool:
        if info is not None and info.get("host") == socket.gethostname():
            procs = info.get("processes")
            if isinstance(procs, list) and procs:
                try:
                    return not any(alive(p) for p in procs)
                except (TypeError, ValueError, IndexError):
                    pass  # an unreadable entry: judge by the heartbeat
        return time.time() - mtime > self.stale_s

    def _observe(self) -> tuple[dict[str, Any] | None, float] | None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        return self.holder(), mtime

    def _break_if_stale(self) -> bool:
        seen = self._observe()
        if seen is None:
            return True
        if not self._stale(*seen):
            return False
        breaker = self.path.with_name(self.path.name + ".break")
        try:
            os.close(os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
        except FileExistsError:
            try:  # a breaker that died mid-way leaves its file: it is itself stale after a while
                if time.time() - breaker.stat().st_mtime > self.stale_s:
                    breaker.unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            return False
        try:
            now = self._observe()
            if now is None:
                return True
            if (now[0] or {}).get("token") == (seen[0] or {}).get("token") and self._stale(*now):
                self.path.unlink(missing_ok=True)
                return True
            return False
        finally:
            breaker.unlink(missing_ok=True)

    def acquire(self) -> bool:
        """Take the lock (breaking it if stale); False when a live owner holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE)
            except FileExistsError:
                if attempt or not self._break_if_stale():
                    return False
                continue
            token = uuid.uuid4().hex
            info = {
                "host": socket.gethostname(),
                "processes": [this_process()],
                "token": token,
                "acquired_at": time.time(),
                "heartbeat_s": HEARTBEAT_S,
            }
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(info))
                f.flush()
                os.fsync(f.fileno())
            self.token = token
            return True
        return False

    def held_by_live_owner(self) -> bool:
        """Someone holds the lock and it is not stale (this process's own lock included)."""
        seen = self._observe()
        return seen is not None and not self._stale(*seen)

    def owned(self) -> bool:
        return self.token is not None and (self.holder() or {}).get("token") == self.token

    def heartbeat(self) -> bool:
        """Touch the lock; False when it is no longer ours (taken over after a long stall)."""
        if not self.owned():
            return False
        try:
            os.utime(self.path)
        except FileNotFoundError:
            return False
        return True

    def release(self) -> None:
        if self.owned():
            self.path.unlink(missing_ok=True)
        self.token = None

    def join(self, driver: Process) -> bool:
        """Called by a worker: add this process to the lock its driver holds; False when the lock is not (or no
        longer) the driver's, and the worker must not train."""
        info = self.holder()
        if info is None or info.get("host") != socket.gethostname() or driver not in info.get("processes", []):
            return False
        if not alive(driver):
            return False
        info["processes"] = info["processes"] + [this_process()]
        write_text(self.path, json.dumps(info))
        return True


def die_with(driver: Process) -> None:
    """Make this worker process end when its driver does: PR_SET_PDEATHSIG for its parent (Linux) and a watcher
    thread for the driver itself (it may be a grandparent, e.g. under submitit's local controller)."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)

    def watch() -> None:
        while alive(driver):
            time.sleep(WATCH_S)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="die-with-driver", daemon=True).start()
