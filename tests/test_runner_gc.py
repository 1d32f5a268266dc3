"""`run_matrix.py --gc`: lists (dry run) and with --yes removes the run directories and feature-cache entries no
current result refers to, never what is in use (training stood in: no model is loaded)."""

from __future__ import annotations

from pathlib import Path

from runner_fakes import stand_in_training

from harness.cli import main
from harness.runner import cell
from harness.runner.lock import CellLock
from harness.runner.rundir import METRICS_NAME, read_json, write_json

MATRIX = [
    "--methods",
    "limber-1,mapl",
    "--datasets",
    "syn-coco",
    "--profile",
    "smoke",
    "--executor",
    "inline",
    "--no-controls",
]


def test_gc_lists_then_removes_only_what_no_result_refers_to(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cell, "_train_and_evaluate", stand_in_training)
    monkeypatch.setenv("DEPALM_CACHE", str(tmp_path / "cache"))
    dirs = [
        "--results",
        str(tmp_path / "results"),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "reports"),
    ]
    assert main([*MATRIX, *dirs]) == 0
    runs = {p.name.split("__")[0]: p for p in (tmp_path / "runs").iterdir() if not p.name.startswith("_")}
    for name in ("used", "unused", "other", "old-format"):
        (tmp_path / "cache" / "features" / name).mkdir(parents=True)
        (tmp_path / "cache" / "features" / name / "shard-1.safetensors").write_bytes(b"x" * 1000)
    (tmp_path / "cache" / "features" / "old-format" / "manifest.json").write_text('{"format": 1, "shards": []}')
    for method, entries in (("limber-1", ["used", "old-format"]), ("mapl", ["used", "other"])):
        metrics = read_json(runs[method] / METRICS_NAME)
        metrics["info"]["feature_cache"] = entries
        write_json(runs[method] / METRICS_NAME, metrics)
    (tmp_path / "results" / f"{runs['mapl'].name}.parquet").unlink()  # mapl's result is gone
    in_use = tmp_path / "runs" / "depalm__syn-coco__s0__lr0.001__0123456789"
    assert CellLock(in_use).acquire()  # a cell being trained right now, no result yet
    capsys.readouterr()

    assert main(["--gc", *dirs]) == 0
    out = capsys.readouterr().out
    listed = [line.split()[2] for line in out.splitlines() if line.strip().endswith(")") and "/" in line]
    assert sorted(Path(p).name for p in listed) == sorted([runs["mapl"].name])  # cells are running: no cache gc
    assert "in use" in out and "feature cache not examined: cells are running" in out and "dry run" in out
    assert runs["mapl"].exists()

    CellLock(in_use).path.unlink()
    in_use.rmdir()
    assert main(["--gc", "--yes", *dirs]) == 0
    out = capsys.readouterr().out
    assert "removed 4 item(s)" in out and "of format 1, which this version never reads" in out
    assert not runs["mapl"].exists() and runs["limber-1"].exists()
    assert sorted(p.name for p in (tmp_path / "cache" / "features").iterdir()) == ["used"]
    assert main(["--gc", *dirs]) == 0
    assert "0 unreferenced item(s)" in capsys.readouterr().out
