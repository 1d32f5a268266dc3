"""Full-state training checkpoints that load nothing executable (resumable training, Appendix C.3 recipe).

One `checkpoint.safetensors` per run directory: every tensor (trainable weights, optimiser moments, RNG states, numpy
arrays as raw bytes) in the safetensors body, everything else (step, data position, scheduler and scaler state,
Python RNG states, optimiser hyper-parameters) as JSON in its header, and a SHA-256 over both. Reading it parses
JSON and tensor bytes only, so a crafted file cannot run code; a file that fails its checksum, is unreadable, was
written for another step count, or is a pickled `checkpoint.pt` of an earlier version is set aside (renamed with a
`.corrupt` suffix) with a `CheckpointWarning`, and training restarts from scratch. A train log line that is torn (a
kill mid-write) or not a step record is set aside the same way.

`CheckpointSchedule` decides when to write: every `checkpoint_every` steps, but no sooner than `checkpoint_every_s`
seconds after the previous write, so a large connector is not rewritten every few minutes; the last step always.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from harness.config import TrainSettings
from harness.store.atomic import atomic_path, write_text

CHECKPOINT_NAME = "checkpoint.safetensors"
LEGACY_NAME = "checkpoint.pt"  # pickled full-state checkpoints of earlier versions: never unpickled
CORRUPT_SUFFIX = ".corrupt"
FORMAT = "depalm-bench-checkpoint/1"


class CheckpointWarning(UserWarning):
    """A checkpoint or train log was set aside: the run restarts from its last valid state."""


class CorruptCheckpoint(ValueError):
    """A checkpoint that cannot be trusted (unreadable, checksum mismatch, unknown format)."""


# ---- structure <-> (JSON skeleton, tensors) ------------------------------------------------------------------


def _pack(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"$tensor": key}
    if isinstance(obj, np.ndarray):
        key = f"t{len(tensors)}"
        arr = np.ascontiguousarray(obj)
        tensors[key] = torch.from_numpy(arr.reshape(-1).view(np.uint8).copy())
        return {"$ndarray": key, "dtype": arr.dtype.str, "shape": list(arr.shape)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, tuple):
        return {"$tuple": [_pack(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_pack(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("$") for k in obj):
            return {k: _pack(v, tensors) for k, v in obj.items()}
        return {"$items": [[_pack(k, tensors), _pack(v, tensors)] for k, v in obj.items()]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store a {type(obj).__name__} (tensors, arrays and JSON values only)")


def _unpack(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_unpack(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "$tensor" in obj:
        return tensors[obj["$tensor"]]
    if "$ndarray" in obj:
        raw = tensors[obj["$ndarray"]].numpy()
        return raw.view(np.dtype(obj["dtype"])).reshape(obj["shape"]).copy()
    if "$tuple" in obj:
        return tuple(_unpack(v, tensors) for v in obj["$tuple"])
    if "$items" in obj:
        return {_unpack(k, tensors): _unpack(v, tensors) for k, v in obj["$items"]}
    return {k: _unpack(v, tensors) for k, v in obj.items()}


def _digest(skeleton: str, tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256(skeleton.encode())
    for key in sorted(tensors):
        t = tensors[key]
        h.update(json.dumps([key, str(t.dtype), list(t.shape)]).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().data)
    return h.hexdigest()


def _unshared(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """safetensors refuses tensors sharing memory (tied weights): such a tensor is stored as its own copy."""
    seen: set[int] = set()
    out = {}
    for key, t in tensors.items():
        ptr = t.untyped_storage().data_ptr() if t.numel() else -1
        out[key] = t.clone() if ptr in seen else t
        if ptr != -1:
            seen.add(ptr)
    return out


def save_tensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict[str, str] | None = None) -> None:
    """safetensors' `save_file`, atomically; an I/O failure (disk full) is raised as the OSError it is."""
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=metadata)
        except Exception as e:  # safetensors reports I/O errors as SafetensorError
            code = re.search(r"os error (\d+)", str(e))
            if code is None:
                raise
            raise OSError(int(code.group(1)), os.strerror(int(code.group(1))), str(path)) from e


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write `state` (nested dicts, lists, tuples, tensors, numpy arrays, JSON scalars) atomically to `path`."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = json.dumps(_pack(state, tensors), allow_nan=True, separators=(",", ":"))
    tensors = _unshared(tensors)
    save_tensors(tensors, path, {"format": FORMAT, "state": skeleton, "sha256": _digest(skeleton, tensors)})


