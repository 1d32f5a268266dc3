"""Store index: a stat-keyed cache of the verified per-run files of a directory, in one parquet file (no torch).

Reading a results directory file by file costs about 2 ms a file (a parquet footer, a content checksum): 30 s at
16,500 runs. Each reader (harness/store/results.py, harness/store/items.py) therefore keeps, beside the files of
every directory it reads, one hidden parquet file holding the rows of every file it read and accepted, and a
manifest of those files. A later read lists the directory, `stat`s each file and takes the rows of the files the
manifest lists with the same stat from the index (one read); it reads the others with all the checks.

Rules that keep it from changing, duplicating or losing a result:
- The per-run files are the source of truth; the index only caches what reading them, checks included, returned.
  Deleting it loses nothing: the next read rebuilds it.
- The file list always comes from the directory: a new file is read, a removed one is gone, at once.
- An entry is used only while its file's (size, mtime_ns, ctime_ns, inode), taken *before* the file was read, are
  unchanged: the store renames a new file into place (a new inode and ctime), and any in-place edit moves its
  ctime, so a changed file is read again. Like git's index, an entry whose ctime lies within `RACY_NS` of the
  index's own mtime is not trusted (two edits within one timestamp tick would share a stat) and is read again.
- The index carries a digest of its rows and manifest (`INDEX_DIGEST_KEY`): a damaged or edited index is ignored,
  with a warning, and rebuilt.
- Only files that passed the reader's checks enter it, so a damaged file is read, and reported, on every read.
- It is written atomically (harness.store.atomic) by a read that found it out of date; a directory that cannot be
  written is read without one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from harness.store.atomic import atomic_path

INDEX_VERSION = 1
INDEX_DIGEST_KEY = b"depalm_bench.index_sha256"
INDEX_MANIFEST_KEY = b"depalm_bench.index_manifest"
RACY_NS = 2_000_000_000  # coarse filesystem clocks tick every few ms (FAT: 2 s); an entry this recent is re-read

StatKey = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode


@dataclass(frozen=True)
class IndexKind:
    """What one reader caches: its index file name, the column types every table must have (extra columns keep
    the type of their first file), the checked read of one file (table, whether it carried a checksum) and how a
    message about the index itself is reported."""

    name: str
    schema: pa.Schema
    read: Callable[[Path], tuple[pa.Table, bool]]
    warn: Callable[[str], None]


@dataclass
class Piece:
    """The rows of one or more consecutive files, in file order; `unverified`: those carrying no checksum."""

    table: pa.Table
    paths: list[Path]
    unverified: list[Path]


@dataclass(frozen=True)
class _Entry:
    key: StatKey
    verified: bool
    start: int
    n_rows: int
    columns: int  # index of its column list in the manifest


@dataclass
class _Index:
    directory: Path
    table: pa.Table
    entries: dict[str, _Entry]
    columns: list[list[str]]
    mtime_ns: int


def stat_key(path: Path) -> StatKey:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


def table_digest(table: pa.Table, manifest: bytes) -> str:
    """SHA-256 of a table's column names, types, validity and values (string bytes, numeric bits), and `manifest`;
    vectorised, so digesting a few hundred thousand rows takes milliseconds."""
    h = hashlib.sha256(manifest)
    for name in table.column_names:
        column = table.column(name)
        arr = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        h.update(json.dumps([name, str(arr.type), len(arr)]).encode())
        h.update(np.packbits(arr.is_valid().to_numpy(zero_copy_only=False)).tobytes())
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            filled = arr.fill_null("")
            offsets_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
            _, offsets_buf, data_buf = filled.buffers()
            offsets = np.frombuffer(offsets_buf, offsets_type)[filled.offset : filled.offset + len(filled) + 1]
            h.update((offsets - offsets[0]).tobytes())
            if data_buf is not None:
                h.update(memoryview(data_buf)[int(offsets[0]) : int(offsets[-1])])
        elif pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type) or pa.types.is_boolean(arr.type):
            h.update(arr.fill_null(False if pa.types.is_boolean(arr.type) else 0).to_numpy().tobytes())
        elif not pa.types.is_null(arr.type):
            h.update(json.dumps(arr.to_pylist(), default=repr).encode())
    return h.hexdigest()


def read_parquet(path: Path) -> pa.Table:
    """One small parquet file, read whole in one call and decoded on this thread (half the CPU of `read_table`)."""
    with open(path, "rb") as f:
        data = f.read()
    return pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False)


def _load(directory: Path, kind: IndexKind) -> _Index | None:
    path = directory / kind.name
    try:
        mtime_ns = os.stat(path).st_mtime_ns
        table = read_parquet(path)
    except FileNotFoundError:
        return None
    except Exception as e:  # noqa: BLE001 - an unreadable index is rebuilt from the files
        kind.warn(f"results index {path} cannot be read ({e}); rebuilding it from the files")
        return None
    meta = table.schema.metadata or {}
    manifest = meta.get(INDEX_MANIFEST_KEY, b"")
    table = table.replace_schema_metadata(None)
    try:
        if meta.get(INDEX_DIGEST_KEY, b"").decode() != table_digest(table, manifest):
            raise ValueError("its content does not match its digest")
        spec = json.loads(manifest)
        if spec["version"] != INDEX_VERSION:
            return None  # written by another version of the reader: rebuilt without a word
        columns = [list(c) for c in spec["columns"]]
        entries, start = {}, 0
        for rel, size, mtime, ctime, ino, verified, n_rows, cols in spec["files"]:
            entries[rel] = _Entry((size, mtime, ctime, ino), bool(verified), start, n_rows, cols)
            start += n_rows
        if start != table.num_rows or any(not set(c) <= set(table.column_names) for c in columns):
            raise ValueError("its manifest does not match its rows")
    except Exception as e:  # noqa: BLE001
        kind.warn(f"results index {path} is damaged ({e}); rebuilding it from the files")
        return None
    return _Index(directory, table, entries, columns, mtime_ns)


def _indexable(fields: list[tuple[str, pa.DataType]], types: dict[str, pa.DataType]) -> bool:
    """Whether a file's columns have the index's types (claiming the type of a column the index has not seen)."""
    if any(name in types and types[name] != t for name, t in fields):
        return False
    types.update(fields)
    return True


@dataclass
class _File:
    path: Path
    key: StatKey
    verified: bool
    columns: list[str]
    hit: tuple[_Index, _Entry] | None = None  # from an index
    table: pa.Table | None = None  # read now

    @property
    def fields(self) -> list[tuple[str, pa.DataType]]:
        schema = self.table.schema if self.table is not None else self.hit[0].table.schema  # type: ignore[index]
        return [(name, schema.field(name).type) for name in self.columns]


def _rel(path: Path, directory: Path) -> str | None:
    d, p = str(directory), str(path)
    return p[len(d) + 1 :] if p.startswith(d + os.sep) else None


def read_indexed(
    directories: Sequence[Path], files: Sequence[Path], kind: IndexKind, on_error: Callable[[Path, Exception], None]
) -> list[Piece]:
    """The checked rows of `files` (resolved, sorted; those under `directories` served from their indexes where
    still valid), in file order; a file that fails `kind.read` goes to `on_error` and is left out. Then each
    directory's index is rewritten if it differs from what was read."""
    indexes = [idx for d in directories if (idx := _load(d, kind)) is not None]
    done: list[_File] = []
    for path in files:
        try:
            key = stat_key(path)  # before the read: a file replaced meanwhile leaves a stale key, read again later
        except OSError as e:
            on_error(path, e)
            continue
        hit = None
        for idx in indexes:
            rel = _rel(path, idx.directory)
            entry = idx.entries.get(rel) if rel is not None else None
            if entry is not None and entry.key == key and entry.key[2] < idx.mtime_ns - RACY_NS:
                hit = (idx, entry)
                break
        if hit is not None:
            idx, entry = hit
            done.append(_File(path, key, entry.verified, idx.columns[entry.columns], hit=hit))
            continue
        try:
            table, verified = kind.read(path)
        except Exception as e:  # noqa: BLE001 - the reader names the file and goes on without it
            on_error(path, e)
            continue
        done.append(_File(path, key, verified, table.column_names, table=table))
    for directory in directories:
        _update(directory, [f for f in done if _rel(f.path, directory) is not None], indexes, kind)
    return _pieces(done)


