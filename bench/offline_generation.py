"""Time to generate each offline benchmark at its default size (items of every split + every raw input rendered).

Target: under 30 s per benchmark on one CPU core. Prints one row per benchmark and the ratio to the target;
timings are for this machine at this moment (shared machines vary), so compare ratios within one run.
Usage: python bench/offline_generation.py [--seed 0] [--ids syn-coco,syn-msrvtt]
"""

from __future__ import annotations

import argparse
import tempfile
import time

TARGET_S = 30.0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ids", default=None, help="comma list (default: the offline suite and easy-vqa)")
    args = p.parse_args()
    import os

    os.environ.setdefault("DEPALM_CACHE", tempfile.mkdtemp(prefix="depalm-bench-"))
    from benchmarks import get_benchmark, select_benchmarks

    ids = args.ids.split(",") if args.ids else select_benchmarks("offline")
    print(
        f"{'benchmark':<16} {'train':>6} {'val':>5} {'test':>5} {'items s':>8} {'inputs s':>9} {'total s':>8} "
        f"{'/ target':>8}"
    )
    for bench_id in ids:
        bench = get_benchmark(bench_id)
        t0 = time.perf_counter()
        splits = {role: bench.load(role, seed=args.seed) for role in ("train", "val", "test")}
        t1 = time.perf_counter()
        for items in splits.values():
            for it in items:
                it.load_input()
        t2 = time.perf_counter()
        n = {r: len(v) for r, v in splits.items()}
        print(
            f"{bench_id:<16} {n['train']:>6} {n['val']:>5} {n['test']:>5} {t1 - t0:>8.2f} {t2 - t1:>9.2f} "
            f"{t2 - t0:>8.2f} {(t2 - t0) / TARGET_S:>8.3f}"
        )


if __name__ == "__main__":
    main()
