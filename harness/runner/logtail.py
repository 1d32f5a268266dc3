"""The end of a log read from its end: the live display and the SLURM executor's failure messages show the last
lines of logs that grow for days, so neither reads a log whole."""

from __future__ import annotations

import os
from pathlib import Path

TAIL_BYTES = 64 * 1024  # well over a train-log record or 30 lines of a traceback


def read_tail(path: Path, max_bytes: int = TAIL_BYTES) -> bytes:
    """At most the last `max_bytes` bytes of `path`, starting at a line boundary (a partial first line is dropped
    unless the whole file fits). Raises OSError when the file cannot be read."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - max_bytes)
        f.seek(start)
        data = f.read(size - start)
    if start > 0:
        cut = data.find(b"\n")
        data = data[cut + 1 :] if cut >= 0 else b""
    return data


def tail_lines(path: Path, n: int, max_bytes: int = TAIL_BYTES) -> list[str]:
    """The last `n` lines of `path` found in its last `max_bytes` bytes (decoded with replacement)."""
    return read_tail(path, max_bytes).decode(errors="replace").splitlines()[-n:]
