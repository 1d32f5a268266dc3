"""Frozen-feature cache (harness/runner/features.py): one training epoch with and without it, through the runner's path.

With the cache (what the runner does for a frozen encoder without augmentation), every step reads fp16 features
from the cache's safetensors shards; without it, every step loads the raw inputs, preprocesses them and runs the
frozen encoder (the runner's live-encoder path, as used for augmentation or bias tuning, here with neither, so the
math is the same). Also measured: building the cache from scratch once (a fresh cache directory) and opening the
warm entries of the method's levels (manifests + sampled digests of their shards), which every run pays once.
Rounds alternate the two epochs (ABBA order).

Usage: python -m bench.feature_cache [--method depalm] [--image-size 96] [--train-size 96] [--rounds 3]
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    alternating,
    cell_config,
    describe_machine,
    machine,
    median,
    paired_ratio,
    parser,
    print_table,
    setup,
    write_json,
)


def main(argv: list[str] | None = None) -> int:
    p = parser("feature_cache", __doc__.split("\n")[0])
    p.add_argument("--method", default="depalm")
    p.add_argument("--image-size", type=int, default=None, help="px (default: the cpu profile's)")
    p.add_argument("--train-size", type=int, default=96, help="items in the epoch (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    if args.train_size < 1 or args.rounds < 1:
        p.error("--train-size and --rounds must be >= 1")
    setup(args.threads)
    from harness.runner.cell import Backbones, CellRun, _items_digest
    from harness.runner.features import FeatureCache, features_root
    from methods.extraction import feature_request

    info = machine(args.threads)
    from harness.config.profiles import get_profile

    args.image_size = args.image_size or get_profile("cpu").train.image_size
    cfg = cell_config(args.method, image_size=args.image_size, train_size=args.train_size, epochs=1, max_steps=None)
    backbones = Backbones()
    tmp = Path(tempfile.mkdtemp(prefix="depalm-feature-cache-"))
    try:
        probe = CellRun(cfg, tmp / "run", backbones, device="cpu")
        encoder = probe.encoder()
        llm, model, state = probe.build(encoder)
        init = {k: v.clone() for k, v in state.trainable_state_dict().items()}
        items = probe.items("train")
        key = f"{cfg.dataset}-{_items_digest(items)}"
        args_cache = (
            encoder,
            key,
            "train",
            [(it.input_key, it.load_input) for it in items],
            feature_request(probe.preset.extraction, probe.feature_spec(encoder)),
            cfg.train.feature_batch_size,
        )
        t0, c0 = time.perf_counter(), time.process_time()
        FeatureCache(tmp / "cold").get_or_compute(*args_cache)
        cold_s, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
        FeatureCache(features_root()).get_or_compute(*args_cache)  # the runner's cache, warm from here on
        t0 = time.perf_counter()
        FeatureCache(features_root()).get_or_compute(*args_cache)
        open_s = time.perf_counter() - t0

        def epoch(live: bool) -> dict[str, Any]:
            state.load_trainable_state_dict(init)
            records: list[dict[str, Any]] = []
            cell = CellRun(cfg, tmp / "run", backbones, device="cpu", on_step=records.append)
            if live:  # the runner's live-encoder path without augmentation: same inputs, same math
                cell.uses_cache = lambda train: False
            shutil.rmtree(cell.run_dir, ignore_errors=True)
            t, c = time.perf_counter(), time.process_time()
            cell.train(encoder, llm, model, state)
            return {
                "epoch_s": time.perf_counter() - t,
                "epoch_cpu_s": time.process_time() - c,
                "steps": len(records),
                "step_s": median([r["step_s"] for r in records]),
            }

        sides = {"cached": lambda: epoch(False), "live encoder": lambda: epoch(True)}
        per: dict[str, list[dict[str, Any]]] = {k: [] for k in sides}
        for r, name in alternating(args.rounds, list(sides)):
            per[name].append(sides[name]())
            print(
                f"  round {r + 1}/{args.rounds} {name:<13} epoch {per[name][-1]['epoch_s']:.2f} s, "
                f"{per[name][-1]['epoch_cpu_s']:.2f} CPU s",
                flush=True,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    epochs = {k: [x["epoch_s"] for x in v] for k, v in per.items()}
    cpus = {k: [x["epoch_cpu_s"] for x in v] for k, v in per.items()}
    speedup = paired_ratio(epochs["live encoder"], epochs["cached"])
    cpu_speedup = paired_ratio(cpus["live encoder"], cpus["cached"])
    saved = median(cpus["live encoder"]) - median(cpus["cached"])
    rows = [
        {
            "mode": k,
            "epoch_s": median(epochs[k]),
            "epoch_cpu_s": median(cpus[k]),
            "steps": per[k][0]["steps"],
            "step_s": median([x["step_s"] for x in per[k]]),
        }
        for k in sides
    ]
    print(
        f"\n{args.method}, {cfg.dataset}, {args.train_size} items at {args.image_size} px, batch "
        f"{cfg.train.batch_size}, medians of {args.rounds} rounds"
    )
    print_table(
        rows,
        [
            ("mode", "features", ""),
            ("epoch_s", "epoch s", ".2f"),
            ("epoch_cpu_s", "epoch CPU s", ".2f"),
            ("steps", "steps", "d"),
            ("step_s", "median step s", ".3f"),
        ],
    )
    print(
        f"epoch without cache / with cache: {cpu_speedup:.2f}x CPU time, {speedup:.2f}x wall time; building the "
        f"cache once: {cold_cpu:.2f} CPU s, {cold_s:.2f} s (pays off after "
        f"{cold_cpu / saved if saved > 0 else float('inf'):.2f} epochs); opening a warm entry: {open_s:.3f} s per run"
    )
    info["load_avg_at_end"] = os.getloadavg()[0]
    print(f"measured {describe_machine(info)}")
    write_json(
        args.out,
        {
            "machine": info,
            "method": args.method,
            "image_size": args.image_size,
            "train_size": args.train_size,
            "rounds": args.rounds,
            "rows": rows,
            "epochs": epochs,
            "live_over_cached": speedup,
            "live_over_cached_cpu": cpu_speedup,
            "epoch_cpu_s": cpus,
            "cold_build_s": cold_s,
            "cold_build_cpu_s": cold_cpu,
            "warm_open_s": open_s,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
