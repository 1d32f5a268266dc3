"""Atomic writes: every file the project writes appears whole or not at all.

The content goes to a hidden temp file (or folder) beside the target, on the same filesystem, is flushed to disk and
then renamed over the target with `os.replace`, so a crash, a kill or a concurrent reader never sees a partial file
and an earlier version stays intact until the new one is complete. Readers skip the hidden temp names. Temp names
are unique (mkstemp), so concurrent writers of one target never share a temp file. `mkstemp` creates files readable
by their owner only: they are given the permissions a plain `open()` would (0666 / 0777 less the umask), so a shared
results directory stays readable by the group. Stdlib only, so any layer (benchmarks included) can use it without
pulling the results store's pandas.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _read_umask() -> int:
    """The process umask, read without changing it where Linux exposes it (os.umask would set it for an instant,
    racing other threads' file creation)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()
FILE_MODE = 0o666 & ~UMASK
DIR_MODE = 0o777 & ~UMASK


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temp file name beside `path` for writers that take a file name (pyarrow, torch.save, safetensors, pandas);
    it replaces `path` when the block exits normally and is removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, FILE_MODE)  # after the writer: some (safetensors) replace the file they are given
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """A temp folder beside `path`, filled by the block (e.g. `save_pretrained`); it replaces `path` (and whatever an
    interrupted earlier attempt left there) when the block exits normally and is removed when it raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        os.chmod(tmp, DIR_MODE)
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """`text` as UTF-8 (whatever the locale), atomically."""
    return write_bytes(path, text.encode("utf-8"))
