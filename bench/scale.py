"""Study scale: how `--dry-run`, `--report-only` and one loop of the SLURM driver grow with the number of runs.

For each size N (the paper's 550 runs, 1,650 with the lr grid, 16,500 for a sweep ten times larger, 50,000), the
script plans the matrix `--methods all` x the ten offline mirrors of the paper's datasets x the lr grid x
enough seeds for 1.1 N cells and synthesises, for the first N of its cells, a results file in the real schema (each
dataset's metrics on each eval split, 2% failed and 1% unstable runs, every value drawn at random) and, for a tenth
of them, a per-item scores file of the primary metric (`ITEMS_PER_RUN` items); about a tenth of the matrix is left
to run. The files are byte for byte what `harness.store.results.write_result` writes (checked on the first run): a
template table per dataset goes through `normalize_rows` once, then each run's columns are replaced and the table is
written by the store's own `write_checksummed`. The directories live in a temp dir, for this invocation only.

It then times, each in a forked child process (peak memory is the child's):
- `--dry-run`: `harness.cli.main` with the study's flags: the real plan, results read, estimates, printed plan;
  first cold (the results index does not exist yet: every file is read and checked, then the index is written),
  then warm (the index in place, as on every later invocation);
- `--report-only`: `harness.cli.main --report-only` over the results directory: the real read and render of every
  table (warm index);
- one SLURM driver loop: one pass of `SlurmExecutor._collect` over every cell of the matrix as submitted jobs,
  against a simulated `squeue` printing them all (no SLURM needed).

Figures are process CPU seconds (`time.process_time`: the machine's other load barely moves them, unlike wall time,
also printed). Each is printed with its time per run relative to the smallest size (1.0: linear; the acceptance
asks <= 1.5 from 1,650 to 16,500). Writing 16,500 runs takes about a minute.

Usage: python -m bench.scale [--sizes 550,1650,16500]
"""

from __future__ import annotations

import contextlib
import io
import math
import multiprocessing
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import PeakRss, describe_machine, machine, parser, print_table, write_json

DATASETS = (
    "syn-coco",
    "syn-textcaps",
    "syn-vqav2",
    "syn-textvqa",
    "syn-okvqa",
    "syn-aokvqa",
    "syn-audiocaps",
    "syn-msrvtt",
    "syn-coco-1pct",
    "syn-vqav2-1pct",
)
CAPTION_METRICS = ("BLEU_1", "BLEU_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE", "SPIDEr")
VQA_METRICS = ("VQA_acc",)
ITEMS_FRACTION = 0.1
ITEMS_PER_RUN = 200
FAILED, UNSTABLE = 0.02, 0.01


def study_flags(n: int, results: Path, out: Path) -> list[str]:
    """The study's flags: enough seeds for 1.1 n cells."""
    seeds = math.ceil(1.1 * n / len(matrix_cells(_flags(1, results, out))))
    return _flags(seeds, results, out)


def _flags(seeds: int, results: Path, out: Path) -> list[str]:
    return [
        "--methods", "all", "--datasets", ",".join(DATASETS), "--seeds", str(seeds), "--lr_grid", "true",
        "--profile", "paper", "--results", str(results), "--out", str(out),
    ]  # fmt: skip


def matrix_cells(flags: list[str]) -> list[Any]:
    from harness.cli import parse_study
    from harness.runner.matrix import plan

    return plan(parse_study(flags)).cells


def _template(cfg: Any) -> tuple[Any, list[str]]:
    """The arrow table `write_result` writes for a run of `cfg` with every metric of its dataset, and its metrics."""
    import pyarrow as pa

    from benchmarks import get_benchmark
    from harness.runner.cell import CellOutcome, result_rows
    from harness.store.results import normalize_rows

    spec = get_benchmark(cfg.dataset).spec
    metrics = CAPTION_METRICS if spec.task == "caption" else VQA_METRICS
    splits = [s for s in cfg.eval.splits if getattr(spec.splits, s, None)]
    outcome = CellOutcome(cfg.run_id, "ok", metrics={s: dict.fromkeys(metrics, 50.0) for s in splits})
    rows = result_rows(cfg, outcome, {"mean_step_s": 1.0, "train_time_s": 3600.0}, (spec.eval_split, metrics[0]))
    df = normalize_rows(rows, cfg.run_id)
    return pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None), list(metrics)


