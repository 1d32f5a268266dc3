"""Frozen-feature cache: encoder outputs computed once and stored in half precision, so training with a frozen
encoder and no augmentation never calls the encoder (Appendix B.1 features, C.3 frozen backbones).

What is stored is what methods read (`methods.extraction.FeatureRequest`): one entry per (encoder, dataset, split,
level, token selection), so methods share the levels they have in common and none stores a level it does not use;
a CLS-only method (LiMBeR^(1), eP-ALM) stores one token per level, not every patch token.

Layout: <root>/<key>/manifest.json + immutable shard-*.safetensors files, each one fp16 tensor [items, T, d]. The
key hashes the format version, the encoder fingerprint (weights, token layout, preprocessing, final norm on every
level), dataset, split, level and token selection. Every file is written under a temporary name and renamed into
place; shards are flushed as they fill, so an interrupted pass keeps the finished part. Reads are memory-mapped
(safetensors) and copy only the rows asked for.

Integrity: the manifest records each shard's size, a sampled digest (its size, head, tail and evenly spaced chunks,
a few hundred KiB whatever the shard's size) and its full SHA-256. Opening an entry checks size and sampled digest,
so a truncated, missing or partly overwritten shard is deleted and its items recomputed, never read; a flipped byte
between the samples is only found by `verify_cache` (`run_matrix.py --verify-cache`), which re-hashes every shard
and deletes those that do not match (the runs that need them recompute their items).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.backbones.weights_cache import cache_root, file_lock
from harness.runner.rundir import file_sha256
from harness.store.atomic import write_bytes
from methods.extraction import FeatureRequest, select_tokens

FORMAT_VERSION = 2  # 1: one entry per level count, every token, a tensor per item, SHA-256 checked at open
MANIFEST = "manifest.json"
TENSOR = "features"
SAMPLE_HEAD = 64 * 2**10  # the safetensors header and the first rows
SAMPLE_CHUNK = 4 * 2**10
SAMPLE_COUNT = 64
CLUSTER_VARS = ("SLURM_JOB_ID", "SLURM_CLUSTER_NAME")


def features_root() -> Path:
    """Where the runner keeps its feature cache: `features/` under the cache root ($DEPALM_CACHE)."""
    return cache_root() / "features"


def home_cache_warning(root: Path, on_cluster: bool | None = None) -> str | None:
    """A warning when the cache sits under the home directory on a cluster (`on_cluster`: SLURM's variables are
    set, unless told), where homes are small and quota-limited and a paper split takes tens of GB."""
    if on_cluster is None:
        on_cluster = any(v in os.environ for v in CLUSTER_VARS)
    home = Path.home().resolve()
    if not on_cluster or not root.resolve().is_relative_to(home):
        return None
    return (
        f"the feature cache {root} is under the home directory {home} on a cluster, where homes are usually small "
        f"and quota-limited; set DEPALM_CACHE to a large filesystem the nodes share (e.g. scratch)"
    )


def cache_key(encoder_fingerprint: str, dataset_key: str, split: str, level: int, tokens: str) -> str:
    fields = {
        "format": FORMAT_VERSION,
        "encoder": encoder_fingerprint,
        "dataset": dataset_key,
        "split": split,
        "level": level,
        "tokens": tokens,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def _sample_spans(size: int) -> list[tuple[int, int]]:
    spans = [(0, SAMPLE_HEAD), (max(0, size - SAMPLE_HEAD), SAMPLE_HEAD)]
    return spans + [(i * size // SAMPLE_COUNT, SAMPLE_CHUNK) for i in range(SAMPLE_COUNT)]


def _sampled_digest(size: int, read: Callable[[int, int], bytes]) -> str:
    h = hashlib.blake2b(size.to_bytes(8, "little"), digest_size=16)
    for offset, n in _sample_spans(size):
        h.update(read(offset, n))
    return h.hexdigest()


def _bytes_digest(data: bytes) -> str:
    return _sampled_digest(len(data), lambda offset, n: data[offset : offset + n])


def sampled_digest(path: Path) -> str:
    """The cheap check of a shard: a digest of its size and of ~400 KiB sampled from it."""
    with open(path, "rb") as f:
        fd, size = f.fileno(), os.fstat(f.fileno()).st_size
        return _sampled_digest(size, lambda offset, n: os.pread(fd, n, offset))


def _shard_ok(directory: Path, shard: dict[str, Any], full: bool) -> bool:
    """The shard's bytes match its record: size and sampled digest, or (`full`) SHA-256 of every byte."""
    path = directory / shard["file"]
    try:
        if path.stat().st_size == shard["bytes"]:
            if full:
                return file_sha256(path) == shard["sha256"]
            return sampled_digest(path) == shard["sampled"]
    except OSError:
        pass
    return False


