"""Benchmarks: registry, real-dataset loaders, the offline suite, metrics (Sec. 4.1, Table 2, Appendix C.3).

    from benchmarks import get_benchmark, list_benchmarks
    bench = get_benchmark("syn-coco"); items = bench.load("train"); bench.evaluate(predictions, items)

Importing this package loads no torch (the report path reads titles and paper columns from the specs).
"""

from benchmarks.benchmark import Benchmark
from benchmarks.catalog_offline import register_offline
from benchmarks.catalog_paper import register_paper
from benchmarks.easy_vqa import register_easy_vqa
from benchmarks.registry import UnknownBenchmark, get_benchmark, list_benchmarks, register_benchmark, select_benchmarks
from benchmarks.spec import BenchmarkSpec, DatasetNotFound, Item, Splits, SubsetSpec

register_paper()
register_offline()
register_easy_vqa()

__all__ = [
    "Benchmark",
    "BenchmarkSpec",
    "DatasetNotFound",
    "Item",
    "Splits",
    "SubsetSpec",
    "UnknownBenchmark",
    "get_benchmark",
    "list_benchmarks",
    "register_benchmark",
    "select_benchmarks",
]
