"""Training data loading (Figure 1's "benchmark item -> frozen encoder or feature cache" stage, Appendix C.3): a
`torch.utils.data.DataLoader` whose worker processes decode, augment and preprocess training inputs (or read the
frozen-feature cache) while the training step runs, with pinned host memory and prefetch on a GPU.

The trainer's data plan (`harness.runner.train.epoch_plan`) stays the single source of order: the batch sampler
replays it as `Draw`s, one per (optimiser step, slot in the step's global batch, item index), micro-batch by
micro-batch, for this rank. Augmentation draws from a random stream of its own per (run seed, step, slot), so a run
augments the same way whatever the number of workers or ranks, and a resumed run replays exactly what it would have
seen. One loader iterator spans every step of a run, so its workers live for the whole run (what
`persistent_workers` gives across epochs). Workers are forked: inputs are read by closures of the benchmark's items,
which need not pickle.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from benchmarks.augment import AugmentConfig, augment_input, augment_preprocessed

MAX_AUTO_WORKERS = 8


class Draw(NamedTuple):
    """One use of a training item: optimiser step, position in the step's global batch, index into the items."""

    step: int
    slot: int
    item: int


def draw_rng(seed: int, step: int, slot: int) -> random.Random:
    """The augmentation stream of one draw: a pure function of (run seed, step, slot)."""
    digest = hashlib.blake2b(f"augment/{seed}/{step}/{slot}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "little"))


class StepBatches(Sampler[list[Draw]]):
    """The micro-batches of steps [start, stop), in the order the trainer consumes them."""

    def __init__(self, micro_draws: Callable[[int], list[list[Draw]]], start: int, stop: int) -> None:
        self.micro_draws, self.start, self.stop = micro_draws, start, stop

    def __iter__(self) -> Iterator[list[Draw]]:
        for step in range(self.start, self.stop):
            yield from self.micro_draws(step)

    def __len__(self) -> int:
        return sum(len(self.micro_draws(step)) for step in range(self.start, self.stop))


class LiveInputs(Dataset):
    """Draw -> the encoder-ready tensor of its item: decoded, augmented (a fresh draw from `draw_rng`) and
    preprocessed by the encoder's own preprocessing; audio masks apply after preprocessing."""

    def __init__(
        self,
        items: Sequence[Any],
        preprocess: Callable[[Any], torch.Tensor],
        modality: str | None = None,
        augment: AugmentConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.items, self.preprocess = items, preprocess
        self.modality, self.augment, self.seed = modality, augment, seed

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, draw: Draw) -> torch.Tensor:
        item = self.items[draw.item]
        if self.augment is None or self.modality is None:
            return self.preprocess(item.load_input())
        rng = draw_rng(self.seed, draw.step, draw.slot)
        raw = item.load_train_input(rng) if item.load_train_input else item.load_input()
        x = self.preprocess(augment_input(raw, self.modality, rng, self.augment))
        return augment_preprocessed(x, self.modality, rng, self.augment)


class CachedInputs(Dataset):
    """Draw -> the cached frozen features of its item, its last `n_levels` levels (fp16 [n_levels, T, d])."""

    def __init__(self, items: Sequence[Any], store: Any, n_levels: int) -> None:
        self.keys = [it.input_key for it in items]
        self.store, self.n_levels = store, n_levels  # a FeatureStore pickles without its open file handles

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, draw: Draw) -> torch.Tensor:
        return self.store[self.keys[draw.item]][-self.n_levels :]


class ItemInputs(Dataset):
    """Draw -> the item itself, for a trainer given a plain items -> features function (read in this process)."""

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, draw: Draw) -> Any:
        return self.items[draw.item]


def _items(batch: list[Any]) -> list[Any]:
    return batch


@dataclass
class TrainInputs:
    """What the loader reads per draw (`dataset`), how a micro-batch is put together (`collate`) and how it becomes
    features [B, n_fl, T, d] on the training device (`to_features`, called in the training process)."""

    dataset: Dataset
    to_features: Callable[[Any], torch.Tensor]
    collate: Callable[[list[Any]], Any] = torch.stack
    in_process: bool = False  # the dataset's samples do not cross processes (items hold unpicklable closures)

    @classmethod
    def of_function(cls, items: Sequence[Any], features_fn: Callable[[Sequence[Any]], torch.Tensor]) -> TrainInputs:
        return cls(ItemInputs(items), features_fn, collate=_items, in_process=True)


class CachedFeatures:
    """items -> their cached features stacked on `device`; `train_inputs` reads the same entry through a loader."""

    def __init__(self, store: Any, n_levels: int, device: torch.device) -> None:
        self.store, self.n_levels, self.device = store, n_levels, device

    def __call__(self, batch: Sequence[Any]) -> torch.Tensor:
        return torch.stack([self.store[it.input_key][-self.n_levels :] for it in batch]).to(self.device)

    def train_inputs(self, items: Sequence[Any]) -> TrainInputs:
        return TrainInputs(CachedInputs(items, self.store, self.n_levels), lambda x: to_device(x, self.device))


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Host -> device copy; asynchronous from pinned memory (the next micro-batch is read meanwhile)."""
    return x.to(device, non_blocking=x.is_pinned())


def resolve_workers(num_workers: int | None, world_size: int = 1) -> int:
    """Worker processes per rank: `num_workers`, or (None) the CPUs this process may use shared among the node's
    ranks, less one for the training loop, at most MAX_AUTO_WORKERS."""
    if num_workers is not None:
        return num_workers
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    local = os.environ.get("LOCAL_WORLD_SIZE")
    ranks = int(local) if local else max(1, min(world_size, torch.cuda.device_count() or 1))
    return max(0, min(MAX_AUTO_WORKERS, cpus // ranks - 1))


def _seed_worker(worker_id: int) -> None:
    """Python's and numpy's global streams in a worker follow its torch seed (the loader's seed + worker id), for
    any input code that draws from them; augmentation itself uses `draw_rng`."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def make_loader(
    inputs: TrainInputs,
    batches: Iterable[list[Draw]],
    *,
    num_workers: int,
    prefetch_factor: int,
    pin_memory: bool,
    device: torch.device,
    seed: int,
) -> DataLoader:
    """The DataLoader of one training run. Pinned memory only when training on CUDA; its own seeded generator, so
    creating it draws nothing from the global torch stream (the model's dropout stream stays as it was)."""
    workers = 0 if inputs.in_process else num_workers
    extra: dict[str, Any] = {}
    if workers:
        extra = {"prefetch_factor": prefetch_factor, "worker_init_fn": _seed_worker}
    return DataLoader(
        inputs.dataset,
        batch_sampler=batches,
        collate_fn=inputs.collate,
        num_workers=workers,
        pin_memory=pin_memory and device.type == "cuda" and torch.cuda.is_available(),
        generator=torch.Generator().manual_seed(seed),
        **extra,
    )
