"""`GeneratedSource`: the offline suite's item source (deterministic per seed; low-data subsets of a generated pool)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from benchmarks.grouping import group_duplicates
from benchmarks.spec import BenchmarkSpec, Item
from benchmarks.subsets import draw_subset

MakeItem = Callable[[BenchmarkSpec, str, int, int], Item]  # (spec, split role, seed, index) -> Item


def item_id(role: str, index: int) -> str:
    return f"{role}-{index:05d}"


@dataclass(frozen=True)
class GeneratedSource:
    """Items i = 0..n-1 of a split are generated independently from (namespace, seed, split, i)."""

    make_item: MakeItem
    draws_subsets: ClassVar[bool] = True  # honours `spec.subset` (a train_fraction, benchmarks.benchmark)

    def load(
        self,
        spec: BenchmarkSpec,
        role: str,
        data_root: str | Path | None,
        size: int | None,
        seed: int,
        subset_seed: int | None,
    ) -> list[Item]:
        if spec.subset is not None and role == "train":
            pool = spec.subset.pool_size or spec.default_sizes["train"]
            ss = spec.subset.seed if subset_seed is None else subset_seed
            wanted = set(
                draw_subset(
                    spec.id, [item_id(role, i) for i in range(pool)], spec.subset.fraction, ss, tag=f"_gen{seed}"
                )
            )
            indices: Sequence[int] = [i for i in range(pool) if item_id(role, i) in wanted][:size]
        else:
            indices = range(size or spec.default_sizes[role])
        return group_duplicates([self.make_item(spec, role, seed, i) for i in indices])

    def availability(self, spec: BenchmarkSpec, data_root: str | Path | None) -> str | None:
        return None
