"""Shared helpers of the bench/ scripts: the machine they ran on, runner cells resolved exactly as the matrix
resolves them, alternating measurement order with medians, peak-RSS sampling, the printed table and the JSON file.

Timings on a shared machine drift: every script measures the things it compares in alternating rounds within one
process and reports medians and per-round ratios, never absolute thresholds. Besides wall time, the scripts report
process CPU time (`time.process_time`): with one torch thread it measures the work itself and barely moves when other
jobs compete for the cores, whereas wall time stretches with the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import socket
import statistics
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.store.atomic import write_text

OUT_DIR = Path(__file__).resolve().parent / "out"
# glibc raises its mmap threshold after large frees, after which freed tensors stay in the heap and RSS stops
# tracking live memory; memory passes fix the threshold (malloc then maps and unmaps every large tensor, which adds
# page faults: never during a timed pass).
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3


def parser(name: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"python -m bench.{name}", description=description)
    p.add_argument(
        "--out", type=Path, default=OUT_DIR / f"{name}.json", help="JSON file written (default: %(default)s)"
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: %(default)s, the machine's cores)")
    return p


def fixed_malloc() -> None:
    """Fixed glibc mmap/trim thresholds from now on (for RSS-based memory passes, after the timed ones)."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6")
    libc.mallopt(M_MMAP_THRESHOLD, 131072)
    libc.mallopt(M_TRIM_THRESHOLD, 131072)
    libc.malloc_trim(0)


def setup(threads: int) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    torch.set_num_threads(threads)


def machine(threads: int) -> dict[str, Any]:
    import torch

    cpu = platform.processor()
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        )
    return {
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "host": socket.gethostname(),
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "torch_threads": threads,
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "load_avg_at_start": os.getloadavg()[0],
    }


def describe_machine(info: dict[str, Any]) -> str:
    return (
        f"{info['date_utc']}, {info['host']}: {info['cpu']}, {info['logical_cpus']} logical CPUs, "
        f"{info['torch_threads']} torch threads, GPU: {info['gpu'] or 'none'}, torch {info['torch']}, "
        f"load average {info['load_avg_at_start']:.1f} at start"
    )


def alternating(rounds: int, names: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(round, name) with the order reversed every other round, so a drift of the machine's speed during a round
    hits every contender about equally."""
    for r in range(rounds):
        for name in names if r % 2 == 0 else list(reversed(names)):
            yield r, name


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def paired_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """Median over rounds of num[r] / den[r] (each round's pair measured close together)."""
    return median([a / b for a, b in zip(num, den)])


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Peak resident memory above the level at entry, sampled every `interval_s` by a thread (torch kernels release
    the GIL, so the sampler runs during them). Resolution: the sampling interval; reported in MiB."""

    def __init__(self, interval_s: float = 0.005):
        self.interval_s = interval_s
        self.base = self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes())
            time.sleep(self.interval_s)

    def __enter__(self) -> PeakRss:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)  # free heap pages leave RSS, so the block's peak shows on top of base
        self.base = self.peak = rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def delta_mib(self) -> float:
        return (self.peak - self.base) / 2**20


def cell_configs(methods: Sequence[str], dataset: str = "syn-coco", profile: str = "cpu", **train: Any) -> dict:
    """method -> the `RunConfig` the matrix builds for `--methods <methods> --datasets <dataset> --profile <profile>`
    (seed 0, the profile's lr), with `train` overrides."""
    from harness.cli import parse_study
    from harness.runner.matrix import plan

    study = parse_study(["--methods", ",".join(methods), "--datasets", dataset, "--profile", profile])
    return {c.method: dataclasses.replace(c, train=dataclasses.replace(c.train, **train)) for c in plan(study).cells}


def cell_config(method: str, dataset: str = "syn-coco", profile: str = "cpu", **train: Any):
    return cell_configs([method], dataset, profile, **train)[method]


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str, str]]) -> None:
    """columns: (key, header, format spec)."""
    cells = [
        [format(r[k], f) if isinstance(r.get(k), (int, float)) else str(r.get(k, "")) for k, _, f in columns]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, (_, h, _) in enumerate(columns)]
    print("  ".join(h.rjust(w) if i else h.ljust(w) for i, ((_, h, _), w) in enumerate(zip(columns, widths))))
    for c in cells:
        print("  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(c, widths))))


def write_json(path: Path, payload: dict[str, Any]) -> None:
    write_text(path, json.dumps(payload, indent=2, default=str) + "\n")
    print(f"wrote {path}")
