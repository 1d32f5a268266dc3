"""Results files carry a checksum of their content: a damaged file, or one with an unknown category, is skipped and
named (ResultsWarning), never silently used and never a crash; the report goes on without it."""

from __future__ import annotations

import warnings

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_results import _row as base_row

from harness.cli import main
from harness.store.results import (
    CHECKSUM_KEY,
    ResultsWarning,
    content_digest,
    normalize_rows,
    read_results,
    write_result,
)


def _row(**kw):
    return base_row(**{"value": 0.0, "mean_step_s": 0.5, **kw})


def _read(directory):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = read_results([directory])
    return df, [str(w.message) for w in caught if issubclass(w.category, ResultsWarning)]


def test_every_byte_flip_is_refused_or_harmless(tmp_path):
    """Each byte of a one-row file, flipped in turn: the reader returns exactly the original values or skips the
    file naming it; it never raises."""
    path = write_result([_row()], tmp_path, "r")
    original, messages = _read(tmp_path)
    assert messages == [] and len(original) == 1
    data = path.read_bytes()
    outcomes = {"same": 0, "skipped": 0}
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0xFF
        path.write_bytes(bytes(flipped))
        df, messages = _read(tmp_path)  # an exception here fails the test: a crash
        if df.empty:
            assert any(str(path) in m for m in messages), (i, messages)
            outcomes["skipped"] += 1
        else:
            if not df.equals(original):
                pd.testing.assert_frame_equal(df, original, obj=f"flip at byte {i}")
            outcomes["same"] += 1
    assert outcomes["skipped"] > 0 and outcomes["same"] + outcomes["skipped"] == len(data)


def _raw_write(df: pd.DataFrame, path, digest: bool = True) -> None:
    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    if digest:
        table = table.replace_schema_metadata({CHECKSUM_KEY: content_digest(table).encode()})
    pq.write_table(table, path)


@pytest.mark.parametrize("column, value", [("status", "crashed"), ("source", "guess"), ("split", "dev")])
def test_unknown_category_skips_the_file_by_name(tmp_path, column, value):
    write_result([_row(value=1.0)], tmp_path, "good")
    df = normalize_rows([_row()], "odd")
    df[column] = value  # written past the writer's validation, with a valid checksum
    _raw_write(df, tmp_path / "odd.parquet")
    rows, messages = _read(tmp_path)
    assert rows["run_id"].tolist() == ["good"]
    assert any("odd.parquet" in m and f"unknown {column}" in m and value in m for m in messages)


def test_a_changed_value_fails_the_checksum(tmp_path):
    df = normalize_rows([_row()], "r")
    table = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(None)
    digest = content_digest(table)
    df["value"] = 7e-304  # the silently changed number
    changed = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata({CHECKSUM_KEY: digest})
    pq.write_table(changed, tmp_path / "r.parquet")
    rows, messages = _read(tmp_path)
    assert rows.empty and any("r.parquet" in m and "checksum" in m for m in messages)


def test_a_file_without_checksum_is_read_with_a_warning(tmp_path):
    _raw_write(normalize_rows([_row(value=3.0)], "old"), tmp_path / "old.parquet", digest=False)
    rows, messages = _read(tmp_path)
    assert rows["value"].tolist() == [3.0]
    assert any("no checksum" in m and "old.parquet" in m for m in messages)


def test_report_only_goes_on_without_a_damaged_file(tmp_path, capsys):
    results = tmp_path / "results"
    write_result([_row(value=30.0)], results, "good")
    bad = write_result([_row(method="mapl", value=20.0)], results, "bad")
    data = bytearray(bad.read_bytes())
    data[len(data) // 3] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.warns(ResultsWarning, match="bad.parquet"):
        assert main(["--report-only", "--results", str(results), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "table4.md").exists()
