"""Study scale: how planning a matrix and one loop of the SLURM driver grow with the number of cells.

For each size N (the paper's 550 cells, 1,650 with the lr grid, 16,650 for a sweep ten times larger), the script
synthesises N cells (the 11 methods x the 10 paper datasets x seeds x the paper's lr grid, cut to N) and a results
directory holding a row file for 90% of them, written with `harness.store.results.write_result` in the real schema
(so a tenth is left to run). It then times:

- planning: `harness.runner.matrix.read_stored` (the one read of the results directory per invocation: the store's
  reader), then `cached_status` + `split_cached` (the todo/cached split by config hash) on those rows;
- one SLURM driver loop: one pass of `SlurmExecutor._collect` over N submitted jobs, against a simulated `squeue`
  printing N jobs (no SLURM needed): the state query and its parsing, each job's result-file check and state
  update, the throttle and wave bookkeeping.

Figures are process CPU seconds (`time.process_time`: the machine's other load barely moves them, unlike wall
time; the simulated squeue costs no CPU here, a real one's is SLURM's). Each is printed with its growth ratio per 10x
cells, (t_big / t_small) ** (1 / log10(N_big / N_small)): 1.0 is flat, 10 linear, 100 quadratic. Writing the row
files of 16,650 cells takes minutes: pass `--sizes` to choose.

Usage: python -m bench.scale [--sizes 550,1650,16650]
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import describe_machine, machine, parser, print_table, write_json

PAPER_DATASETS = (
    "coco",
    "textcaps",
    "vqav2",
    "textvqa",
    "okvqa",
    "aokvqa",
    "audiocaps",
    "msrvtt",
    "coco-1pct",
    "vqav2-1pct",
)
PAPER_LRS = (1e-4, 3e-4, 1e-3)
CACHED_FRACTION = 0.9


def synthetic_cells(n: int) -> list[Any]:
    from harness.config import RunConfig
    from methods import list_presets

    methods = list(list_presets())
    per_seed = len(methods) * len(PAPER_DATASETS) * len(PAPER_LRS)
    cells = [
        RunConfig(
            method=m,
            dataset=d,
            seed=seed,
            lr=lr,
            grad_clip=1.0,
            llm="smollm2-135m",
            encoder="clip-b16-embedded",
            profile="paper",
        )
        for seed in range(math.ceil(n / per_seed))
        for m in methods
        for d in PAPER_DATASETS
        for lr in PAPER_LRS
    ]
    return cells[:n]


def write_results(cells: list[Any], results_dir: Path) -> None:
    """A row file for the first CACHED_FRACTION of `cells`, in the real schema (one code version looked up)."""
    from harness.runner.cell import CellOutcome, primary_of, result_rows
    from harness.store.results import write_result

    template: dict[str, list[dict[str, Any]]] = {}
    for c in cells[: int(len(cells) * CACHED_FRACTION)]:
        split, metric = primary_of(c)
        outcome = CellOutcome(c.run_id, "ok", metrics={split: {metric: 50.0}}, config_hash=c.config_hash())
        if c.dataset not in template:  # result_rows asks git for the code version: once per dataset is enough
            template[c.dataset] = result_rows(c, outcome, {"mean_step_s": 1.0}, (split, metric))
        fields = {
            "method": c.method,
            "seed": c.seed,
            "lr": c.lr,
            "run_id": c.run_id,
            "config_hash": c.config_hash(),
            "method_display": c.method,
        }
        write_result([dict(row, **fields) for row in template[c.dataset]], results_dir, c.run_id)


def time_planning(cells: list[Any], results_dir: Path) -> dict[str, float]:
    from harness.runner.matrix import cached_status, read_stored, split_cached

    c0 = time.process_time()
    rows = read_stored(results_dir)
    c1 = time.process_time()
    todo, cached = split_cached(cells, cached_status(rows), retry_failed=False)
    c2 = time.process_time()
    assert len(cached) == int(len(cells) * CACHED_FRACTION) and len(todo) + len(cached) == len(cells)
    return {"read_results_s": c1 - c0, "split_s": c2 - c1}


class _NoProgress:
    def started(self, cfg: Any) -> None: ...

    def step(self, cfg: Any, record: dict[str, Any]) -> None: ...

    def finished(self, cfg: Any, outcome: Any) -> None: ...

    def tick(self) -> None: ...


class _OneLoop(Exception):
    """Raised from the driver's wait: one pass of the loop is done."""


