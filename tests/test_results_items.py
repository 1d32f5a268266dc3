"""Per-item scores store (harness/store/items.py): round trip, integrity, and the results reader leaving it out; the
metrics' per-item scores average to their corpus values; the control column."""

from __future__ import annotations

import contextlib
import shutil
import warnings

import pandas as pd
import pytest
from test_results import _row

from benchmarks.metrics.caption import score_captions_items
from benchmarks.metrics.vqa import vqa_item_scores
from harness.store.items import ITEM_COLUMNS, items_path, read_item_scores, write_item_scores
from harness.store.results import ResultsWarning, read_results, write_result

SCORES = {"test": {"CIDEr": {"i1": 120.5, "i2": 0.0}}, "val": {"CIDEr": {"i1": 99.0}, "VQA_acc": {"q": 100 / 3}}}


def test_round_trip(tmp_path):
    path = write_item_scores(SCORES, tmp_path, "run-a")
    assert path == tmp_path / "run-a.items.parquet" == items_path(tmp_path, "run-a")
    df = read_item_scores([tmp_path])
    assert list(df.columns) == list(ITEM_COLUMNS) and set(df.run_id) == {"run-a"}
    got = {(r.split, r.metric, r.item_id): r.score for r in df.itertuples()}
    assert got == {("test", "CIDEr", "i1"): 120.5, ("test", "CIDEr", "i2"): 0.0, ("val", "CIDEr", "i1"): 99.0,
                   ("val", "VQA_acc", "q"): 100 / 3}  # fmt: skip
    assert read_item_scores([tmp_path], run_ids={"other"}).empty


def test_results_reader_ignores_per_item_files_and_items_reader_ignores_results(tmp_path):
    write_result([_row(run_id="run-a")], tmp_path, "run-a")
    write_item_scores(SCORES, tmp_path / "sub", "run-a")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        rows = read_results([tmp_path])
        items = read_item_scores([tmp_path])
    assert not [w for w in record if issubclass(w.category, ResultsWarning)]
    assert rows.run_id.tolist() == ["run-a"] and len(items) == 4


def test_a_flipped_byte_skips_the_file_with_a_warning_naming_it(tmp_path):
    write_item_scores(SCORES, tmp_path, "good")
    bad = write_item_scores({"test": {"CIDEr": {"i1": 1.0}}}, tmp_path, "bad")
    data = bytearray(bad.read_bytes())
    at = data.index(b"i1")  # inside the item id column's data page
    data[at] ^= 0x01
    bad.write_bytes(bytes(data))
    with pytest.warns(ResultsWarning, match=r"bad\.items\.parquet") as record:
        df = read_item_scores([tmp_path])
    assert set(df.run_id) == {"good"}
    assert any("does not match its checksum" in str(w.message) for w in record)


def test_a_file_with_another_runs_rows_is_skipped(tmp_path):
    path = write_item_scores(SCORES, tmp_path, "a")
    path.rename(tmp_path / "b.items.parquet")
    with pytest.warns(ResultsWarning, match="not only of b"):
        assert read_item_scores([tmp_path]).empty


def test_refuses_unknown_splits_empty_scores_and_run_ids_that_would_hide_a_results_file(tmp_path):
    with pytest.raises(ValueError, match="unknown split"):
        write_item_scores({"dev": {"CIDEr": {"i": 1.0}}}, tmp_path, "r")
    with pytest.raises(ValueError, match="no per-item scores"):
        write_item_scores({"test": {}}, tmp_path, "r")
    with pytest.raises(ValueError, match="may not end with"):
        write_result([_row(run_id="x.items")], tmp_path, "x.items")
    assert list(tmp_path.iterdir()) == []


def test_control_column_defaults_to_empty_and_round_trips(tmp_path):
    write_result([_row(run_id="m")], tmp_path, "m")
    write_result([_row(run_id="p", control="prior")], tmp_path, "p")
    df = read_results([tmp_path]).set_index("run_id")
    assert df.loc["m", "control"] == "" and df.loc["p", "control"] == "prior"


def test_vqa_item_scores_average_to_the_corpus_accuracy():
    answers = {"a": ["2"] * 10, "b": ["red"] * 3 + ["blue"] * 7, "c": ["yes"] * 10}
    preds = {"a": "two", "b": "red", "c": "no"}
    corpus, items = vqa_item_scores(preds, answers)
    for metric in ("VQA_acc", "VQA_acc_depalm"):
        assert set(items[metric]) == set(answers)
        assert sum(items[metric].values()) / 3 == pytest.approx(corpus[metric], abs=1e-12)
    assert items["VQA_acc"] == {"a": 100.0, "b": pytest.approx(90.0), "c": 0.0}


def test_cider_item_scores_average_to_the_corpus_cider():
    refs = {"1": ["a dog runs on the grass", "a dog in a field"], "2": ["a red car on a road", "a parked car"]}
    refs["3"] = ["two cats sleep", "cats sleeping on a bed"]
    preds = {"1": "a dog runs in a field", "2": "a car", "3": "a bird"}
    no_java = shutil.which("java") is None  # then a warned Python stand-in tokenizes
    with pytest.warns(UserWarning, match="java") if no_java else contextlib.nullcontext():
        corpus, items = score_captions_items(preds, refs, ("CIDEr", "BLEU_4"))
    assert set(items) == {"CIDEr"} and set(items["CIDEr"]) == set(refs)
    assert sum(items["CIDEr"].values()) / 3 == pytest.approx(corpus["CIDEr"], abs=1e-9)
    assert items["CIDEr"]["1"] > items["CIDEr"]["3"] == pytest.approx(0.0)


def test_item_scores_of_a_benchmark_come_with_its_corpus_scores():
    from benchmarks import get_benchmark

    bench = get_benchmark("syn-vqav2")
    items = bench.load("val", size=8)
    preds = {it.id: it.targets[0] for it in items}
    scores = bench.score(preds, items)
    assert scores.corpus == bench.evaluate(preds, items)
    assert set(scores.items) == {"VQA_acc", "VQA_acc_depalm"}
    per_item = pd.Series(scores.items["VQA_acc"])
    assert set(per_item.index) == {it.id for it in items}
    assert per_item.mean() == pytest.approx(scores.corpus["VQA_acc"], abs=1e-9)
    assert bench.item_scores(preds, items) == scores.items


def test_runner_rows_carry_the_method_configs_control(tmp_path):
    import dataclasses

    from harness.cli import parse_study
    from harness.runner.cell import CellOutcome, result_rows
    from harness.runner.matrix import plan

    study = parse_study(["--methods", "mapl", "--no-controls", "--datasets", "syn-coco", "--results", str(tmp_path)])
    (cfg,) = plan(study).cells
    outcome = CellOutcome(run_id=cfg.run_id, status="ok", metrics={"test": {"CIDEr": 1.0}})
    assert {r["control"] for r in result_rows(cfg, outcome, {}, ("test", "CIDEr"))} == {""}
    blind = dataclasses.replace(cfg, method_config={**cfg.method_config, "control": "blind"})
    rows = result_rows(blind, outcome, {}, ("test", "CIDEr"))
    write_result(rows, tmp_path, cfg.run_id)
    assert read_results([tmp_path]).control.tolist() == ["blind"]
