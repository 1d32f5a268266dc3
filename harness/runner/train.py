"""Training loop of Appendix C.3: AdamW (wd 0.1, eps 1e-4), linear warmup over the first 20% of steps from
alpha_max*1e-4 then cosine back down, gradient clipping, effective batch by accumulation, label smoothing, loss on
answer tokens + EOS only (token ids: `harness.runner.text`), one target drawn per epoch for grouped items,
resumable full-state checkpoints. Inputs come through a DataLoader (`harness.runner.loader`) that replays the plan.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from harness.backbones.precision import autocast, needs_loss_scaling, resolve_backbone_dtype
from harness.config import TrainSettings
from harness.runner.checkpoint import (
    CHECKPOINT_NAME,
    CheckpointSchedule,
    resumable_state,
    save_checkpoint,
    truncate_log,
)
from harness.runner.loader import Draw, StepBatches, TrainInputs, make_loader, resolve_workers
from harness.runner.text import encode_for_training

TRAIN_LOG_NAME = "train_log.jsonl"


class UnstableTraining(RuntimeError):
    """The loss or the gradient norm became NaN/inf: the run ends with status `unstable`."""


class TrainItem(Protocol):
    id: str
    input_key: str
    prompt: str
    targets: list[str]


FeaturesFn = Callable[[Sequence[Any]], torch.Tensor]  # items -> [B, n_fl, T, d] on the training device


@dataclass(frozen=True)
class Batching:
    """How the effective batch is split: global = world_size * micro * accum (Appendix C.3: 8 GPUs x 16)."""

    global_batch: int
    micro_batch: int
    accum_steps: int
    world_size: int


def derive_batching(batch_size: int, micro_batch_size: int, world_size: int, n_items: int) -> Batching:
    """Per-device batch and accumulation from the devices present; never more than the data holds."""
    if n_items < 1:
        raise ValueError("no training items")
    global_batch = min(batch_size, n_items)
    per_device = max(1, global_batch // world_size)
    accum = max(1, math.ceil(per_device / micro_batch_size))
    micro = math.ceil(per_device / accum)
    return Batching(
        global_batch=micro * accum * world_size, micro_batch=micro, accum_steps=accum, world_size=world_size
    )


def steps_per_epoch(n_items: int, batching: Batching) -> int:
    return max(1, n_items // batching.global_batch)


def total_steps(settings: TrainSettings, n_items: int, batching: Batching) -> int:
    per_epoch = steps_per_epoch(n_items, batching)
    epochs_steps = per_epoch * settings.epochs if settings.epochs else None
    candidates = [s for s in (epochs_steps, settings.max_steps) if s]
    if not candidates:
        raise ValueError("the training length is undefined: set epochs or max_steps")
    return min(candidates)


def lr_multiplier(step: int, total: int, warmup_frac: float, min_ratio: float) -> float:
    """Factor of alpha_max at optimiser step `step` (0-based): linear warmup from min_ratio over the first
    `warmup_frac` of the steps, then cosine down to min_ratio at the last step."""
    warmup = max(1, round(warmup_frac * total))
    if step < warmup:
        return min_ratio + (1.0 - min_ratio) * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - 1 - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_optimizer(
    params: list[torch.nn.Parameter], lr: float, s: TrainSettings, gates: Sequence[torch.nn.Parameter] = ()
) -> torch.optim.AdamW:
    """AdamW over `params`; the `gates` among them take lr x `s.gate_lr_scale` in a group of their own (only when
    the scale is not 1, so a checkpoint of a one-group run resumes into one group)."""
    groups: list[dict[str, Any]] = [{"params": list(params)}]
    if gates and s.gate_lr_scale != 1.0:
        gate_ids = {id(p) for p in gates}
        groups = [
            {"params": [p for p in params if id(p) not in gate_ids]},
            {"params": [p for p in params if id(p) in gate_ids], "lr": lr * s.gate_lr_scale},
        ]
    return torch.optim.AdamW(groups, lr=lr, weight_decay=s.weight_decay, eps=s.adam_eps, betas=s.adam_betas)


def build_scheduler(opt: torch.optim.Optimizer, total: int, s: TrainSettings) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda step: lr_multiplier(step, total, s.warmup_frac, s.min_lr_ratio)
    )


def epoch_plan(n_items: int, n_targets: Sequence[int], seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Item order and the target drawn for each item in `epoch`: a pure function of (seed, epoch) so a resumed run
    replays exactly the same data (Appendix C.3: grouped items draw one target per use)."""
    rng = np.random.default_rng([seed, epoch, 0x5EED])
    order = rng.permutation(n_items)
    picks = np.array([rng.integers(k) for k in n_targets], dtype=np.int64)
    return order, picks


@dataclass
class TrainResult:
    steps: int
    train_time_s: float
    final_loss: float
    resumed_from: int  # optimiser step the run resumed at (0: fresh)
    mean_step_s: float


