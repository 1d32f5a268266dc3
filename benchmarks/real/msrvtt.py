"""MSR-VTT (`train_val_videodatainfo.json` + `test_videodatainfo.json`): videos as .mp4 or extracted frame folders."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.real.source import Sample
from benchmarks.spec import BenchmarkSpec

ANNOTATIONS = {
    "train": "train_val_videodatainfo.json",
    "validate": "train_val_videodatainfo.json",
    "test": "test_videodatainfo.json",
}


def _info(path: Path) -> dict:
    return json.loads(path.read_text())


VIDEO_SUFFIXES = (".mp4", ".avi", ".webm", ".gif")


def video_path(folder: Path, video_id: str) -> Path:
    """`frames/<video_id>/` (pre-extracted frames) when present, else `videos/<video_id>.<mp4|avi|webm|gif>`."""
    frames = folder / "frames" / video_id
    if frames.is_dir():
        return frames
    for suffix in VIDEO_SUFFIXES:
        path = folder / "videos" / f"{video_id}{suffix}"
        if path.exists():
            return path
    return folder / "videos" / f"{video_id}.mp4"


def read_msrvtt(folder: Path, split: str, spec: BenchmarkSpec) -> list[Sample]:
    """`train_with_validate` option: the train split also holds the validate videos (the official `train7k`)."""
    info = _info(folder / ANNOTATIONS[split])
    wanted = {split, "validate"} if split == "train" and spec.options.get("train_with_validate") else {split}
    videos = [v["video_id"] for v in info["videos"] if v["split"] in wanted]
    captions: dict[str, list[str]] = {v: [] for v in videos}
    for s in info["sentences"]:
        if s["video_id"] in captions:
            captions[s["video_id"]].append(s["caption"].strip())
    return [Sample(v, video_path(folder, v), captions[v]) for v in videos if captions[v]]


def msrvtt_required(split: str) -> list[str]:
    return [ANNOTATIONS[split]]
