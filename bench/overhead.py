"""Harness overhead: training through the runner (`harness.runner.cell.CellRun.train` ->
`harness.runner.train.Trainer`) against a minimal hand-written PyTorch loop doing the same math on the same model and
the same batches. Goal: <= 5%.

The harness trains a `PerceptualLM` (DePALM by default, cpu profile: 112 px, batch 8) for `--steps` optimiser steps;
the bare loop trains a second copy (same initial weights, sharing the frozen LLM) on the same (item, target) pairs in
the same order: AdamW (wd 0.1, eps 1e-4), linear warmup + cosine schedule, gradient clipping, label smoothing,
autocast off on CPU. The bare loop gets its batches ready-made in memory (features stacked, text tokenized once) and
syncs with the host once at the end; the harness does everything a run does: feature-cache lookups, tokenization,
finiteness checks, the log, and a full-state checkpoint every `checkpoint_every` steps (--steps defaults to the
profile's checkpoint interval; the run dir is on local disk like a real one).

On a shared machine, step times drift by tens of percent within a minute, so the two loops are interleaved step by
step: each bare step runs from the harness's `on_step` hook (outside the harness's own step timer). Reported, on
process CPU time (robust to the machine's load with one torch thread): per-step overhead (median over steps of
harness / bare) and total overhead (all of `train()`: setup, feature-cache open, log, checkpoints, over the bare
loop's steps); on wall time: per-step overhead (each bare step against the mean of the harness steps around it) plus
the per-block extras (wall time of `train()` outside steps).

Usage: python -m bench.overhead [--method depalm] [--steps 12] [--rounds 2]
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import cell_config, describe_machine, machine, median, parser, print_table, setup, write_json

GOAL = 0.05


def bare_loop(model, params: list, batches: list[dict[str, Any]], cfg) -> Iterator[tuple[float, float]]:
    """The same math, hand-written: no checks, no logging, no checkpoint; yields each step's (wall, CPU) time."""
    import torch

    from harness.runner.train import lr_multiplier

    s = cfg.train
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=s.weight_decay, eps=s.adam_eps, betas=s.adam_betas)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: lr_multiplier(i, len(batches), s.warmup_frac, s.min_lr_ratio)
    )
    model.train()
    for b in batches:
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        loss = model(
            b["features"], b["input_ids"], b["attention_mask"], labels=b["labels"], label_smoothing=s.label_smoothing
        ).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        yield time.perf_counter() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    p = parser("overhead", __doc__.split("\n")[0])
    p.add_argument("--method", default="depalm", help="a first-layer method (default: %(default)s)")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--steps", type=int, default=None, help="steps per block (default: the profile's checkpoint_every)")
    p.add_argument("--rounds", type=int, default=2, help="blocks (default: %(default)s)")
    args = p.parse_args(argv)
    setup(args.threads)
    import torch

    from harness.runner.cell import Backbones, CellRun
    from harness.runner.text import encode_for_training
    from harness.runner.train import Trainer

    info = machine(args.threads)
    base = cell_config(args.method, profile=args.profile)
    steps = base.train.checkpoint_every if args.steps is None else args.steps
    if steps < 1 or args.rounds < 1:
        p.error("--steps and --rounds must be >= 1")
    batch = base.train.batch_size
    cfg = cell_config(args.method, profile=args.profile, max_steps=steps, train_size=steps * batch, epochs=None)
    backbones = Backbones()
    tmp = Path(tempfile.mkdtemp(prefix="depalm-overhead-"))  # local disk, as a real run dir
    blocks = []
    try:
        probe = CellRun(cfg, tmp / "run", backbones, device="cpu")
        encoder = probe.encoder()
        llm, model, state = probe.build(encoder)
        _, bare_model, bare_state = probe.build(encoder)  # same seed: same initial weights, same frozen LLM
        if model.injected_layers:
            p.error(f"{args.method} wraps LLM layers, so two copies cannot share the LLM; pick a first-layer method")
        init = {k: v.clone() for k, v in state.trainable_state_dict().items()}
        features_fn = probe.features_fn(encoder, "train", True)  # fills the feature cache outside the timing
        planner = Trainer(
            model,
            state.parameters(),
            probe.llm_items("train", llm),
            features_fn,
            llm.tokenizer,
            cfg.train,
            cfg.lr,
            cfg.grad_clip,
            cfg.seed,
            tmp / "plan",
            torch.device("cpu"),
            state,
        )
        batches = []
        for step in range(steps):
            pairs = planner.global_batch(step)
            text = encode_for_training(
                llm.tokenizer, [it.prompt for it, _ in pairs], [t for _, t in pairs], cfg.train.max_target_tokens
            )
            batches.append({"features": features_fn([it for it, _ in pairs]), **text})
        del planner
        for _ in bare_loop(bare_model, bare_state.parameters(), batches[:1], cfg):
            pass  # warm-up, not recorded
        for r in range(args.rounds):
            state.load_trainable_state_dict(init)
            bare_state.load_trainable_state_dict(init)
            bare = bare_loop(bare_model, bare_state.parameters(), batches, cfg)
            harness_s: list[float] = []
            bare_s: list[float] = []
            harness_cpu: list[float] = []
            bare_cpu: list[float] = []
            mark = [0.0]

            def on_step(record: dict[str, Any]) -> None:
                # harness CPU since the previous bare step ended: its step plus its bookkeeping (setup before the
                # first step, log, checkpoint)
                harness_cpu.append(time.process_time() - mark[0])
                harness_s.append(record["step_s"])
                wall, cpu = next(bare)
                bare_s.append(wall)
                bare_cpu.append(cpu)
                mark[0] = time.process_time()

            run = CellRun(cfg, tmp / "run", backbones, device="cpu", on_step=on_step)
            shutil.rmtree(run.run_dir, ignore_errors=True)
            t0, mark[0] = time.perf_counter(), time.process_time()
            result = run.train(encoder, llm, model, state)
            wall = time.perf_counter() - t0
            harness_total_cpu = time.process_time() - mark[0] + sum(harness_cpu)
            extras = wall - sum(harness_s) - sum(bare_s)
            # bare step i sits between harness steps i and i+1: compare it with their mean (cancels linear drift)
            ratios = [(harness_s[i] + harness_s[i + 1]) / 2 / bare_s[i] for i in range(len(bare_s) - 1)]
            cpu_ratios = [h / c for h, c in zip(harness_cpu[1:-1], bare_cpu[1:-1])]  # steps without setup/final save
            blocks.append(
                {
                    "harness_step_s": harness_s,
                    "bare_step_s": bare_s,
                    "extras_s": extras,
                    "step_ratios": ratios,
                    "harness_cpu_s": harness_cpu,
                    "bare_cpu_s": bare_cpu,
                    "cpu_step_ratios": cpu_ratios,
                    "harness_total_cpu_s": harness_total_cpu,
                    "bare_total_cpu_s": sum(bare_cpu),
                    "final_loss": result.final_loss,
                }
            )
            print(
                f"  block {r + 1}/{args.rounds}: harness {sum(harness_s):.1f} s + extras {extras:.2f} s, "
                f"bare {sum(bare_s):.1f} s; CPU harness {harness_total_cpu:.1f} s, bare {sum(bare_cpu):.1f} s, "
                f"{steps} steps",
                flush=True,
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    step_overhead = median([x for b in blocks for x in b["step_ratios"]]) - 1
    bare_step = median([x for b in blocks for x in b["bare_step_s"]])
    extras = median([b["extras_s"] for b in blocks])
    extras_share = extras / (steps * bare_step)
    total = step_overhead + extras_share
    cpu_step_overhead = median([x for b in blocks for x in b["cpu_step_ratios"]]) - 1
    cpu_total = sum(b["harness_total_cpu_s"] for b in blocks) / sum(b["bare_total_cpu_s"] for b in blocks) - 1
    rows = [
        {
            "loop": "harness",
            "median_step_s": median([x for b in blocks for x in b["harness_step_s"]]),
            "extras_s": extras,
            "cpu_s": sum(b["harness_total_cpu_s"] for b in blocks),
        },
        {
            "loop": "bare",
            "median_step_s": bare_step,
            "extras_s": 0.0,
            "cpu_s": sum(b["bare_total_cpu_s"] for b in blocks),
        },
    ]
    print(
        f"\n{args.method}, profile {args.profile}: {args.rounds} blocks of {steps} steps of batch {batch}, "
        f"steps interleaved"
    )
    print_table(
        rows,
        [
            ("loop", "loop", ""),
            ("median_step_s", "median step s", ".3f"),
            ("extras_s", "extras per block s", ".2f"),
            ("cpu_s", "CPU s, all blocks", ".2f"),
        ],
    )
    verdict = "meets" if cpu_total <= GOAL else "misses"
    print(
        f"harness overhead, CPU time: {100 * cpu_step_overhead:+.1f}% per step, {100 * cpu_total:+.1f}% in total "
        f"(setup, cache open, log, checkpoint every {steps} steps included); goal <= {100 * GOAL:.0f}%: {verdict}"
    )
    print(
        f"harness overhead, wall time: {100 * step_overhead:+.1f}% per step, {100 * extras_share:+.1f}% per-block "
        f"extras = {100 * total:+.1f}% in total"
    )
    info["load_avg_at_end"] = os.getloadavg()[0]
    print(f"measured {describe_machine(info)}")
    write_json(
        args.out,
        {
            "machine": info,
            "method": args.method,
            "profile": args.profile,
            "steps": steps,
            "batch": batch,
            "rounds": args.rounds,
            "rows": rows,
            "step_overhead": step_overhead,
            "extras_share": extras_share,
            "total_overhead": total,
            "cpu_step_overhead": cpu_step_overhead,
            "cpu_total_overhead": cpu_total,
            "goal": GOAL,
            "blocks": blocks,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
