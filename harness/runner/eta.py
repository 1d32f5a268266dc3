"""Run-time estimate of a matrix, for `--dry-run` and the live ETA (harness.runner.progress).

A cell takes its training steps x seconds per step, plus generation on its eval splits; the matrix takes the
makespan of its cells over the executor's concurrency (local: `--local.max_parallel`; SLURM:
`--slurm.array_parallelism`, the nodes the whole study holds at once), longest cells first. Each figure says where
it comes from:

- items (`ItemCount.source`): `files` (counted by the benchmark's own loader from its annotation files; media are
  not decoded), `paper` (the spec's published sizes: Table 2 for train), `offline` (the generated suite's sizes) or
  `unknown` (one batch assumed);
- steps: the trainer's rule (harness.runner.train): items // global batch per epoch, the global batch being
  micro-batch x accumulation x world size, x epochs, capped by max_steps (Appendix C.3: batch 128 on 8 GPUs, the
  benchmark's epochs); a low-data setting counts its fraction of the train split;
- step time (`CellEstimate.step_source`): `measured` (median `mean_step_s` of earlier runs with the same method,
  variant, profile, LLM, encoder and hardware), else `modelled` (`StepModel`, calibrated on every measured cell),
  else `assumed` (the profile's `est_step_s`: nothing measured, or a backbone without a declared geometry);
- eval: eval items x beams x the profile's `est_eval_item_s` (always `modelled`: runs do not record generation time).
"""

from __future__ import annotations

import dataclasses
import functools
import heapq
import math
import statistics
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.config import RunConfig
from harness.config.profiles import Profile

if TYPE_CHECKING:
    import pandas as pd

# text positions per training sample (prompt + target) the cost model assumes: captions and short VQA answers with
# their question are 15-35 tokens in the paper's datasets
TEXT_TOKENS = 24
PRIOR_CELL_S = 1.0  # the `prior` control trains nothing and runs no model: it reads and scores its items


def hardware_label(device: Any, world: int) -> str:
    """What one run ran on, as results rows record it: `cpu`, or `<ranks>x <GPU name>`."""
    import torch

    dev = torch.device(device)
    if dev.type != "cuda":
        return "cpu"
    return f"{world}x {torch.cuda.get_device_name(dev)}"


@dataclass(frozen=True)
class Hardware:
    """Where the planned cells will run: `world` ranks per run; `label` None when the GPU model is not known here
    (SLURM nodes), then a row recorded on `<world>x <any GPU>` counts as the same hardware."""

    world: int
    label: str | None

    def matches(self, recorded: str) -> bool:
        if not recorded:
            return False  # rows written before runs recorded their hardware
        if self.label is not None:
            return recorded == self.label
        return recorded.startswith(f"{self.world}x ")

    def describe(self) -> str:
        return self.label or f"{self.world}x GPU"


def planned_hardware(executor: str, slurm: Any) -> Hardware:
    """SLURM: one job per cell with `tasks_per_node` (else one per GPU) ranks; locally: this machine's GPUs, as a cell
    spreads over them (harness.runner.cell), else its CPU."""
    if executor == "slurm":
        if slurm.gpus_per_node <= 0:
            return Hardware(max(1, slurm.tasks_per_node or 1), "cpu")
        return Hardware(slurm.tasks_per_node or slurm.gpus_per_node, None)
    import torch

    if not torch.cuda.is_available():
        return Hardware(1, "cpu")
    world = torch.cuda.device_count()
    return Hardware(world, hardware_label("cuda:0", world))


# ---- items and steps --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemCount:
    n: int | None
    source: str  # files | paper | offline | unknown


@functools.lru_cache(maxsize=256)
def _files_count(
    dataset: str, role: str, variant: str, data_root: str | None, train_fraction: float | None
) -> int | None:
    """Items the loader yields from the annotation files (the train split after its low-data subset or the swept
    train fraction), or None when the files or media are not here."""
    from benchmarks import get_benchmark

    bench = get_benchmark(dataset)
    if bench.availability(data_root) is not None:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # missing media are the run's concern; the count is of what loads
            return len(bench.load(role, data_root=data_root, variant=variant, train_fraction=train_fraction))
    except FileNotFoundError:  # DatasetNotFound: annotations here, media not
        return None


