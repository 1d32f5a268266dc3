"""The paper's published-only tables rendered from results/paper: Table 5 (backbones), Table 6 (state of the art),
Table S6 (bias tuning), Table S7 (training cost), so that every published number regenerates as a table (no torch);
Table S7 also shows, beside the paper's estimate, the training energy the runs measured.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from harness.report.document import Part, Report, Table, header
from harness.report.labels import (
    SPLIT_LABELS,
    dataset_title,
    display_of,
    format_duration,
    method_names,
    method_sort_key,
    metric_label,
    metric_lines,
    paper_columns,
)
from harness.report.paper_numbers import BIAS_FT_SUFFIX, TABLE5_HALVES
from harness.report.select import Section

CSV_COLUMNS = ["method", "citation", "llm", "encoder", "dataset", "metric", "split", "value", "std", "n_seeds", "note"]
_S7_METRICS = {
    "train_time_s": "Training time T",
    "gpu_hours": "GPU hours (8 GPUs): T_GPU",
    "energy_kwh": "Estimated kWh: K",
    "co2_kg": "Emitted kg of CO₂: E",
}
_REFERENCE_HEADS = {"imagenet": "ImageNet top-1 (%)", "arc": "ARC"}
_T6_GROUPS = ("large-scale, few-shot", "large-scale, finetuned on the target task", "parameter-efficient")


@dataclass(frozen=True)
class Col:
    head: tuple[str, ...]
    dataset: str
    metric: str
    method: str | None = None  # None: any method (the row selects it)


@dataclass(frozen=True)
class RowSpec:
    label: str  # display name
    mask: pd.Series  # which paper rows belong to this table row
    group: str = ""  # rows of one group are compared for the bold best; a new group starts after a rule


def _table(title: str, stub: str, rows: pd.DataFrame, specs: list[RowSpec], cols: list[Col], bold: bool) -> Table:
    """Each (row, column) cell: its published values (" / " between several), bold where it is its group's best,
    "†" where a note carries the paper's dagger."""
    hits = []
    for i, spec in enumerate(specs):
        sel = rows[spec.mask]
        for j, c in enumerate(cols):
            match = (sel.dataset == c.dataset) & (sel.metric == c.metric)
            if c.method is not None:
                match &= sel.method == c.method
            hits.append(sel[match].assign(row=i, col=j, group=spec.group)[["row", "col", "group", "value", "note"]])
    long = pd.concat(hits, ignore_index=True)
    cells = long.groupby(["row", "col"]).agg(
        text=("value", lambda v: " / ".join(f"{x:g}" for x in v)),
        n=("value", "size"),
        value=("value", "first"),
        group=("group", "first"),
        dagger=("note", lambda n: any(x.endswith("(†)") for x in n)),
    )
    best = long.groupby(["group", "col"]).value.max()
    is_best = (
        bold
        & (cells.n == 1)
        & (
            cells.value
            == best.reindex(pd.MultiIndex.from_arrays([cells.group, cells.index.get_level_values("col")])).to_numpy()
        )
    )
    grid = pd.MultiIndex.from_product([range(len(specs)), range(len(cols))], names=["row", "col"])

    def frame(values: pd.Series, fill) -> pd.DataFrame:
        return (
            values.reindex(grid)
            .fillna(fill)
            .unstack("col")
            .set_axis([s.label for s in specs])
            .set_axis(header([c.head for c in cols]), axis=1)
        )

    rules = tuple(i for i in range(1, len(specs)) if specs[i].group != specs[i - 1].group)
    return Table(
        title,
        frame(cells.text, "—"),
        frame(is_best.map({True: 1.0, False: math.nan}), math.nan),
        frame(cells.dagger.map({True: "†", False: ""}), ""),
        stub,
        rules,
    )


def _method_label(names: dict[str, str], method: str, extra: str = "") -> str:
    return display_of(names, method) + extra


def _head(dataset: str, metric: str, split: str) -> tuple[str, str]:
    return dataset_title(dataset), f"{metric_label(metric)} {SPLIT_LABELS.get(split, split)}"


