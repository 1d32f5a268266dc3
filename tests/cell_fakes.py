"""`execute_cell` around stand-in stages: a cell whose "training" replays given per-step records through the
trainer's hook and whose evaluation returns given metrics, so the wiring of a cell (tracker, energy meter, results
row) is tested without loading a backbone."""

from __future__ import annotations

import types
from typing import Any

import torch

from harness.config import EvalSettings, RunConfig, TrainSettings
from harness.runner.train import TrainResult

METRICS = {"test": {"CIDEr": 42.5, "BLEU_4": 10.0}}


def step_records(n: int) -> list[dict[str, Any]]:
    return [
        {
            "step": s,
            "total_steps": n,
            "loss": 3.0 - 0.5 * s,
            "lr": 1e-3 * s / n,
            "grad_norm": 0.5 + s,
            "tokens_per_s": 100.0 * s,
            "step_s": 0.1,
            "elapsed_s": 0.1 * s,
        }
        for s in range(1, n + 1)
    ]


def run_config(**kw: Any) -> RunConfig:
    base: dict[str, Any] = dict(
        method="depalm",
        dataset="syn-coco",
        seed=0,
        lr=8e-4,
        grad_clip=0.8,
        llm="smollm2-135m",
        encoder="clip-b16-embedded",
        profile="smoke",
        method_config={"id": "depalm", "display_name": "DePALM"},
        train=TrainSettings(max_steps=4),
        eval=EvalSettings(num_beams=1, splits=("test",)),
    )
    return RunConfig(**{**base, **kw})


def install(monkeypatch, records: list[dict[str, Any]], resumed_from: int = 0) -> None:
    """Replace the cell's stages: `_train` feeds `records` to the cell's per-step hook."""
    from harness.runner import cell as cell_module

    class FakeCell:
        def __init__(self, cfg, run_dir, backbones, device=None, on_step=None) -> None:
            self.cfg, self.on_step = cfg, on_step
            self.device = torch.device("cpu")
            self.bench = types.SimpleNamespace(spec=types.SimpleNamespace(eval_split="test", primary_metric="CIDEr"))
            self.feature_entries: set[str] = set()
            self.item_scores: dict = {}
            self.metric_notes: dict = {}

        def encoder(self):
            return None

        def items(self, role):
            return list(range(8))

        def evaluate(self, encoder, llm, model):
            return METRICS

    weights = torch.zeros(3)

    def fake_train(cfg, run_dir, cell, encoder):
        for record in records[resumed_from:]:
            cell.on_step(record)
        state = types.SimpleNamespace(parameters=lambda: [weights], trainable_state_dict=lambda: {"w": weights})
        result = TrainResult(
            steps=len(records),
            train_time_s=1.5,
            final_loss=records[-1]["loss"],
            resumed_from=resumed_from,
            mean_step_s=0.1,
        )
        return None, types.SimpleNamespace(n_injected_tokens=4), state, result, 1

    monkeypatch.setattr(cell_module, "CellRun", FakeCell)
    monkeypatch.setattr(cell_module, "_train", fake_train)
