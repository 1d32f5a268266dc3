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
import pyarrow.compute as pc

from harness.store.index import IndexKind, read_indexed, read_parquet
from harness.store.results import (
    CHECKSUM_KEY,
    ITEMS_SUFFIX,
    SPLITS,
    ResultsWarning,
    check_run_id,
    content_digest,
    index_directories,
    resolved_files,
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
            found.update((p, None) for p in resolved_files(path, f"*{ITEMS_SUFFIX}"))
    return list(found)


def read_verified_items(path: Path) -> pa.Table:
    """One per-item scores file, checked; raises ValueError (or an arrow / OS error) naming what is wrong."""
    table = read_parquet(path)
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
    # one key per row (the unit separator cannot occur in the ids that matter here: any collision only refuses)
    keys = pc.binary_join_element_wise(*(table.column(c) for c in ("split", "metric", "item_id")), "\x1f")
    if pc.count_distinct(keys, mode="all").as_py() != table.num_rows:
        raise ValueError("it repeats an item's score")
    return table


def _warn(message: str) -> None:
    warnings.warn(message, ResultsWarning, stacklevel=4)


ITEMS_INDEX = IndexKind(".items-index.parquet", ITEM_SCHEMA, lambda path: (read_verified_items(path), True), _warn)


def read_item_scores(
    paths: Iterable[Path], run_ids: Iterable[str] | None = None, *, use_index: bool = True
) -> pd.DataFrame:
    """Every per-item scores file under `paths` (only those of `run_ids` when given) as one DataFrame with
    `ITEM_COLUMNS`; a damaged file is skipped with a `ResultsWarning` naming it. The files of a directory that its
    index (harness/store/index.py) holds unchanged come from it in one read; every file is indexed, whatever
    `run_ids` asks for, so that asking for other runs next time finds them there."""
    paths = list(map(Path, paths))
    wanted = None if run_ids is None else set(run_ids)

    def skip(path: Path, e: Exception) -> None:
        if wanted is None or path.name.removesuffix(ITEMS_SUFFIX) in wanted:
            warnings.warn(f"skipping unreadable per-item scores file {path}: {e}", ResultsWarning, stacklevel=4)

    pieces = read_indexed(index_directories(paths) if use_index else [], item_files(paths), ITEMS_INDEX, skip)
    tables = [piece.table.select(list(ITEM_COLUMNS)) for piece in pieces]
    table = pa.concat_tables(tables) if tables else ITEM_SCHEMA.empty_table()
    if wanted is not None:
        table = table.filter(pc.is_in(table.column("run_id"), pa.array(sorted(wanted), pa.string())))
    return table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
