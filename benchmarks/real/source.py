"""`FileSource`: items of a real dataset read from its published files under the resolved data folder.

Shared logic: find the folder (benchmarks.dataroot), fail with `DatasetNotFound` naming the dataset, folder,
layout and download page; draw the low-data subset from the annotation rows, as the official loader does
(benchmarks.subsets); skip clips whose media file is missing (AudioCaps/MSRVTT lose YouTube videos), with a warning;
group duplicate inputs (C.3: captioning always; VQA training only, so every evaluated question is scored on its own
answers as the official evaluator does).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from benchmarks.dataroot import ROOT_ENV, config_path, dataset_env_var, resolve_dataset_dir
from benchmarks.grouping import group_duplicates
from benchmarks.real.media import load_audio, load_image, load_video
from benchmarks.spec import BenchmarkSpec, DatasetNotFound, Item
from benchmarks.subsets import draw_subset


@dataclass(frozen=True)
class Sample:
    """One annotation row: an id, the media file, the question (VQA) and its target(s), the annotation's question
    type where it has one (VQAv2: the question's prefix type; OK-VQA: its knowledge category)."""

    id: str
    media: Path
    targets: list[str]
    question: str | None = None
    question_type: str | None = None


Reader = Callable[[Path, str, BenchmarkSpec], list[Sample]]  # (dataset folder, split name, spec) -> samples


def not_found(spec: BenchmarkSpec, folder: Path | None, how: str, problem: str) -> DatasetNotFound:
    where = f"{folder} (from {how})" if folder else "no data folder configured"
    key = spec.data_key
    assert key is not None  # file-backed datasets name their folder key
    return DatasetNotFound(
        f"{spec.title} [{spec.id}]: {problem}.\n"
        f"  expected folder: {where}\n"
        f"  expected layout:\n    " + spec.layout.replace("\n", "\n    ") + "\n"
        f"  get it from: {spec.source}\n"
        f"  point to it with --data-root DIR (reads DIR/{key}/), {dataset_env_var(key)}=<folder>, "
        f"{ROOT_ENV}=DIR, or a [data] section in {config_path()}"
    )


@dataclass(frozen=True)
class FileSource:
    read: Reader
    required: Callable[[str], list[str]]  # split name -> annotation files (relative to the dataset folder)
    draws_subsets: ClassVar[bool] = True  # honours `spec.subset` (a train_fraction, benchmarks.benchmark)

    def _folder(self, spec: BenchmarkSpec, split: str, data_root) -> tuple[Path, str]:
        assert spec.data_key is not None  # file-backed datasets name their folder key
        folder, how = resolve_dataset_dir(spec.data_key, data_root)
        if folder is None:
            raise not_found(spec, None, how, "no location given for this dataset")
        if not folder.is_dir():
            raise not_found(spec, folder, how, f"folder {folder} does not exist")
        missing = [f for f in self.required(split) if not (folder / f).exists()]
        if missing:
            raise not_found(spec, folder, how, f"missing {', '.join(missing)}")
        return folder, how

    def availability(self, spec: BenchmarkSpec, data_root) -> str | None:
        try:
            for role in ("train", "val", "test"):
                split = getattr(spec.splits, role)
                if split is not None:
                    self._folder(spec, split, data_root)
        except DatasetNotFound as e:
            return str(e)
        return None

    def load(
        self, spec: BenchmarkSpec, role: str, data_root, size: int | None, seed: int, subset_seed: int | None
    ) -> list[Item]:
        split = spec.splits.name(role)
        folder, how = self._folder(spec, split, data_root)
        samples = self.read(folder, split, spec)
        if spec.subset is not None and role == "train":
            ss = spec.subset.seed if subset_seed is None else subset_seed
            # the official loader shuffles the test rows with the same generator first
            before = [len(self.read(folder, spec.splits.test, spec))] if spec.splits.test else []
            keep = set(draw_subset(spec.id, [s.id for s in samples], spec.subset.fraction, ss, shuffled_before=before))
            samples = [s for s in samples if s.id in keep]
        present = [s for s in samples if s.media.exists()]
        if not present:
            example = samples[0].media if samples else "(no annotations)"
            raise not_found(
                spec, folder, how, f"none of the {len(samples)} media files of split {split!r} exist (e.g. {example})"
            )
        if len(present) < len(samples):
            warnings.warn(
                f"{spec.id}: {len(samples) - len(present)} of {len(samples)} {split} samples skipped, "
                f"their media files are missing (e.g. {next(s.media for s in samples if not s.media.exists())})",
                stacklevel=3,
            )
        items = [self._item(spec, folder, s) for s in present]
        if spec.task == "caption" or role == "train":
            items = group_duplicates(items)
        return items[:size] if size else items

    @staticmethod
    def _item(spec: BenchmarkSpec, folder: Path, s: Sample) -> Item:
        path = s.media
        train_loader = None
        if spec.modality == "image":
            loader = lambda: load_image(path)  # noqa: E731
        elif spec.modality == "audio":
            loader = lambda: load_audio(path)  # noqa: E731
        else:
            n_frames, sampling = spec.options.get("n_frames", 8), spec.options.get("frame_sampling", "centres")
            loader = lambda: load_video(path, n_frames, sampling)  # noqa: E731
            if sampling == "segments":  # a random frame of each segment in training, the middle one otherwise
                train_loader = lambda rng: load_video(path, n_frames, sampling, rng)  # noqa: E731
        key = f"{spec.data_key}/{path.relative_to(folder).as_posix()}"
        return Item(s.id, key, loader, spec.format_prompt(s.question), list(s.targets), train_loader, s.question_type)