def split_items(cfg: RunConfig, role: str) -> ItemCount:
    """Items of split role `role` of a cell, before its `train_size` / `eval.size` caps."""
    from benchmarks import get_benchmark

    bench = get_benchmark(cfg.dataset)
    spec = bench.spec
    if spec.group == "paper":
        n = _files_count(cfg.dataset, role, cfg.variant, cfg.data_root, cfg.train_fraction)
        if n is not None:
            return ItemCount(n, "files")
        sizes, source = spec.paper_sizes, "paper"
    else:
        sizes, source = spec.default_sizes, "offline"
    if role not in sizes:
        return ItemCount(None, "unknown")
    n = sizes[role]
    subset = spec.subset
    if role == "train" and cfg.train_fraction is not None:
        subset = bench.fraction_subset(cfg.train_fraction)
    if role == "train" and subset is not None:
        pool = subset.pool_size or n
        n = max(1, round(subset.fraction * pool))  # benchmarks.subsets keeps round(fraction x N)
    return ItemCount(n, source)


def capped(count: ItemCount, cap: int | None) -> ItemCount:
    if cap and count.n is not None:
        return dataclasses.replace(count, n=min(count.n, cap))
    return count


def train_steps(cfg: RunConfig, n_items: int, world: int) -> tuple[int, int]:
    """(optimiser steps, global batch) by the trainer's own batching rule."""
    from harness.runner.train import derive_batching, total_steps

    batching = derive_batching(cfg.train.batch_size, cfg.train.micro_batch_size, world, n_items)
    return total_steps(cfg.train, n_items, batching), batching.global_batch


# ---- step time --------------------------------------------------------------------------------------------------

StepKey = tuple[str, str, str, str, str, int | None]  # method, variant, profile, llm, encoder, mapping width


def step_key(method: str, variant: str, profile: str, llm: str, encoder: str, width: int | None) -> StepKey:
    return (method, variant, profile, llm, encoder, width)


def cell_step_key(cfg: RunConfig) -> StepKey:
    return step_key(cfg.method, cfg.variant, cfg.profile, cfg.llm, cfg.encoder, cfg.width)


@dataclass(frozen=True)
class Measured:
    """A measured step time of the results: the median over runs sharing key, dataset and hardware."""

    key: StepKey
    dataset: str
    hardware: str
    step_s: float
    n_runs: int


def measured_step_times(rows: pd.DataFrame | None) -> list[Measured]:
    """Median `mean_step_s` of earlier runs by (method, variant, profile, llm, encoder, width, dataset, hardware): a
    width-swept run's step is its own width's, not the default's."""
    if rows is None or rows.empty or "mean_step_s" not in rows.columns:
        return []
    df = rows[rows["source"] == "run"].dropna(subset=["mean_step_s"])
    df = df[df["mean_step_s"] > 0]
    if df.empty:
        return []
    df = df.drop_duplicates("run_id")  # one row per (split, metric): count each run once
    hardware = df["hardware"].fillna("").astype(str) if "hardware" in df.columns else ""
    width = df["width"].astype(float).fillna(-1.0) if "width" in df.columns else -1.0  # -1: the default width
    df = df.assign(hardware=hardware, width=width)
    cols = ["method", "variant", "profile", "llm", "encoder", "width", "dataset", "hardware"]
    grouped = df.groupby(cols)["mean_step_s"].agg(["median", "size"])
    out = []
    for (method, variant, profile, llm, encoder, w, dataset, hw), r in grouped.iterrows():
        key = step_key(method, variant, profile, llm, encoder, None if w < 0 else int(w))
        out.append(Measured(key, dataset, hw, float(r["median"]), int(r["size"])))
    return out


def _shape(kind: str, id_: str):
    from harness.backbones import encoder_entry, llm_entry

    try:
        return (llm_entry if kind == "llm" else encoder_entry)(id_).shape
    except KeyError:
        return None


