"""The store's index (harness/store/index.py): reading through it returns exactly what reading every file returns;
a new, removed, rewritten or edited file is picked up at once; a damaged file is still skipped and named; a damaged
index is ignored, said and rebuilt."""

from __future__ import annotations

import dataclasses
import os
import warnings

import pandas as pd
import pyarrow as pa
import pytest
from test_results import _row

from harness.store import index as store_index
from harness.store import items as store_items
from harness.store import results as store_results
from harness.store.items import read_item_scores, write_item_scores
from harness.store.results import ResultsWarning, normalize_rows, read_results, write_result

INDEX = store_results.RESULTS_INDEX.name


def _read(paths, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = read_results(list(paths), **kw)
    return df, [str(w.message) for w in caught if issubclass(w.category, ResultsWarning)]


def _trust(directory):
    """Date the index 10 s ahead, out of the window in which it re-reads files written just before it."""
    path = directory / INDEX
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10 * 10**9))


@pytest.fixture
def reads(monkeypatch):
    """Counts the files the results reader reads one by one (rather than from an index)."""
    seen: list[str] = []
    kind = store_results.RESULTS_INDEX

    def read(path):
        seen.append(path.name)
        return kind.read(path)

    monkeypatch.setattr(store_results, "RESULTS_INDEX", dataclasses.replace(kind, read=read))
    return seen


def _fixture(directory):
    """Runs of every shape the reader handles: extra columns, a subfolder, several rows, no checksum, a column of
    another type, a damaged file."""
    write_result([_row(seed=0), _row(seed=0, metric="BLEU_4", value=3.0)], directory, "a")
    write_result([_row(seed=1, mean_step_s=0.5, num_beams=3)], directory, "b")
    write_result([_row(seed=2, status="failed", value=float("nan"), error="boom")], directory / "sub", "c")
    table = pa.Table.from_pandas(normalize_rows([_row(seed=3)], "d"), preserve_index=False)
    store_index.pq.write_table(table.replace_schema_metadata(None), directory / "d.parquet")  # no checksum
    odd = normalize_rows([_row(seed=4)], "e").astype({"seed": "float64"})
    store_results.write_checksummed(pa.Table.from_pandas(odd, preserve_index=False), directory / "e.parquet")
    (directory / "f.parquet").write_bytes(b"not parquet")


def test_index_reads_what_the_files_hold(tmp_path, reads):
    _fixture(tmp_path)
    plain, plain_msgs = _read([tmp_path], use_index=False)
    assert not (tmp_path / INDEX).exists() and len(reads) == 6
    cold, cold_msgs = _read([tmp_path])
    assert (tmp_path / INDEX).exists()
    _trust(tmp_path)
    reads.clear()
    warm, warm_msgs = _read([tmp_path])
    # read again: a file in other arrow types than the store's (large strings, a float seed) and the damaged one
    assert reads == ["d.parquet", "e.parquet", "f.parquet"]
    for df in (cold, warm):
        pd.testing.assert_frame_equal(df, plain)
    assert cold_msgs == plain_msgs == warm_msgs
    assert any("f.parquet" in m for m in warm_msgs) and any("no checksum" in m for m in warm_msgs)
    assert sorted(plain.seed.dropna().astype(int)) == [0, 0, 1, 2, 3, 4]


def test_new_removed_and_rewritten_files_are_picked_up(tmp_path, reads):
    for i in range(3):
        write_result([_row(seed=i)], tmp_path, f"r{i}")
    read_results([tmp_path])
    _trust(tmp_path)
    write_result([_row(seed=9)], tmp_path, "new")
    (tmp_path / "r0.parquet").unlink()
    write_result([_row(seed=1, value=99.0)], tmp_path, "r1")  # a rerun replaces the file
    reads.clear()
    df, msgs = _read([tmp_path])
    assert sorted(reads) == ["new.parquet", "r1.parquet"] and msgs == []
    assert sorted(df.run_id) == ["new", "r1", "r2"]
    assert df.set_index("run_id").value["r1"] == 99.0
    pd.testing.assert_frame_equal(df, _read([tmp_path], use_index=False)[0])


