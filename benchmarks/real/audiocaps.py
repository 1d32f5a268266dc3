"""AudioCaps (`{train,val,test}.csv`: audiocap_id, youtube_id, start_time, caption) + one audio clip per video."""

from __future__ import annotations

import csv
from pathlib import Path

from benchmarks.real.source import Sample
from benchmarks.spec import BenchmarkSpec

COLUMNS = {"audiocap_id", "youtube_id", "start_time", "caption"}
AUDIO_SUFFIXES = (".wav", ".flac")


def _clip(folder: Path, split: str, youtube_id: str) -> Path:
    for suffix in AUDIO_SUFFIXES:
        path = folder / "audio" / split / f"{youtube_id}{suffix}"
        if path.exists():
            return path
    return folder / "audio" / split / f"{youtube_id}.wav"


def read_audiocaps(folder: Path, split: str, spec: BenchmarkSpec) -> list[Sample]:
    path = folder / f"{split}.csv"
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = COLUMNS - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing columns {sorted(missing)}; expected {sorted(COLUMNS)}")
        rows = list(reader)
    drop = spec.options.get("drop_chars", "")  # official normalize_text: ',' and '"' removed (audiocaps.py:99-100)
    return [
        Sample(
            r["youtube_id"],
            _clip(folder, split, r["youtube_id"]),
            [r["caption"].translate({ord(c): None for c in drop}).strip()],
        )
        for r in rows
    ]


def audiocaps_required(split: str) -> list[str]:
    return [f"{split}.csv"]
