"""Live tracking of a run: the trainer's per-step records (loss, lr, gradient norm, tokens/s) and the run's final
metrics sent to TensorBoard or Weights & Biases (offline by default), both optional dependencies (extra `track`).

The trainer calls the hook `Tracker.chain(on_step)` returns once per optimiser step; `execute_cell` logs the final
metrics and closes the tracker. Only the process that writes a run's files (rank 0) tracks it. A tracker that fails
stops tracking with one line on stderr: it never costs the run its training or its results.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.config import RunConfig, TrackingSettings
from harness.errors import UsageError

EXTRA = "track"
STEP_SCALARS = ("loss", "lr", "grad_norm", "tokens_per_s")  # keys of the trainer's per-step record
# tracker -> the module it needs (installed by the extra)
_MODULES = {"tensorboard": "tensorboard", "wandb": "wandb"}

StepHook = Callable[[dict[str, Any]], None]


def check_tracker(settings: TrackingSettings) -> None:
    """A UsageError naming the extra to install when the chosen tracker's package is missing (before any cell)."""
    if settings.tracker not in ("none", *_MODULES):
        raise UsageError(f"--tracker {settings.tracker!r}: unknown tracker; valid: none, {', '.join(_MODULES)}")
    module = _MODULES.get(settings.tracker)
    if module and importlib.util.find_spec(module) is None:
        raise UsageError(
            f"--tracker {settings.tracker}: the {module} package is not installed; "
            f"pip install 'depalm-bench[{EXTRA}]' (or pass --tracker none)"
        )


class Tracker:
    """The `none` tracker, and the interface of the others: it passes the records on and keeps nothing."""

    def chain(self, on_step: StepHook | None) -> StepHook:
        """The trainer's per-step hook: this tracker's, then `on_step`'s (the progress display)."""

        failed = False

        def hook(record: dict[str, Any]) -> None:
            nonlocal failed
            if not failed:
                try:
                    self.log_step(record)
                except Exception as e:  # noqa: BLE001 - a broken live view must not cost the training
                    failed = True
                    _said(self, f"at step {record.get('step')}", e)
            if on_step:
                on_step(record)

        return hook

    def log_step(self, record: dict[str, Any]) -> None:
        pass

    def log_final(self, metrics: dict[str, dict[str, float]], summary: dict[str, Any]) -> None:
        """`metrics`: split -> metric -> value; `summary`: the run's numbers (train time, losses, energy)."""

    def close(self) -> None:
        pass


def _finite(summary: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in summary.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


class TensorBoardTracker(Tracker):
    """Event files under `log_dir`: `train/<key>` per step, `<split>/<metric>` and `run/<key>` at the last step."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._writer: Any = None
        self._last_step = 0

    def _open(self, first_step: int | None):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            # a resumed run rewrites the steps after its checkpoint: TensorBoard drops the killed attempt's copies
            self._writer = SummaryWriter(str(self.log_dir), purge_step=first_step)
        return self._writer

    def log_step(self, record: dict[str, Any]) -> None:
        step = int(record["step"])
        writer = self._open(step)
        for key in STEP_SCALARS:
            writer.add_scalar(f"train/{key}", float(record[key]), step)
        self._last_step = step

    def log_final(self, metrics: dict[str, dict[str, float]], summary: dict[str, Any]) -> None:
        writer = self._open(None)
        for split, values in metrics.items():
            for metric, value in values.items():
                writer.add_scalar(f"{split}/{metric}", float(value), self._last_step)
        for key, value in _finite(summary).items():
            writer.add_scalar(f"run/{key}", value, self._last_step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


class WandbTracker(Tracker):
    """A W&B run named after the run id, its hashed config as the W&B config; offline unless told otherwise."""

    def __init__(self, cfg: RunConfig, directory: Path, settings: TrackingSettings) -> None:
        import wandb

        directory.mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=settings.wandb_project,
            name=cfg.run_id,
            group=f"{cfg.method}__{cfg.dataset}",
            dir=str(directory),
            mode=settings.wandb_mode,
            config=cfg.hashed_dict(),
            reinit="create_new",  # one process runs several cells (inline executor)
        )
        self._last_step = 0

    def log_step(self, record: dict[str, Any]) -> None:
        self._last_step = int(record["step"])
        self.run.log({f"train/{k}": float(record[k]) for k in STEP_SCALARS}, step=self._last_step)

    def log_final(self, metrics: dict[str, dict[str, float]], summary: dict[str, Any]) -> None:
        final = {f"{split}/{m}": float(v) for split, values in metrics.items() for m, v in values.items()}
        final.update({f"run/{k}": v for k, v in _finite(summary).items()})
        self.run.log(final, step=self._last_step)
        self.run.summary.update(final)

    def close(self) -> None:
        self.run.finish()


def tracker_dir(cfg: RunConfig, run_dir: Path) -> Path:
    """Where a run's tracker writes: its run directory, or `<tracking.dir>/<run id>`."""
    return Path(cfg.tracking.dir) / cfg.run_id if cfg.tracking.dir else run_dir


def open_tracker(cfg: RunConfig, run_dir: Path) -> Tracker:
    """The tracker `cfg.tracking` names (`check_tracker` has vouched for its package)."""
    name = cfg.tracking.tracker
    if name == "tensorboard":
        return TensorBoardTracker(tracker_dir(cfg, run_dir) / "tensorboard")
    if name == "wandb":
        return WandbTracker(cfg, tracker_dir(cfg, run_dir), cfg.tracking)
    return Tracker()


def finish_tracking(tracker: Tracker, metrics: dict[str, dict[str, float]], summary: dict[str, Any]) -> None:
    """Log the run's final numbers and close the tracker; a tracker that fails here is said on stderr and leaves
    the run's results untouched (they are written next, whatever the tracker did)."""
    try:
        tracker.log_final(metrics, summary)
        tracker.close()
    except Exception as e:  # noqa: BLE001 - the results row matters more than the live view
        _said(tracker, "at the end of the run", e)


def _said(tracker: Tracker, when: str, e: BaseException) -> None:
    print(f"tracker {type(tracker).__name__} failed {when} (tracking stops): {type(e).__name__}: {e}", file=sys.stderr)
