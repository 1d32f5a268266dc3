"""Results store (harness/store/results.py): schema, atomic writes, tolerant recursive reads, no torch."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from harness.store import atomic, results
from harness.store.results import COLUMNS, ResultsWarning, read_results, write_result

REPO = Path(__file__).resolve().parent.parent


def _row(**kw):
    row = dict(
        method="depalm",
        dataset="syn-coco",
        seed=0,
        lr=8e-4,
        grad_clip=0.8,
        llm="smollm2-135m",
        encoder="clip-b16-embedded",
        profile="smoke",
        split="test",
        metric="CIDEr",
        value=12.5,
        train_time_s=30.0,
        config_hash="abc",
        code_version="deadbeef",
    )
    row.update(kw)
    return row


def test_roundtrip_keeps_schema_types_and_fills_defaults(tmp_path):
    path = write_result([_row(), _row(metric="BLEU_4", value=3.25)], tmp_path, "depalm-syn-coco-s0")
    assert path == tmp_path / "depalm-syn-coco-s0.parquet"
    df = read_results([tmp_path])
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert len(df) == 2 and set(df.metric) == {"CIDEr", "BLEU_4"}
    row = df.iloc[0]
    assert row.status == "ok" and row.source == "run" and row.run_id == "depalm-syn-coco-s0"
    assert row.n_seeds == 1 and math.isnan(row["std"]) and row.table_ref == "" and row.created_at
    assert str(df.seed.dtype) == "Int64" and str(df.trainable_params.dtype) == "Int64"
    assert pd.isna(row.trainable_params)


def test_null_text_reads_as_empty(tmp_path):
    write_result([_row(note=None, error=None, llm=None)], tmp_path, "r")
    df = read_results([tmp_path])
    assert (df.note.tolist(), df.error.tolist(), df.llm.tolist()) == ([""], [""], [""])


def test_extra_columns_are_kept(tmp_path):
    write_result([_row(num_beams=3)], tmp_path, "r")
    assert read_results([tmp_path]).num_beams.tolist() == [3]


def test_files_with_different_or_clashing_extra_columns_merge(tmp_path):
    write_result([_row(num_beams=3)], tmp_path, "a")
    write_result([_row(num_beams="three", other=1.5)], tmp_path, "b")
    write_result([_row()], tmp_path, "c")
    df = read_results([tmp_path]).sort_values("run_id")
    assert df.num_beams.tolist()[:2] == [3, "three"] and pd.isna(df.num_beams.iloc[2])
    assert df.other.iloc[1] == 1.5 and len(df) == 3


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(metric=None), "missing required column"),
        (dict(status="crashed"), "status='crashed'"),
        (dict(split="dev"), "split='dev'"),
        (dict(value=float("nan")), "no value but status 'ok'"),
        (dict(source="guess"), "source='guess'"),
    ],
)
def test_invalid_rows_are_refused_with_a_clear_message(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        write_result([_row(**bad)], tmp_path, "r")
    assert list(tmp_path.iterdir()) == []


def test_failed_run_row_needs_no_value(tmp_path):
    write_result([_row(status="failed", value=None, error="CUDA OOM")], tmp_path, "r")
    df = read_results([tmp_path])
    assert df.status.tolist() == ["failed"] and math.isnan(df.value.iloc[0]) and df.error.iloc[0] == "CUDA OOM"


@pytest.mark.parametrize("run_id", ["../escape", "a/b", "", ".hidden"])
def test_run_id_must_be_a_plain_file_name(tmp_path, run_id):
    with pytest.raises(ValueError, match="run_id"):
        write_result([_row()], tmp_path, run_id)


def test_failure_mid_write_leaves_earlier_results_intact_and_no_partial_file(tmp_path, monkeypatch):
    write_result([_row(value=1.0)], tmp_path, "a")
    write_result([_row(value=2.0)], tmp_path, "b")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}

    def crash_after_partial_write(writer, table, **kw):
        raise OSError("disk full")  # the writer has put its header in the temp file, then the disk is full

    monkeypatch.setattr(pq.ParquetWriter, "write_table", crash_after_partial_write)
    for run_id in ("b", "c"):  # overwrite of an existing run and a new run
        with pytest.raises(OSError, match="disk full"):
            write_result([_row(value=99.0)], tmp_path, run_id)
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no temp file, nothing changed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert sorted(read_results([tmp_path]).value) == [1.0, 2.0]


def test_atomic_writes_replace_whole_or_leave_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "sub" / "state.json"
    atomic.write_text(target, "v1 ✓")
    assert target.read_text(encoding="utf-8") == "v1 ✓"
    with pytest.raises(RuntimeError, match="killed"), atomic.atomic_path(target) as tmp:
        tmp.write_text("v2, half written")
        raise RuntimeError("killed")
    assert target.read_text(encoding="utf-8") == "v1 ✓"
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_atomic_dir_replaces_a_folder_built_in_place(tmp_path):
    final = tmp_path / "model"
    final.mkdir()
    (final / "stale.bin").write_bytes(b"left by an interrupted attempt")
    with atomic.atomic_dir(final) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".")
        (tmp / "config.json").write_text("{}")
    assert [p.name for p in final.iterdir()] == ["config.json"]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_reader_ignores_hidden_temp_files_of_writes_in_progress(tmp_path):
    write_result([_row()], tmp_path, "a")
    (tmp_path / ".b.1234.tmp").write_bytes(b"partial")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.parquet").write_bytes(b"partial")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_results([tmp_path])) == 1


def test_reader_merges_a_tree_and_skips_unreadable_files_by_name(tmp_path):
    write_result([_row(value=1.0)], tmp_path / "profile-a", "a")
    write_result([_row(value=2.0)], tmp_path / "profile-b" / "deeper", "b")
    (tmp_path / "profile-b" / "corrupt.parquet").write_bytes(b"PAR1 not really parquet")
    pd.DataFrame({"x": [1]}).to_parquet(tmp_path / "foreign.parquet")
    with pytest.warns(ResultsWarning) as record:
        df = read_results([tmp_path])
    messages = " ".join(str(w.message) for w in record)
    assert "corrupt.parquet" in messages and "foreign.parquet" in messages and "missing column" in messages
    assert sorted(df.value) == [1.0, 2.0]


def test_the_same_file_reached_twice_is_read_once(tmp_path):
    write_result([_row()], tmp_path / "sub", "a")
    assert len(read_results([tmp_path, tmp_path / "sub", tmp_path / "sub" / "a.parquet"])) == 1


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file or directory"):
        read_results([tmp_path / "nope"])


def test_empty_directory_gives_an_empty_typed_frame(tmp_path):
    df = read_results([tmp_path])
    assert df.empty and list(df.columns) == list(COLUMNS)


def test_results_store_imports_no_torch():
    code = (
        "import sys, harness.store.results, harness.report, harness.report.render, harness.report.select, "
        "harness.report.ranking; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_schema_is_documented_in_the_module_docstring():
    listing = results.__doc__.split("Columns")[1]
    for column in COLUMNS:
        assert re.search(rf"^  (\w+, )?{column}\b", listing, re.M), column


def test_written_files_get_the_permissions_the_umask_allows(tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    os.umask(mask)
    assert mask == atomic.UMASK
    path = write_result([_row()], tmp_path, "r")
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # mkstemp alone would give 0600
    with atomic.atomic_dir(tmp_path / "d") as tmp:
        (tmp / "x").write_text("x")
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o777 & ~mask
