"""Checkpoints load nothing executable and heal: a crafted pickle never runs, a damaged checkpoint or a torn log line
is set aside with a warning and training restarts from the last valid state, with the numbers of an uninterrupted
run (tiny random components, harness/runner/checkpoint.py)."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch
from runner_fakes import CharTokenizer, PrefixLM, fake_features, fake_items, tiny_llm

from harness.config import TrainSettings
from harness.runner import checkpoint
from harness.runner.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointSchedule,
    CheckpointWarning,
    CorruptCheckpoint,
    load_checkpoint,
    save_checkpoint,
)
from harness.runner.train import Trainer

SETTINGS = TrainSettings(
    epochs=2, max_steps=6, batch_size=4, micro_batch_size=2, checkpoint_every=2, log_every=1, augment=False
)


def _trainer(run_dir, on_step=None):
    tok = CharTokenizer()
    items = fake_items(12)
    feats = fake_features(items)
    torch.manual_seed(0)
    model = PrefixLM(tiny_llm(tok.vocab_size), 8)
    fn = lambda batch: torch.stack([feats[it.input_key] for it in batch])  # noqa: E731
    return model, Trainer(
        model,
        model.trainable_parameters(),
        items,
        fn,
        tok,
        SETTINGS,
        3e-3,
        0.8,
        0,
        run_dir,
        torch.device("cpu"),
        model,
        on_step=on_step,
    )


class Crash(Exception):
    pass


def _crash_at(step):
    def on_step(record):
        if record["step"] == step:
            raise Crash

    return on_step


def _weights(model):
    return {k: v.clone() for k, v in model.trainable_state_dict().items()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    model, trainer = _trainer(tmp_path_factory.mktemp("straight"))
    trainer.train()
    return _weights(model)


def _interrupted_at_3(run_dir):
    _, trainer = _trainer(run_dir, on_step=_crash_at(3))
    with pytest.raises(Crash):
        trainer.train()
    assert load_checkpoint(run_dir / CHECKPOINT_NAME)["step"] == 2


def _assert_same(weights, model):
    for k, v in weights.items():
        assert torch.equal(v, model.trainable_state_dict()[k]), k


def test_state_round_trips_exactly(tmp_path):
    state = {
        "step": 3,
        "nan": float("nan"),
        "t": torch.arange(6, dtype=torch.bfloat16).reshape(2, 3),
        "scalar": torch.tensor(2.5),
        "opt": {0: {"exp_avg": torch.ones(2)}, 1: {"step": torch.tensor(4.0)}},
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "streams": {"aug": (3, (1, 2), None)},
        "groups": [{"betas": (0.9, 0.999), "params": [0, 1]}],
        "$odd": 1,
    }
    save_checkpoint(state, tmp_path / CHECKPOINT_NAME)
    back = load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert back["step"] == 3 and back["nan"] != back["nan"] and back["$odd"] == 1
    assert torch.equal(back["t"], state["t"]) and back["t"].dtype == torch.bfloat16
    assert set(back["opt"]) == {0, 1} and torch.equal(back["opt"][1]["step"], torch.tensor(4.0))
    assert back["python"] == state["python"] and back["streams"] == state["streams"]
    assert back["numpy"][0] == "MT19937" and np.array_equal(back["numpy"][1], state["numpy"][1])
    assert back["numpy"][1].dtype == state["numpy"][1].dtype and back["groups"][0]["betas"] == (0.9, 0.999)
    random.setstate(back["python"])
    np.random.set_state(back["numpy"])


def test_a_crafted_pickle_does_not_run_and_training_restarts_with_a_warning(tmp_path, uninterrupted):
    marker = tmp_path / "payload-ran"

    class Payload:
        def __reduce__(self):
            return open, (str(marker), "w")  # unpickling would create the marker file

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "checkpoint.pt").write_bytes(pickle.dumps({"step": 4, "x": Payload()}))
    model, trainer = _trainer(run_dir)
    with pytest.warns(CheckpointWarning, match="pickled checkpoint"):
        result = trainer.train()
    assert not marker.exists()
    assert result.resumed_from == 0 and (run_dir / "checkpoint.pt.corrupt").exists()
    _assert_same(uninterrupted, model)


def test_a_damaged_checkpoint_is_set_aside_and_the_run_restarts_from_scratch(tmp_path, uninterrupted):
    _interrupted_at_3(tmp_path)
    path = tmp_path / CHECKPOINT_NAME
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # one bit of an optimiser moment
    path.write_bytes(bytes(data))
    model, trainer = _trainer(tmp_path)
    with pytest.warns(CheckpointWarning, match="checksum"):
        result = trainer.train()
    assert result.resumed_from == 0 and (tmp_path / (CHECKPOINT_NAME + ".corrupt")).exists()
    _assert_same(uninterrupted, model)
    steps = [json.loads(x)["step"] for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 7))


def test_a_torn_log_line_is_set_aside_and_the_run_resumes(tmp_path, uninterrupted):
    _interrupted_at_3(tmp_path)
    log = tmp_path / "train_log.jsonl"
    with log.open("a") as f:
        f.write('{"step": 4, "loss": 0.3')  # killed mid-line
    model, trainer = _trainer(tmp_path)
    with pytest.warns(CheckpointWarning, match="torn"):
        result = trainer.train()
    assert result.resumed_from == 2
    _assert_same(uninterrupted, model)
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == list(range(1, 7))
    assert '"step": 4, "loss": 0.3' in (tmp_path / "train_log.jsonl.corrupt").read_text()


def test_byte_flips_in_a_checkpoint_are_refused_or_harmless(tmp_path):
    _interrupted_at_3(tmp_path)
    path = tmp_path / CHECKPOINT_NAME
    data = path.read_bytes()
    original = load_checkpoint(path)
    refused = 0
    for i in range(0, len(data), 13):  # a stride keeps it quick; the header and every tensor are hit
        flipped = bytearray(data)
        flipped[i] ^= 0xFF
        path.write_bytes(bytes(flipped))
        try:
            state = load_checkpoint(path)
        except CorruptCheckpoint:
            refused += 1
            continue
        assert json.dumps(checkpoint._pack(state, {}), default=str) == json.dumps(
            checkpoint._pack(original, {}), default=str
        ), i
        assert all(torch.equal(a, b) for a, b in zip(state["trainable"].values(), original["trainable"].values()))
    assert refused > len(data) // 13 // 2


def test_schedule_waits_for_the_wall_clock_interval(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(checkpoint.time, "monotonic", lambda: clock[0])
    schedule = CheckpointSchedule(TrainSettings(checkpoint_every=2, checkpoint_every_s=100.0), total_steps=9)
    due = []
    for step in range(1, 10):
        clock[0] += 30.0  # 30 s a step
        due.append(schedule.due(step))
    # multiples of 2 once 100 s have passed since the last write: steps 4 (120 s) and 8 (120 s later), and the last
    assert [s for s, d in zip(range(1, 10), due) if d] == [4, 8, 9]
    every_step = CheckpointSchedule(TrainSettings(checkpoint_every=2), total_steps=5)
    assert [s for s in range(1, 6) if every_step.due(s)] == [2, 4, 5]


def test_a_checkpoint_gets_the_permissions_the_umask_allows(tmp_path):
    import stat

    from harness.store.atomic import FILE_MODE

    save_checkpoint({"w": torch.zeros(2)}, tmp_path / CHECKPOINT_NAME)  # safetensors writes a file of its own
    assert stat.S_IMODE((tmp_path / CHECKPOINT_NAME).stat().st_mode) == FILE_MODE