def load_checkpoint(path: Path) -> dict[str, Any]:
    """The state saved at `path` (tensors on the CPU); raises CorruptCheckpoint when it cannot be trusted."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118  (safe_open is not iterable)
        if metadata.get("format") != FORMAT:
            raise CorruptCheckpoint(f"unknown format {metadata.get('format')!r} (expected {FORMAT!r})")
        skeleton = metadata["state"]
        if _digest(skeleton, tensors) != metadata.get("sha256"):
            raise CorruptCheckpoint("its content does not match its checksum")
        state = _unpack(json.loads(skeleton), tensors)
    except CorruptCheckpoint:
        raise
    except Exception as e:  # any unreadable byte pattern is a corrupt file, never a crash
        raise CorruptCheckpoint(f"unreadable ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict):
        raise CorruptCheckpoint("it holds no state dictionary")
    return state


def set_aside(path: Path, why: str) -> Path:
    """Rename a file the run cannot use to `<name>.corrupt` (kept for inspection) and warn."""
    target = path.with_name(path.name + CORRUPT_SUFFIX)
    path.replace(target)
    warnings.warn(
        f"{path}: {why}; set aside as {target.name}, the run restarts from its last valid state",
        CheckpointWarning,
        stacklevel=2,
    )
    return target


def resumable_state(run_dir: Path, total_steps: int, may_write: bool) -> dict[str, Any] | None:
    """The checkpoint to resume from, or None (train from scratch). Files that cannot be used are set aside by the
    process that `may_write` (rank 0); the others just ignore them."""
    legacy = run_dir / LEGACY_NAME
    if may_write and legacy.exists():
        set_aside(legacy, "a pickled checkpoint of an earlier version (pickles can run code: never loaded)")
    path = run_dir / CHECKPOINT_NAME
    if not path.exists():
        return None
    try:
        state = load_checkpoint(path)
        if state.get("total_steps") != total_steps or not isinstance(state.get("step"), int):
            raise CorruptCheckpoint(
                f"it was written for {state.get('total_steps')} steps, this run has "
                f"{total_steps} (another configuration)"
            )
    except CorruptCheckpoint as e:
        if may_write:
            set_aside(path, str(e))
        return None
    return state


def _step_of(line: str) -> int | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    step = record.get("step") if isinstance(record, dict) else None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def truncate_log(log_path: Path, last_step: int) -> None:
    """Keep the log lines up to the checkpoint resumed from, so each step appears once; a torn or foreign line
    sets the whole old log aside (kept for inspection) first."""
    if not log_path.exists():
        return
    lines = [ln for ln in log_path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    steps = [_step_of(ln) for ln in lines]
    if any(s is None for s in steps):
        bad = sum(s is None for s in steps)
        target = log_path.with_name(log_path.name + CORRUPT_SUFFIX)
        write_text(target, "".join(ln + "\n" for ln in lines))
        warnings.warn(
            f"{log_path}: {bad} torn or unreadable line(s); the old log is kept as {target.name} and "
            f"its valid lines up to step {last_step} are kept",
            CheckpointWarning,
            stacklevel=2,
        )
    write_text(log_path, "".join(ln + "\n" for ln, s in zip(lines, steps) if s is not None and s <= last_step))


class CheckpointSchedule:
    """When to write the full-state checkpoint: at multiples of `checkpoint_every` steps once `checkpoint_every_s`
    seconds have passed since the last write (rank 0's clock decides for every rank), and at the last step."""

    def __init__(
        self, settings: TrainSettings, total_steps: int, world_size: int = 1, device: torch.device | None = None
    ) -> None:
        self.every, self.every_s, self.total = settings.checkpoint_every, settings.checkpoint_every_s, total_steps
        self.world_size, self.device = world_size, device
        self.last = time.monotonic()

    def due(self, done: int) -> bool:
        if done != self.total:
            if done % self.every:
                return False
            if self.every_s > 0:
                ready = time.monotonic() - self.last >= self.every_s
                if self.world_size > 1:  # ranks must agree: saving gathers every rank's RNG state
                    flag = torch.tensor([int(ready)], device=self.device)
                    torch.distributed.broadcast(flag, src=0)
                    ready = bool(flag.item())
                if not ready:
                    return False
        self.last = time.monotonic()
        return True
