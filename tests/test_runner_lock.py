"""One owner per cell (harness/runner/lock.py, harness/runner/claims.py): the O_EXCL lock file is taken over only
when stale; two drivers on one results directory with overlapping cells train each cell exactly once; local
workers die with their driver. No assertion depends on timing (the waits below only bound a hung test)."""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.runner.lock import LOCK_NAME, CellLock, alive, this_process
from harness.store.results import read_results

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
HANG_S = 600  # a bound for a hung test, never a threshold on how fast things happen


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(run_dir: Path, host: str, processes: list, age_s: float = 0.0) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    path.write_text(json.dumps({"host": host, "processes": processes, "token": "old"}))
    if age_s:
        past = time.time() - age_s
        os.utime(path, (past, past))
    return path


def test_one_holder_at_a_time(tmp_path):
    a, b = CellLock(tmp_path), CellLock(tmp_path)
    assert a.acquire() and not b.acquire()
    assert "pid" in b.describe() and str(os.getpid()) in b.describe()
    a.release()
    assert not (tmp_path / LOCK_NAME).exists() and b.acquire()


@pytest.mark.parametrize(
    "case, taken",
    [
        ("same host, owner dead", True),
        ("same host, owner alive", False),
        ("same host, pid reused by another process", True),
        ("other host, heartbeat old", True),
        ("other host, heartbeat fresh", False),
    ],
)
def test_a_lock_is_taken_over_only_when_stale(tmp_path, case, taken):
    me = this_process()
    here = socket.gethostname()
    procs = {
        "same host, owner dead": [[_dead_pid(), ""]],
        "same host, owner alive": [me],
        "same host, pid reused by another process": [[me[0], "1"]],
    }.get(case, [me])
    host = here if case.startswith("same") else "another-node"
    _write_lock(tmp_path, host, procs, age_s=3600 if "old" in case else 0)
    lock = CellLock(tmp_path, stale_s=600)
    assert lock.acquire() is taken
    if taken:
        assert json.loads((tmp_path / LOCK_NAME).read_text())["host"] == here


def test_a_lock_stays_while_any_of_its_processes_lives(tmp_path):
    _write_lock(tmp_path, socket.gethostname(), [[_dead_pid(), ""], this_process()])  # dead driver, live worker
    assert not CellLock(tmp_path).acquire()


def _race(run_dir: str, barrier, wins) -> None:
    barrier.wait()
    if CellLock(Path(run_dir)).acquire():
        wins.put(os.getpid())


def test_concurrent_takers_of_a_stale_lock_make_one_owner(tmp_path):
    _write_lock(tmp_path, socket.gethostname(), [[_dead_pid(), ""]])
    ctx = multiprocessing.get_context("fork")
    barrier, wins = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), barrier, wins)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(HANG_S)
    winners = []
    while not wins.empty():
        winners.append(wins.get())
    assert len(winners) == 1


def test_a_worker_joins_only_its_drivers_lock(tmp_path):
    driver = CellLock(tmp_path)
    assert driver.acquire()
    assert CellLock(tmp_path).join(this_process())
    assert len(driver.holder()["processes"]) == 2 and driver.owned()
    assert not CellLock(tmp_path).join([_dead_pid(), ""])


# ---- drivers and workers ------------------------------------------------------------------------------------

DRIVER = """
import sys
sys.path.insert(0, {tests!r})
from harness.runner import cell
from runner_fakes import stand_in_training
cell._train_and_evaluate = stand_in_training
from harness.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _driver(argv: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER.format(tests=str(TESTS)), *argv],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(predicate, what: str) -> None:
    deadline = time.monotonic() + HANG_S
    while not predicate():
        assert time.monotonic() < deadline, f"hung waiting for {what}"
        time.sleep(0.05)


def test_two_drivers_with_overlapping_cells_train_each_cell_once(tmp_path):
    events, gate = tmp_path / "events", tmp_path / "gate"
    env = {**os.environ, "DEPALM_TEST_EVENTS": str(events), "DEPALM_TEST_GATE": str(gate), "HF_HUB_OFFLINE": "1"}
    common = [
        "--no-controls",
        "--datasets",
        "syn-coco",
        "--profile",
        "smoke",
        "--executor",
        "inline",
        "--results",
        str(tmp_path / "results"),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "reports"),
    ]
    first = _driver(["--methods", "limber-1,mapl", *common], env)
    second = _driver(["--methods", "mapl,depalm", *common], env)
    # both drivers are training (never the same cell: one holds its lock), then every training may go on
    _wait(lambda: events.exists() and len(events.read_text().splitlines()) >= 2, "two trainings to start")
    gate.touch()
    outs = [p.communicate(timeout=HANG_S) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    trained = {line.split()[1].split("__")[0]: int(line.split()[0]) for line in events.read_text().splitlines()}
    assert len(events.read_text().splitlines()) == 3 and sorted(trained) == ["depalm", "limber-1", "mapl"]
    # the shared cell was trained by whichever driver claimed it first; the other took its result
    other = second if trained["mapl"] == first.pid else first
    assert re.search(r"mapl__\S+: run meanwhile by another driver \(ok\)", outs[[first, second].index(other)][1])
    rows = read_results([tmp_path / "results"])
    assert sorted(rows["method"]) == ["depalm", "limber-1", "mapl"] and set(rows["status"]) == {"ok"}
    assert not list((tmp_path / "runs").glob(f"*/{LOCK_NAME}"))


WORKER = """
import sys, time
from harness.runner.lock import die_with
die_with([int(sys.argv[1]), sys.argv[2]])
print("ready", flush=True)
time.sleep(3600)
"""

FAKE_DRIVER = """
import subprocess, sys, time
from harness.runner.lock import this_process
me = this_process()
worker = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(me[0]), me[1]], stdout=subprocess.PIPE, text=True)
worker.stdout.readline()
print(worker.pid, flush=True)
time.sleep(3600)
"""


def test_a_worker_dies_with_its_driver(tmp_path):
    driver = subprocess.Popen([sys.executable, "-c", FAKE_DRIVER, WORKER], cwd=REPO, stdout=subprocess.PIPE, text=True)
    worker_pid = int(driver.stdout.readline())
    worker = [worker_pid, ""]
    assert alive(worker)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(HANG_S)
    _wait(lambda: not alive(worker) or _zombie(worker_pid), "the orphaned worker to die")


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True
