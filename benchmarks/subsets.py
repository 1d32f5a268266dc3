"""Low-data subsets (Sec. 4.1 "1% of the training data"), drawn as the official code draws them, and written to
disk with their seed and size so a run can be audited.

The official loader (depalm/data/data/data_base.py:204-213, 114-116, 277-286) seeds Python's `random` with the run
seed (depalm/main.py:151), then loads the splits in the order test, train, val; each load `random.shuffle`s its rows
and keeps the first round(fraction x N). The train subset is therefore the head of the train rows shuffled by that
generator right after it shuffled the test rows: `draw_subset` replays exactly those draws (`shuffled_before` holds
the lengths of the splits shuffled first). At least one item is kept.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path

from benchmarks.dataroot import cache_dir
from harness.store.atomic import write_text

RULE = "random.Random(seed): shuffle lists of the shuffled_before lengths, shuffle the pool, keep round(fraction N)"


def subset_path(bench_id: str, subset_seed: int, size: int, tag: str = "") -> Path:
    return cache_dir() / "subsets" / f"{bench_id}{tag}_shuffle_seed{subset_seed}_n{size}.json"


def official_subset(
    pool_ids: Sequence[str], fraction: float, seed: int, shuffled_before: Sequence[int] = ()
) -> list[str]:
    """The ids the official loader keeps, in its shuffled order."""
    rng = random.Random(seed)
    for n in shuffled_before:
        rng.shuffle(list(range(n)))  # its draws depend only on the length of what it shuffles
    order = list(pool_ids)
    rng.shuffle(order)
    return order[: max(1, round(fraction * len(order)))]


def draw_subset(
    bench_id: str,
    pool_ids: list[str],
    fraction: float,
    subset_seed: int,
    tag: str = "",
    shuffled_before: Sequence[int] = (),
) -> list[str]:
    """Ids of a `fraction` subset of `pool_ids` (in pool order); reuses the subset file when it exists."""
    if not pool_ids:
        raise ValueError(f"{bench_id}: empty training pool, nothing to draw a subset from")
    size = max(1, round(len(pool_ids) * fraction))
    path = subset_path(bench_id, subset_seed, size, tag)
    if path.is_file():
        saved = json.loads(path.read_text())
        unknown = set(saved["ids"]) - set(pool_ids)
        if saved.get("pool_size") != len(pool_ids) or unknown or saved.get("shuffled_before") != list(shuffled_before):
            raise ValueError(
                f"{bench_id}: subset file {path} does not match the current training data "
                f"(pool {saved.get('pool_size')} vs {len(pool_ids)} items, {len(unknown)} unknown ids, "
                f"splits shuffled before {saved.get('shuffled_before')} vs {list(shuffled_before)}); "
                f"delete it to redraw"
            )
        return saved["ids"]
    chosen = set(official_subset(pool_ids, fraction, subset_seed, shuffled_before))
    ids = [pid for pid in pool_ids if pid in chosen]
    record = {
        "benchmark": bench_id,
        "subset_seed": subset_seed,
        "fraction": fraction,
        "pool_size": len(pool_ids),
        "shuffled_before": list(shuffled_before),
        "rule": RULE,
        "size": size,
        "ids": ids,
    }
    write_text(path, json.dumps(record, indent=1))
    return ids
