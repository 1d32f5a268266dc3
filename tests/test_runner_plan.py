"""Planning a matrix: the results directory is read once per invocation, and the cells split into to-run and cached
by config hash."""

from __future__ import annotations

import pytest

from harness.cli import main, parse_study
from harness.runner.cell import CellOutcome, primary_of, result_rows
from harness.store.results import write_result


def _argv(tmp_path, *extra):
    return [
        "--methods",
        "depalm",
        "--datasets",
        "syn-coco",
        "--seeds",
        "3",
        "--profile",
        "smoke",
        "--results",
        str(tmp_path / "results"),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "reports"),
        *extra,
    ]


def _store(cfg, results_dir, status):
    split, metric = primary_of(cfg)
    outcome = CellOutcome(cfg.run_id, status, metrics={split: {metric: 50.0}}, config_hash=cfg.config_hash())
    write_result(result_rows(cfg, outcome, {"mean_step_s": 0.5}, (split, metric)), results_dir, cfg.run_id)


@pytest.fixture
def stored(tmp_path):
    from harness.runner.matrix import plan

    cells = plan(parse_study(_argv(tmp_path))).cells
    _store(cells[0], tmp_path / "results", "ok")
    _store(cells[1], tmp_path / "results", "failed")
    return cells


def test_dry_run_reads_the_results_once_and_skips_what_is_cached(tmp_path, stored, monkeypatch, capsys):
    import harness.store.results as results

    calls = []
    real = results.read_results
    monkeypatch.setattr(results, "read_results", lambda paths: calls.append(paths) or real(paths))
    assert main([*_argv(tmp_path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert len(calls) == 1  # the cache lookup and the measured step times come from one read
    n = len(stored)
    assert f"{n} cells: {n - 2} to run, 2 cached" in out and stored[2].run_id in out


def test_retry_failed_moves_the_failed_cell_to_run(tmp_path, stored):
    from harness.runner.matrix import plan

    p = plan(parse_study([*_argv(tmp_path), "--retry-failed"]))
    assert [c.run_id for c in p.todo] == [c.run_id for c in stored[1:]]
    assert [c.run_id for c in p.cached] == [stored[0].run_id]
    assert p.stored == {stored[0].config_hash(): "ok", stored[1].config_hash(): "failed"}
