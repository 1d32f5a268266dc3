"""The paper's published-only tables rendered from results/paper: Table 5 (backbones), Table 6 (state of the art),
Table S6 (bias tuning), Table S7 (training cost), so that every published number regenerates as a table (no torch).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from harness.report.labels import (SPLIT_LABELS, MethodDisplay, dataset_title, display_of, format_duration,
                                   latex_escape, method_names, method_sort_key, metric_label, paper_columns)
from harness.report.paper_numbers import BIAS_FT_SUFFIX, TABLE5_HALVES
from harness.report.render import Block, Cell, Document, Grid, Rich, Text

CSV_COLUMNS = ["method", "citation", "llm", "encoder", "dataset", "metric", "split", "value", "std", "n_seeds", "note"]
_S7_METRICS = {"train_time_s": "Training time T", "gpu_hours": "GPU hours (8 GPUs): T_GPU",
               "energy_kwh": "Estimated kWh: K", "co2_kg": "Emitted kg of CO₂: E"}
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
    label: Text
    mask: pd.Series  # which paper rows belong to this table row
    group: str = ""  # rows of one group are compared for the bold best; a new group starts after a rule


def _grid(title: str, stub: str, rows: pd.DataFrame, specs: list[RowSpec], cols: list[Col], bold: bool) -> Grid:
    values = []
    for spec in specs:
        sel = rows[spec.mask]
        values.append([[(float(r.value), r.note) for r in sel[(sel.dataset == c.dataset) & (sel.metric == c.metric) &
                                                               ((sel.method == c.method) if c.method is not None
                                                                else True)].itertuples()] for c in cols])
    best: dict[tuple[str, int], float] = {}
    for spec, vals in zip(specs, values):
        for j, cell in enumerate(vals):
            for v, _ in cell:
                best[spec.group, j] = max(best.get((spec.group, j), -math.inf), v)
    out = []
    for i, (spec, vals) in enumerate(zip(specs, values)):
        cells = [Cell(" / ".join(f"{v:g}" for v, _ in cell) if cell else "—",
                      1 if bold and len(cell) == 1 and cell[0][0] == best[spec.group, j] else None,
                      "†" if any(note.endswith("(†)") for _, note in cell) else "")
                 for j, cell in enumerate(vals)]
        out.append((spec.label, cells, i > 0 and spec.group != specs[i - 1].group))
    return Grid(title, stub, [c.head for c in cols], out)


def _method_label(names: dict[str, MethodDisplay], method: str, extra: str = "") -> Rich:
    d = display_of(names, method)
    return Rich(d.md + extra, d.tex + latex_escape(extra))


def _head(dataset: str, metric: str, split: str) -> tuple[str, str]:
    return dataset_title(dataset), f"{metric_label(metric)} {SPLIT_LABELS.get(split, split)}"


def _csv(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[CSV_COLUMNS].reset_index(drop=True)


def table5(rows: pd.DataFrame) -> Document:
    names, blocks = method_names(rows), []
    for axis, title in (("encoder", "Visual backbones (each dataset's default LLM)"),
                        ("llm", "LLMs (each dataset's default encoder)")):
        sel = rows[rows.note.str.startswith(TABLE5_HALVES[axis])]
        runs = sel[sel.method != ""].drop_duplicates(["method", "dataset", "metric"])
        cols = [Col((f"{dataset_title(r.dataset)}: {display_of(names, r.method).md}", metric_label(r.metric)),
                    r.dataset, r.metric, r.method) for r in runs.itertuples()]
        cols += [Col((_REFERENCE_HEADS[d],), d, m) for d, m in dict.fromkeys(zip(sel[sel.method == ""].dataset,
                                                                                 sel[sel.method == ""].metric))]
        specs = [RowSpec(b, sel[axis] == b) for b in dict.fromkeys(sel[sel.method != ""][axis])]
        notes = [f"Note: {n.split('; ', 1)[1]}." for n in dict.fromkeys(sel.note) if "; " in n]
        blocks.append(Block(axis, title, ["Averaged over 3 runs, as published."],
                            [_grid(title, axis.upper() if axis == "llm" else "Encoder", sel, specs, cols, False)],
                            notes))
    return Document("table5", "Table 5: perceptual encoders and LLMs (published numbers)", blocks, _csv(rows))


def table6(rows: pd.DataFrame) -> Document:
    names, specs = method_names(rows), []
    keys = dict.fromkeys((r.note.split(";")[0] if r.citation else _T6_GROUPS[-1], r.method, r.citation,
                          next((p.strip() for p in r.note.split(";")[1:] if "shot" in p), ""))
                         for r in rows.itertuples())
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
    notes = ["Groups, top to bottom: " + "; ".join(_T6_GROUPS) + " methods (only the last group is directly "
             "comparable with DePALM). Best per group in bold.", "† standard split instead of Karpathy's."]
    grid = _grid("Comparison with the state of the art", "Method", rows, specs, cols, True)
    return Document("table6", "Table 6: comparison with the state of the art (published numbers)",
                    [Block("paper", "DePALM paper, Table 6", [], [grid], notes)], _csv(rows))


def table_s6(rows: pd.DataFrame) -> Document:
    names = method_names(rows)
    methods = sorted(set(rows.method), key=lambda m: (m.endswith(BIAS_FT_SUFFIX), method_sort_key(m)))
    specs = [RowSpec(_method_label(names, m), rows.method == m, "bias-FT" if m.endswith(BIAS_FT_SUFFIX) else "frozen")
             for m in methods]
    first = rows.drop_duplicates("dataset").set_index("dataset")
    datasets = [d for d in paper_columns() if d in first.index]
    cols = [Col(_head(d, first.metric[d], first.split[d]), d, first.metric[d]) for d in datasets]
    grid = _grid("Bias tuning of the perceptual encoder", "Method", rows, specs, cols, False)
    return Document("tableS6", "Table S6: bias tuning of the perceptual encoder (published numbers, 5 runs)",
                    [Block("paper", "DePALM paper, Table S6", [], [grid], [])], _csv(rows))


def table_s7(rows: pd.DataFrame) -> Document:
    datasets = [d for d in paper_columns() if d in set(rows.dataset)]
    grid_rows = []
    for metric, label in _S7_METRICS.items():
        cells = []
        for d in datasets:
            hit = rows[(rows.dataset == d) & (rows.metric == metric)].value
            if hit.empty:
                cells.append(Cell("—"))
            else:
                cells.append(Cell(format_duration(hit.iloc[0]) if metric == "train_time_s" else f"{hit.iloc[0]:.2f}"))
        grid_rows.append((label, cells, False))
    grid = Grid("Estimated carbon footprint of training one DePALM model", "", [(dataset_title(d),) for d in datasets],
                grid_rows)
    notes = ["T_GPU = 8 × T (one 8-GPU node); K = 250 W × 1.1 PUE × T_GPU / 1000; E = 0.385 kg CO₂ per kWh × K."]
    return Document("tableS7", "Table S7: training time and carbon footprint of DePALM (published numbers)",
                    [Block("paper", "DePALM paper, Table S7", [], [grid], notes)], _csv(rows))


BUILDERS = {"table5": table5, "table6": table6, "tableS6": table_s6, "tableS7": table_s7}


def paper_only_documents(paper: pd.DataFrame) -> list[Document]:
    """Documents for the published-only tables whose rows are present."""
    return [build(paper[paper.table_ref == ref]) for ref, build in BUILDERS.items() if (paper.table_ref == ref).any()]