def _run_table(template: Any, cfg: Any, values: np.ndarray, status: str, created_at: str) -> Any:
    import pyarrow as pa

    n = template.num_rows
    error = "RuntimeError: loss is NaN at step 12" if status == "failed" else ""
    if status == "failed":
        values = np.full(n, np.nan)
    columns = {
        "method": cfg.method,
        "method_display": cfg.method_config.get("display_name", cfg.method),
        "control": cfg.method_config.get("control", "") or "",
        "seed": cfg.seed,
        "lr": cfg.lr,
        "variant": cfg.variant,
        "status": status,
        "error": error,
        "config_hash": cfg.config_hash(),
        "run_id": cfg.run_id,
        "created_at": created_at,
    }
    table = template
    for name, value in columns.items():
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pa.array([value] * n, table.schema.field(name).type))
    i = table.schema.get_field_index("value")
    return table.set_column(i, "value", pa.array(values, pa.float64()))


def write_runs(cells: list[Any], results: Path, seed: int = 0) -> dict[str, int]:
    """Results files for `cells` (and per-item scores for a tenth), as described in the module docstring."""
    from harness.store.items import write_item_scores
    from harness.store.results import write_checksummed, write_result

    rng = np.random.default_rng(seed)
    templates: dict[str, tuple[Any, list[str]]] = {}
    base = {m: rng.uniform(20, 80) for m in {c.method for c in cells}}
    n_items = 0
    for k, cfg in enumerate(cells):
        if cfg.dataset not in templates:
            templates[cfg.dataset] = _template(cfg)
        template, metrics = templates[cfg.dataset]
        u = rng.random()
        status = "failed" if u < FAILED else "unstable" if u < FAILED + UNSTABLE else "ok"
        values = base[cfg.method] + rng.normal(0, 3, template.num_rows)
        created_at = f"2026-01-01T00:{k // 3600 % 60:02d}:{k % 60:02d}+00:00"
        table = _run_table(template, cfg, values, status, created_at)
        write_checksummed(table, results / f"{cfg.run_id}.parquet")
        if k == 0:  # the same run through the store's public writer: the same bytes
            with tempfile.TemporaryDirectory() as tmp:
                rows = table.to_pandas().to_dict("records")
                ref = write_result(rows, Path(tmp), cfg.run_id).read_bytes()
            assert ref == (results / f"{cfg.run_id}.parquet").read_bytes(), "synthetic file differs from write_result's"
        if status == "ok" and rng.random() < ITEMS_FRACTION:
            splits = sorted(set(table.column("split").to_pylist()))
            per_item = dict(zip(map(str, range(ITEMS_PER_RUN)), rng.uniform(0, 100, ITEMS_PER_RUN)))
            scores = {s: {metrics[0]: per_item} for s in splits}
            write_item_scores(scores, results, cfg.run_id)
            n_items += 1
    return {"runs": len(cells), "items_files": n_items}


def _child(queue: Any, fn: Any, args: tuple) -> None:
    with PeakRss(0.02) as rss:
        c0, w0 = time.process_time(), time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            extra = fn(*args)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    queue.put({"cpu_s": cpu, "wall_s": wall, "peak_mib": rss.delta_mib, **(extra or {})})


