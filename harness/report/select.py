"""From results rows to report sections: grouping, hyper-parameter choice on val (Sec. 4.1).

A `Section` is one comparable set of results: one source, one profile, and for each benchmark one (LLM, encoder)
pair. Run results are split into as many sections as needed so that no table silently mixes backbones or profiles.
Within a section each (method, dataset) cell uses one hyper-parameter setting (lr, grad_clip): the one with the best
mean primary metric on the val split (the paper's per-experiment grid search), reported on the test split where the
section has one, else on val. Reference rows (a `control` other than "": a prior computed without a model, a
blind model without perceptual input) come after the methods, in `Section.controls`; the tables never rank them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from harness.report.labels import (
    PRIMARY_METRIC_PREFERENCE,
    SWEEP_AXES,
    axis_label,
    benchmark_spec,
    dataset_sort_key,
    display_of,
    method_names,
    method_sort_key,
)
from harness.store.results import AGGREGATE_DATASET

STATUS_SEVERITY = {"ok": 0, "unstable": 1, "interrupted": 2, "cancelled": 3, "failed": 4}
_HPARAMS = ("lr", "grad_clip")


@dataclass
class Section:
    """One table's worth of comparable results (see module docstring)."""

    key: str  # slug, unique within a report
    title: str
    source: str
    profile: str
    variant: str  # recipe variant of the runs ("" for the paper's own numbers, which need no label)
    rows: pd.DataFrame  # the selected rows only (one hyper-parameter setting per method x dataset)
    datasets: list[str]
    methods: list[str]
    primary: dict[str, str]  # dataset -> primary metric
    report_split: dict[str, str]  # dataset -> split role reported
    backbones: dict[str, tuple[str, str]]  # dataset -> (llm, encoder)
    choices: pd.DataFrame = field(default_factory=pd.DataFrame)  # method, dataset, lr, grad_clip, n_candidates, ...
    superseded: int = 0  # older runs of the same cell and seed, replaced by a rerun
    controls: dict[str, str] = field(default_factory=dict)  # method id -> kind of reference row (prior, blind)
    names: dict[str, str] = field(init=False, repr=False)  # method id -> display name, from the rows

    def __post_init__(self) -> None:
        self.names = method_names(self.rows)

    def method(self, method_id: str) -> str:
        """The method's display name."""
        return display_of(self.names, method_id)

    @property
    def ranked(self) -> list[str]:
        """The methods that are ranked: every method but the controls, in table order."""
        return [m for m in self.methods if m not in self.controls]


def primary_metric(dataset: str, metrics: set[str]) -> str:
    """The dataset's headline metric (Table 4 column) when the results have it; otherwise (unregistered datasets, or
    e.g. SPIDEr skipped offline for lack of SPICE) the first of VQA_acc/SPIDEr/CIDEr present, else the
    alphabetically first metric. Column headers name the metric, so a substitute is visible."""
    spec = benchmark_spec(dataset)
    if spec is not None and (spec.primary_metric in metrics or not metrics):
        return spec.primary_metric
    for m in PRIMARY_METRIC_PREFERENCE:
        if m in metrics:
            return m
    return min(metrics) if metrics else ""