def _read_manifest(directory: Path) -> dict[str, Any] | None:
    """The entry's manifest (None when absent); ValueError when it is not one of this format."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except FileNotFoundError:
        return None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise ValueError("not a manifest of this format")
    for s in manifest["shards"]:
        _ = s["file"], s["bytes"], s["sampled"], s["sha256"], list(s["keys"])
    return manifest


def entry_format(directory: Path) -> int | None:
    """The format version an entry's manifest was written in (None: no readable manifest)."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    version = manifest.get("format") if isinstance(manifest, dict) else None
    return version if isinstance(version, int) else None


def _drop_orphans(directory: Path, manifest: dict[str, Any]) -> None:
    listed = {s["file"] for s in manifest["shards"]}
    for path in directory.glob("shard-*.safetensors"):  # interrupted writes, dropped shards
        if path.name not in listed:
            path.unlink(missing_ok=True)


class FeatureStore(Mapping[str, torch.Tensor]):
    """Read-only view of the entries of one request: input_key -> fp16 Tensor [n_levels, T, d_feats], levels in the
    encoder's order (the last one last), T the request's tokens. Each item is read from the memory-mapped shards."""

    def __init__(self, directories: list[Path], shards: list[list[dict[str, Any]]]):
        self.directories = directories
        self._where = [{k: (s["file"], row) for s in entry for row, k in enumerate(s["keys"])} for entry in shards]
        self._handles: dict[Path, Any] = {}

    @property
    def entry_names(self) -> list[str]:
        return [d.name for d in self.directories]

    def _row(self, level: int, input_key: str) -> torch.Tensor:
        from safetensors import safe_open

        file, row = self._where[level][input_key]
        path = self.directories[level] / file
        if path not in self._handles:
            self._handles[path] = safe_open(str(path), framework="pt").get_slice(TENSOR)
        return self._handles[path][row]

    def __getitem__(self, input_key: str) -> torch.Tensor:
        if input_key not in self._where[0]:
            raise KeyError(f"{input_key!r} is not in the feature cache {self.directories[0].parent}")
        return torch.stack([self._row(i, input_key) for i in range(len(self.directories))])

    def __iter__(self) -> Iterator[str]:
        return iter(self._where[0])

    def __len__(self) -> int:
        return len(self._where[0])

    def __contains__(self, input_key: object) -> bool:
        return input_key in self._where[0]

    def __getstate__(self) -> dict[str, Any]:  # file handles stay in their process (DataLoader workers, pickling)
        return {**self.__dict__, "_handles": {}}


class FeatureCache:
    """`FeatureCache(root).get_or_compute(encoder, dataset_key, split, items, request, batch_size)`."""

    def __init__(self, root: str | Path, shard_bytes: int = 256 * 2**20):
        self.root = Path(root)
        self.shard_bytes = shard_bytes
        message = home_cache_warning(self.root)
        if message:
            warnings.warn(message, stacklevel=2)

    def entry_dir(self, encoder: Any, dataset_key: str, split: str, level: int, tokens: str = "all") -> Path:
        """The entry of one encoder level (0 = the first layer's output, n_levels - 1 = the last's)."""
        return self.root / cache_key(encoder.fingerprint(), dataset_key, split, level, tokens)

    def get_or_compute(
        self,
        encoder: Any,
        dataset_key: str,
        split: str,
        items: Sequence[tuple[str, Callable[[], Any]]],
        request: FeatureRequest,
        batch_size: int = 16,
    ) -> FeatureStore:
        """Features of every item (computing only those not cached yet); `items`: (input_key, raw_loader)."""
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1")
        meta = encoder.meta
        if not 1 <= request.n_levels <= meta.n_levels:
            raise ValueError(
                f"{meta.id}: n_levels={request.n_levels} but the encoder has {meta.n_levels} levels; "
                f"ask for 1..{meta.n_levels}"
            )
        if request.tokens == "cls" and not meta.has_cls:
            raise ValueError(f"{meta.id} has no CLS token; request tokens='patch-mean' in its place")
        levels = range(meta.n_levels - request.n_levels, meta.n_levels)
        dirs = [self.entry_dir(encoder, dataset_key, split, lv, request.tokens) for lv in levels]
        with contextlib.ExitStack() as stack:
            for d in sorted(dirs):  # one order for every process: no deadlock between overlapping requests
                d.mkdir(parents=True, exist_ok=True)
                stack.enter_context(file_lock(d / ".lock"))
            manifests = [self._valid_manifest(d) for d in dirs]
            for lv, manifest in zip(levels, manifests):
                manifest["fields"] = {
                    "encoder": encoder.fingerprint(),
                    "encoder_id": meta.id,
                    "final_norm": meta.final_norm,
                    "dataset": dataset_key,
                    "split": split,
                    "level": lv,
                    "tokens": request.tokens,
                }
            have = [{k for s in m["shards"] for k in s["keys"]} for m in manifests]
            todo = list({k: load for k, load in items if not all(k in h for h in have)}.items())
            _Writer(self.shard_bytes, dirs, manifests, have).compute(encoder, todo, request, batch_size)
        return FeatureStore(dirs, [m["shards"] for m in manifests])

    def _valid_manifest(self, directory: Path) -> dict[str, Any]:
        """The manifest restricted to shards whose size and sampled digest match their record."""
        manifest: dict[str, Any] = {"format": FORMAT_VERSION, "shards": []}
        try:
            manifest = _read_manifest(directory) or manifest
        except (ValueError, KeyError, TypeError):
            warnings.warn(
                f"feature cache manifest {directory / MANIFEST} is corrupt; recomputing the entry", stacklevel=3
            )
        kept = []
        for s in manifest["shards"]:
            if _shard_ok(directory, s, full=False):
                kept.append(s)
            else:
                warnings.warn(
                    f"feature cache shard {directory / s['file']} is missing, truncated or corrupt; its "
                    f"{len(s['keys'])} items will be recomputed",
                    stacklevel=3,
                )
        manifest["shards"] = kept
        _drop_orphans(directory, manifest)
        return manifest


