"""VQA annotation formats: VQAv2 on Karpathy-split images, OK-VQA (VQAv2 format), TextVQA 0.5.1, A-OKVQA v1.0."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.real.coco import KARPATHY_JSON, karpathy_split_of
from benchmarks.real.source import Sample
from benchmarks.spec import BenchmarkSpec

COCO_SPLITS = ("train2014", "val2014")


def vqav2_files(prefix_q: str, prefix_a: str, split: str) -> tuple[str, str]:
    return f"{prefix_q}_{split}_questions.json", f"{prefix_a}_{split}_annotations.json"


def _vqa_pairs(folder: Path, coco_split: str, prefix_q: str, prefix_a: str) -> list[tuple[dict, dict]]:
    qf, af = vqav2_files(prefix_q, prefix_a, coco_split)
    questions = {q["question_id"]: q for q in json.loads((folder / qf).read_text())["questions"]}
    return [(questions[a["question_id"]], a) for a in json.loads((folder / af).read_text())["annotations"]]


def _coco_image(folder: Path, coco_split: str, image_id: int) -> Path:
    return folder / coco_split / f"COCO_{coco_split}_{image_id:012d}.jpg"


def _vqa_sample(folder: Path, coco_split: str, q: dict, a: dict, answer_field: str = "answer") -> Sample:
    return Sample(
        str(q["question_id"]),
        _coco_image(folder, coco_split, q["image_id"]),
        [x[answer_field] for x in a["answers"]],
        q["question"],
        a.get("question_type"),
    )


def read_vqav2_karpathy(folder: Path, split: str, spec: BenchmarkSpec) -> list[Sample]:
    """Questions of train2014 + val2014 pooled, assigned by image to the Karpathy split (as in the paper)."""
    split_of = karpathy_split_of(folder)
    return [
        _vqa_sample(folder, cs, q, a)
        for cs in COCO_SPLITS
        for q, a in _vqa_pairs(folder, cs, "v2_OpenEnded_mscoco", "v2_mscoco")
        if split_of.get(q["image_id"]) == split
    ]


def vqav2_required(split: str) -> list[str]:
    return [KARPATHY_JSON] + [f for cs in COCO_SPLITS for f in vqav2_files("v2_OpenEnded_mscoco", "v2_mscoco", cs)]


def read_okvqa(folder: Path, split: str, spec: BenchmarkSpec) -> list[Sample]:
    """`answer_field` option: the processed `answer`, or `raw_answer` as the official loader reads it
    (depalm/data/data/vqa.py:85) for its targets and references."""
    field = spec.options.get("answer_field", "answer")
    return [_vqa_sample(folder, split, q, a, field) for q, a in _vqa_pairs(folder, split, "OpenEnded_mscoco", "mscoco")]


def okvqa_required(split: str) -> list[str]:
    return list(vqav2_files("OpenEnded_mscoco", "mscoco", split))


def read_textvqa(folder: Path, split: str, spec: BenchmarkSpec) -> list[Sample]:
    data = json.loads((folder / f"TextVQA_0.5.1_{split}.json").read_text())["data"]
    return [
        Sample(
            str(d["question_id"]), folder / "train_images" / f"{d['image_id']}.jpg", list(d["answers"]), d["question"]
        )
        for d in data
    ]


def textvqa_required(split: str) -> list[str]:
    return [f"TextVQA_0.5.1_{split}.json"]


def read_aokvqa(folder: Path, split: str, spec: BenchmarkSpec) -> list[Sample]:
    """Direct-answer setting: the 10 `direct_answers`; images are COCO 2017."""
    data = json.loads((folder / f"aokvqa_v1p0_{split}.json").read_text())
    return [
        Sample(
            str(d["question_id"]),
            folder / f"{split}2017" / f"{d['image_id']:012d}.jpg",
            list(d["direct_answers"]),
            d["question"],
        )
        for d in data
    ]


def aokvqa_required(split: str) -> list[str]:
    return [f"aokvqa_v1p0_{split}.json"]
