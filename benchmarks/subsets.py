"""Low-data subsets (Sec. 4.1 "1% of the training data"): deterministic, drawn with a subset seed of their own
(independent of the training seed), and written to disk with their seed and size so a run can be audited."""
from __future__ import annotations

import json
import random
from pathlib import Path

from benchmarks.dataroot import cache_dir
from harness.store.atomic import write_text


def subset_path(bench_id: str, subset_seed: int, size: int, tag: str = "") -> Path:
    return cache_dir() / "subsets" / f"{bench_id}{tag}_seed{subset_seed}_n{size}.json"


def draw_subset(bench_id: str, pool_ids: list[str], fraction: float, subset_seed: int, tag: str = "") -> list[str]:
    """Ids of a `fraction` subset of `pool_ids` (order preserved); reuses the subset file when it exists."""
    if not pool_ids:
        raise ValueError(f"{bench_id}: empty training pool, nothing to draw a subset from")
    size = max(1, round(len(pool_ids) * fraction))
    path = subset_path(bench_id, subset_seed, size, tag)
    if path.is_file():
        saved = json.loads(path.read_text())
        unknown = set(saved["ids"]) - set(pool_ids)
        if saved.get("pool_size") != len(pool_ids) or unknown:
            raise ValueError(f"{bench_id}: subset file {path} does not match the current training data "
                             f"(pool {saved.get('pool_size')} vs {len(pool_ids)} items, {len(unknown)} unknown ids); "
                             f"delete it to redraw")
        return saved["ids"]
    chosen = set(random.Random(f"subset:{bench_id}:{subset_seed}").sample(range(len(pool_ids)), size))
    ids = [pid for i, pid in enumerate(pool_ids) if i in chosen]
    record = {"benchmark": bench_id, "subset_seed": subset_seed, "fraction": fraction, "pool_size": len(pool_ids),
              "size": size, "ids": ids}
    write_text(path, json.dumps(record, indent=1))
    return ids
