"""Results store: one parquet file per run, long format, atomic writes, recursive tolerant reads (no torch).

Long format: one row per (run, split, metric). A run (one method x dataset x seed x hyper-parameters cell) writes
all its rows to `<results_dir>/<run_id>.parquet` in one atomic step (`harness.store.atomic`: temp file + rename),
so a crash mid-write never leaves a partial file visible and never touches earlier runs. The paper's published
numbers use the same schema with `source="paper"` (results/paper/, built by scripts/build_paper_results.py).

Per-item scores (harness/store/items.py) lie beside a run's results file as `<run_id>.items.parquet`
(`ITEMS_SUFFIX`); the results reader never takes them for results files.

Integrity: each file carries the SHA-256 of its content (column names and every value, exactly) in its parquet
key-value metadata (`CHECKSUM_KEY`). A reader skips, with a `ResultsWarning` naming it, any file that cannot be
read, does not match its checksum, lacks a required column or holds an unknown value in a categorical column
(status, source, split): a damaged file is never used and never stops a report. Files written before checksums
existed are read with a warning saying they are unverified.

Columns (`SCHEMA`; extra columns are kept as they are):
  method            method id (the presets' ids, e.g. `depalm`; plugins register their own)
  method_display    the method's display name in the tables (its `MethodConfig.display_name`, e.g.
                    "DePALM^{QP,inner}"; the paper's cited works: their names); "" prints the id
  control           "" for a connector, else the kind of reference row it is: prior (a baseline computed without
                    a model) | blind (a trained model with no perceptual input); the report shows such rows but
                    never ranks them (the run's `MethodConfig.control`)
  dataset           benchmark id (paper ids like `coco`, offline mirrors like `syn-coco`, plugins); the paper's
                    Table 4 aggregates use dataset `average` (metrics rank, rank_pos, score, score_pos)
  seed              training seed; null for numbers that average several seeds (paper rows)
  n_seeds           how many seeds `value` averages: 1 for a run row, 5 or 3 for paper rows
  lr, grad_clip     peak learning rate and gradient clipping value; NaN when not published
  llm, encoder      backbone ids (harness/backbones registry); "" when the paper does not say (cited works)
  profile           smoke | cpu | paper | ...: the run profile; "paper" for the paper's rows
  variant           recipe variant: official (as the official code ran it) | paper (as the appendix writes it);
                    rows written before the variant axis read as "paper"; the paper's own rows are "official"
                    (the official code produced them)
  train_fraction    sweep axis of Figure 3 (right): the fraction of the benchmark's whole train split the run trained
                    on; NaN when not swept (the benchmark's own split), and for the paper's rows
  width             sweep axis of Figure 3 (left): the mapping width the run set (a QPMapper's d_embed, an MLP_2's
                    hidden units); null when not swept
  split             split role the metric was measured on: train | val | test; "all" for aggregates over
                    benchmarks
  metric            metric name (CIDEr, VQA_acc, SPIDEr, BLEU_1..BLEU_4, METEOR, ROUGE_L, SPICE, ...); the
                    values use the paper's x100 scale
  value             the number; NaN for a failed / unstable cell, or for a metric the run could not compute,
                    whose note then says why (SPIDEr without the CoreNLP jars)
  std               standard deviation over seeds (paper S-tables); NaN for run rows (the report computes it)
  status            ok | failed | unstable | cancelled | interrupted (its worker was killed from outside: the
                    next plain run re-runs it)
  error             why a run failed ("" when ok)
  train_time_s      wall-clock training time of the run in seconds (NaN when unknown)
  trainable_params  number of trained parameters (null when unknown)
  n_train           number of training items seen per epoch (null when unknown)
  n_injected_tokens perceptual tokens injected into the LLM (null when unknown)
  first_loss        training loss of the run's first optimiser step (NaN when not trained / unknown)
  final_loss        training loss of its last step: above first_loss, the run did not learn (the report says so)
  energy_kwh        energy of the run's training in kWh, the PUE included (Table S7); NaN when not measured
  co2_kg            energy_kwh x co2_kg_per_kwh: the training's emissions in kg CO2 (NaN when not measured)
  co2_kg_per_kwh    carbon intensity the run was converted with (the paper's: 0.385)
  pue               power usage effectiveness the measured energy was multiplied by (the paper's: 1.1)
  energy_method     how energy_kwh was obtained (harness.runner.energy): rapl | nvml | tdp-estimate |
                    gpu-tdp-estimate parts joined by "+", or codecarbon:<its sources>; "" when not measured
  config_hash       hash of the resolved run config (the cache key); "" for paper rows
  run_id            unique id of the run (also the file name); paper rows: `paper-<table>`
  code_version      git commit (or package version) that produced the row
  created_at        ISO-8601 UTC time the row was written
  source            run | paper
  table_ref         paper table a paper row transcribes (table3, table4, tableS2, ...); "" for runs
  citation          reference of the work a cited number comes from (e.g. "[58]"); "" for the DePALM authors'
                    own runs
  note              qualifier printed next to the number (shots, split, footnote text); "" when none
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import functools
import hashlib
import json
import math
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.store.atomic import atomic_path
from harness.store.index import IndexKind, read_indexed, read_parquet

STATUSES = ("ok", "failed", "unstable", "cancelled", "interrupted")
SOURCES = ("run", "paper")
SPLITS = ("train", "val", "test", "all")  # "all": aggregates over several benchmarks (Table 4 rank/score)
AGGREGATE_DATASET = "average"  # dataset id of the paper's printed Table 4 aggregates (rank, score and positions)

# column -> (arrow type, default used when a row omits it); None default = the column is required
SCHEMA: dict[str, tuple[pa.DataType, Any]] = {
    "method": (pa.string(), None),
    "method_display": (pa.string(), ""),
    "control": (pa.string(), ""),
    "dataset": (pa.string(), None),
    "seed": (pa.int64(), pd.NA),
    "n_seeds": (pa.int64(), 1),
    "lr": (pa.float64(), math.nan),
    "grad_clip": (pa.float64(), math.nan),
    "llm": (pa.string(), ""),
    "encoder": (pa.string(), ""),
    "profile": (pa.string(), None),
    "variant": (pa.string(), "paper"),
    "train_fraction": (pa.float64(), math.nan),
    "width": (pa.int64(), pd.NA),
    "split": (pa.string(), None),
    "metric": (pa.string(), None),
    "value": (pa.float64(), math.nan),
    "std": (pa.float64(), math.nan),
    "status": (pa.string(), "ok"),
    "error": (pa.string(), ""),
    "train_time_s": (pa.float64(), math.nan),
    "trainable_params": (pa.int64(), pd.NA),
    "n_train": (pa.int64(), pd.NA),
    "n_injected_tokens": (pa.int64(), pd.NA),
    "first_loss": (pa.float64(), math.nan),
    "final_loss": (pa.float64(), math.nan),
    "energy_kwh": (pa.float64(), math.nan),
    "co2_kg": (pa.float64(), math.nan),
    "co2_kg_per_kwh": (pa.float64(), math.nan),
    "pue": (pa.float64(), math.nan),
    "energy_method": (pa.string(), ""),
    "config_hash": (pa.string(), ""),
    "run_id": (pa.string(), None),
    "code_version": (pa.string(), ""),
    "created_at": (pa.string(), None),
    "source": (pa.string(), "run"),
    "table_ref": (pa.string(), ""),
    "citation": (pa.string(), ""),
    "note": (pa.string(), ""),
}
COLUMNS: tuple[str, ...] = tuple(SCHEMA)
REQUIRED: tuple[str, ...] = tuple(
    c for c, (_, default) in SCHEMA.items() if default is None and c not in ("run_id", "created_at")
)
CATEGORICAL: dict[str, tuple[str, ...]] = {"status": STATUSES, "source": SOURCES, "split": SPLITS}
CHECKSUM_KEY = b"depalm_bench.content_sha256"
ITEMS_SUFFIX = ".items.parquet"  # a run's per-item scores file, beside its results file
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$")
_PANDAS_DTYPES = {pa.string(): "string", pa.int64(): "Int64", pa.float64(): "float64"}
_ARROW_TO_PANDAS = {pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype(), pa.int64(): pd.Int64Dtype()}


def _arrow_kind(t: pa.DataType) -> pa.DataType:
    return pa.string() if pa.types.is_large_string(t) else t


class ResultsWarning(UserWarning):
    """A results file could not be read, or failed its checks, and was skipped (or was read unverified)."""


def check_run_id(run_id: str) -> None:
    """A run id becomes a file and a directory name: letters, digits and . _ = + - only, not starting with a dot."""
    if not _RUN_ID.match(run_id):
        raise ValueError(f"run_id {run_id!r}: use letters, digits and . _ = + - only (it becomes a file name)")
    if f"{run_id}.parquet".endswith(ITEMS_SUFFIX):  # its results file would read as a per-item scores file
        raise ValueError(f"run_id {run_id!r}: a run id may not end with {ITEMS_SUFFIX.removesuffix('.parquet')!r}")


def content_digest(table: pa.Table) -> str:
    """SHA-256 of a table's column names and values, in order; floats by their exact repr (NaN, -0.0 included)."""
    h = hashlib.sha256()
    for name in table.column_names:
        values = table.column(name).to_pylist()
        h.update(json.dumps([name, values], default=repr, allow_nan=True, separators=(",", ":")).encode())
        h.update(b"\n")
    return h.hexdigest()


