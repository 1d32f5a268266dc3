"""Training cost per method on the embedded default (SmolLM2-135M + CLIP ViT-B/16): the measured counterpart of
Table 4's train-time column.

Every method trains through the runner's own path (`harness.runner.cell.CellRun`: the cell config the matrix resolves,
the frozen-feature cache, `harness.runner.train.Trainer`) on the same items, batch and drawn targets; the methods
alternate within each round (order reversed every other round) and the table gives medians over rounds:
- step s: the Trainer's own step time (zero_grad .. scheduler step, wall clock), steps after the first of a block;
- CPU s: process CPU time of the same steps (with one torch thread: the work itself, robust to a loaded machine);
- samples/s: batch / step s; injected: `model.n_injected_tokens` (positions added at the most loaded LLM layer);
- peak RSS: peak resident memory of the process above its level before the block (sampled every 5 ms by a thread:
  optimiser state, activations, gradients), in a separate untimed pass after the timed rounds, with fixed malloc
  thresholds so that freed tensors leave RSS;
- x DePALM: median over rounds of (method / DePALM in the same round), on CPU time; paper: Table 4 train time /
  DePALM's (AudioCaps on 8 V100s, so a reference for the ordering, not a prediction of CPU seconds).
Resolutions: 224 px (197 CLIP tokens, the paper's token count) and the cpu profile's `image_size`.

Usage: python -m bench.train_cost [--sizes 224,cpu] [--rounds 2] [--steps 2] [--batch 8] [--methods all]
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    PeakRss,
    alternating,
    cell_configs,
    describe_machine,
    fixed_malloc,
    machine,
    median,
    paired_ratio,
    parser,
    print_table,
    setup,
    write_json,
)

PAPER_TABLE4 = Path(__file__).resolve().parent.parent / "results" / "paper" / "paper-table4.parquet"
REFERENCE = "depalm"
HEADLINE = ("limber-all", "depalm")  # the paper: 4h59 / 1h25 = 3.5x


def paper_train_times() -> dict[str, float]:
    from harness.store.results import read_results

    df = read_results([PAPER_TABLE4])
    return df.dropna(subset=["train_time_s"]).groupby("method")["train_time_s"].max().to_dict()


class Bench:
    """One shared set of frozen backbones; one fresh cell (model, optimiser, run dir) per measured block."""

    def __init__(self, methods: list[str], batch: int, steps: int, tmp: Path):
        from harness.runner.cell import Backbones

        self.methods, self.batch, self.steps, self.tmp = methods, batch, steps, tmp
        self.backbones = Backbones()

    def cell(self, method: str, size: int, on_step=None, steps: int | None = None, **train: Any):
        from harness.runner.cell import CellRun

        cfg = cell_configs(
            self.methods,
            image_size=size,
            batch_size=self.batch,
            micro_batch_size=self.batch,
            train_size=self.batch,
            max_steps=steps or self.steps,
            checkpoint_every=10**9,
            log_every=1,
            **train,
        )[method]
        run_dir = self.tmp / f"{method}-{size}"
        shutil.rmtree(run_dir, ignore_errors=True)  # a run dir with a checkpoint would resume instead of training
        return CellRun(cfg, run_dir, self.backbones, device="cpu", on_step=on_step)

    def warm_features(self, method: str, size: int) -> None:
        cell = self.cell(method, size)
        cell.features_fn(cell.encoder(), "train", True)

    def block(self, method: str, size: int, memory: bool = False, **train: Any) -> dict[str, Any]:
        records: list[dict[str, Any]] = []
        cpu: list[float] = []

        def on_step(record: dict[str, Any]) -> None:
            records.append(record)
            cpu.append(time.process_time())

        cell = self.cell(method, size, on_step=on_step, steps=1 if memory else None, **train)  # 1 step: the peak
        encoder = cell.encoder()
        llm, model, state = cell.build(encoder)
        gc.collect()
        mem = PeakRss() if memory else contextlib.nullcontext()
        with mem:
            cpu.append(time.process_time())
            cell.train(encoder, llm, model, state)
        shutil.rmtree(cell.run_dir, ignore_errors=True)
        steps = [r["step_s"] for r in records]
        cpu_steps = [b - a for a, b in itertools.pairwise(cpu)]
        text_tokens = records[-1]["tokens_per_s"] * records[-1]["step_s"] / self.batch
        return {
            "step_s": median(steps[1:] or steps),
            "cpu_s": median(cpu_steps[1:] or cpu_steps),
            "first_step_s": steps[0],
            "peak_rss_mib": mem.delta_mib if memory else None,
            "n_injected_tokens": int(model.n_injected_tokens),
            "text_tokens": text_tokens,
            "trainable_params": sum(p.numel() for p in state.parameters()),
            "display_name": cell.preset.display_name,
        }


def size_report(
    size: int, per: dict[str, list[dict[str, Any]]], memory: dict[str, float], paper: dict[str, float], args
) -> dict[str, Any]:
    def ratio(m: str, key: str) -> float:
        return (
            paired_ratio([x[key] for x in per[m]], [x[key] for x in per[REFERENCE]])
            if REFERENCE in per
            else float("nan")
        )

    rows = []
    for m, blocks in per.items():
        step = median([x["step_s"] for x in blocks])
        rows.append(
            {
                "method": m,
                "name": blocks[0]["display_name"],
                "injected": blocks[0]["n_injected_tokens"],
                "text_tokens": median([x["text_tokens"] for x in blocks]),
                "trainable_M": blocks[0]["trainable_params"] / 1e6,
                "step_s": step,
                "samples_per_s": args.batch / step,
                "cpu_s": median([x["cpu_s"] for x in blocks]),
                "first_step_s": median([x["first_step_s"] for x in blocks]),
                "peak_rss_mib": memory[m],
                "x_ref_cpu": ratio(m, "cpu_s"),
                "x_ref_wall": ratio(m, "step_s"),
                "paper_x_ref": paper.get(m, float("nan")) / paper[REFERENCE],
                "step_s_rounds": [x["step_s"] for x in blocks],
                "cpu_s_rounds": [x["cpu_s"] for x in blocks],
            }
        )
    tokens = (size // 16) ** 2 + 1
    print(
        f"\n{size} px ({size // 16}x{size // 16}+CLS = {tokens} CLIP tokens), batch {args.batch}, "
        f"medians of {args.rounds} rounds"
    )
    print_table(
        rows,
        [
            ("method", "method", ""),
            ("injected", "injected", "d"),
            ("trainable_M", "params M", ".2f"),
            ("step_s", "step s", ".2f"),
            ("samples_per_s", "samples/s", ".2f"),
            ("cpu_s", "CPU s", ".2f"),
            ("peak_rss_mib", "peak RSS MiB", ".0f"),
            ("x_ref_cpu", "x DePALM (CPU)", ".2f"),
            ("x_ref_wall", "x DePALM (wall)", ".2f"),
            ("paper_x_ref", "paper x DePALM", ".2f"),
        ],
    )
    entry: dict[str, Any] = {"rows": rows, "clip_tokens": tokens}
    if all(h in per for h in HEADLINE):
        row = {r["method"]: r for r in rows}[HEADLINE[0]]
        entry.update(
            limber_all_over_depalm_cpu=row["x_ref_cpu"],
            limber_all_over_depalm_wall=row["x_ref_wall"],
            paper_limber_all_over_depalm=paper[HEADLINE[0]] / paper[HEADLINE[1]],
        )
        print(
            f"LiMBeR^(all) / DePALM per training step at {size} px: {row['x_ref_cpu']:.2f}x CPU time, "
            f"{row['x_ref_wall']:.2f}x wall time (paper, Table 4 train time: "
            f"{entry['paper_limber_all_over_depalm']:.2f}x)"
        )
    return entry


def main(argv: list[str] | None = None) -> int:
    from methods.presets import PAPER_PRESETS

    all_methods = [p.id for p in PAPER_PRESETS]
    p = parser("train_cost", __doc__.split("\n")[0])
    p.add_argument(
        "--sizes", default="224,cpu", help="image sizes in px, 'cpu' = the cpu profile's (default: %(default)s)"
    )
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--steps", type=int, default=2, help="optimiser steps per block; the first is not timed")
    p.add_argument("--batch", type=int, default=8, help="batch (the cpu profile's: %(default)s)")
    p.add_argument("--methods", default="all", help=f"comma list of {', '.join(all_methods)}")
    p.add_argument("--memory-only", action="store_true", help="skip the timed rounds, measure peak memory only")
    args = p.parse_args(argv)
    methods = all_methods if args.methods == "all" else args.methods.split(",")
    unknown = sorted(set(methods) - set(all_methods))
    if unknown or args.rounds < 1 or args.steps < 1 or args.batch < 1:
        p.error(f"unknown methods {unknown}" if unknown else "--rounds, --steps and --batch must be >= 1")
    setup(args.threads)
    info = machine(args.threads)
    from harness.config.profiles import get_profile

    sizes = [get_profile("cpu").train.image_size if s == "cpu" else int(s) for s in args.sizes.split(",")]
    paper = paper_train_times()
    results: dict[str, Any] = {
        "machine": info,
        "batch": args.batch,
        "steps_per_block": args.steps,
        "rounds": args.rounds,
        "memory": "peak RSS above the pre-block level, sampled every 5 ms, untimed pass, fixed malloc thresholds",
        "sizes": {},
    }
    per: dict[int, dict[str, list[dict[str, Any]]]] = {}
    memory: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="depalm-train-cost-", dir="/dev/shm") as tmp:
        b = Bench(methods, args.batch, args.steps, Path(tmp))
        for size in sizes if not args.memory_only else []:
            b.warm_features(methods[0], size)  # the encoder pass into the feature cache, outside the timing
            b.block(REFERENCE if REFERENCE in methods else methods[0], size)  # warm-up, not recorded
            per[size] = {m: [] for m in methods}
            for r, m in alternating(args.rounds, methods):
                x = b.block(m, size)
                per[size][m].append(x)
                print(
                    f"  {size}px round {r + 1}/{args.rounds} {m:<18} {x['step_s']:.2f} s/step, {x['cpu_s']:.2f} CPU s",
                    flush=True,
                )
        fixed_malloc()  # memory pass, untimed
        for size in sizes:
            b.warm_features(methods[0], size)
            b.block(methods[0], size, memory=True)  # warm-up: one-time allocations (store handles, caches)
            memory[size] = {m: b.block(m, size, memory=True)["peak_rss_mib"] for m in methods}
    for size in sizes:
        if args.memory_only:
            print(f"\n{size} px, batch {args.batch}: peak RSS above the pre-step level, one training step")
            print_table(
                [{"method": m, "mib": v} for m, v in memory[size].items()],
                [("method", "method", ""), ("mib", "peak RSS MiB", ".0f")],
            )
            results["sizes"][str(size)] = {"peak_rss_mib": memory[size]}
        else:
            results["sizes"][str(size)] = size_report(size, per[size], memory[size], paper, args)
    info["load_avg_at_end"] = os.getloadavg()[0]
    print(f"\nmeasured {describe_machine(info)}")
    write_json(args.out, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
