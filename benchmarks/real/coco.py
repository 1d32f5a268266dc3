"""COCO captions on the Karpathy split (Sec. 4.1) from `dataset_coco.json`; the split map is reused by VQAv2.

Captioning trains on Karpathy `train` only (82,783 images; Table 2's "82K"), as the official loader does
(depalm/data/data/vis_datasets.py:27, `row['split'] == split`): `restval` is not used. VQAv2 keeps restval images
in training: the official Karpathy VQAv2 train file has 605,102 questions, which only train + restval reach."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.real.source import Sample
from benchmarks.spec import BenchmarkSpec

KARPATHY_JSON = "dataset_coco.json"
CAPTION_SPLITS = {"train": ("train",), "val": ("val",), "test": ("test",)}
VQA_SPLITS = {"train": ("train", "restval"), "val": ("val",), "test": ("test",)}


def _karpathy_images(path: Path) -> list[dict]:
    return json.loads(path.read_text())["images"]


def karpathy_split_of(folder: Path) -> dict[int, str]:
    """COCO image id -> Karpathy split (train | val | test), restval folded into train (VQAv2)."""
    names = {k: role for role, ks in VQA_SPLITS.items() for k in ks}
    return {img["cocoid"]: names[img["split"]] for img in _karpathy_images(folder / KARPATHY_JSON)}


def read_coco(folder: Path, split: str, spec: BenchmarkSpec) -> list[Sample]:
    return [
        Sample(
            str(img["cocoid"]), folder / img["filepath"] / img["filename"], [s["raw"].strip() for s in img["sentences"]]
        )
        for img in _karpathy_images(folder / KARPATHY_JSON)
        if img["split"] in CAPTION_SPLITS[split]
    ]
