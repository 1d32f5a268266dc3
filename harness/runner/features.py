"""Frozen-feature cache: encoder outputs computed once per (encoder, dataset, split, levels, preprocessing) and
stored in half precision, so training with a frozen encoder and no augmentation never calls the encoder.

Layout: <root>/<key>/manifest.json + immutable shard-*.safetensors files. The key hashes the encoder fingerprint
(weights, token layout, preprocessing, final norm on every level), dataset, split and number of levels. Every
file is written under a temporary name and renamed into place; the manifest records each shard's length and
SHA-256, and a shard that does not match (truncated, corrupt, missing) is deleted and its items recomputed, never
read. Shards are flushed as they fill, so an interrupted pass keeps the finished part.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import torch

from harness.backbones.weights_cache import file_lock
from harness.runner.rundir import file_sha256
from harness.store.atomic import write_bytes

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def cache_key(encoder_fingerprint: str, dataset_key: str, split: str, n_levels: int) -> str:
    fields = {
        "format": FORMAT_VERSION,
        "encoder": encoder_fingerprint,
        "dataset": dataset_key,
        "split": split,
        "n_levels": n_levels,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


class FeatureStore(Mapping[str, torch.Tensor]):
    """Read-only view of one cache entry: input_key -> fp16 Tensor [n_levels, T, d_feats]."""

    def __init__(self, directory: Path, shards: list[dict[str, Any]]):
        self.directory = directory
        self._where = {k: (s["file"], f"t{i}") for s in shards for i, k in enumerate(s["keys"])}
        self._handles: dict[str, Any] = {}

    def __getitem__(self, input_key: str) -> torch.Tensor:
        from safetensors import safe_open

        if input_key not in self._where:
            raise KeyError(f"{input_key!r} is not in the feature cache {self.directory}")
        file, name = self._where[input_key]
        if file not in self._handles:
            self._handles[file] = safe_open(str(self.directory / file), framework="pt")
        return self._handles[file].get_tensor(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._where)

    def __len__(self) -> int:
        return len(self._where)

    def __contains__(self, input_key: object) -> bool:
        return input_key in self._where

    def __getstate__(self) -> dict[str, Any]:  # file handles stay in their process (DataLoader workers, pickling)
        return {**self.__dict__, "_handles": {}}


class FeatureCache:
    """`FeatureCache(root).get_or_compute(encoder, dataset_key, split, items, n_levels, batch_size)`."""

    def __init__(self, root: str | Path, shard_bytes: int = 256 * 2**20):
        self.root = Path(root)
        self.shard_bytes = shard_bytes

    def entry_dir(self, encoder: Any, dataset_key: str, split: str, n_levels: int) -> Path:
        return self.root / cache_key(encoder.fingerprint(), dataset_key, split, n_levels)

    def get_or_compute(
        self,
        encoder: Any,
        dataset_key: str,
        split: str,
        items: Sequence[tuple[str, Callable[[], Any]]],
        n_levels: int,
        batch_size: int = 16,
    ) -> FeatureStore:
        """Features of every item (computing only those not cached yet); `items`: (input_key, raw_loader)."""
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        directory = self.entry_dir(encoder, dataset_key, split, n_levels)
        directory.mkdir(parents=True, exist_ok=True)
        with file_lock(directory / ".lock"):
            manifest = self._valid_manifest(directory)
            manifest["fields"] = {
                "encoder": encoder.fingerprint(),
                "encoder_id": encoder.meta.id,
                "final_norm": encoder.meta.final_norm,
                "dataset": dataset_key,
                "split": split,
                "n_levels": n_levels,
            }
            have = {k for s in manifest["shards"] for k in s["keys"]}
            todo = list({k: load for k, load in items if k not in have}.items())
            self._compute(encoder, todo, n_levels, batch_size, directory, manifest)
        return FeatureStore(directory, manifest["shards"])

    def _valid_manifest(self, directory: Path) -> dict[str, Any]:
        """The manifest restricted to shards whose bytes match their recorded length and checksum."""
        manifest: dict[str, Any] = {"format": FORMAT_VERSION, "shards": []}
        try:
            manifest = json.loads((directory / MANIFEST).read_text())
            manifest["shards"] = [s for s in manifest["shards"] if self._shard_ok(directory, s)]
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError):
            warnings.warn(
                f"feature cache manifest {directory / MANIFEST} is corrupt; recomputing the entry", stacklevel=2
            )
            manifest = {"format": FORMAT_VERSION, "shards": []}
        listed = {s["file"] for s in manifest["shards"]}
        for path in directory.glob("shard-*.safetensors"):  # orphans of interrupted writes or dropped shards
            if path.name not in listed:
                path.unlink(missing_ok=True)
        return manifest

    @staticmethod
    def _shard_ok(directory: Path, shard: dict[str, Any]) -> bool:
        path = directory / shard["file"]
        try:
            if path.stat().st_size == shard["bytes"] and file_sha256(path) == shard["sha256"]:
                return True
        except OSError:
            pass
        warnings.warn(
            f"feature cache shard {path} is missing, truncated or corrupt; its "
            f"{len(shard['keys'])} items will be recomputed",
            stacklevel=2,
        )
        return False

    def _compute(
        self,
        encoder: Any,
        todo: list[tuple[str, Callable[[], Any]]],
        n_levels: int,
        batch_size: int,
        directory: Path,
        manifest: dict[str, Any],
    ) -> None:
        pending: dict[str, torch.Tensor] = {}
        pending_bytes = 0
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            for key, feats in zip((k for k, _ in chunk), _encode(encoder, [load() for _, load in chunk], n_levels)):
                pending[key] = feats
                pending_bytes += feats.numel() * feats.element_size()
            if pending_bytes >= self.shard_bytes:
                self._flush(directory, manifest, pending)
                pending, pending_bytes = {}, 0
        if pending:
            self._flush(directory, manifest, pending)

    @staticmethod
    def _flush(directory: Path, manifest: dict[str, Any], features: dict[str, torch.Tensor]) -> None:
        from safetensors.torch import save

        keys = list(features)
        data = save({f"t{i}": features[k].contiguous() for i, k in enumerate(keys)})
        name = f"shard-{uuid.uuid4().hex[:12]}.safetensors"
        write_bytes(directory / name, data)
        manifest["shards"].append(
            {"file": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "keys": keys}
        )
        write_bytes(directory / MANIFEST, json.dumps(manifest).encode())


@torch.no_grad()
def _encode(encoder: Any, raws: list[Any], n_levels: int) -> list[torch.Tensor]:
    """Per-item fp16 features; inputs of equal shape are batched together."""
    xs = [encoder.preprocess(r) for r in raws]
    out: list[torch.Tensor | None] = [None] * len(xs)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, x in enumerate(xs):
        by_shape.setdefault(tuple(x.shape), []).append(i)
    for idx in by_shape.values():
        feats = encoder(torch.stack([xs[i] for i in idx]), n_levels).to("cpu", torch.float16)
        for j, i in enumerate(idx):
            out[i] = feats[j].clone()  # own storage: a view would save the whole batch
    return cast("list[torch.Tensor]", out)  # by_shape covers every index
