"""Run-directory files read back are checked: config.json and metrics.json carry their own checksum, metrics.json
lists the checksum of the run's other files (predictions, train log, config, weights); every byte flip is caught
or changes nothing."""

from __future__ import annotations

import json

import pytest

from harness.runner.rundir import (
    CONFIG_NAME,
    FILES_FIELD,
    METRICS_NAME,
    CorruptRunFile,
    manifest,
    read_json,
    sweep_temp_files,
    verify_run_dir,
    write_json,
)

CONFIG = {
    "config": {"method": "depalm", "seed": 0, "lr": 0.001, "train": {"max_steps": 4}},
    "config_hash": "ab12",
    "run_id": "depalm__syn-coco__s0",
    "nan": float("nan"),
}


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_json_round_trip_and_every_byte_flip_is_refused_or_harmless(tmp_path):
    path = tmp_path / CONFIG_NAME
    write_json(path, CONFIG)
    original = read_json(path)
    assert _same(original, CONFIG)
    data = path.read_bytes()
    refused = 0
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 0xFF
        path.write_bytes(bytes(flipped))
        try:
            back = read_json(path)
        except CorruptRunFile as e:
            assert str(path) in str(e)
            refused += 1
            continue
        assert _same(back, original), i  # e.g. a flip inside insignificant whitespace
    assert refused > len(data) // 2


def test_files_listed_in_metrics_are_verified(tmp_path):
    (tmp_path / "predictions_test.jsonl").write_text('{"id": "a", "prediction": "red"}\n')
    (tmp_path / "train_log.jsonl").write_text('{"step": 1, "loss": 2.5}\n')
    write_json(tmp_path / CONFIG_NAME, CONFIG)
    names = [CONFIG_NAME, "train_log.jsonl", "predictions_test.jsonl", "trainable.safetensors"]
    write_json(tmp_path / METRICS_NAME, {"status": "ok", FILES_FIELD: manifest(tmp_path, names)})
    assert verify_run_dir(tmp_path) == []
    for name in ("predictions_test.jsonl", "train_log.jsonl"):
        path = tmp_path / name
        data = path.read_bytes()
        for i in range(len(data)):
            flipped = bytearray(data)
            flipped[i] ^= 0x01
            path.write_bytes(bytes(flipped))
            assert [p for p in verify_run_dir(tmp_path) if name in p], (name, i)
        path.write_bytes(data)
    assert verify_run_dir(tmp_path) == []
    (tmp_path / "predictions_test.jsonl").unlink()
    assert any("missing" in p for p in verify_run_dir(tmp_path))


def test_a_file_without_checksum_is_refused(tmp_path):
    (tmp_path / METRICS_NAME).write_text('{"status": "ok"}')
    with pytest.raises(CorruptRunFile, match="no checksum"):
        read_json(tmp_path / METRICS_NAME)


def test_temp_files_of_a_killed_writer_are_swept(tmp_path):
    (tmp_path / ".checkpoint.safetensors.abc123.tmp").write_bytes(b"half")
    (tmp_path / "keep.json").write_text("{}")
    assert [p.name for p in sweep_temp_files(tmp_path)] == [".checkpoint.safetensors.abc123.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["keep.json"]
