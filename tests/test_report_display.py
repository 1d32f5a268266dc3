"""harness/report/labels.py's torch-free table of benchmarks stays in sync with the benchmarks registry."""
from __future__ import annotations

from benchmarks import get_benchmark, list_benchmarks
from harness.report.labels import DATASETS, PAPER_DATASET_ORDER, dataset_sort_key, latex_escape, method_display


def _spec(dataset_id: str):
    bench = get_benchmark(dataset_id)
    return getattr(bench, "spec", bench)


def test_every_registered_paper_or_mirror_benchmark_has_a_display_entry():
    for dataset_id in list_benchmarks():
        spec = _spec(dataset_id)
        if spec.paper_column is None:
            assert dataset_id not in DATASETS  # external benchmarks go after the paper's columns, sorted
            continue
        d = DATASETS[dataset_id]
        assert (d.paper_column, d.primary_metric, d.modality) == (spec.paper_column, spec.primary_metric,
                                                                   spec.modality), dataset_id
        if spec.group == "paper":
            assert d.paper_splits[0] == spec.eval_split, dataset_id


def test_column_order_is_the_papers_with_unknown_ids_last():
    ids = ["easy-vqa", "syn-msrvtt", "msrvtt", "coco", "zz-plugin", "syn-coco"]
    assert sorted(ids, key=dataset_sort_key) == ["coco", "syn-coco", "msrvtt", "syn-msrvtt", "easy-vqa", "zz-plugin"]
    assert list(PAPER_DATASET_ORDER)[:3] == ["coco", "coco-1pct", "textcaps"]


def test_display_names_and_escaping():
    assert method_display("limber-1").md == "LiMBeR⁽¹⁾"
    assert method_display("depalm-r-rand").md == "DePALM^{R-rand,L0}"
    assert method_display("depalm+bias-ft").tex == "DePALM + bias-FT"
    assert method_display("my_plugin").tex == r"my\_plugin"
    assert latex_escape("COCO (1%) & 50_000 #1") == r"COCO (1\%) \& 50\_000 \#1"


def test_reported_split_agrees_with_benchmark_registry():
    """The report's torch-free column table and the benchmark registry name the same reported split."""
    from benchmarks import get_benchmark, list_benchmarks
    from harness.report.labels import DATASETS

    for bench_id in list_benchmarks():
        if bench_id in DATASETS:
            assert DATASETS[bench_id].paper_splits[0] == get_benchmark(bench_id).spec.eval_split, bench_id