def _hit(f: _File) -> tuple[_Index, _Entry]:
    assert f.hit is not None, f.path
    return f.hit


def _table(f: _File) -> pa.Table:
    assert f.table is not None, f.path
    return f.table


def _pieces(done: list[_File]) -> list[Piece]:
    """Consecutive files held by one index, with the same columns and adjacent rows, make one slice."""
    pieces: list[Piece] = []
    run: list[_File] = []

    def flush() -> None:
        if run:
            idx, first = _hit(run[0])
            rows = sum(_hit(f)[1].n_rows for f in run)
            table = idx.table.slice(first.start, rows).select(run[0].columns)
            pieces.append(Piece(table, [f.path for f in run], [f.path for f in run if not f.verified]))
            run.clear()

    for f in done:
        if f.hit is None:
            flush()
            pieces.append(Piece(_table(f), [f.path], [] if f.verified else [f.path]))
            continue
        if run:
            last_idx, last = _hit(run[-1])
            idx, entry = f.hit
            if idx is not last_idx or entry.start != last.start + last.n_rows or f.columns != run[-1].columns:
                flush()
        run.append(f)
    flush()
    return pieces


def _update(directory: Path, files: list[_File], indexes: list[_Index], kind: IndexKind) -> None:
    """Rewrite `directory`'s index when the files read there differ from it (new, changed, removed or re-read)."""
    own = next((idx for idx in indexes if idx.directory == directory), None)
    types = {field.name: field.type for field in kind.schema}
    fresh = [f for f in files if f.hit is None]
    if own is not None:
        own_hits = sum(1 for f in files if f.hit is not None and f.hit[0] is own)
        if own_hits == len(own.entries) == len(files) - len(fresh):
            known = types | {field.name: field.type for field in own.table.schema}
            if not any(_indexable(f.fields, dict(known)) for f in fresh):
                return  # up to date: what it lacks, it cannot hold
    kept = [f for f in files if _indexable(f.fields, types)]
    if own is None and not kept:
        return
    sources: list[pa.Table] = []
    offset: dict[int, int] = {}
    starts: list[int] = []
    base = 0
    for f in kept:
        if f.hit is not None:
            idx = f.hit[0]
            if id(idx) not in offset:
                offset[id(idx)] = base
                sources.append(idx.table)
                base += idx.table.num_rows
            starts.append(offset[id(idx)] + f.hit[1].start)
        else:
            sources.append(_table(f))
            starts.append(base)
            base += _table(f).num_rows
    counts = [f.hit[1].n_rows if f.hit is not None else f.table.num_rows for f in kept]  # type: ignore[union-attr]
    schema = pa.schema([pa.field(name, t) for name, t in types.items()])
    combined = pa.concat_tables([_conform(t, schema) for t in sources]) if sources else schema.empty_table()
    order = np.concatenate([np.arange(s, s + n) for s, n in zip(starts, counts)]) if kept else np.array([], int)
    table = combined.take(pa.array(order, pa.int64())).combine_chunks()
    column_sets: dict[tuple[str, ...], int] = {}
    listed = []
    for f, n in zip(kept, counts):
        cols = column_sets.setdefault(tuple(f.columns), len(column_sets))
        listed.append([_rel(f.path, directory), *f.key, int(f.verified), n, cols])
    manifest = json.dumps(
        {"version": INDEX_VERSION, "columns": [list(c) for c in column_sets], "files": listed}, separators=(",", ":")
    ).encode()
    table = table.replace_schema_metadata(
        {INDEX_DIGEST_KEY: table_digest(table, manifest).encode(), INDEX_MANIFEST_KEY: manifest}
    )
    try:
        with atomic_path(directory / kind.name) as tmp:
            pq.write_table(table, tmp, write_statistics=False)
    except OSError:
        pass  # a read-only directory is read without an index


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with every column of `schema`, in its order (nulls where it has none)."""
    columns = [
        table.column(field.name) if field.name in table.column_names else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
