"""TextCaps 0.1 (`TextCaps_0.1_{train,val}.json`): one row per caption, grouped per image into its references."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.real.source import Sample
from benchmarks.spec import BenchmarkSpec


def read_textcaps(folder: Path, split: str, spec: BenchmarkSpec) -> list[Sample]:
    data = json.loads((folder / f"TextCaps_0.1_{split}.json").read_text())["data"]
    return [
        Sample(d["image_id"], folder / "train_images" / f"{d['image_id']}.jpg", [d["caption_str"].strip()])
        for d in data
    ]


def textcaps_required(split: str) -> list[str]:
    return [f"TextCaps_0.1_{split}.json"]