def time_driver_loop(cells: list[Any], root: Path) -> float:
    """Process CPU seconds of one pass of the SLURM driver's loop over len(cells) jobs, all pending or running."""
    from harness.runner.executors import slurm

    runs_dir = root / "runs"
    folder = str(runs_dir / slurm.SUBMITIT_DIR / "%j")
    array = 1000
    records = [
        slurm.JobRecord(c.run_id, f"{500 + i // array}_{i % array}", c.config_hash(), folder, 0.0)
        for i, c in enumerate(cells)
    ]
    squeue = "".join(f"{r.job_id}|{'RUNNING' if i % 4 == 0 else 'PENDING'}\n" for i, r in enumerate(records))
    ex = slurm.SlurmExecutor(slurm.SlurmOptions(gpus_per_node=0, array_parallelism=len(cells)))
    waves = slurm._Waves([], slurm.SlurmLimits(max_job_count=len(cells) + 1), ex.options.array_parallelism)
    tracked = {c.run_id: slurm._Tracked(c, r, r.job()) for c, r in zip(cells, records)}
    waves.track(records, throttle=len(cells))
    registry = slurm.JobRegistry(runs_dir)

    def fake_cmd(cmd: list[str], timeout_s: float = 60) -> str:
        return squeue if cmd[0] == "squeue" else "JobID|State\n"

    def stop(_seconds: float) -> None:
        raise _OneLoop

    ex._wait = stop  # type: ignore[method-assign,assignment]
    real_cmd = slurm._slurm_cmd
    slurm._slurm_cmd = fake_cmd
    try:
        c0 = time.process_time()
        with contextlib.suppress(_OneLoop):
            list(ex._collect(tracked, waves, registry, runs_dir, root / "results", None, _NoProgress()))
        return time.process_time() - c0
    finally:
        slurm._slurm_cmd = real_cmd


def per_10x(sizes: list[int], times: list[float]) -> list[float | None]:
    """Growth ratio per 10x cells from the previous size to each size (None for the first)."""
    ratios: list[float | None] = [None]
    for (n0, t0), (n1, t1) in zip(zip(sizes, times), zip(sizes[1:], times[1:])):
        ratios.append((t1 / t0) ** (1 / math.log10(n1 / n0)) if t0 > 0 and n1 > n0 else None)
    return ratios


def main(argv: list[str] | None = None) -> int:
    p = parser("scale", __doc__.splitlines()[0])
    p.add_argument("--sizes", default="550,1650,16650", help="cell counts, comma separated (default: %(default)s)")
    args = p.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    results: list[dict[str, Any]] = []
    for n in sizes:
        cells = synthetic_cells(n)
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
            root = Path(tmp)
            t0 = time.perf_counter()
            write_results(cells, root / "results")
            written_s = time.perf_counter() - t0
            planning = time_planning(cells, root / "results")
            loop_s = time_driver_loop(cells, root)
        results.append({"cells": n, "write_s": written_s, **planning, "driver_loop_s": loop_s})
        print(f"{n} cells: results written in {written_s:.1f} s", flush=True)
    for key in ("read_results_s", "split_s", "driver_loop_s"):
        for row, ratio in zip(results, per_10x(sizes, [r[key] for r in results])):
            row[f"{key}_per_10x"] = ratio
    columns = [("cells", "cells", "d")]
    for key, label in (("read_results_s", "read results"), ("split_s", "todo/cached"), ("driver_loop_s", "SLURM loop")):
        columns += [(key, f"{label} s", ".3f"), (f"{key}_per_10x", "x per 10x", ".2f")]
    print_table([{k: "-" if v is None else v for k, v in r.items()} for r in results], columns)
    info = machine(threads=1)
    print(describe_machine(info))
    write_json(args.out, {"machine": info, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