def test_a_file_edited_in_place_is_read_again_and_refused(tmp_path):
    path = write_result([_row(value=12.5)], tmp_path, "r")
    original, _ = _read([tmp_path])
    _trust(tmp_path)
    data = path.read_bytes()
    i = data.index(pa.array([12.5]).buffers()[1].to_pybytes())  # the value's bytes: same size, same inode
    path.write_bytes(data[:i] + pa.array([13.5]).buffers()[1].to_pybytes() + data[i + 8 :])
    df, msgs = _read([tmp_path])
    assert df.empty and any(str(path) in m and "checksum" in m for m in msgs)
    assert len(original) == 1


def test_a_file_written_just_before_the_index_is_not_trusted(tmp_path, reads):
    """Two writes in one timestamp tick share a stat: an entry as recent as the index is read again."""
    write_result([_row()], tmp_path, "r")
    read_results([tmp_path])
    reads.clear()
    read_results([tmp_path])
    assert reads == ["r.parquet"]


@pytest.mark.parametrize("damage", ["bytes", "digest"])
def test_a_damaged_index_is_said_and_rebuilt(tmp_path, damage):
    for i in range(3):
        write_result([_row(seed=i)], tmp_path, f"r{i}")
    expected, _ = _read([tmp_path])
    index = tmp_path / INDEX
    if damage == "bytes":
        data = bytearray(index.read_bytes())
        data[len(data) // 3] ^= 0xFF
        index.write_bytes(bytes(data))
    else:  # rows edited, metadata kept: the digest no longer matches
        table = store_index.read_parquet(index)
        edited = table.set_column(table.schema.get_field_index("value"), "value", pa.array([1.0, 2.0, 3.0]))
        store_index.pq.write_table(edited, index)
    _trust(tmp_path)
    df, msgs = _read([tmp_path])
    pd.testing.assert_frame_equal(df, expected)
    assert any("index" in m and ("damaged" in m or "cannot be read" in m) for m in msgs)
    df, msgs = _read([tmp_path])  # rebuilt
    assert msgs == []


def test_nested_directories_read_each_file_once(tmp_path):
    write_result([_row(seed=0)], tmp_path, "a")
    write_result([_row(seed=1)], tmp_path / "paper", "b")
    read_results([tmp_path / "paper"])  # an index of the subfolder alone
    df = read_results([tmp_path, tmp_path / "paper"])
    assert sorted(df.run_id) == ["a", "b"]
    assert (tmp_path / INDEX).exists() and (tmp_path / "paper" / INDEX).exists()


def test_per_item_scores_through_the_index(tmp_path, monkeypatch):
    for i in range(3):
        write_item_scores({"test": {"CIDEr": {"x": float(i), "y": 1.0}}}, tmp_path, f"r{i}")
    plain = read_item_scores([tmp_path], use_index=False)
    assert not (tmp_path / store_items.ITEMS_INDEX.name).exists()
    pd.testing.assert_frame_equal(read_item_scores([tmp_path]), plain)
    (tmp_path / store_items.ITEMS_INDEX.name).touch()  # an index's bytes are its own: touched, not edited
    st = os.stat(tmp_path / store_items.ITEMS_INDEX.name)
    os.utime(tmp_path / store_items.ITEMS_INDEX.name, ns=(st.st_atime_ns, st.st_mtime_ns + 10 * 10**9))
    seen = []
    kind = store_items.ITEMS_INDEX
    monkeypatch.setattr(
        store_items, "ITEMS_INDEX", dataclasses.replace(kind, read=lambda p: seen.append(p) or kind.read(p))
    )
    write_item_scores({"test": {"CIDEr": {"x": 5.0}}}, tmp_path, "r3")
    (tmp_path / f"r0{store_results.ITEMS_SUFFIX}").unlink()
    df = read_item_scores([tmp_path], run_ids={"r1", "r3"})
    assert [p.name for p in seen] == [f"r3{store_results.ITEMS_SUFFIX}"]
    assert sorted(set(df.run_id)) == ["r1", "r3"] and len(df) == 3
