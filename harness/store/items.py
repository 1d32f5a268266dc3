"""Per-item scores store: one parquet file per run beside its results file, atomic, checksummed (no torch).

A run writes the per-item scores of its metrics that decompose per item (VQA_acc, VQA_acc_depalm, CIDEr: each
corpus value in the results file is the mean of these) to `<results_dir>/<run_id>.items.parquet`
(`ITEMS_SUFFIX`), in one atomic step and with the same content checksum as results files
(harness/store/results.py). The report resamples these items for its bootstrap intervals
(harness/report/uncertainty.py). The results reader leaves these files out; `read_item_scores` reads only them and
skips, with a `ResultsWarning` naming it, a file that cannot be read, carries no or a wrong checksum, lacks a column,
holds another run's rows or repeats an item.

Columns (`ITEM_SCHEMA`): run_id, split (train | val | test), metric, item_id (the benchmark item's id), score (x100,
the results' scale).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.store.results import (
    CHECKSUM_KEY,
    ITEMS_SUFFIX,
    SPLITS,
    ResultsWarning,
    check_run_id,
    content_digest,
    visible_files,
    write_checksummed,
)

ITEM_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("split", pa.string()),
        ("metric", pa.string()),
        ("item_id", pa.string()),
        ("score", pa.float64()),
    ]
)
ITEM_COLUMNS: tuple[str, ...] = tuple(ITEM_SCHEMA.names)

ItemScores = Mapping[str, Mapping[str, Mapping[str, float]]]  # split -> metric -> item id -> score


def items_path(results_dir: Path, run_id: str) -> Path:
    """Where a run's per-item scores live: beside its results file."""
    check_run_id(run_id)
    return Path(results_dir) / f"{run_id}{ITEMS_SUFFIX}"


def write_item_scores(scores: ItemScores, results_dir: Path, run_id: str) -> Path:
    """Write one run's per-item scores (split -> metric -> item id -> score) atomically; returns the path.

    Raises ValueError for an unknown split or no score at all (a run without per-item scores writes no file).
    """
    path = items_path(results_dir, run_id)
    unknown = sorted(set(scores) - set(SPLITS))
    if unknown:
        raise ValueError(f"run {run_id}: unknown split(s) {', '.join(unknown)}; expected one of {', '.join(SPLITS)}")
    records = [
        (split, metric, str(item), float(value))
        for split, metrics in scores.items()
        for metric, per_item in metrics.items()
        for item, value in per_item.items()
    ]
    if not records:
        raise ValueError(f"run {run_id}: no per-item scores to write")
    split, metric, item, value = zip(*records, strict=True)
    table = pa.table([[run_id] * len(records), list(split), list(metric), list(item), list(value)], schema=ITEM_SCHEMA)
    return write_checksummed(table, path)


def item_files(paths: Iterable[Path]) -> list[Path]:
    """Every visible per-item scores file under the given directories (recursive) or given as a file, sorted."""
    found: dict[Path, None] = {}
    for path in map(Path, paths):
        if path.is_file():
            if path.name.endswith(ITEMS_SUFFIX):
                found[path.resolve()] = None
        elif path.is_dir():
            found.update((p.resolve(), None) for p in visible_files(path, f"*{ITEMS_SUFFIX}"))
    return list(found)


def read_verified_items(path: Path) -> pa.Table:
    """One per-item scores file, checked; raises ValueError (or an arrow / OS error) naming what is wrong."""
    table = pq.read_table(path)
    stored = (table.schema.metadata or {}).get(CHECKSUM_KEY)
    if stored is None:
        raise ValueError("it carries no checksum")
    if stored.decode("ascii", "replace") != content_digest(table):
        raise ValueError("its content does not match its checksum (the file is damaged or was edited)")
    absent = [c for c in ITEM_COLUMNS if c not in table.column_names]
    if absent:
        raise ValueError(f"missing column(s) {', '.join(absent)}")
    table = table.select(list(ITEM_COLUMNS)).cast(ITEM_SCHEMA)
    run_id = path.name.removesuffix(ITEMS_SUFFIX)
    others = sorted(set(table.column("run_id").to_pylist()) - {run_id})
    if others:
        raise ValueError(f"it holds rows of run(s) {', '.join(others[:3])}, not only of {run_id}")
    keys = pa.table([table.column(c) for c in ("split", "metric", "item_id")], names=["split", "metric", "item_id"])
    if keys.group_by(keys.column_names).aggregate([]).num_rows != table.num_rows:
        raise ValueError("it repeats an item's score")
    return table


def read_item_scores(paths: Iterable[Path], run_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """Every per-item scores file under `paths` (only those of `run_ids` when given) as one DataFrame with
    `ITEM_COLUMNS`; a damaged file is skipped with a `ResultsWarning` naming it."""
    wanted = None if run_ids is None else set(run_ids)
    tables = []
    for path in item_files(paths):
        if wanted is not None and path.name.removesuffix(ITEMS_SUFFIX) not in wanted:
            continue
        try:
            tables.append(read_verified_items(path))
        except Exception as e:  # noqa: BLE001 - a damaged file is reported and skipped, never fatal
            warnings.warn(f"skipping unreadable per-item scores file {path}: {e}", ResultsWarning, stacklevel=2)
    table = pa.concat_tables(tables) if tables else ITEM_SCHEMA.empty_table()
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