@functools.lru_cache(maxsize=1024)
def _injected_tokens(
    method: str, variant: str, grid: tuple[int, ...], has_cls: bool, d_feats: int, levels: int, width: int, layers: int
) -> int | None:
    """The connector's injected tokens, or None when it cannot be built here: an estimate never stops a plan, and
    a block that fails to build is its cell's failure, recorded when the cell runs."""
    import torch

    from methods import get_preset
    from methods.config import FeatureSpec, LLMDims
    from methods.model import build_connector

    try:
        with torch.device("meta"):  # no weights: instant
            connector = build_connector(
                get_preset(method, variant), FeatureSpec(d_feats, grid, has_cls, levels), LLMDims(width, width, layers)
            )
        return int(connector.n_injected_tokens)
    except Exception:  # noqa: BLE001 - any plugin's block may raise; the step time is then assumed
        return None


def sample_flops(cfg: RunConfig) -> float | None:
    """Training FLOPs per sample (StepModel), or None when a backbone has no declared geometry."""
    llm, enc = _shape("llm", cfg.llm), _shape("encoder", cfg.encoder)
    if llm is None or enc is None:
        return None
    grid = enc.grid
    if cfg.train.image_size and enc.patch and len(grid) >= 2:
        side = cfg.train.image_size // enc.patch
        grid = (*grid[:-2], side, side)
    injected = _injected_tokens(
        cfg.method, cfg.variant, grid, enc.has_cls, enc.width, enc.layers, llm.width, llm.layers
    )
    if injected is None:
        return None
    flops = 6.0 * llm.params * (TEXT_TOKENS + injected)
    # the encoder runs every step when inputs are augmented or its biases train; else its features are cached
    if cfg.train.augment or cfg.method_config.get("finetune", {}).get("encoder_bias"):
        flops += 2.0 * enc.params * (math.prod(grid) + int(enc.has_cls))
    return flops


@dataclass(frozen=True)
class StepModel:
    """Seconds per optimiser step = overhead_s + s_per_flop x global batch x per-sample FLOPs, where

        per-sample FLOPs = 6 P_llm (TEXT_TOKENS + injected tokens) + 2 P_enc (encoder tokens)

    with P = 12 x layers x width^2 (BackboneShape.params): a forward and backward pass through the frozen LLM
    (gradients flow back to the injected tokens) over the text and the connector's injected positions (perceptual
    plus prompt tokens at the most loaded layer, from the preset built on the meta device), and a forward pass of
    the encoder when it runs every step (augmented or bias-tuned inputs; cached features cost nothing).

    Calibrated on measured cells, those on the planned hardware when there are any: with two or more distinct
    workloads a least-squares line (overhead kept >= 0); with one, a proportional model (no overhead), which
    over-prices methods with much longer sequences than the measured one. It ignores attention's quadratic term,
    cross-attention layers and data loading: a first-order model, replaced by a measurement as soon as the method
    has one on that hardware."""

    overhead_s: float
    s_per_flop: float
    points: int
    on: str  # the hardware of the calibration points

    def step_s(self, step_flops: float) -> float:
        return self.overhead_s + self.s_per_flop * step_flops

    @classmethod
    def fit(cls, points: Sequence[tuple[float, float]], on: str) -> StepModel | None:
        """`points`: (step FLOPs, measured seconds per step)."""
        points = [(x, y) for x, y in points if x > 0 and y > 0]
        if not points:
            return None
        xs, ys = [x for x, _ in points], [y for _, y in points]
        if len(set(xs)) >= 2:
            mx, my = statistics.fmean(xs), statistics.fmean(ys)
            slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)
            intercept = my - slope * mx
            if slope > 0 and intercept >= 0:
                return cls(intercept, slope, len(points), on)
        return cls(0.0, statistics.fmean(y / x for x, y in points), len(points), on)


# ---- cells and the matrix ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellEstimate:
    run_id: str
    method: str
    dataset: str
    n_train: ItemCount
    steps: int
    step_s: float
    step_source: str  # measured | modelled | assumed | none (the prior)
    n_eval: int
    eval_source: str  # files | paper | offline | unknown (the worst of its splits)
    eval_s: float

    @property
    def train_s(self) -> float:
        return self.steps * self.step_s

    @property
    def total_s(self) -> float:
        return self.train_s + self.eval_s


SOURCE_ORDER = ("files", "offline", "paper", "unknown")
UNKNOWN_EVAL_ITEMS = 1000  # an eval split whose size nobody knows