def in_child(fn: Any, *args: Any) -> dict[str, Any]:
    """Run `fn(*args)` in a forked process: its CPU and wall seconds and its peak memory above its start."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, fn, args))
    proc.start()
    out = queue.get()
    proc.join()
    if proc.exitcode:
        raise RuntimeError(f"{fn.__name__} failed in its child process (exit {proc.exitcode})")
    return out


def cli(flags: list[str]) -> None:
    from harness.cli import main

    rc = main(flags)
    if rc != 0:
        raise RuntimeError(f"run_matrix {' '.join(flags)} exited {rc}")


class _NoProgress:
    def started(self, cfg: Any) -> None: ...

    def step(self, cfg: Any, record: dict[str, Any]) -> None: ...

    def finished(self, cfg: Any, outcome: Any) -> None: ...

    def tick(self) -> None: ...


class _OneLoop(Exception):
    """Raised from the driver's wait: one pass of the loop is done."""


def time_driver_loop(cells: list[Any], root: Path) -> dict[str, float]:
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
        return {"loop_s": time.process_time() - c0}
    finally:
        slurm._slurm_cmd = real_cmd


def per_run_growth(sizes: list[int], times: list[float]) -> list[float | None]:
    """Time per run at each size over time per run at the previous size (1.0: linear; None for the first)."""
    ratios: list[float | None] = [None]
    for (n0, t0), (n1, t1) in zip(zip(sizes, times), zip(sizes[1:], times[1:])):
        ratios.append((t1 / n1) / (t0 / n0) if t0 > 0 else None)
    return ratios


def main(argv: list[str] | None = None) -> int:
    p = parser("scale", __doc__.splitlines()[0])
    p.add_argument("--sizes", default="550,1650,16500", help="run counts, comma separated (default: %(default)s)")
    args = p.parse_args(argv)
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    results: list[dict[str, Any]] = []
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for n in sizes:
            root = Path(tmp) / str(n)
            flags = study_flags(n, root / "results", root / "reports")
            cells = matrix_cells(flags)
            t0 = time.perf_counter()
            written = write_runs(cells[:n], root / "results")
            write_s = time.perf_counter() - t0
            time.sleep(2.1)  # the index trusts only files older than its racy window (harness/store/index.py)
            row: dict[str, Any] = {"runs": n, "cells": len(cells), **written, "write_s": write_s}
            for name, run_flags in (
                ("dry_cold", [*flags, "--dry-run"]),
                ("dry", [*flags, "--dry-run"]),
                ("report", ["--report-only", "--results", str(root / "results"), "--out", str(root / "reports")]),
            ):
                m = in_child(cli, run_flags)
                row.update({f"{name}_s": m["cpu_s"], f"{name}_wall_s": m["wall_s"], f"{name}_mib": m["peak_mib"]})
            row["loop_s"] = in_child(time_driver_loop, cells, root)["loop_s"]
            results.append(row)
            print(
                f"{n} runs ({written['items_files']} with per-item scores, {len(cells)} cells): written in "
                f"{write_s:.0f} s; dry-run {row['dry_s']:.2f} s (cold {row['dry_cold_s']:.1f} s), report "
                f"{row['report_s']:.2f} s, SLURM loop {row['loop_s']:.3f} s",
                flush=True,
            )
    keys = ("dry_cold_s", "dry_s", "report_s", "loop_s")
    for key in keys:
        for row, ratio in zip(results, per_run_growth(sizes, [r[key] for r in results])):
            row[f"{key}_growth"] = ratio
    columns = [("runs", "runs", "d")]
    labels = {"dry_cold_s": "dry-run cold", "dry_s": "dry-run", "report_s": "report-only", "loop_s": "SLURM loop"}
    for key in keys:
        columns += [(key, f"{labels[key]} s", ".3f"), (f"{key}_growth", "per run x", ".2f")]
    columns += [("dry_wall_s", "dry wall s", ".1f"), ("report_wall_s", "report wall s", ".1f")]
    columns += [("dry_mib", "dry MiB", ".0f"), ("report_mib", "report MiB", ".0f")]
    print_table([{k: "-" if v is None else v for k, v in r.items()} for r in results], columns)
    info = machine(threads=1)
    print(describe_machine(info), f"load average at end {os.getloadavg()[0]:.1f}")
    write_json(args.out, {"machine": info, "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
