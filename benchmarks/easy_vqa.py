"""easy-vqa (PyPI `easy-vqa==1.0`, MIT): an external VQA set written by someone else, real PNGs and questions.

Mirrors the VQAv2 style (no paper column). It has one answer per question, repeated as the 10 annotator answers
so VQA accuracy is exact match after the official normalization. Its train images are split 7:1 into train and
val (image id % 8 == 0 -> val); its test set is the test split.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from pathlib import Path

from benchmarks.benchmark import Benchmark
from benchmarks.grouping import group_duplicates
from benchmarks.registry import register_benchmark
from benchmarks.spec import BenchmarkSpec, DatasetNotFound, Item, Splits

INSTALL_HINT = "pip install easy-vqa==1.0 --no-deps  (it ships its images and questions; no download at run time)"


def _module():
    try:
        import easy_vqa
    except ImportError as e:
        raise DatasetNotFound(f"easy-vqa: the `easy_vqa` package is not installed ({e}); {INSTALL_HINT}") from e
    return easy_vqa


def _load_image(path: str):
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


@dataclass(frozen=True)
class EasyVQASource:
    def load(
        self,
        spec: BenchmarkSpec,
        role: str,
        data_root: str | Path | None,
        size: int | None,
        seed: int,
        subset_seed: int | None,
    ) -> list[Item]:
        ev = _module()
        if role == "test":
            (texts, answers, image_ids), paths = ev.get_test_questions(), ev.get_test_image_paths()
        else:
            (texts, answers, image_ids), paths = ev.get_train_questions(), ev.get_train_image_paths()
        src = "test" if role == "test" else "train"
        keep = [i for i, im in enumerate(image_ids) if role == "test" or (im % 8 == 0) == (role == "val")]
        n = min(size or spec.default_sizes[role], len(keep))
        chosen = sorted(random.Random(f"easy-vqa:{seed}:{role}").sample(keep, n))
        items = [
            Item(
                f"{role}-{i:05d}",
                f"easy-vqa/{src}/{image_ids[i]}",
                functools.partial(_load_image, paths[image_ids[i]]),
                spec.format_prompt(texts[i]),
                [answers[i]] * 10,
            )
            for i in chosen
        ]
        return group_duplicates(items)

    def availability(self, spec: BenchmarkSpec, data_root: str | Path | None) -> str | None:
        try:
            _module()
        except DatasetNotFound as e:
            return str(e)
        return None


SPEC = BenchmarkSpec(
    id="easy-vqa",
    title="easy-vqa (external shapes VQA, PyPI)",
    group="external",
    paper_column=None,
    modality="image",
    task="vqa",
    default_llm="smollm2-135m",
    default_encoder="clip-b16-embedded",
    epochs=8,
    prompt="Question: {question} Answer:",
    primary_metric="VQA_acc",
    splits=Splits("train", "val", "test"),
    eval_split="val",
    default_sizes={"train": 384, "val": 96, "test": 96},
    source=INSTALL_HINT,
    layout="inside the easy_vqa package: data/{train,test}/questions.json and data/{train,test}/images/<id>.png",
    short_title="easy-vqa",
)


def register_easy_vqa() -> None:
    register_benchmark(Benchmark(SPEC, EasyVQASource()))
