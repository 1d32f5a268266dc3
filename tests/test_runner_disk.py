"""Write errors stay local and disk use stays small: on a full disk (a small tmpfs) the other cells finish, the full
one is `failed` with a clear error, no temp file remains, earlier results are intact, and a re-run after freeing
space completes it; a successful run keeps its weights but not its full-state checkpoint unless asked to. The
training itself is a stand-in writing checkpoints of chosen sizes (no model is loaded)."""

from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest
import torch
from runner_fakes import stand_in_training

from harness.cli import main
from harness.runner import cell
from harness.runner.checkpoint import CHECKPOINT_NAME
from harness.store import atomic
from harness.store.results import read_results

MATRIX = [
    "--methods",
    "limber-1,mapl,depalm",
    "--datasets",
    "syn-coco",
    "--profile",
    "smoke",
    "--executor",
    "inline",
    "--no-controls",
]
BIG = "mapl"  # its stand-in writes a checkpoint larger than the small disk


class SmallDisk:
    """A 2 MiB tmpfs (root); elsewhere a simulated one: a write whose file passes 2 MiB fails with ENOSPC."""

    def __init__(self, root: Path, monkeypatch) -> None:
        self.path = root / "disk"
        self.path.mkdir()
        self.mounted = (
            subprocess.run(
                ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(self.path)], capture_output=True
            ).returncode
            == 0
        )
        self.monkeypatch = monkeypatch
        if not self.mounted:
            real = atomic._fsync

            def fsync_with_quota(path: Path) -> None:
                if Path(path).stat().st_size > 2 * 2**20:
                    raise OSError(errno.ENOSPC, "No space left on device (simulated)", str(path))
                real(path)

            monkeypatch.setattr(atomic, "_fsync", fsync_with_quota)

    def free(self) -> None:
        if self.mounted:
            subprocess.run(["mount", "-o", "remount,size=16m", str(self.path)], check=True)
        else:
            self.monkeypatch.undo()

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], check=False)


@pytest.fixture
def disk(tmp_path, monkeypatch):
    d = SmallDisk(tmp_path, monkeypatch)
    yield d
    d.close()


def fake_train_and_evaluate(cfg, run_dir, backbones, on_step):
    return stand_in_training(
        cfg, run_dir, backbones, on_step, checkpoint_bytes=3 * 2**20 if cfg.method == BIG else 64 * 2**10
    )


def _dirs(disk_path: Path, out: Path) -> list[str]:
    return ["--results", str(disk_path / "results"), "--runs-dir", str(disk_path / "runs"), "--out", str(out)]


def test_a_full_disk_fails_only_its_cell_and_a_rerun_after_freeing_space_completes_it(
    disk, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(cell, "_train_and_evaluate", fake_train_and_evaluate)
    dirs = _dirs(disk.path, tmp_path / "reports")
    assert main(["--methods", "limber-1", *MATRIX[2:], *dirs]) == 0  # an earlier result
    earlier = {p.name: p.read_bytes() for p in (disk.path / "results").glob("limber-1*.parquet")}

    assert main([*MATRIX, *dirs]) == 1
    err = capsys.readouterr().err
    rows = read_results([disk.path / "results"])
    status = dict(zip(rows["method"], rows["status"]))
    assert status == {"limber-1": "ok", "mapl": "failed", "depalm": "ok"}
    error = rows.loc[rows["method"] == BIG, "error"].iloc[0]
    assert "No space left on device" in error and "--retry-failed" in error.strip().splitlines()[-1]
    assert f"failed: {BIG}__" in err and "write error" in err
    assert [p for p in disk.path.rglob("*") if p.name.endswith(".tmp")] == []
    assert {p.name: p.read_bytes() for p in (disk.path / "results").glob("limber-1*.parquet")} == earlier

    disk.free()
    assert main([*MATRIX, "--retry-failed", *dirs]) == 0
    rows = read_results([disk.path / "results"])
    assert set(rows["status"]) == {"ok"} and set(rows["method"]) == {"limber-1", "mapl", "depalm"}


def test_success_removes_the_full_state_checkpoint_unless_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(cell, "_train_and_evaluate", stand_in_training)
    assert main(["--methods", "limber-1", *MATRIX[2:], *_dirs(tmp_path / "a", tmp_path / "r")]) == 0
    assert (
        main(["--methods", "limber-1", *MATRIX[2:], "--keep-checkpoints", *_dirs(tmp_path / "b", tmp_path / "r")]) == 0
    )
    (run_a,) = (tmp_path / "a" / "runs").glob("limber-1__*")
    (run_b,) = (tmp_path / "b" / "runs").glob("limber-1__*")
    assert run_a.name == run_b.name  # keeping the checkpoint does not change the config hash
    assert not (run_a / CHECKPOINT_NAME).exists() and (run_b / CHECKPOINT_NAME).exists()
    for run in (run_a, run_b):
        assert {"config.json", "metrics.json", "trainable.safetensors", "predictions_test.jsonl"} <= set(
            os.listdir(run)
        )
    rows = read_results([tmp_path / "a" / "results"])
    assert (rows["torch_threads"] == torch.get_num_threads()).all()
