"""How ids print (harness/report/labels.py): benchmark titles, columns and splits come from the registered specs, so
a benchmark registered in one file appears in the tables with its title."""

from __future__ import annotations

import importlib

import pandas as pd
import pytest

from benchmarks import Benchmark, BenchmarkSpec, Splits, get_benchmark, list_benchmarks, registry
from harness.report import render_reports
from harness.report.labels import dataset_sort_key, dataset_title, display_of, latex_escape, method_names, paper_columns
from harness.report.render import LATEX, MARKDOWN
from harness.store.results import write_result


def test_every_registered_benchmark_prints_its_spec_title_and_mirrors_show_their_column():
    for dataset_id in list_benchmarks():
        spec = get_benchmark(dataset_id).spec
        assert dataset_title(dataset_id) == spec.display_title and spec.display_title, dataset_id
        if spec.group == "offline":
            column = get_benchmark(spec.paper_column).spec
            assert spec.display_title == f"{column.display_title} [offline]"
            assert (spec.s_metrics, spec.s_splits) == (column.s_metrics, column.s_splits), dataset_id
            assert spec.eval_split == "test", dataset_id  # mirrors select on val and report on test
    assert dataset_title("coco-1pct") == "COCO (1%)" and dataset_title("zz-unknown") == "zz-unknown"


def test_column_order_is_the_papers_with_unknown_ids_last():
    ids = ["easy-vqa", "syn-msrvtt", "msrvtt", "coco", "zz-plugin", "syn-coco"]
    assert sorted(ids, key=dataset_sort_key) == ["coco", "syn-coco", "msrvtt", "syn-msrvtt", "easy-vqa", "zz-plugin"]
    assert list(paper_columns())[:3] == ["coco", "coco-1pct", "textcaps"]


def test_display_names_and_escaping():
    assert LATEX.name("DePALM^{R-rand,L0}") == r"DePALM\textsuperscript{R-rand,L0}"
    assert MARKDOWN.name("DePALM^{R-rand,L0}") == "DePALM^{R-rand,L0}"
    assert LATEX.name("LiMBeR⁽ᵃˡˡ⁾ + bias-FT") == r"LiMBeR\textsuperscript{(all)} + bias-FT"
    assert LATEX.name("my_plugin^{a_b}") == r"my\_plugin\textsuperscript{a\_b}"
    assert MARKDOWN.name("a|b") == r"a\|b"
    assert latex_escape("COCO (1%) & 50_000 #1") == r"COCO (1\%) \& 50\_000 \#1"


def test_method_names_come_from_the_rows_the_latest_first():
    rows = pd.DataFrame(
        {
            "method": ["depalm", "depalm", "mapl", "x"],
            "method_display": ["old", "DePALM", "MAPL", ""],
            "created_at": ["2024-01-01", "2025-01-01", "2024-01-01", "2024-01-01"],
        }
    )
    names = method_names(rows)
    assert names == {"depalm": "DePALM", "mapl": "MAPL"}
    assert display_of(names, "x") == "x"


@pytest.mark.usefixtures("isolated_registry")
def test_a_plugin_presets_display_name_appears_in_table4(tmp_path):
    """The README's plugin (methods/contrib/qpmapper8.py) names itself DePALM^{QP8}: its rows carry the name from the
    run config the matrix resolves, and the report prints it."""
    from harness.cli import parse_study
    from harness.runner.cell import CellOutcome, result_rows
    from harness.runner.matrix import plan

    importlib.import_module("methods.contrib.qpmapper8")  # what --plugin does before the matrix is resolved
    results = tmp_path / "results"
    args = parse_study(
        [
            "--plugin",
            "methods.contrib.qpmapper8",
            "--methods",
            "depalm,depalm-qp8",
            "--no-controls",
            "--datasets",
            "syn-coco",
            "--profile",
            "smoke",
            "--results",
            str(results),
        ]
    )
    for cfg in plan(args).cells:
        score = {"depalm": 30.0, "depalm-qp8": 35.0}[cfg.method]
        outcome = CellOutcome(cfg.run_id, "ok", metrics={"test": {"CIDEr": score}}, config_hash=cfg.config_hash())
        write_result(result_rows(cfg, outcome, {}, ("test", "CIDEr")), results, cfg.run_id)
    render_reports([results], tmp_path / "out")
    md = (tmp_path / "out" / "table4.md").read_text()
    assert "| DePALM^{QP8} | **35.00** |" in md and "| DePALM | <ins>30.00</ins> |" in md and "depalm-qp8" not in md
    assert r"DePALM\textsuperscript{QP8} & \textbf{35.00}" in (tmp_path / "out" / "table4.tex").read_text()


