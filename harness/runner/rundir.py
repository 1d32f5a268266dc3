"""The files of a run directory and how they are checked when read back.

`<runs_dir>/<run_id>/` holds config.json (the resolved config), train_log.jsonl, checkpoint.safetensors (the
full-state checkpoint, removed once the run succeeds unless kept), trainable.safetensors (the trained weights),
predictions_<split>.jsonl and metrics.json. The JSON files carry the SHA-256 of their own content (`sha256`), and
metrics.json, written last, lists the SHA-256 of every other file of the finished run (`files`), so a reader tells a
damaged or edited file from a good one instead of trusting it: `read_json` raises `CorruptRunFile`, `verify_run_dir`
names every file that no longer matches.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from harness.store.atomic import write_text

CONFIG_NAME = "config.json"
METRICS_NAME = "metrics.json"
WEIGHTS_NAME = "trainable.safetensors"
CHECKSUM_FIELD = "sha256"
FILES_FIELD = "files"  # metrics.json: file name -> SHA-256 of the run's other files


class CorruptRunFile(ValueError):
    """A run-directory file that is unreadable or does not match its checksum."""


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, allow_nan=True)


def write_json(path: Path, obj: dict[str, Any]) -> None:
    """`obj` (values JSON can hold; others as str) with the SHA-256 of its canonical form, atomically."""
    plain = json.loads(_canonical(obj))
    plain[CHECKSUM_FIELD] = hashlib.sha256(_canonical(plain).encode()).hexdigest()
    write_text(path, json.dumps(plain, indent=2, sort_keys=True, allow_nan=True))


def read_json(path: Path) -> dict[str, Any]:
    """The content `write_json` wrote; raises CorruptRunFile when the file is unreadable or was changed."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CorruptRunFile(f"{path}: unreadable ({e})") from e
    if not isinstance(obj, dict) or CHECKSUM_FIELD not in obj:
        raise CorruptRunFile(f"{path}: no checksum (not written by this harness, or damaged)")
    stored = obj.pop(CHECKSUM_FIELD)
    if stored != hashlib.sha256(_canonical(obj).encode()).hexdigest():
        raise CorruptRunFile(f"{path}: its content does not match its checksum (damaged or edited)")
    return obj


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**24), b""):
            h.update(block)
    return h.hexdigest()


def manifest(run_dir: Path, names: list[str]) -> dict[str, str]:
    """name -> SHA-256 of those of `names` that exist in `run_dir`."""
    return {n: file_sha256(run_dir / n) for n in names if (run_dir / n).is_file()}


def verify_run_dir(run_dir: Path) -> list[str]:
    """Problems with a finished run directory: metrics.json or a file it lists that is missing or changed."""
    try:
        metrics = read_json(run_dir / METRICS_NAME)
    except CorruptRunFile as e:
        return [str(e)]
    problems = []
    for name, digest in metrics.get(FILES_FIELD, {}).items():
        path = run_dir / name
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif file_sha256(path) != digest:
            problems.append(f"{path}: does not match the checksum metrics.json recorded (damaged or edited)")
    return problems


def sweep_temp_files(run_dir: Path) -> list[Path]:
    """Remove the hidden temp files a killed writer left in `run_dir` (call only as the run's single owner)."""
    removed = []
    for path in run_dir.glob(".*.tmp"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed
