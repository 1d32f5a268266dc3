"""Frozen backbones in bfloat16 vs float32 on this CPU (Appendix C.3 keeps the trainable weights fp32): the Trainer's
step time per method under `--train.backbone_dtype float32` and `bfloat16`, measured side by side.

Each method trains a block of steps in each dtype through the runner's own path (the cell the matrix resolves for the
cpu profile, the frozen-feature cache, `harness.runner.train.Trainer`); the dtypes alternate within each round (order
reversed every other round) and the table gives medians over rounds and the paired ratio fp32 / bf16 (> 1: bf16 is
faster). `auto` resolves to bfloat16 only where the CPU computes it natively (`--doctor` says whether it does); on a
CPU without AVX512-BF16 or AMX this bench shows the emulated bf16 to be slower.

Usage: python -m bench.backbone_dtype [--methods limber-1,mapl,depalm] [--rounds 2] [--steps 3]
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import alternating, machine, median, paired_ratio, parser, print_table, setup, write_json
from bench.train_cost import Bench

DTYPES = ("float32", "bfloat16")


def main(argv: list[str] | None = None) -> int:
    from harness.backbones.precision import cpu_has_native_bf16
    from harness.config.profiles import get_profile
    from methods.presets import PAPER_PRESETS

    all_methods = [p.id for p in PAPER_PRESETS]
    p = parser("backbone_dtype", __doc__.split("\n")[0])
    p.add_argument("--methods", default="limber-1,mapl,depalm", help=f"comma list of {', '.join(all_methods)}")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=3, help="optimiser steps per block; the first is not timed")
    p.add_argument("--batch", type=int, default=8)
    args = p.parse_args(argv)
    methods = all_methods if args.methods == "all" else args.methods.split(",")
    unknown = sorted(set(methods) - set(all_methods))
    if unknown or args.rounds < 1 or args.steps < 2 or args.batch < 1:
        p.error(f"unknown methods {unknown}" if unknown else "--rounds, --batch >= 1 and --steps >= 2")
    setup(args.threads)
    size = get_profile("cpu").train.image_size
    native = cpu_has_native_bf16()
    print(f"native bf16 (AVX512-BF16 or AMX): {native}; {size} px, batch {args.batch}, {args.rounds} rounds")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="depalm-dtype-", dir="/dev/shm") as tmp:
        b = Bench(methods, args.batch, args.steps, Path(tmp))
        b.warm_features(methods[0], size)
        for m in methods:
            b.block(m, size, backbone_dtype="bfloat16")  # warm-up: bf16 copies of the backbones, not recorded
            per: dict[str, list[dict[str, Any]]] = {d: [] for d in DTYPES}
            for _, d in alternating(args.rounds, DTYPES):
                per[d].append(b.block(m, size, backbone_dtype=d))
            rows.append(
                {
                    "method": m,
                    "fp32_step_s": median([x["step_s"] for x in per["float32"]]),
                    "bf16_step_s": median([x["step_s"] for x in per["bfloat16"]]),
                    "fp32_cpu_s": median([x["cpu_s"] for x in per["float32"]]),
                    "bf16_cpu_s": median([x["cpu_s"] for x in per["bfloat16"]]),
                    "speedup_cpu": paired_ratio(
                        [x["cpu_s"] for x in per["float32"]], [x["cpu_s"] for x in per["bfloat16"]]
                    ),
                    "speedup_wall": paired_ratio(
                        [x["step_s"] for x in per["float32"]], [x["step_s"] for x in per["bfloat16"]]
                    ),
                }
            )
    print_table(
        rows,
        [
            ("method", "method", ""),
            ("fp32_step_s", "fp32 step s", ".2f"),
            ("bf16_step_s", "bf16 step s", ".2f"),
            ("fp32_cpu_s", "fp32 CPU s", ".2f"),
            ("bf16_cpu_s", "bf16 CPU s", ".2f"),
            ("speedup_cpu", "fp32/bf16 (CPU)", ".2f"),
            ("speedup_wall", "fp32/bf16 (wall)", ".2f"),
        ],
    )
    write_json(args.out, {"machine": machine(args.threads), "native_bf16": native, "image_size": size, "rows": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