class _NoItems:
    """The report needs only the spec; this benchmark is never loaded."""

    def load(self, *args, **kwargs):
        raise AssertionError("the report must not load items")

    def availability(self, spec, data_root):
        return None


@pytest.fixture
def clock_benchmark(monkeypatch) -> BenchmarkSpec:
    """A new benchmark declared in one place, as a plugin module would (registered for this test only)."""
    spec = BenchmarkSpec(
        id="clock-audio",
        title="Clock chimes captioning (a plugin benchmark)",
        group="external",
        paper_column=None,
        modality="audio",
        task="caption",
        default_llm="smollm2-135m",
        default_encoder="whisper-tiny-embedded",
        epochs=2,
        prompt="An audio of",
        primary_metric="CIDEr",
        splits=Splits("train", "val", "test"),
        eval_split="test",
        short_title="Clock chimes",
        s_metrics=("BLEU_4", "CIDEr"),
    )
    monkeypatch.setitem(registry._BENCHMARKS, spec.id, Benchmark(spec, _NoItems()))
    return spec


def test_a_benchmark_registered_in_one_file_appears_with_its_title(clock_benchmark, tmp_path):
    for seed in (0, 1):
        rows = [
            dict(
                method="depalm",
                dataset=dataset,
                seed=seed,
                lr=1e-3,
                grad_clip=0.8,
                llm="smollm2-135m",
                encoder="whisper-tiny-embedded",
                profile="smoke",
                split="test",
                metric=metric,
                value=v + seed,
            )
            for dataset in ("clock-audio", "syn-audiocaps")
            for metric, v in (("CIDEr", 40.0), ("BLEU_4", 9.0))
        ]
        write_result(rows, tmp_path / "results", f"depalm-audio-s{seed}")
    render_reports([tmp_path / "results"], tmp_path / "out")
    t4 = (tmp_path / "out" / "table4.md").read_text()
    assert "| Clock chimes<br>CIDEr Test ↑ |" in t4 and "clock-audio" not in t4
    assert "Clock chimes" in (tmp_path / "out" / "table4.tex").read_text()
    assert list(pd.read_csv(tmp_path / "out" / "table4.csv").columns[1:3]) == ["syn-audiocaps", "clock-audio"]
    s3 = (tmp_path / "out" / "tableS3.md").read_text()  # an audio benchmark's block goes to the audio table
    assert "| Clock chimes<br>B@4 Test | Clock chimes<br>CIDEr Test |" in s3


def test_report_only_imports_plugins_so_their_benchmarks_print_with_their_title(tmp_path, monkeypatch):
    from harness.cli import main

    plugin = tmp_path / "clock_plugin.py"
    plugin.write_text(
        "from benchmarks import Benchmark, BenchmarkSpec, Splits, register_benchmark\n"
        "class NoItems:\n"
        "    def load(self, *a, **k): raise AssertionError\n"
        "    def availability(self, spec, data_root): return None\n"
        "register_benchmark(Benchmark(BenchmarkSpec(id='clock-plugin', title='Clock chimes', group='external',\n"
        "    paper_column=None, modality='audio', task='caption', default_llm='smollm2-135m',\n"
        "    default_encoder='whisper-tiny-embedded', epochs=2, prompt='An audio of', primary_metric='CIDEr',\n"
        "    splits=Splits('train', 'val', 'test'), eval_split='test'), NoItems()))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_BENCHMARKS", dict(registry._BENCHMARKS))
    write_result(
        [
            dict(
                method="depalm",
                dataset="clock-plugin",
                seed=0,
                lr=1e-3,
                grad_clip=0.8,
                llm="smollm2-135m",
                encoder="whisper-tiny-embedded",
                profile="smoke",
                split="test",
                metric="CIDEr",
                value=3.0,
            )
        ],
        tmp_path / "results",
        "clock",
    )
    assert (
        main(
            [
                "--report-only",
                "--plugin",
                "clock_plugin",
                "--results",
                str(tmp_path / "results"),
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    assert "| Clock chimes<br>CIDEr Test ↑ |" in (tmp_path / "out" / "table4.md").read_text()