def _rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Trains the trainable parameters of a `PerceptualLM` over `items`; resumes from the run directory's checkpoint
    (harness.runner.checkpoint: safetensors + JSON, never a pickle).

    `model` may be wrapped in DistributedDataParallel (`rank`/`world_size` set); only rank 0 writes files.
    `state_owner` saves/loads the trainable weights (the model, plus encoder biases under bias tuning).
    `features_fn`: the training inputs a DataLoader reads (`TrainInputs`), or a plain items -> features function
    called in this process.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        trainable: list[torch.nn.Parameter],
        items: Sequence[TrainItem],
        features_fn: FeaturesFn | TrainInputs,
        tokenizer,
        settings: TrainSettings,
        lr: float,
        grad_clip: float,
        seed: int,
        run_dir: Path,
        device: torch.device,
        state_owner: Any,
        rank: int = 0,
        world_size: int = 1,
        on_step: Callable[[dict[str, Any]], None] | None = None,
        dtype_name: str = "auto",
        gates: Sequence[torch.nn.Parameter] = (),
    ) -> None:
        """`dtype_name`: the frozen backbones' dtype (`harness.backbones.precision`): the forward passes autocast to it
        when it is a half dtype; "auto" is float16 on a GPU, float32 on a CPU. `gates`: the trainable scalar gates
        (`PerceptualLM.gate_parameters`), whose lr `settings.gate_lr_scale` scales."""
        self.model, self.trainable, self.items = model, trainable, list(items)
        self.state_owner = state_owner  # has trainable_state_dict() / load_trainable_state_dict()
        self.inputs = (
            features_fn if isinstance(features_fn, TrainInputs) else TrainInputs.of_function(self.items, features_fn)
        )
        self.tokenizer, self.s = tokenizer, settings
        self.lr, self.grad_clip, self.seed = lr, grad_clip, seed
        self.run_dir, self.device, self.rank, self.world_size = run_dir, device, rank, world_size
        self.on_step = on_step
        self.batching = derive_batching(settings.batch_size, settings.micro_batch_size, world_size, len(self.items))
        self.per_epoch = steps_per_epoch(len(self.items), self.batching)
        self.total = total_steps(settings, len(self.items), self.batching)
        self.opt = build_optimizer(trainable, lr, settings, gates)
        self.sched = build_scheduler(self.opt, self.total, settings)
        self.checkpoints = CheckpointSchedule(settings, self.total, world_size, device)
        self.dtype_name = resolve_backbone_dtype(dtype_name, device.type == "cuda")
        self.use_amp = needs_loss_scaling(device, self.dtype_name)  # float16: a scaler skips overflowing steps
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp)
        self._plans: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT_NAME

    @property
    def log_path(self) -> Path:
        return self.run_dir / TRAIN_LOG_NAME

    def _plan(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        if epoch not in self._plans:
            # two epochs kept: the loader reads the next epoch's first batches while this one ends
            self._plans = {e: p for e, p in self._plans.items() if e == epoch - 1}
            self._plans[epoch] = epoch_plan(len(self.items), [len(it.targets) for it in self.items], self.seed, epoch)
        return self._plans[epoch]

    def global_batch(self, step: int) -> list[tuple[TrainItem, str]]:
        """The (item, drawn target) pairs of optimiser step `step`, all ranks together."""
        epoch, pos = divmod(step, self.per_epoch)
        order, picks = self._plan(epoch)
        g = self.batching.global_batch
        idx = order[pos * g : (pos + 1) * g]
        return [(self.items[i], self.items[i].targets[picks[i]]) for i in idx]

    def _micro_draws(self, step: int) -> list[list[Draw]]:
        """This rank's micro-batches of step `step` as draws (slot: the position in the global batch)."""
        epoch, pos = divmod(step, self.per_epoch)
        order, _ = self._plan(epoch)
        g = self.batching.global_batch
        slots = list(enumerate(order[pos * g : (pos + 1) * g].tolist()))[self.rank :: self.world_size]
        mine = [Draw(step, slot, item) for slot, item in slots]
        m = self.batching.micro_batch
        return [mine[i : i + m] for i in range(0, len(mine), m) if mine[i : i + m]]

    def _micro_batches(self, step: int) -> list[list[tuple[TrainItem, str]]]:
        _, picks = self._plan(step // self.per_epoch)
        return [
            [(self.items[d.item], self.items[d.item].targets[picks[d.item]]) for d in chunk]
            for chunk in self._micro_draws(step)
        ]

    def loader(self, start: int) -> torch.utils.data.DataLoader:
        """The DataLoader of steps [start, total): this rank's micro-batches in the order `train` consumes them."""
        return make_loader(
            self.inputs,
            StepBatches(self._micro_draws, start, self.total),
            num_workers=resolve_workers(self.s.num_workers, self.world_size),
            prefetch_factor=self.s.prefetch_factor,
            pin_memory=self.s.pin_memory,
            device=self.device,
            seed=self.seed,
        )

    def state_dict(self, step: int, train_time_s: float, last_loss: float) -> dict[str, Any]:
        epoch, pos = divmod(step, self.per_epoch)
        return {
            "step": step,
            "data_position": {"epoch": epoch, "batch_in_epoch": pos, "global_batch": self.batching.global_batch},
            "trainable": self.state_owner.trainable_state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": self._all_rng_states(),
            "train_time_s": train_time_s,
            "last_loss": last_loss,
            "total_steps": self.total,
        }

    def _all_rng_states(self) -> list[dict[str, Any]]:
        """Every rank's RNG states (index = rank), so each rank resumes its own dropout/sampling stream."""
        mine = _rng_state()
        if self.world_size == 1:
            return [mine]
        states: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(states, mine)
        return states

    def _resume(self) -> tuple[int, float, float]:
        ck = resumable_state(self.run_dir, self.total, may_write=self.rank == 0)
        if ck is None:
            if self.rank == 0 and self.log_path.exists():
                self.log_path.unlink()
            return 0, 0.0, float("nan")
        self.state_owner.load_trainable_state_dict(ck["trainable"])
        self.opt.load_state_dict(ck["optimizer"])
        self.sched.load_state_dict(ck["scheduler"])
        self.scaler.load_state_dict(ck["scaler"])
        rng = ck["rng"][self.rank] if len(ck["rng"]) == self.world_size else ck["rng"][0]
        _set_rng_state(rng)
        if self.rank == 0:
            truncate_log(self.log_path, ck["step"])
        return ck["step"], ck["train_time_s"], ck["last_loss"]

    def _forward(self, chunk: list[tuple[TrainItem, str]], inputs: Any) -> tuple[torch.Tensor, int]:
        items = [it for it, _ in chunk]
        text = encode_for_training(
            self.tokenizer, [it.prompt for it in items], [t for _, t in chunk], self.s.max_target_tokens, self.device
        )
        feats = self.inputs.to_features(inputs)
        with autocast(self.device, self.dtype_name):
            out = self.model(
                feats,
                text["input_ids"],
                text["attention_mask"],
                labels=text["labels"],
                label_smoothing=self.s.label_smoothing,
            )
        return out.loss, int(text["attention_mask"].sum())

    def train(self) -> TrainResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        start, elapsed, loss_value = self._resume()
        self.model.train()
        step_times: list[float] = []
        batches: Iterator[Any] = iter(self.loader(start)) if start < self.total else iter(())
        for step in range(start, self.total):
            t0 = time.perf_counter()
            self.opt.zero_grad(set_to_none=True)
            chunks = self._micro_batches(step)
            step_loss, tokens, data_s = 0.0, 0, 0.0
            for i, chunk in enumerate(chunks):
                sync = i == len(chunks) - 1 or not hasattr(self.model, "no_sync")
                no_sync: Any = getattr(self.model, "no_sync", None)  # DDP wrapper only
                t_data = time.perf_counter()
                inputs = next(batches)
                data_s += time.perf_counter() - t_data
                with contextlib.nullcontext() if sync else no_sync():
                    loss, n_tok = self._forward(chunk, inputs)
                    if not torch.isfinite(loss):
                        raise UnstableTraining(f"loss is {loss.item()} at step {step}")
                    # mean over the step's micro-batches, times grad_sum_steps (R6: the official loop sums its
                    # accumulation steps) before clipping
                    self.scaler.scale(loss * (self.s.grad_sum_steps / len(chunks))).backward()
                step_loss += loss.item() / len(chunks)
                tokens += n_tok
            self.scaler.unscale_(self.opt)
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.trainable, self.grad_clip))
            if not math.isfinite(grad_norm) and not self.use_amp:
                raise UnstableTraining(f"gradient norm is {grad_norm} at step {step}")
            lr_now = self.opt.param_groups[0]["lr"]
            self.scaler.step(self.opt)
            self.scaler.update()
            self.sched.step()
            dt = time.perf_counter() - t0
            elapsed += dt
            step_times.append(dt)
            loss_value = step_loss
            done = step + 1
            record = {
                "step": done,
                "total_steps": self.total,
                "loss": step_loss,
                "lr": lr_now,
                "grad_norm": grad_norm,
                "tokens_per_s": tokens * self.world_size / dt,
                "step_s": dt,
                "data_s": data_s,  # of step_s, waiting for the loader
                "elapsed_s": elapsed,
            }
            if self.rank == 0 and (done % self.s.log_every == 0 or done == self.total or done == start + 1):
                with self.log_path.open("a") as f:
                    f.write(json.dumps(record) + "\n")
            if self.checkpoints.due(done):
                state = self.state_dict(done, elapsed, step_loss)  # collective under DDP: every rank calls it
                if self.rank == 0:
                    save_checkpoint(state, self.checkpoint_path)
            if self.on_step:
                self.on_step(record)
        del batches  # its workers stop here
        self.model.eval()
        return TrainResult(
            steps=self.total,
            train_time_s=elapsed,
            final_loss=loss_value,
            resumed_from=start,
            mean_step_s=float(np.mean(step_times)) if step_times else float("nan"),
        )
