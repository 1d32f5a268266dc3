"""Harness overhead: training through the runner (`harness.run.CellRun.train` -> `harness.train.Trainer`) against a
minimal hand-written PyTorch loop doing the same math on the same model and the same batches. Goal: <= 5%.

Both sides train the same `PerceptualLM` (DePALM by default, cpu profile: 112 px, batch 8; trainable weights reset
to the same initial values before every block) for `--steps` optimiser steps over the same (item, target) pairs in
the same order: AdamW (wd 0.1, eps 1e-4), linear warmup + cosine schedule, gradient clipping, label smoothing,
autocast off on CPU. The bare loop gets its batches ready-made in memory (features stacked, text tokenized once);
the harness does everything a run does: feature-cache lookups, tokenization, finiteness checks, the log, and a
full-state checkpoint every `checkpoint_every` steps (--steps defaults to the cpu profile's checkpoint interval,
written to a temporary run dir on local disk like a real run). Rounds alternate the two sides (ABBA order).

Overhead = median over rounds of (harness wall / bare wall) - 1, for the whole block and for the steps alone
(the Trainer's own per-step time vs the bare loop's).

Usage: python -m bench.overhead [--method depalm] [--steps 12] [--rounds 3]
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (alternating, cell_config, describe_machine, machine, median, paired_ratio, parser,
                          print_table, setup, write_json)

GOAL = 0.05


def bare_loop(model, params: list, batches: list[dict[str, Any]], cfg) -> dict[str, Any]:
    """The same math, hand-written: no checks, no logging, no checkpoint, one host sync at the end."""
    import torch

    from harness.train import lr_multiplier

    s = cfg.train
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=s.weight_decay, eps=s.adam_eps, betas=s.adam_betas)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: lr_multiplier(i, len(batches), s.warmup_frac, s.min_lr_ratio))
    model.train()
    steps = []
    t0 = time.perf_counter()
    for b in batches:
        ts = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(b["features"], b["input_ids"], b["attention_mask"], labels=b["labels"],
                     label_smoothing=s.label_smoothing).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        steps.append(time.perf_counter() - ts)
    final = float(loss.detach())
    return {"wall_s": time.perf_counter() - t0, "step_s": steps, "final_loss": final}


def main(argv: list[str] | None = None) -> int:
    p = parser("overhead", __doc__.split("\n")[0])
    p.add_argument("--method", default="depalm")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--steps", type=int, default=None, help="steps per block (default: the profile's checkpoint_every)")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    setup(args.threads)
    import torch

    from harness.run import Backbones, CellRun
    from harness.train import Trainer, encode_for_training

    info = machine(args.threads)
    base = cell_config(args.method, profile=args.profile)
    steps = args.steps or base.train.checkpoint_every
    if steps < 1 or args.rounds < 1:
        p.error("--steps and --rounds must be >= 1")
    batch = base.train.batch_size
    cfg = cell_config(args.method, profile=args.profile, max_steps=steps, train_size=steps * batch, epochs=None)
    backbones = Backbones()
    tmp = Path(tempfile.mkdtemp(prefix="depalm-overhead-"))  # local disk, as a real run dir
    try:
        cell = CellRun(cfg, tmp / "run", backbones, device="cpu")
        encoder = cell.encoder()
        llm, model, state = cell.build(encoder)
        init = {k: v.clone() for k, v in state.trainable_state_dict().items()}
        features_fn = cell.features_fn(encoder, "train", True)  # fills the feature cache outside the timing
        planner = Trainer(model, state.parameters(), cell.items("train"), features_fn, llm.tokenizer, cfg.train,
                          cfg.lr, cfg.grad_clip, cfg.seed, tmp / "plan", torch.device("cpu"), state)
        batches = []
        for step in range(steps):
            pairs = planner.global_batch(step)
            text = encode_for_training(llm.tokenizer, [it.prompt for it, _ in pairs], [t for _, t in pairs],
                                       cfg.train.max_target_tokens)
            batches.append({"features": features_fn([it for it, _ in pairs]), **text})
        del planner

        def harness_block() -> dict[str, Any]:
            state.load_trainable_state_dict(init)
            records: list[dict[str, Any]] = []
            run = CellRun(cfg, tmp / "run", backbones, device="cpu", on_step=records.append)
            shutil.rmtree(run.run_dir, ignore_errors=True)
            t0 = time.perf_counter()
            result = run.train(encoder, llm, model, state)
            return {"wall_s": time.perf_counter() - t0, "step_s": [r["step_s"] for r in records],
                    "final_loss": result.final_loss}

        def bare_block() -> dict[str, Any]:
            state.load_trainable_state_dict(init)
            return bare_loop(model, state.parameters(), batches, cfg)

        sides = {"harness": harness_block, "bare": bare_block}
        sides["bare"]()  # warm-up, not recorded
        per: dict[str, list[dict[str, Any]]] = {k: [] for k in sides}
        for r, name in alternating(args.rounds, list(sides)):
            per[name].append(sides[name]())
            print(f"  round {r + 1}/{args.rounds} {name:<8} {per[name][-1]['wall_s']:.2f} s for {steps} steps",
                  flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    walls = {k: [x["wall_s"] for x in v] for k, v in per.items()}
    step_medians = {k: [median(x["step_s"]) for x in v] for k, v in per.items()}
    block_overhead = paired_ratio(walls["harness"], walls["bare"]) - 1
    step_overhead = paired_ratio(step_medians["harness"], step_medians["bare"]) - 1
    rows = [{"side": k, "block_s": median(walls[k]), "per_step_s": median(walls[k]) / steps,
             "median_step_s": median(step_medians[k]), "final_loss": per[k][-1]["final_loss"]} for k in sides]
    print(f"\n{args.method}, profile {args.profile}: {steps} steps of batch {batch}, medians of {args.rounds} rounds")
    print_table(rows, [("side", "loop", ""), ("block_s", "block s", ".2f"), ("per_step_s", "wall/step s", ".3f"),
                       ("median_step_s", "median step s", ".3f"), ("final_loss", "final loss", ".4f")])
    verdict = "meets" if block_overhead <= GOAL else "misses"
    print(f"harness overhead: {100 * block_overhead:+.1f}% per block (checkpoint, log, lookups included), "
          f"{100 * step_overhead:+.1f}% per step; goal <= {100 * GOAL:.0f}%: {verdict}")
    info["load_avg_at_end"] = os.getloadavg()[0]
    print(f"measured {describe_machine(info)}")
    write_json(args.out, {"machine": info, "method": args.method, "profile": args.profile, "steps": steps,
                          "batch": batch, "rounds": args.rounds, "rows": rows, "block_overhead": block_overhead,
                          "step_overhead": step_overhead, "goal": GOAL, "walls": walls,
                          "step_medians": step_medians})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