def choose_hparams(rows: pd.DataFrame, primary: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep, per (method, dataset), the rows of the hyper-parameter setting with the best mean val primary metric.

    Returns (selected rows, choices) where choices has method, dataset, lr, grad_clip, n_candidates, selected_on.
    Settings with no val number are chosen on test (said in `selected_on`); with no number at all, the first (the
    smallest lr, then grad_clip; an unknown value first). Of equal means, the first setting wins. Vectorised: one
    groupby per split, whatever the number of cells.
    """
    columns = ["method", "dataset", "lr", "grad_clip", "n_candidates", "selected_on"]
    if not len(rows):
        return rows, pd.DataFrame([], columns=columns)
    # a setting's key: its lr and grad_clip, an unknown value (NaN) sorting first
    keys = pd.DataFrame(
        {
            "_cell": rows.groupby(["method", "dataset"], sort=False).ngroup().to_numpy(),
            **{f"_{h}": rows[h].astype(float).fillna(-math.inf).to_numpy() for h in _HPARAMS},
        },
        index=rows.index,
    )
    hp = [f"_{h}" for h in _HPARAMS]
    settings = keys.drop_duplicates().sort_values(["_cell", *hp])
    first = settings.groupby("_cell").head(1).set_index("_cell")
    n_candidates = settings.groupby("_cell").size()
    best = first.copy()
    selected_on = pd.Series("only setting", index=first.index, dtype=object)
    several = n_candidates.index[n_candidates > 1]
    selected_on[several] = "no score (first setting)"
    undecided = set(several)
    primary_of_row = rows.dataset.map(primary)
    for split in ("val", "test"):
        if not undecided:
            break
        scored = (rows.metric == primary_of_row) & (rows.split == split) & (rows.status == "ok")
        frame = keys[scored.to_numpy()].assign(_value=rows.value[scored].astype(float))
        frame = frame[frame._cell.isin(undecided)]
        means = frame.groupby(["_cell", *hp]).agg(_mean=("_value", "mean")).reset_index().dropna(subset=["_mean"])
        if means.empty:
            continue
        means["_neg"] = -means._mean
        winners = means.sort_values(["_cell", "_neg", *hp]).groupby("_cell").head(1).set_index("_cell")
        best.loc[winners.index, hp] = winners[hp]
        selected_on[winners.index] = split
        undecided -= set(winners.index)
    cell_of_row = keys._cell.to_numpy()
    keep = np.logical_and.reduce([keys[h].to_numpy() == best[h].to_numpy()[cell_of_row] for h in hp])
    order = np.argsort(cell_of_row[keep], kind="stable")  # cells in order of first appearance
    selected = rows[keep].iloc[order]
    cells = rows.drop_duplicates(["method", "dataset"])
    choices = [
        {
            "method": method,
            "dataset": dataset,
            **{h: None if b == -math.inf else float(b) for h, b in zip(_HPARAMS, best.loc[i, hp])},
            "n_candidates": int(n_candidates[i]),
            "selected_on": selected_on[i],
        }
        for i, (method, dataset) in enumerate(zip(cells.method, cells.dataset))
    ]
    return selected, pd.DataFrame(choices, columns=columns)


def _report_splits(rows: pd.DataFrame, primary: dict[str, str]) -> dict[str, str]:
    """The split Table 4 shows per dataset: the one the paper reports for its column (e.g. val for VQAv2 although
    its Karpathy split has a test set), else test where present, else val."""
    out = {}
    for dataset in primary:
        splits = set(rows[(rows.dataset == dataset) & (rows.metric == primary[dataset])].split)
        spec = benchmark_spec(dataset)
        paper = spec.eval_split if spec is not None and spec.paper_column is not None else None
        out[dataset] = (
            paper
            if paper is not None and paper in splits
            else "test"
            if "test" in splits
            else "val"
            if "val" in splits
            else (min(splits) if splits else "val")
        )
    return out


def _backbones(rows: pd.DataFrame) -> dict[str, tuple[str, str]]:
    pairs = rows.groupby("dataset")[["llm", "encoder"]].first()
    return {d: (str(r.llm), str(r.encoder)) for d, r in pairs.iterrows()}


def make_section(rows: pd.DataFrame, key: str, title: str, *, choose: bool) -> Section:
    """Build a section from rows of one source/profile with one (llm, encoder) per dataset."""
    rows = rows[rows.dataset != AGGREGATE_DATASET]
    metrics_by_dataset = rows.groupby("dataset").metric.agg(lambda s: set(s) - {""})
    primary = {d: primary_metric(d, ms) for d, ms in metrics_by_dataset.items()}
    choices = pd.DataFrame()
    if choose:
        rows, choices = choose_hparams(rows, primary)
    datasets = sorted(primary, key=dataset_sort_key)
    controls = control_kinds(rows)
    methods = sorted(set(rows.method) - set(controls), key=method_sort_key) + sorted(controls, key=method_sort_key)
    source = str(rows.source.iloc[0]) if len(rows) else ""
    profile = str(rows.profile.iloc[0]) if len(rows) else ""
    variant = str(rows.variant.iloc[0]) if len(rows) and source == "run" else ""
    return Section(
        key,
        title,
        source,
        profile,
        variant,
        rows,
        datasets,
        methods,
        primary,
        _report_splits(rows, primary),
        _backbones(rows),
        choices,
        controls=controls,
    )


def control_kinds(rows: pd.DataFrame) -> dict[str, str]:
    """Method id -> the kind of reference row its rows say it is (their `control`), for the control methods only."""
    if "control" not in rows.columns:
        return {}
    marked = rows[rows.control.fillna("") != ""]
    return {str(m): str(k) for m, k in marked.groupby("method").control.first().items()}


_CELL_SEED = ["method", "dataset", "seed", "lr", "grad_clip", "llm", "encoder", "profile", "variant", *SWEEP_AXES]


def latest_runs(runs: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Keep, for each cell, seed and hyper-parameter setting, only the most recently written run (a rerun, e.g. with
    --retry-failed or after a code change, supersedes the older one; within the same second, a finished run wins);
    returns (rows, number of runs dropped)."""
    runs = runs.assign(**{a: math.nan for a in SWEEP_AXES if a not in runs.columns})  # rows from before the axes
    severity = runs.status.map(STATUS_SEVERITY).rename("severity")
    per_run = (
        pd.concat([runs, severity], axis=1)
        .groupby("run_id")
        .agg({**{c: "first" for c in _CELL_SEED}, "created_at": "max", "severity": "max"})
    )
    text = [per_run[c].astype("string").fillna("") for c in _CELL_SEED]
    key = text[0].str.cat(text[1:], sep="|")  # column-wise: a row-wise join costs seconds at 16,500 runs
    ordered = per_run.assign(_key=key, _ok=per_run.severity == 0).sort_values(["created_at", "_ok"])
    latest = ordered.groupby("_key").tail(1)
    return runs[runs.run_id.isin(latest.index)], len(per_run) - len(latest)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def run_sections(runs: pd.DataFrame) -> list[Section]:
    """Split run rows into sections: per profile, recipe variant and sweep-axis value (train fraction, mapping width:
    a table never mixes them), then greedily merge (llm, encoder) groups with disjoint datasets.

    The largest backbone group seeds a table; a group joins the first table that has none of its datasets yet, so a
    benchmark column never mixes backbones; an override run (e.g. --llm on one dataset) gets its own section, whose
    title names its backbones.
    """
    sections = []
    runs = runs.assign(**{a: math.nan for a in SWEEP_AXES if a not in runs.columns})
    for (profile, variant, *axes), sub in runs.groupby(["profile", "variant", *SWEEP_AXES], sort=True, dropna=False):
        groups = []
        for (llm, encoder), g in sub.groupby(["llm", "encoder"]):
            groups.append((set(g.dataset), len(g), str(llm), str(encoder), g))
        groups.sort(key=lambda t: (-len(t[0]), -t[1], t[2], t[3]))
        tables: list[tuple[set, list[pd.DataFrame]]] = []
        for datasets, _, _, _, g in groups:
            for covered, frames in tables:
                if not covered & datasets:
                    covered |= datasets
                    frames.append(g)
                    break
            else:
                tables.append((set(datasets), [g]))
        on_axes = "".join(f", {label}" for a, v in zip(SWEEP_AXES, axes) if (label := axis_label(a, v)))
        for i, (_, frames) in enumerate(tables):
            pairs = "; ".join(f"{g.llm.iloc[0]} + {g.encoder.iloc[0]}" for g in frames)
            suffix = f" (backbone set {i + 1} of {len(tables)}: {pairs})" if len(tables) > 1 else ""
            title = f"Runs, profile {profile}, variant {variant}{on_axes}{suffix}"
            rows, superseded = latest_runs(pd.concat(frames))
            section = make_section(rows, _slug(f"run-{profile}-{variant}{on_axes}-{i + 1}"), title, choose=True)
            section.superseded = superseded
            sections.append(section)
    return sections
