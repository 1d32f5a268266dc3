"""`Benchmark`: a spec plus the source of its items; loads splits, post-processes generations and scores them."""

from __future__ import annotations

import dataclasses
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from benchmarks.spec import SPLIT_ROLES, BenchmarkSpec, Item, SubsetSpec


class Source(Protocol):
    """Produces a split's items (real files or the offline generator)."""

    def load(
        self,
        spec: BenchmarkSpec,
        role: str,
        data_root: str | Path | None,
        size: int | None,
        seed: int,
        subset_seed: int | None,
    ) -> list[Item]: ...  # `spec` carries the variant's data rules

    def availability(self, spec: BenchmarkSpec, data_root: str | Path | None) -> str | None: ...


@dataclass(frozen=True)
class Scores:
    """A benchmark's scores of one set of predictions: `corpus` (metric -> value x100), `items` (metric -> item
    id -> score x100, for the metrics that decompose per item; their mean is the corpus value) and `notes` (metric
    -> why its corpus value is NaN: a skipped metric and what it needs, recorded in the results row's note)."""

    corpus: dict[str, float]
    items: dict[str, dict[str, float]]
    notes: dict[str, str] = field(default_factory=dict)


_ECHOED_PREFIX = re.compile(r"^\s*(answer|a)\s*:\s*", re.IGNORECASE)


class Benchmark:
    """One registered benchmark: `load`, `postprocess`, `evaluate` (metrics on the paper's x100 scale)."""

    def __init__(self, spec: BenchmarkSpec, source: Source):
        self.spec = spec
        self.source = source

    @property
    def id(self) -> str:
        return self.spec.id

    def __repr__(self) -> str:
        return f"Benchmark({self.spec.id!r}, {self.spec.task}, {self.spec.modality})"

    def load(
        self,
        split: str = "train",
        data_root: str | Path | None = None,
        size: int | None = None,
        seed: int = 0,
        subset_seed: int | None = None,
        variant: str = "official",
        train_fraction: float | None = None,
    ) -> list[Item]:
        """Items of split role `split` (train|val|test).

        seed: generation seed of the offline suite (keep it fixed across training seeds); real datasets ignore it.
        size: cap on the number of items (offline suite: how many to generate; default `spec.default_sizes`).
        subset_seed: seed of the low-data subset (default `spec.subset.seed`); a run passes its run seed.
        variant: recipe variant whose data rules apply (`BenchmarkSpec.for_variant`).
        train_fraction: train on this fraction of the whole train split (Figure 3 right) in place of the spec's own
            subset: the official draw (benchmarks.subsets), so for one subset seed a larger fraction contains a
            smaller one. Only sources that draw subsets (`draws_subsets`) take it.
        """
        if split not in SPLIT_ROLES:
            raise ValueError(f"{self.id}: unknown split {split!r}; expected one of {', '.join(SPLIT_ROLES)}")
        if size is not None and size < 1:
            raise ValueError(f"{self.id}: size must be a positive item count, got {size}")
        spec = self.spec.for_variant(variant)
        spec.splits.name(split)
        if train_fraction is not None and split == "train":
            spec = dataclasses.replace(spec, subset=self.fraction_subset(train_fraction))
        return self.source.load(spec, split, data_root, size, seed, subset_seed)

    def fraction_subset(self, fraction: float) -> SubsetSpec:
        """The low-data subset of a `train_fraction`: the spec's own pool and default seed, the new fraction. A
        ValueError when the fraction is out of (0, 1] or the source draws no subsets."""
        if not 0 < fraction <= 1:
            raise ValueError(f"{self.id}: train_fraction must be in (0, 1], got {fraction}")
        if not getattr(self.source, "draws_subsets", False):
            raise ValueError(f"{self.id}: its item source draws no low-data subsets, so it takes no train_fraction")
        own = self.spec.subset
        return SubsetSpec(fraction, own.seed if own else 0, own.pool_size if own else None)

    def availability(self, data_root: str | Path | None = None) -> str | None:
        """None when the data can be loaded, else the reason (the DatasetNotFound message)."""
        return self.source.availability(self.spec, data_root)

    def postprocess(self, text: str) -> str:
        """Task post-processing of a generation (the paper variant's; the official code scores the stripped decode
        unchanged): first non-empty line; VQA drops an echoed 'Answer:'."""
        line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
        if self.spec.task == "vqa":
            line = _ECHOED_PREFIX.sub("", line)
        return line

    def evaluate(
        self,
        predictions: dict[str, str],
        items: list[Item],
        metrics: tuple[str, ...] | None = None,
        raw: dict[str, str] | None = None,
    ) -> dict[str, float]:
        """Score already post-processed predictions (item id -> text) against the items' targets.

        metrics: caption metrics to compute (default all; METEOR costs ~20 s of Java start-up per call).
        raw: the generations before post-processing (default `predictions`); `VQA_acc_depalm` scores these, as the
        official DePALM code scores its stripped decode.
        """
        return self.score(predictions, items, metrics, raw).corpus

    def item_scores(
        self,
        predictions: dict[str, str],
        items: list[Item],
        metrics: tuple[str, ...] | None = None,
        raw: dict[str, str] | None = None,
    ) -> dict[str, dict[str, float]]:
        """Per-item scores (metric -> item id -> score x100) of the metrics that decompose per item (VQA_acc,
        VQA_acc_depalm, CIDEr): each corpus value of `evaluate` is their mean."""
        return self.score(predictions, items, metrics, raw).items

    def score(
        self,
        predictions: dict[str, str],
        items: list[Item],
        metrics: tuple[str, ...] | None = None,
        raw: dict[str, str] | None = None,
    ) -> Scores:
        """`evaluate` and `item_scores` from one computation (arguments as `evaluate`'s)."""
        ids = [it.id for it in items]
        missing = [i for i in ids if i not in predictions]
        if missing:
            raise ValueError(
                f"{self.id}: {len(missing)} of {len(ids)} items have no prediction "
                f"(first: {missing[:5]}); predict every item before evaluating"
            )
        extra = set(predictions) - set(ids)
        if extra:
            warnings.warn(
                f"{self.id}: {len(extra)} predictions match no item and are ignored (first: {sorted(extra)[:5]})",
                stacklevel=3,
            )
        if self.spec.task == "caption":
            from benchmarks.metrics.caption import CAPTION_METRICS, caption_scores

            wanted = tuple(metrics) if metrics else CAPTION_METRICS
            if self.spec.primary_metric not in wanted:
                wanted += (self.spec.primary_metric,)
            scored = caption_scores({i: predictions[i] for i in ids}, {it.id: it.targets for it in items}, wanted)
            corpus, primary = dict(scored.corpus), self.spec.primary_metric
            notes = {}
            if primary not in corpus:  # skipped: a NaN row that says why
                corpus[primary] = float("nan")
                notes[primary] = scored.skipped.get(primary, f"{primary} not computed")
            return Scores(corpus, scored.items, notes)
        from benchmarks.metrics.vqa import vqa_item_scores

        raw = predictions if raw is None else raw
        return Scores(
            *vqa_item_scores(
                {i: predictions[i] for i in ids}, {it.id: it.targets for it in items}, raw={i: raw[i] for i in ids}
            )
        )