@dataclass
class _Writer:
    """Encodes the missing items of a request once and appends each level's selection to its entry."""

    shard_bytes: int
    dirs: list[Path]
    manifests: list[dict[str, Any]]
    have: list[set[str]]
    pending: list[dict[str, torch.Tensor]] = field(default_factory=list)

    def compute(
        self, encoder: Any, todo: list[tuple[str, Callable[[], Any]]], request: FeatureRequest, batch_size: int
    ) -> None:
        self.pending = [{} for _ in self.dirs]
        pending_bytes = 0
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            feats = _encode(encoder, [load() for _, load in chunk], request)
            for (key, _), f in zip(chunk, feats):
                for i, level_feats in enumerate(f):
                    if key not in self.have[i]:
                        self.pending[i][key] = level_feats
                        pending_bytes += level_feats.numel() * level_feats.element_size()
            if pending_bytes >= self.shard_bytes:
                self.flush()
                pending_bytes = 0
        self.flush()

    def flush(self) -> None:
        from safetensors.torch import save

        for directory, manifest, features in zip(self.dirs, self.manifests, self.pending):
            if not features:
                continue
            keys = list(features)
            data = save({TENSOR: torch.stack([features[k] for k in keys])})
            name = f"shard-{uuid.uuid4().hex[:12]}.safetensors"
            write_bytes(directory / name, data)
            manifest["shards"].append(
                {
                    "file": name,
                    "bytes": len(data),
                    "sampled": _bytes_digest(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "keys": keys,
                }
            )
            write_bytes(directory / MANIFEST, json.dumps(manifest).encode())
            features.clear()


@torch.no_grad()
def _encode(encoder: Any, raws: list[Any], request: FeatureRequest) -> list[torch.Tensor]:
    """Per-item fp16 features [n_levels, T, d] with the request's tokens; inputs of equal shape are batched."""
    xs = [encoder.preprocess(r) for r in raws]
    out: list[torch.Tensor] = [torch.empty(0)] * len(xs)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for i, x in enumerate(xs):
        by_shape.setdefault(tuple(x.shape), []).append(i)
    for idx in by_shape.values():
        feats = encoder(torch.stack([xs[i] for i in idx]), request.n_levels)
        feats = select_tokens(feats, request.tokens, encoder.meta.has_cls).to("cpu", torch.float16)
        for j, i in enumerate(idx):
            out[i] = feats[j].clone()  # own storage: a view would keep the whole batch alive
    return out


@dataclass
class VerifyReport:
    """What `verify_cache` found: shards re-hashed, their bytes, and the bad ones it deleted (entry, shard)."""

    shards: int = 0
    bytes: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)
    other_format: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"feature cache verified: {self.shards} shards, {self.bytes / 2**30:.2f} GiB re-hashed"
        if self.bad:
            text += f"; {len(self.bad)} did not match their SHA-256 and were deleted (their items are recomputed)"
        if self.other_format:
            text += f"; {len(self.other_format)} entries of another format left alone (--gc lists them)"
        return text


def verify_cache(root: Path) -> VerifyReport:
    """Re-hash every shard of every entry under `root` (each entry under its lock); delete those whose SHA-256
    differs from the manifest's, and drop them from it."""
    report = VerifyReport()
    if not root.is_dir():
        return report
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        with file_lock(directory / ".lock"):
            try:
                manifest = _read_manifest(directory)
            except (ValueError, KeyError, TypeError):
                report.other_format.append(directory.name)
                continue
            if manifest is None:
                continue
            kept = []
            for s in manifest["shards"]:
                report.shards += 1
                report.bytes += s["bytes"]
                if _shard_ok(directory, s, full=True):
                    kept.append(s)
                else:
                    report.bad.append((directory.name, s["file"]))
            if len(kept) < len(manifest["shards"]):
                manifest["shards"] = kept
                write_bytes(directory / MANIFEST, json.dumps(manifest).encode())
                _drop_orphans(directory, manifest)
    return report
