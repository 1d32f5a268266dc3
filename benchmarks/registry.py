"""The benchmark registry: ids -> `Benchmark`, in the order of Table 4's columns."""

from __future__ import annotations

from benchmarks.benchmark import Benchmark

_BENCHMARKS: dict[str, Benchmark] = {}


class UnknownBenchmark(KeyError):
    """An id that no registered benchmark has."""

    def __str__(self) -> str:
        return self.args[0]


def register_benchmark(bench: Benchmark, replace: bool = False) -> Benchmark:
    if bench.id in _BENCHMARKS and not replace:
        raise ValueError(f"benchmark {bench.id!r} is already registered (pass replace=True to override it)")
    _BENCHMARKS[bench.id] = bench
    return bench


def get_benchmark(benchmark_id: str) -> Benchmark:
    try:
        return _BENCHMARKS[benchmark_id]
    except KeyError:
        raise UnknownBenchmark(f"unknown benchmark {benchmark_id!r}; known: {', '.join(_BENCHMARKS)}") from None


def list_benchmarks(group: str | None = None) -> list[str]:
    """Registered ids (Table 4 order), optionally only one group: paper | offline | external."""
    return [b for b, bench in _BENCHMARKS.items() if group is None or bench.spec.group == group]


def select_benchmarks(selection: str) -> list[str]:
    """Ids for a --datasets value: 'all', 'paper', 'offline' (offline suite + external) or a comma list."""
    if selection == "all":
        return list_benchmarks()
    if selection == "paper":
        return list_benchmarks("paper")
    if selection == "offline":
        return list_benchmarks("offline") + list_benchmarks("external")
    ids = [s.strip() for s in selection.split(",") if s.strip()]
    for i in ids:
        get_benchmark(i)
    return ids
