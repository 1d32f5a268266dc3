"""Bad input is refused before anything trains (exit 2, one line): path-unsafe plugin ids, out-of-range seeds, a
plugin raising on import, output directories under a file; an interrupted matrix exits 130 with one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.cli import main

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SMOKE = ["--datasets", "syn-coco", "--profile", "smoke", "--executor", "inline", "--no-controls"]


def _dirs(root: Path) -> list[str]:
    return ["--results", str(root / "results"), "--runs-dir", str(root / "runs"), "--out", str(root / "reports")]


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("method_id", ["../x", "/tmp/escape", "a/b", "tab\there", "..", ".hidden"])
def test_path_unsafe_plugin_method_ids_are_refused_at_registration(tmp_path, monkeypatch, capsys, method_id):
    plugin = tmp_path / "bad_ids_plugin.py"
    plugin.write_text(
        "import dataclasses\nfrom methods import get_preset, register_preset\n"
        f"register_preset(dataclasses.replace(get_preset('limber-1'), id={method_id!r}))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("bad_ids_plugin", None)
    assert main(["--plugin", "bad_ids_plugin", "--methods", "limber-1", *SMOKE, *_dirs(tmp_path / "out")]) == 2
    err = _one_line_error(capsys)
    assert "--plugin bad_ids_plugin" in err and "path-safe" in err
    assert not (tmp_path / "out").exists()


def test_a_plugin_raising_on_import_is_a_usage_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "raising_plugin.py").write_text("raise RuntimeError('half-written plugin')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["--plugin", "raising_plugin", "--methods", "limber-1", *SMOKE, *_dirs(tmp_path)]) == 2
    assert "RuntimeError: half-written plugin" in _one_line_error(capsys)


@pytest.mark.parametrize("seeds", ["4294967296", "0,4294967296", "4294967297"])
def test_seeds_must_fit_in_32_bits(tmp_path, capsys, seeds):
    assert main(["--seeds", seeds, "--methods", "limber-1", *SMOKE, *_dirs(tmp_path / "out")]) == 2
    assert "2**32" in _one_line_error(capsys) and not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--results", "--runs-dir", "--out"])
def test_an_output_directory_under_a_file_is_refused(tmp_path, capsys, flag):
    (tmp_path / "afile").write_text("x")
    dirs = dict(zip(("--results", "--runs-dir", "--out"), ("r", "runs", "rep")))
    argv = [x for k, v in dirs.items() for x in (k, str(tmp_path / (f"afile/{v}" if k == flag else v)))]
    assert main(["--methods", "limber-1", *SMOKE, *argv]) == 2
    err = _one_line_error(capsys)
    assert flag in err and "which is a file" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


DRIVER = """
import sys
sys.path.insert(0, {tests!r})
from harness.runner import cell
from runner_fakes import stand_in_training
cell._train_and_evaluate = stand_in_training
from harness.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_matrix_exits_130_with_one_line(tmp_path, sig):
    events = tmp_path / "events"
    env = {**os.environ, "DEPALM_TEST_EVENTS": str(events), "DEPALM_TEST_GATE": str(tmp_path / "never")}
    proc = subprocess.Popen(
        [sys.executable, "-c", DRIVER.format(tests=str(TESTS)), "--methods", "limber-1", *SMOKE, *_dirs(tmp_path)],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600
    while not events.exists():  # the cell is training (its stand-in waits forever)
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("run_matrix.py: interrupted")
    assert not list((tmp_path / "runs").glob("*/.owner.lock"))  # the inline driver released its lock


def test_an_image_size_off_the_encoders_patch_grid_is_refused_before_training(tmp_path, capsys):
    args = [*SMOKE, "--methods", "limber-1", "--encoder", "dinov2-s14-embedded", "--train.image_size", "96"]
    assert main([*args, *_dirs(tmp_path)]) == 2
    err = _one_line_error(capsys)
    assert "--train.image_size" in err and "patch size 14" in err and "98" in err
    assert not (tmp_path / "results").exists()
