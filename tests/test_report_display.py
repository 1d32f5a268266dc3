"""How ids print (harness/report/labels.py): benchmark titles, columns and splits come from the registered specs, so
a benchmark registered in one file appears in the tables with its title."""
from __future__ import annotations

import pandas as pd
import pytest

from benchmarks import Benchmark, BenchmarkSpec, Splits, get_benchmark, list_benchmarks, registry
from harness.report import render_reports
from harness.report.labels import dataset_sort_key, dataset_title, latex_escape, method_display, paper_columns
from harness.store.results import write_result


def test_every_registered_benchmark_prints_its_spec_title_and_mirrors_show_their_column():
    for dataset_id in list_benchmarks():
        spec = get_benchmark(dataset_id).spec
        assert dataset_title(dataset_id) == spec.display_title and spec.display_title, dataset_id
        if spec.group == "offline":
            column = get_benchmark(spec.paper_column).spec
            assert spec.display_title == f"{column.display_title} [offline]"
            assert (spec.eval_split, spec.s_metrics, spec.s_splits) == (column.eval_split, column.s_metrics,
                                                                        column.s_splits), dataset_id
    assert dataset_title("coco-1pct", "tex") == r"COCO (1\%)" and dataset_title("zz-unknown") == "zz-unknown"


def test_column_order_is_the_papers_with_unknown_ids_last():
    ids = ["easy-vqa", "syn-msrvtt", "msrvtt", "coco", "zz-plugin", "syn-coco"]
    assert sorted(ids, key=dataset_sort_key) == ["coco", "syn-coco", "msrvtt", "syn-msrvtt", "easy-vqa", "zz-plugin"]
    assert list(paper_columns())[:3] == ["coco", "coco-1pct", "textcaps"]


def test_display_names_and_escaping():
    assert method_display("limber-1").md == "LiMBeR⁽¹⁾"
    assert method_display("depalm-r-rand").md == "DePALM^{R-rand,L0}"
    assert method_display("depalm+bias-ft").tex == "DePALM + bias-FT"
    assert method_display("my_plugin").tex == r"my\_plugin"
    assert latex_escape("COCO (1%) & 50_000 #1") == r"COCO (1\%) \& 50\_000 \#1"


class _NoItems:
    """The report needs only the spec; this benchmark is never loaded."""

    def load(self, *args, **kwargs):
        raise AssertionError("the report must not load items")

    def availability(self, spec, data_root):
        return None


@pytest.fixture
def clock_benchmark(monkeypatch) -> BenchmarkSpec:
    """A new benchmark declared in one place, as a plugin module would (registered for this test only)."""
    spec = BenchmarkSpec(id="clock-audio", title="Clock chimes captioning (a plugin benchmark)", group="external",
                         paper_column=None, modality="audio", task="caption", default_llm="smollm2-135m",
                         default_encoder="whisper-tiny-embedded", epochs=2, prompt="An audio of",
                         primary_metric="CIDEr", splits=Splits("train", "val", "test"), eval_split="test",
                         short_title="Clock chimes", s_metrics=("BLEU_4", "CIDEr"))
    monkeypatch.setitem(registry._BENCHMARKS, spec.id, Benchmark(spec, _NoItems()))
    return spec


def test_a_benchmark_registered_in_one_file_appears_with_its_title(clock_benchmark, tmp_path):
    for seed in (0, 1):
        rows = [dict(method="depalm", dataset=dataset, seed=seed, lr=1e-3, grad_clip=0.8, llm="smollm2-135m",
                     encoder="whisper-tiny-embedded", profile="smoke", split="test", metric=metric, value=v + seed)
                for dataset in ("clock-audio", "syn-audiocaps") for metric, v in (("CIDEr", 40.0), ("BLEU_4", 9.0))]
        write_result(rows, tmp_path / "results", f"depalm-audio-s{seed}")
    render_reports([tmp_path / "results"], tmp_path / "out")
    t4 = (tmp_path / "out" / "table4.md").read_text()
    assert "| Clock chimes<br>CIDEr Test ↑ |" in t4 and "clock-audio" not in t4
    assert "Clock chimes" in (tmp_path / "out" / "table4.tex").read_text()
    assert list(pd.read_csv(tmp_path / "out" / "table4.csv").columns[1:3]) == ["syn-audiocaps", "clock-audio"]
    s3 = (tmp_path / "out" / "tableS3.md").read_text()  # an audio benchmark's block goes to the audio table
    assert "| Clock chimes<br>B@4 Test | Clock chimes<br>CIDEr Test |" in s3