class Estimator:
    """Estimates for the cells of one plan; built once per invocation from the results rows."""

    def __init__(self, profile: Profile, rows: pd.DataFrame | None, hardware: Hardware, cells: Iterable[RunConfig]):
        self.profile, self.hardware = profile, hardware
        self.measured = measured_step_times(rows)
        self.by_cell = {c.run_id: c for c in cells}
        self._model: StepModel | bool | None = False  # False: not fitted yet

    # measured step time of the same method, backbones and hardware (any dataset: the median over them)
    def measured_step(self, cfg: RunConfig) -> float | None:
        key = cell_step_key(cfg)
        same = [m for m in self.measured if m.key == key and self.hardware.matches(m.hardware)]
        if not same:
            return None
        here = [m for m in same if m.dataset == cfg.dataset] or same
        return statistics.median(m.step_s for m in here)

    def model(self) -> StepModel | None:
        if self._model is False:
            self._model = self._fit()
        return self._model if isinstance(self._model, StepModel) else None

    def _fit(self) -> StepModel | None:
        """The calibration points: each measured group priced like a planned cell of the same key and dataset (its
        global batch), else with the profile's batch."""
        template = {(cell_step_key(c), c.dataset): c for c in self.by_cell.values()}
        local: list[tuple[float, float]] = []
        other: list[tuple[float, float]] = []
        for m in self.measured:
            cfg = template.get((m.key, m.dataset))
            if cfg is None:
                method, variant, profile, llm, encoder, _ = m.key  # the modelled FLOPs are the frozen LLM's
                cfg = _row_config(method, variant, profile, llm, encoder, m.dataset, self.profile)
                if cfg is None:
                    continue
            work = self._step_flops(cfg)
            if work is not None:
                (local if self.hardware.matches(m.hardware) else other).append((work, m.step_s))
        if local:
            return StepModel.fit(local, self.hardware.describe())
        names = sorted({m.hardware or "unrecorded hardware" for m in self.measured})
        return StepModel.fit(other, ", ".join(names)) if other else None

    def _step_flops(self, cfg: RunConfig) -> float | None:
        per_sample = sample_flops(cfg)
        if per_sample is None:
            return None
        n = capped(split_items(cfg, "train"), cfg.train.train_size).n or cfg.train.batch_size
        _, global_batch = train_steps(cfg, n, self.hardware.world)
        return per_sample * global_batch

    def step(self, cfg: RunConfig) -> tuple[float, str]:
        measured = self.measured_step(cfg)
        if measured is not None:
            return measured, "measured"
        model = self.model()
        work = self._step_flops(cfg) if model is not None else None
        if model is not None and work is not None:
            return model.step_s(work), "modelled"
        return self.profile.est_step_s, "assumed"

    def cell(self, cfg: RunConfig) -> CellEstimate:
        from benchmarks import get_benchmark

        bench = get_benchmark(cfg.dataset)
        roles = [r for r in cfg.eval.splits if getattr(bench.spec.splits, r, None) is not None]
        evals = [capped(split_items(cfg, r), cfg.eval.size) for r in roles]
        n_eval = sum(c.n if c.n is not None else UNKNOWN_EVAL_ITEMS for c in evals)
        eval_source = max((c.source for c in evals), key=SOURCE_ORDER.index, default="paper")
        eval_s = n_eval * cfg.eval.num_beams * self.profile.est_eval_item_s
        train = capped(split_items(cfg, "train"), cfg.train.train_size)
        if cfg.method_config.get("control") == "prior":
            return CellEstimate(
                cfg.run_id, cfg.method, cfg.dataset, train, 0, 0.0, "none", n_eval, eval_source, PRIOR_CELL_S
            )
        steps, _ = train_steps(cfg, train.n or cfg.train.batch_size, self.hardware.world)
        step_s, source = self.step(cfg)
        return CellEstimate(
            cfg.run_id, cfg.method, cfg.dataset, train, steps, step_s, source, n_eval, eval_source, eval_s
        )