def _check_categories(table: pa.Table) -> None:
    for col, allowed in CATEGORICAL.items():
        if col in table.column_names:
            unknown = sorted({repr(v) for v in table.column(col).unique().to_pylist() if v not in allowed})
            if unknown:
                raise ValueError(f"unknown {col} value(s) {', '.join(unknown)}; expected one of {', '.join(allowed)}")


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def normalize_rows(rows: Iterable[dict], run_id: str) -> pd.DataFrame:
    """Validate rows against `SCHEMA`, fill defaults, stamp run_id / created_at; returns a typed DataFrame.

    Raises ValueError naming the offending row and column (and what to pass instead).
    """
    rows = list(rows)
    if not rows:
        raise ValueError(
            f"run {run_id}: no result rows to write; a failed run still writes one row with "
            f"status='failed' and its error"
        )
    created_at = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    out = []
    for i, row in enumerate(rows):
        missing = [c for c in REQUIRED if c not in row or row[c] is None]
        if missing:
            raise ValueError(
                f"run {run_id}, row {i}: missing required column(s) {', '.join(missing)} "
                f"(required: {', '.join(REQUIRED)})"
            )
        full = {c: row.get(c, default) for c, (_, default) in SCHEMA.items() if default is not None}
        full.update(row)
        full.setdefault("run_id", run_id)
        full.setdefault("created_at", created_at)
        if full["run_id"] != run_id:
            raise ValueError(f"run {run_id}, row {i}: run_id {full['run_id']!r} differs from the file's run id")
        for col, allowed in CATEGORICAL.items():
            if full[col] not in allowed:
                raise ValueError(f"run {run_id}, row {i}: {col}={full[col]!r}; expected one of {', '.join(allowed)}")
        if full["status"] == "ok" and _missing(full["value"]) and not full["note"]:  # a skipped metric says why
            raise ValueError(
                f"run {run_id}, row {i}: metric {full['metric']!r} has no value but status 'ok' and no note; "
                f"use status 'failed' or 'unstable' for a missing number, or a note saying why it was not computed"
            )
        out.append(full)
    return _typed(pd.DataFrame(out))


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Cast schema columns to their pandas dtypes (nullable ints, strings) and put them first, in schema order."""
    columns: dict[str, pd.Series] = {}
    for col, (arrow_type, default) in SCHEMA.items():
        dtype = _PANDAS_DTYPES[arrow_type]
        if col in df.columns:
            series = df[col]
        else:
            series = pd.Series(default if default is not None else pd.NA, index=df.index, dtype=object)
        if str(series.dtype) != dtype:
            try:
                series = series.astype(dtype)
            except (TypeError, ValueError) as e:
                raise ValueError(f"column {col!r}: cannot be read as {dtype} ({e})") from e
        if isinstance(default, str) and series.hasnans:  # null text (None, or an older file) reads as its default
            series = series.fillna(default)
        columns[col] = series
    columns.update((c, df[c]) for c in df.columns if c not in SCHEMA)
    return pd.DataFrame(columns, index=df.index)


def write_result(rows: list[dict], results_dir: Path, run_id: str) -> Path:
    """Write one run's rows to `<results_dir>/<run_id>.parquet` atomically; returns the path.

    Written through `harness.store.atomic`: readers never see a partial file; on any error the temp file is removed
    and earlier files are untouched.
    """
    check_run_id(run_id)
    df = normalize_rows(rows, run_id)
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    final = results_dir / f"{run_id}.parquet"
    # the reader restores the dtypes from SCHEMA: pandas' metadata, the arrow schema and column statistics would
    # only repeat what the columns say, so the file's key-value metadata holds the checksum alone
    return write_checksummed(pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None), final)


def write_checksummed(table: pa.Table, path: Path) -> Path:
    """Write `table` to `path` atomically with its content checksum (`CHECKSUM_KEY`) as the only metadata."""
    with (
        atomic_path(path) as tmp,
        pq.ParquetWriter(tmp, table.schema, store_schema=False, write_statistics=False) as writer,
    ):
        writer.write_table(table)
        writer.add_key_value_metadata({CHECKSUM_KEY: content_digest(table).encode()})
    return path


def visible_files(directory: Path, pattern: str, *, resolve_links: bool = False) -> list[Path]:
    """The files matching `pattern` under `directory` (recursive, like `rglob`: links to folders are not followed),
    sorted, except hidden ones and those under a hidden folder (a writer's temp files, the store's indexes); with
    `resolve_links`, a link to a file is given as its target."""
    found: list[Path] = []
    stack = [Path(directory)]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir() and not entry.is_symlink():
                    stack.append(folder / entry.name)
                elif fnmatch.fnmatchcase(entry.name, pattern) and entry.is_file():
                    path = folder / entry.name
                    found.append(path.resolve() if resolve_links and entry.is_symlink() else path)
    return sorted(found)


def resolved_files(directory: Path, pattern: str) -> list[Path]:
    """`visible_files` with each path resolved: the folder once, a file only when it is a link (resolving 16,500
    paths one by one costs seconds)."""
    return visible_files(Path(directory).resolve(), pattern, resolve_links=True)


def result_files(paths: Iterable[Path]) -> list[Path]:
    """Every visible `*.parquet` under the given files / directories (recursive), each once, sorted; per-item
    scores files (`ITEMS_SUFFIX`) found in a directory are not results files and are left out."""
    found: dict[Path, None] = {}
    for path in map(Path, paths):
        if path.is_file():
            found[path.resolve()] = None
        elif path.is_dir():
            found.update((p, None) for p in resolved_files(path, "*.parquet") if not p.name.endswith(ITEMS_SUFFIX))
        else:
            raise FileNotFoundError(
                f"results path {path}: no such file or directory (pass a results directory "
                f"such as results/ or results/paper)"
            )
    return list(found)


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    # nullable ints stay exact (not float64 with NaN); a file's own pandas metadata, if any, is ignored
    return table.replace_schema_metadata(None).to_pandas(types_mapper=_ARROW_TO_PANDAS.get)


@functools.lru_cache(maxsize=1)
def _empty_frame() -> pd.DataFrame:
    return _to_pandas(pa.schema([(c, t) for c, (t, _) in SCHEMA.items()]).empty_table())


def read_verified(path: Path) -> tuple[pa.Table, bool]:
    """One results file, checked: (table, whether it carried a checksum). Raises ValueError (or an arrow / OS
    error) when it is unreadable, fails its checksum, lacks a required column or has an unknown category."""
    table = read_parquet(path)
    stored = (table.schema.metadata or {}).get(CHECKSUM_KEY)
    if stored is not None and stored.decode("ascii", "replace") != content_digest(table):
        raise ValueError("its content does not match its checksum (the file is damaged or was edited)")
    absent = [c for c in REQUIRED if c not in table.column_names]
    if absent:
        raise ValueError(f"missing column(s) {', '.join(absent)}")
    _check_categories(table)
    return table, stored is not None


def _warn(message: str) -> None:
    warnings.warn(message, ResultsWarning, stacklevel=4)


RESULTS_INDEX = IndexKind(
    ".results-index.parquet",
    pa.schema([(c, t) for c, (t, _) in SCHEMA.items()]),
    read_verified,
    _warn,
)


def index_directories(paths: Iterable[Path]) -> list[Path]:
    """The resolved directories among `paths`: each keeps an index of the files read under it."""
    return list(dict.fromkeys(p.resolve() for p in map(Path, paths) if p.is_dir()))


def read_results(paths: list[Path], *, use_index: bool = True) -> pd.DataFrame:
    """Merge every results file under `paths` into one typed DataFrame (schema columns first).

    A file that cannot be read, fails its checksum, lacks required columns or holds an unknown status / source /
    split is skipped with a `ResultsWarning` naming it; files without a checksum are read with one warning. The
    files of a directory that its index (harness/store/index.py) holds unchanged come from it in one read;
    `use_index=False` reads every file (and leaves the indexes alone).
    """
    files = result_files(paths)

    def skip(path: Path, e: Exception) -> None:
        warnings.warn(f"skipping unreadable results file {path}: {e}", ResultsWarning, stacklevel=4)

    directories = index_directories(paths) if use_index else []
    pieces = read_indexed(directories, files, RESULTS_INDEX, skip)
    tables, frames = [], []  # files in the schema's types are merged in arrow (fast); others are cast one by one
    unverified = [p for piece in pieces for p in piece.unverified]
    for piece in pieces:
        table = piece.table
        if all(_arrow_kind(table.schema.field(c).type) == t for c, (t, _) in SCHEMA.items() if c in table.column_names):
            tables.append(table)
        else:
            frames.append(_typed(_to_pandas(table)))
    if unverified:
        warnings.warn(
            f"{len(unverified)} results file(s) carry no checksum (written by an older version), read "
            f"unverified: {', '.join(map(str, unverified[:3]))}{' ...' if len(unverified) > 3 else ''}",
            ResultsWarning,
            stacklevel=2,
        )
    if tables:
        try:
            frames.append(_to_pandas(pa.concat_tables(tables, promote_options="permissive")))
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # extra columns of clashing types: merge in pandas instead
            frames += [_to_pandas(t) for t in tables]
    frames = [f for f in frames if len(f)]
    if not frames:
        return _empty_frame().copy()
    return _typed(pd.concat(frames, ignore_index=True))
