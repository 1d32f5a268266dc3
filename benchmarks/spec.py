"""Benchmark declarations: `BenchmarkSpec` (Table 2 + Appendix C.3 facts, and how the paper's tables show the
benchmark), `Item`, and `DatasetNotFound`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MODALITIES = ("image", "audio", "video")
TASKS = ("caption", "vqa")
PRIMARY_METRICS = ("CIDEr", "VQA_acc", "SPIDEr")
GROUPS = ("paper", "offline", "external")
SPLIT_ROLES = ("train", "val", "test")
DATA_VARIANTS = ("official", "paper")  # the recipe variants, as data rules (official_options apply to the first)


class DatasetNotFound(FileNotFoundError):
    """A benchmark's files are missing; the message names the dataset, the expected layout and where to get it."""


@dataclass(frozen=True)
class Splits:
    """Dataset split name used for each role; `test` is None when the dataset publishes no test answers."""

    train: str
    val: str
    test: str | None

    def name(self, role: str) -> str:
        if role not in SPLIT_ROLES:
            raise ValueError(f"unknown split {role!r}; expected one of {', '.join(SPLIT_ROLES)}")
        value = getattr(self, role)
        if value is None:
            raise ValueError(f"this benchmark has no {role} split (its test annotations are not public); use 'val'")
        return value


@dataclass(frozen=True)
class SubsetSpec:
    """A low-data setting (Sec. 4.1, '1% of the training data'): a fraction of the train split. A run draws it with
    its run seed (the official code's rule) unless its settings fix a subset seed; `seed` is the default of a direct
    `Benchmark.load`."""

    fraction: float
    seed: int = 0
    pool_size: int | None = None  # offline suite only: size of the generated train pool the fraction is taken from


@dataclass(frozen=True)
class BenchmarkSpec:
    """What the runner and the reports need to know about one benchmark (Table 2, Sec. 4.1, Appendix C.3).

    The report reads its display facts from here, so a benchmark registered in one file appears in every table:
    `short_title` heads its column (default: `title`), `eval_split` is the split Table 4 shows, `s_metrics` the
    metrics its supplementary table (S2 image, S3 audio, S4 video) lists and `s_splits` the splits that table shows
    the primary metric on (VQAv2: val and test).
    """

    id: str
    title: str
    group: str  # paper | offline | external
    paper_column: str | None  # paper dataset id whose Table 4 column this benchmark fills or mirrors
    modality: str
    task: str
    default_llm: str
    default_encoder: str
    epochs: int
    prompt: str  # the official instruction template (format_prompt); VQA questions fill {question}
    primary_metric: str
    splits: Splits
    eval_split: str = "val"  # the split role Table 4 reports
    data_key: str | None = None  # paper datasets: folder name under the data root / DEPALM_DATA_<KEY> env variable
    layout: str = ""  # expected files under the data folder (shown in DatasetNotFound)
    source: str = ""  # where to get the data
    default_sizes: dict[str, int] = field(default_factory=dict)  # offline suite: items per split role
    # paper datasets: published items per split role, counted as the loader yields them (grouped duplicates): the
    # train size of Table 2 (before a low-data subset), the eval splits' sizes of their releases; what the ETA
    # uses when the annotation files are not here (harness.runner.eta)
    paper_sizes: dict[str, int] = field(default_factory=dict)
    subset: SubsetSpec | None = None
    options: dict[str, Any] = field(default_factory=dict)  # loader options (e.g. n_frames, sample_rate)
    # the official code's data rules for this dataset, over `options` / `splits` under the official variant
    official_options: dict[str, Any] = field(default_factory=dict)
    official_splits: Splits | None = None
    paper_encoder: str = ""  # the encoder the paper used where `default_encoder` stands in for it (AudioCaps: MAViL)
    short_title: str = ""  # table heading ("COCO (1%)"); "" prints `title`
    s_metrics: tuple[str, ...] = ()  # metrics of its block in Tables S2–S4 (empty: every metric in the results)
    s_splits: tuple[str, ...] = ()  # splits Tables S2–S4 show the primary metric on (empty: eval_split only)

    def __post_init__(self) -> None:
        checks = [
            ("modality", self.modality, MODALITIES),
            ("task", self.task, TASKS),
            ("primary_metric", self.primary_metric, PRIMARY_METRICS),
            ("group", self.group, GROUPS),
        ]
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"BenchmarkSpec {self.id}: {name}={value!r} not in {allowed}")
        if self.eval_split not in SPLIT_ROLES:
            raise ValueError(f"BenchmarkSpec {self.id}: eval_split={self.eval_split!r} not in {SPLIT_ROLES}")
        if not set(self.s_splits) <= set(SPLIT_ROLES):
            raise ValueError(f"BenchmarkSpec {self.id}: s_splits={self.s_splits!r} not all in {SPLIT_ROLES}")

    def for_variant(self, variant: str) -> BenchmarkSpec:
        """This spec with the data rules of recipe variant `variant` (official: `official_options`/`_splits`)."""
        if variant not in DATA_VARIANTS:
            raise ValueError(f"{self.id}: unknown variant {variant!r}; valid: {', '.join(DATA_VARIANTS)}")
        if variant == "paper" or not (self.official_options or self.official_splits):
            return self
        return dataclasses.replace(
            self, options={**self.options, **self.official_options}, splits=self.official_splits or self.splits
        )

    @property
    def display_title(self) -> str:
        return self.short_title or self.title

    def format_prompt(self, question: str | None = None) -> str:
        """The item's prompt by the official rule (`depalm/data/data/data_base.py:230-232`, then the format call
        of `depalm/depalmodel.py:96`): a template without `{question}` gets ' {question}' appended, the template is
        stripped, then filled with the question ('' for captioning). The LLM family's answer marker comes later
        (`harness.runner.text.llm_prompt`)."""
        template = self.prompt if "{question}" in self.prompt else self.prompt + " {question}"
        return template.strip().format(question=question or "")


@dataclass(frozen=True, eq=True)
class Item:
    """One evaluation/training unit: an input, a prompt and all its targets (refs for captions, 10 answers for VQA).

    Training draws one target per epoch (C.3, duplicate inputs); `load_input()` returns the raw input:
    PIL.Image (image), (float32 waveform, sample_rate) (audio) or list[PIL.Image] frames (video).
    `question_type` (VQA) is data for the blind prior (`benchmarks.prior`): the question's template as its generator
    or annotation names it; None lets the prior fall back on the question's first words.
    """

    id: str
    input_key: str
    load_input: Callable[[], Any] = field(compare=False, repr=False)
    prompt: str
    targets: list[str]
    # training draw of an input whose use in training is random (video: a random frame per segment); None: load_input
    load_train_input: Callable[[Any], Any] | None = field(default=None, compare=False, repr=False)
    question_type: str | None = None