def _row_config(
    method: str, variant: str, profile_name: str, llm: str, encoder: str, dataset: str, profile: Profile
) -> RunConfig | None:
    """A measured run outside the plan, priced with the profile's settings (its own batch is not in the row)."""
    from benchmarks import get_benchmark
    from methods import get_preset

    try:
        spec = get_benchmark(dataset).spec
        preset = get_preset(method, variant)
    except Exception:  # noqa: BLE001 - a row of a method or dataset no longer registered calibrates nothing
        return None
    train = dataclasses.replace(profile.train, epochs=profile.train.epochs or spec.epochs)
    return RunConfig(
        method=method,
        dataset=dataset,
        seed=0,
        lr=profile.lr,
        grad_clip=profile.grad_clip,
        llm=llm,
        encoder=encoder,
        profile=profile_name,
        variant=variant,
        method_config=dataclasses.asdict(preset),
        train=train,
        eval=profile.eval,
    )


def makespan(durations: Iterable[float], parallel: int) -> float:
    """Wall time of running `durations` on `parallel` workers, longest first onto the least loaded worker."""
    loads = [0.0] * max(1, parallel)
    for d in sorted(durations, reverse=True):
        heapq.heapreplace(loads, loads[0] + d)
    return max(loads)


# ---- display ----------------------------------------------------------------------------------------------------


def fmt_s(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


def method_summary(estimates: Sequence[CellEstimate]) -> list[dict[str, Any]]:
    """Per method: cells, mean cell time (train + eval), and the sources of its step times and item counts."""
    out = []
    for method in dict.fromkeys(e.method for e in estimates):
        mine = [e for e in estimates if e.method == method]
        steps = {e.step_source for e in mine}
        items = {e.n_train.source for e in mine} | {e.eval_source for e in mine}
        out.append(
            {
                "method": method,
                "cells": len(mine),
                "cell_s": statistics.fmean(e.total_s for e in mine),
                "train_s": statistics.fmean(e.train_s for e in mine),
                "eval_s": statistics.fmean(e.eval_s for e in mine),
                "total_s": sum(e.total_s for e in mine),
                "step": "/".join(s for s in ("measured", "modelled", "assumed", "none") if s in steps),
                "items": "/".join(s for s in SOURCE_ORDER if s in items),
            }
        )
    return out


def print_estimates(
    estimates: Sequence[CellEstimate], parallel: int, hardware: Hardware, model: StepModel | None, stream: Any
) -> None:
    """The per-cell lines, a per-method table and the total, each figure with its source."""
    for e in estimates:
        step = f"{e.steps} steps x {e.step_s:.2f}s {e.step_source}" if e.step_source != "none" else "no training"
        print(
            f"  {e.run_id}  ~{fmt_s(e.total_s)}  ({step}; {e.n_train.n or '?'} train items from {e.n_train.source}, "
            f"{e.n_eval} eval items from {e.eval_source})",
            file=stream,
        )
    if not estimates:
        print("ETA 0m00s (nothing to run)", file=stream)
        return
    print(f"per method (mean per cell; step time on {hardware.describe()}):", file=stream)
    for s in method_summary(estimates):
        print(
            f"  {s['method']:<22} {s['cells']:>4} cells  ~{fmt_s(s['cell_s']):>7}/cell (train {fmt_s(s['train_s'])}, "
            f"eval {fmt_s(s['eval_s'])})  step {s['step']}; items {s['items']}",
            file=stream,
        )
    counts = {src: sum(e.step_source == src for e in estimates) for src in ("measured", "modelled", "assumed")}
    total = sum(e.total_s for e in estimates)
    wall = makespan((e.total_s for e in estimates), parallel)
    print(
        f"ETA {fmt_s(wall)} ({fmt_s(total)} of compute, {parallel} at a time); step times: "
        + ", ".join(f"{n} {src}" for src, n in counts.items() if n)
        + "; eval times modelled",
        file=stream,
    )
    if counts["modelled"] and model is not None:
        print(
            f"  modelled step: {model.overhead_s:.3f}s + {model.s_per_flop * 1e12:.4f}s per TFLOP of a step, "
            f"calibrated on {model.points} measured group(s) on {model.on}",
            file=stream,
        )
    if counts["assumed"]:
        print("  assumed step: the profile's est_step_s (nothing measured to calibrate on)", file=stream)