def _csv(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[CSV_COLUMNS].reset_index(drop=True)


def table5(rows: pd.DataFrame) -> Report:
    names, parts = method_names(rows), []
    for axis, title in (
        ("encoder", "Visual backbones (each dataset's default LLM)"),
        ("llm", "LLMs (each dataset's default encoder)"),
    ):
        sel = rows[rows.note.str.startswith(TABLE5_HALVES[axis])]
        runs = sel[sel.method != ""].drop_duplicates(["method", "dataset", "metric"])
        cols = [
            Col(
                (f"{dataset_title(r.dataset)}: {display_of(names, r.method)}", metric_label(r.metric)),
                r.dataset,
                r.metric,
                r.method,
            )
            for r in runs.itertuples()
        ]
        cols += [
            Col((_REFERENCE_HEADS[d],), d, m)
            for d, m in dict.fromkeys(zip(sel[sel.method == ""].dataset, sel[sel.method == ""].metric))
        ]
        specs = [RowSpec(b, sel[axis] == b) for b in dict.fromkeys(sel[sel.method != ""][axis])]
        notes = [f"Note: {n.split('; ', 1)[1]}." for n in dict.fromkeys(sel.note) if "; " in n]
        notes += metric_lines((c.metric for c in cols), paper=True)
        parts.append(
            Part(
                axis,
                title,
                ["Averaged over 3 runs, as published."],
                [_table(title, axis.upper() if axis == "llm" else "Encoder", sel, specs, cols, False)],
                notes,
            )
        )
    return Report("table5", "Table 5: perceptual encoders and LLMs (published numbers)", parts, _csv(rows))


def table6(rows: pd.DataFrame) -> Report:
    names, specs = method_names(rows), []
    keys = dict.fromkeys(
        (
            r.note.split(";")[0] if r.citation else _T6_GROUPS[-1],
            r.method,
            r.citation,
            next((p.strip() for p in r.note.split(";")[1:] if "shot" in p), ""),
        )
        for r in rows.itertuples()
    )
    for group, method, citation, shots in sorted(keys, key=lambda k: (_T6_GROUPS.index(k[0]), k[2] == "")):
        mask = (rows.method == method) & (rows.citation == citation)
        if citation:
            mask &= rows.note.str.startswith(group) & rows.note.str.contains(shots, regex=False)
        extra = f" {citation}" if citation else " (ours)"
        specs.append(RowSpec(_method_label(names, method, extra + (f" ({shots})" if shots else "")), mask, group))
    datasets = [d for d in paper_columns() if d in set(rows.dataset)]
    metric = {d: rows[rows.dataset == d].metric.iloc[0] for d in datasets}
    split = {d: rows[rows.dataset == d].split.iloc[0] for d in datasets}
    cols = [Col(_head(d, metric[d], split[d]), d, metric[d]) for d in datasets]
    notes = [
        "Groups, top to bottom: " + "; ".join(_T6_GROUPS) + " methods (only the last group is directly "
        "comparable with DePALM). Best per group in bold.",
        "† standard split instead of Karpathy's.",
        *metric_lines((c.metric for c in cols), paper=True),
    ]
    table = _table("Comparison with the state of the art", "Method", rows, specs, cols, True)
    return Report(
        "table6",
        "Table 6: comparison with the state of the art (published numbers)",
        [Part("paper", "DePALM paper, Table 6", [], [table], notes)],
        _csv(rows),
    )


def table_s6(rows: pd.DataFrame) -> Report:
    names = method_names(rows)
    methods = sorted(set(rows.method), key=lambda m: (m.endswith(BIAS_FT_SUFFIX), method_sort_key(m)))
    specs = [
        RowSpec(_method_label(names, m), rows.method == m, "bias-FT" if m.endswith(BIAS_FT_SUFFIX) else "frozen")
        for m in methods
    ]
    first = rows.drop_duplicates("dataset").set_index("dataset")
    datasets = [d for d in paper_columns() if d in first.index]
    cols = [Col(_head(d, first.metric[d], first.split[d]), d, first.metric[d]) for d in datasets]
    table = _table("Bias tuning of the perceptual encoder", "Method", rows, specs, cols, False)
    return Report(
        "tableS6",
        "Table S6: bias tuning of the perceptual encoder (published numbers, 5 runs)",
        [Part("paper", "DePALM paper, Table S6", [], [table], [])],
        _csv(rows),
    )


def table_s7(rows: pd.DataFrame, sections: Sequence[Section] = ()) -> Report:
    """The paper's Table S7 (when its rows are given) and, beside it, the energy measured for the runs of each
    section that has some (harness.runner.energy)."""
    parts = [_s7_paper_part(rows)] if len(rows) else []
    csv = [_csv(rows)]
    for section in sections:
        found = _s7_measured(section)
        if found is not None:
            parts.append(found[0])
            csv.append(found[1])
    published = len(rows) > 0
    if published and len(parts) == 1:
        title = "Table S7: training time and carbon footprint of DePALM (published numbers)"
    elif published:
        title = "Table S7: training time and carbon footprint, published (DePALM) and measured (this study's runs)"
    else:
        title = "Table S7: training time and carbon footprint measured by this study's runs"
    return Report("tableS7", title, parts, pd.concat(csv, ignore_index=True))


def _s7_paper_part(rows: pd.DataFrame) -> Part:
    datasets = [d for d in paper_columns() if d in set(rows.dataset)]
    first = rows.drop_duplicates(["metric", "dataset"]).pivot(index="metric", columns="dataset", values="value")
    first = first.reindex(index=list(_S7_METRICS), columns=datasets)
    text = pd.DataFrame(
        {
            d: [
                ("—" if pd.isna(v) else format_duration(v) if metric == "train_time_s" else f"{v:.2f}")
                for metric, v in first[d].items()
            ]
            for d in datasets
        },
        index=list(_S7_METRICS.values()),
    )
    table = Table(
        "Estimated carbon footprint of training one DePALM model",
        text.set_axis(header([(dataset_title(d),) for d in datasets]), axis=1),
        stub="",
    )
    notes = ["T_GPU = 8 × T (one 8-GPU node); K = 250 W × 1.1 PUE × T_GPU / 1000; E = 0.385 kg CO₂ per kWh × K."]
    return Part("paper", "DePALM paper, Table S7", [], [table], notes)


def _energy_text(kwh: float) -> str:
    return f"{kwh:.2f}" if kwh >= 0.1 else f"{kwh:.2g}"


def _s7_measured(section: Section) -> tuple[Part, pd.DataFrame] | None:
    """One row per method, (T, kWh, kg CO₂) per dataset: means over the section's runs that measured their energy
    (one row per run: the long format repeats the numbers on every metric row)."""
    rows = section.rows
    runs = rows[(rows.status == "ok") & rows.energy_kwh.notna()].drop_duplicates("run_id")
    if runs.empty:
        return None
    cells = runs.groupby(["method", "dataset"]).agg(
        train_time_s=("train_time_s", "mean"),
        energy_kwh=("energy_kwh", "mean"),
        energy_std=("energy_kwh", "std"),
        co2_kg=("co2_kg", "mean"),
        n=("run_id", "size"),
    )
    methods = [m for m in section.methods if m in cells.index.get_level_values("method")]
    datasets = [d for d in section.datasets if d in cells.index.get_level_values("dataset")]
    heads, columns = [], {}
    for d in datasets:
        for quantity, fmt in (
            ("T", lambda c: format_duration(c.train_time_s)),
            ("kWh", lambda c: _energy_text(c.energy_kwh) + (f" ± {_energy_text(c.energy_std)}" if c.n > 1 else "")),
            ("kg CO₂", lambda c: _energy_text(c.co2_kg)),
        ):
            heads.append((dataset_title(d), quantity))
            columns[len(heads)] = [fmt(cells.loc[(m, d)]) if (m, d) in cells.index else "—" for m in methods]
    text = pd.DataFrame(columns, index=[section.method(m) for m in methods])
    table = Table(f"Measured training cost: {section.title}", text.set_axis(header(heads), axis=1))
    seeds = sorted(set(cells.n))
    factors = ", ".join(f"{f:g}" for f in sorted(set(runs.co2_kg_per_kwh.dropna())))
    pues = ", ".join(f"{p:g}" for p in sorted(set(runs.pue.dropna())))
    by_method = runs.energy_method.value_counts()
    intro = [
        "Energy of each run's training as the harness measured it (harness.runner.energy), beside the paper's "
        f"estimate: means over the seeds of each cell (n = {'/'.join(map(str, seeds))}), kWh ± their standard "
        "deviation where n > 1."
    ]
    notes = [
        "T: wall-clock time of the optimiser steps (train_time_s); the energy covers the whole training stage: "
        "loading the training items and, for a dataset's first run, filling the feature cache it reads.",
        f"kWh include a PUE of {pues}; kg CO₂ = kWh × {factors} kg CO₂ per kWh (--energy.pue, "
        "--energy.co2_kg_per_kwh; the paper: 1.1 and 0.385).",
        "Energy source: " + "; ".join(f"{m} ({n} run{'s' if n > 1 else ''})" for m, n in by_method.items()) + ".",
    ]
    if by_method.index.str.contains("estimate").any():
        notes.append(
            "tdp-estimate: the CPU power at full load (--energy.cpu_tdp_w, or codecarbon's TDP table) × the run's "
            "share of the cores, not a measurement; gpu-tdp-estimate: each GPU's power limit × the time; "
            "ram-estimate: codecarbon's RAM power model. rapl / nvml: the hardware's energy counters."
        )
    long = cells.reset_index().melt(
        id_vars=["method", "dataset", "n"], value_vars=[m for m in _S7_METRICS if m != "gpu_hours"], var_name="metric"
    )
    note = f"this study: {section.title}; energy: {', '.join(by_method.index)}"
    part_csv = long.assign(
        citation="",
        llm=long.dataset.map(lambda d: section.backbones[d][0]),
        encoder=long.dataset.map(lambda d: section.backbones[d][1]),
        split="train",
        std=[
            cells.loc[(m, d)].energy_std if metric == "energy_kwh" else math.nan
            for m, d, metric in zip(long.method, long.dataset, long.metric)
        ],
        n_seeds=long.n,
        note=note,
    )[CSV_COLUMNS]
    return Part(f"{section.key}-energy", f"This study: {section.title}", intro, [table], notes), part_csv


BUILDERS = {"table5": table5, "table6": table6, "tableS6": table_s6}


def paper_only_reports(paper: pd.DataFrame, sections: Sequence[Section] = ()) -> list[Report]:
    """Reports for the published-only tables whose rows are present; Table S7 also when runs measured their energy
    (beside the paper's, when present)."""
    reports = [
        build(paper[paper.table_ref == ref]) for ref, build in BUILDERS.items() if (paper.table_ref == ref).any()
    ]
    s7 = table_s7(paper[paper.table_ref == "tableS7"], sections)
    return reports + ([s7] if s7.parts else [])
