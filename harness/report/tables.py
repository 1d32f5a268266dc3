"""Reports from cached results: Table 4, Tables S2–S5 and Table 3 as Markdown, LaTeX (booktabs) and CSV (no torch).

`render_reports(results_dirs, out_dir)` reads every results file under the given directories and writes, for each
table, `<name>.md`, `<name>.tex` and `<name>.csv`. Results are split into sections (harness/report/select.py) so that a
table never mixes sources, profiles or backbones without a header saying so. This module decides what the tables
say, from the frames of harness/report/aggregate.py; harness/report/render.py writes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from harness import REPO_ROOT
from harness.errors import UsageError
from harness.report import aggregate, ranking, uncertainty
from harness.report.aggregate import STATUS_MARKS, footnote_text
from harness.report.document import Name, Part, Ranked, Report, Table, Text, header
from harness.report.figures import write_figures
from harness.report.labels import (
    SPLIT_LABELS,
    benchmark_spec,
    dataset_sort_key,
    dataset_title,
    display_of,
    format_duration,
    method_names,
    metric_label,
    metric_lines,
)
from harness.report.paper_numbers import PAPER_LABEL
from harness.report.paper_tables import paper_only_reports
from harness.report.render import write_report
from harness.report.select import Section, make_section, run_sections
from harness.report.sweeps import sweep_points, table5_report, with_runs_table5
from harness.report.uncertainty import Uncertainty
from harness.store.items import read_item_scores
from harness.store.results import AGGREGATE_DATASET, read_results

PAPER_RESULTS = REPO_ROOT / "results" / "paper"  # the paper's numbers (scripts/build_paper_results.py)
TABLE3_METHODS = ("limber-all", "mapl", "epalm")
TABLE3_COLUMNS = ("coco", "coco-1pct", "vqav2", "vqav2-1pct", "okvqa")
_CSV_HEAD = ("method", "origin", "note")
_CSV_TAIL = (
    "train_time",
    "rank",
    "rank_lo",
    "rank_hi",
    "rank_pos",
    "score",
    "score_lo",
    "score_hi",
    "score_pos",
    "tied",
    "control",
    "section",
)
S_TABLE_OF_MODALITY = {"image": "tableS2", "audio": "tableS3", "video": "tableS4"}
S_TABLES = {
    "tableS2": "Table S2: image benchmarks, mean ± std over seeds, with extra metrics",
    "tableS3": "Table S3: audio captioning (AudioCaps), mean ± std over seeds, with extra metrics",
    "tableS4": "Table S4: video captioning (MSRVTT), mean ± std over seeds, with extra metrics",
    "tableS5": "Table S5: COCO and VQAv2 with a DINOv2 encoder, mean ± std over seeds",
}


class NoResultsError(UsageError):
    """The results directories hold no readable results."""


# ---------------------------------------------------------------------------------------------------- formatting


def _num(x: float, digits: int = 2) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _mean_std(mean: float, std: float) -> str:
    if math.isnan(mean):
        return "—"
    return _num(mean) if math.isnan(std) else f"{mean:.2f}±{std:.2f}"


def _lr(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def _table(
    caption: str,
    section: Section,
    heads: Sequence[tuple[str, ...]],
    text: pd.DataFrame,
    place: pd.DataFrame | None = None,
    marks: pd.DataFrame | None = None,
    stub: str = "Method",
) -> Table:
    """A table whose rows are the methods of `text`'s index (ids), printed with their display names; control rows
    in italics with their kind, after a rule."""
    labels = [section.method(m) for m in text.index]
    columns = header(heads)
    controls = {i: section.controls[m] for i, m in enumerate(text.index) if m in section.controls}
    return Table(
        caption,
        text.set_axis(labels).set_axis(columns, axis=1),
        None if place is None else place.set_axis(labels).set_axis(columns, axis=1),
        None if marks is None else marks.set_axis(labels).set_axis(columns, axis=1),
        stub=stub,
        rules=(min(controls),) if controls and min(controls) > 0 else (),  # a rule between methods and controls
        controls=controls,
    )


# ------------------------------------------------------------------------------------------------ shared pieces

STATUS_LEGEND = (
    "♦: unstable training (incomplete data, as the paper's ♦); ✗: failed or cancelled run(s). Flagged "
    "cells average the runs that finished; a cell with no finished run is missing."
)


def _status_legend(flagged: pd.DataFrame, section: Section) -> list[Text]:
    """One line per flagged cell (how many runs failed and the first error), after a legend of the marks."""
    if flagged.empty:
        return []
    lines: list[Text] = [STATUS_LEGEND]
    if section.source == "paper":
        return lines
    for f in flagged.itertuples():
        detail = f"; first error: {f.error[:160]}" if f.error else ""
        lines.append(
            (
                Name(section.method(f.method)),
                f" on {dataset_title(f.dataset)}: {f.n_bad} of {f.n_runs} run(s) {f.status}{detail}",
            )
        )
    return lines


CONTROL_KINDS = {
    "prior": "a baseline computed without a model",
    "blind": "a trained model with no perceptual input",
}


def _control_legend(section: Section, ranked_table: bool) -> list[Text]:
    """What the control rows are, and that they are not ranked."""
    kinds = sorted(set(section.controls.values()))
    if not kinds:
        return []
    said = "; ".join(f"{k}: {CONTROL_KINDS.get(k, 'a reference row')}" for k in kinds)
    rule = (
        " A control gets no rank and no score and does not enter the column best that normalizes the scores."
        if ranked_table
        else " Controls are not ranked."
    )
    return [f"Control rows (in italics, after the methods): reference rows, not connectors ({said}).{rule}"]


def _note_legend(footnotes: dict[str, str]) -> list[Text]:
    return [f"{mark} {footnote_text(note)}." for note, mark in footnotes.items()]


def _backbone_line(section: Section) -> str:
    by_pair: dict[tuple[str, str], list[str]] = {}
    for d in section.datasets:
        by_pair.setdefault(section.backbones.get(d, ("", "")), []).append(dataset_title(d))
    parts = [f"{llm or '?'} + {enc or '?'}: {', '.join(ds)}" for (llm, enc), ds in by_pair.items()]
    return "Backbones (LLM + encoder) per column: " + "; ".join(parts) + "."


def _section_intro(section: Section) -> list[Text]:
    if section.source == "paper":
        lines: list[Text] = [f"Source: numbers published in {PAPER_LABEL} (source=paper)."]
    else:
        n = section.rows.groupby(["method", "dataset"]).seed.nunique()
        seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}–{n.max()}"
        lines = [
            f"Source: runs (source=run), profile {section.profile}, recipe variant {section.variant} "
            f"(docs/FIDELITY.md: official = as the official code ran it, paper = as the appendix writes it); "
            f"seeds per cell: {seeds} (mean ± sample std over seeds)."
        ]
        if section.superseded:
            lines.append(
                f"{section.superseded} older run(s) superseded by a rerun of the same cell, seed and "
                f"hyper-parameters (not used)."
            )
    return lines + [_backbone_line(section)]


def _column_head(dataset: str, metric: str, split: str) -> tuple[str, str]:
    return dataset_title(dataset), f"{metric_label(metric)} {SPLIT_LABELS.get(split, split)} ↑"


def _hparam_notes(section: Section) -> tuple[list[Text], list[Table]]:
    """Say which lr / grad clip each cell used: one line when uniform, else a table of the val-selected settings."""
    ch = section.choices
    if ch.empty:
        return [], []
    splits = ", ".join(
        f"{dataset_title(d)}: {SPLIT_LABELS.get(section.report_split[d], section.report_split[d])}"
        for d in section.datasets
    )
    notes: list[Text] = [f"Each cell reports the test split where the section has one, else val ({splits})."]
    settings = set(zip(ch.lr.map(_lr), ch.grad_clip.map(lambda x: "—" if pd.isna(x) else f"{x:g}")))
    if len(settings) == 1 and (ch.n_candidates == 1).all():
        lr, clip = settings.pop()
        return notes + [f"Hyper-parameters: lr {lr}, grad clip {clip} in every cell (no grid)."], []
    notes.append(
        "With several learning rates per cell, each cell uses the setting with the best mean primary "
        "metric on the val split over seeds (table below: selected lr / number of candidates)."
    )
    on = ch.selected_on.map(lambda s: "" if s in ("val", "only setting") else f" ({s})")
    chosen = ch.assign(text=ch.lr.map(_lr) + " /" + ch.n_candidates.astype(str) + on)
    text = (
        chosen.pivot(index="method", columns="dataset", values="text")
        .reindex(index=section.methods, columns=section.datasets)
        .fillna("—")
    )
    table = _table(
        "Selected learning rate per cell (chosen on val)",
        section,
        [(dataset_title(d),) for d in section.datasets],
        text,
    )
    return notes, [table]


# -------------------------------------------------------------------------------------------------------- Table 4


def _printed_comparison(section: Section, agg: pd.DataFrame, printed: pd.DataFrame) -> list[Text]:
    """Compare computed aggregates with the ones the paper prints (dataset 'average' rows)."""
    if printed.empty:
        return []
    table = printed.pivot_table(index="method", columns="metric", values="value", aggfunc="first")
    diffs: list[str | Name] = []
    for method in agg.index.intersection(table.index):
        got, shown = agg.loc[method], table.loc[method]
        parts = []
        for key, digits, what in (("rank", 1, "average rank"), ("score", 1, "average score")):
            if f"{got[key]:.{digits}f}" != f"{shown[key]:.{digits}f}":
                parts.append(f"{what} printed {shown[key]:.1f}, computed {got[key]:.1f}")
        for key, what in (("rank_pos", "rank position"), ("score_pos", "score position")):
            if int(got[key]) != int(shown[key]):
                parts.append(f"{what} printed ({int(shown[key])}), computed ({int(got[key])})")
        if parts:
            diffs += (["; "] if diffs else []) + [Name(section.method(method)), ": " + "; ".join(parts)]
    if not diffs:
        return ["Every computed average rank, score and position equals the one printed in the paper."]
    return [
        (
            "Computed with these rules, some values differ from those printed in the paper (slips in the paper): ",
            *diffs,
            ".",
        )
    ]


HIGHLIGHTS = (
    "Highlights per column: ",
    Ranked("first", 1),
    ", ",
    Ranked("second", 2),
    ", ",
    Ranked("third", 3),
    " best (ties share a place).",
)
_AGGREGATES = ["train_time", "rank", "rank_pos", "score", "score_pos"]


def _uncertainty_notes(section: Section, u: Uncertainty) -> list[Text]:
    """How the intervals and ties were computed, what they say, and when the table cannot rank."""
    if not u.computed:
        return [
            f"Fewer than {uncertainty.MIN_SEEDS} seeds in some cell (fewest: {u.min_seeds}): this table cannot rank "
            f"the methods. Seed-to-seed noise cannot be estimated from so few runs, so no intervals or ties are "
            f"given; ranks and scores are point values only."
        ]
    notes: list[Text] = [
        f"[lo, hi]: 95% percentile-bootstrap interval of the average rank and the average score "
        f"({u.n_boot} replicates, fixed RNG seed {uncertainty.RNG_SEED}), resampling each cell's seeds and each "
        f"benchmark's evaluation items, the same resampled items for every method (paired)."
    ]
    if u.cells_with_items == 0:
        notes.append(
            "No per-item scores in the results: the intervals resample seeds only (they understate item noise)."
        )
    elif u.cells_with_items < u.cells:
        notes.append(
            f"{u.cells - u.cells_with_items} of {u.cells} cells have no per-item scores (older runs, or a metric that "
            f"does not decompose per item): those cells resample seeds only."
        )
    notes.append(
        (
            "≈: tied with the best average score (",
            Name(section.method(u.best)),
            "): the 95% interval of the best's paired bootstrap advantage in average score over the method (both "
            "scores from the same replicates) contains 0.",
        )
    )
    if not u.separable:
        notes.append(
            f"{u.n_tied} of {len(u.frame)} ranked methods are tied with the best: this budget (seeds × items) cannot "
            f"separate the methods, so their ranks are not an ordering."
        )
    return notes


def _names(section: Section, methods: list[str]) -> list[str | Name]:
    names: list[str | Name] = []
    for i, m in enumerate(methods):
        names += ([", "] if i else []) + [Name(section.method(m))]
    return names


def _blind_check_notes(section: Section, c: aggregate.Cells) -> list[Text]:
    """Whether each connector beats the controls: its seed mean above the trained blind control's seed mean + 2 std
    (with at least 2 seeds of the control, else nothing can be said), and above the prior computed without a model,
    on at least one benchmark."""
    if section.source != "run":
        return []
    notes: list[Text] = []
    blind = [m for m, kind in section.controls.items() if kind == "blind"]
    bar = c.mean.loc[blind[0]] + 2 * c.std.loc[blind[0]] if blind else None
    if bar is not None and not bar.isna().all():
        below = [m for m in section.ranked if not bool((c.mean.loc[m] > bar).any())]
        head = (
            f"Input check: {len(section.ranked) - len(below)} of {len(section.ranked)} connectors score above the "
            f"blind control's seed mean + 2 std on at least one benchmark"
        )
        notes.append(
            (head + "; not on any, so not shown to use their input: ", *_names(section, below), ".")
            if below
            else head + "."
        )
    prior = [m for m, kind in section.controls.items() if kind == "prior"]
    if prior:
        below = [m for m in section.ranked if not bool((c.mean.loc[m] > c.mean.loc[prior[0]]).any())]
        if below:
            notes.append(
                ("Below the prior (the training answers, no model) on every benchmark: ", *_names(section, below), ".")
            )
    return notes


def _loss_check_notes(section: Section) -> list[Text]:
    """Runs whose last training loss is above their first step's: they did not learn in this budget."""
    rows = section.rows
    if section.source != "run" or "final_loss" not in rows:
        return []
    runs = rows.drop_duplicates("run_id")
    bad = runs[runs.final_loss > runs.first_loss]
    if bad.empty:
        return []
    counts = bad.groupby("method", sort=False).size()
    names: list[str | Name] = []
    for i, (m, n) in enumerate(counts.items()):
        names += ([", "] if i else []) + [Name(section.method(str(m))), f" ({n})"]
    return [(f"Training did not lower the loss (last step above the first) in {len(bad)} run(s): ", *names, ".")]


def _seed_counts(seeds: pd.DataFrame) -> tuple[str, pd.Series | None]:
    """The stub when every cell has the same number of seeds ("Method (n=3)"), else a per-method seeds column."""
    filled = seeds[seeds > 0]
    counts = {int(n) for n in seeds.to_numpy().ravel() if n > 0}
    if len(counts) <= 1:
        n = counts.pop() if counts else 0
        return (f"Method (n={n} seed{'s' if n > 1 else ''})" if n else "Method"), None
    lo, hi = filled.min(axis=1), filled.max(axis=1)
    return "Method", pd.Series(
        ["—" if pd.isna(a) else f"{int(a)}" if a == b else f"{int(a)}–{int(b)}" for a, b in zip(lo, hi)],
        index=seeds.index,
    )


def _aggregate_text(value: float, pos, lo: float, hi: float) -> str:
    if pd.isna(pos):
        return "—"  # a control
    interval = "" if math.isnan(lo) else f" [{lo:.1f}, {hi:.1f}]"
    return f"{value:.1f} ({pos}){interval}"


def table4_part(
    section: Section, printed: pd.DataFrame, items: pd.DataFrame | None = None
) -> tuple[Part, pd.DataFrame]:
    t = aggregate.table4(section, items)
    c, s, u = t.cells, t.summary, t.uncertainty
    runs = section.source == "run"
    show_train = bool(s.train_time.notna().any())
    intervals = u is not None and u.computed
    heads: list[tuple[str, ...]] = [_column_head(*col) for col in aggregate.primary_columns(section)]
    stub, seeds = _seed_counts(t.seeds) if t.seeds is not None else ("Method", None)
    heads += [("Seeds",)] if seeds is not None else []
    heads += [("Train time ↓",)] if show_train else []
    ci = ("[95% CI]",) if intervals else ()
    heads += [("Avg. rank ↓", *ci), ("Avg. score ↑", *ci)]
    if runs:
        text = pd.DataFrame(
            [[_mean_std(m, sd) for m, sd in zip(ms, ss)] for ms, ss in zip(c.mean.values, c.std.values)],
            index=c.mean.index,
            columns=c.mean.columns,
        )
    else:
        text = c.mean.map(_num)
    place, marks = t.ranks.copy(), c.marks.copy()
    if seeds is not None:
        text["seeds"], place["seeds"], marks["seeds"] = seeds, math.nan, ""
    if show_train:
        text["train_time"] = s.train_time.map(lambda x: "—" if pd.isna(x) else format_duration(x))
        place["train_time"], marks["train_time"] = math.nan, ""
    bounds = (
        u.frame.reindex(section.methods)
        if u is not None
        else pd.DataFrame(math.nan, index=section.methods, columns=uncertainty.COLUMNS[:-1])
    )
    text["rank"] = [_aggregate_text(*v) for v in zip(s["rank"], s.rank_pos, bounds.rank_lo, bounds.rank_hi)]
    text["score"] = [_aggregate_text(*v) for v in zip(s.score, s.score_pos, bounds.score_lo, bounds.score_hi)]
    place["rank"], place["score"] = s.rank_pos.astype(float), s.score_pos.astype(float)
    tied = bounds.tied.fillna(False).astype(bool) if u is not None else pd.Series(False, index=section.methods)
    marks["rank"] = ""
    marks["score"] = s.status.map(lambda x: STATUS_MARKS.get(x, "")) + tied.map({True: "≈", False: ""})
    notes: list[Text] = [ranking.RULES, HIGHLIGHTS]
    if runs:
        notes.append("Each cell: mean ± sample standard deviation over its finished seeds.")
    notes += _control_legend(section, ranked_table=True)
    if u is not None:
        notes += _uncertainty_notes(section, u)
    notes += _blind_check_notes(section, c) + _loss_check_notes(section)
    notes += _printed_comparison(section, s.loc[section.ranked], printed)
    notes += metric_lines((section.primary[d] for d in section.datasets), paper=section.source == "paper")
    specs = {d: benchmark_spec(d) for d in section.datasets}
    substitutes = [
        f"{dataset_title(d)}: {section.primary[d]} (the paper's {spec.primary_metric} is not in the results)"
        for d, spec in specs.items()
        if spec is not None and section.primary[d] != spec.primary_metric
    ]
    if substitutes:
        notes.append("Substitute column metrics: " + "; ".join(substitutes) + ".")
    notes += _mirror_metric_notes(section, specs)
    if show_train:
        where = dataset_title(t.timed[0]) if len(t.timed) == 1 else "the columns shown"
        notes.append(f"Train time: mean training wall-clock time per run on {where}.")
    notes += _status_legend(c.flagged, section) + _note_legend(c.footnotes)
    hp_notes, hp_tables = _hparam_notes(section)
    main = _table(section.title, section, heads, text, place, marks, stub=stub)
    part = Part(section.key, section.title, _section_intro(section), [main] + hp_tables, notes + hp_notes)
    csv = pd.concat([c.mean, s[_AGGREGATES]], axis=1)
    if u is not None:
        csv = pd.concat([csv, bounds[uncertainty.COLUMNS]], axis=1)
        csv["control"] = [section.controls.get(m, "") for m in section.methods]
    csv.insert(0, "method", section.methods)
    csv["section"] = section.key
    return part, csv.reset_index(drop=True)


def _mirror_metric_notes(section: Section, specs: dict) -> list[Text]:
    """Columns of mirrors of a SPICE-based paper column (AudioCaps: SPIDEr) that show another metric: which one
    and why."""
    lines: list[Text] = []
    for d, spec in specs.items():
        column = benchmark_spec(spec.paper_column) if spec is not None and spec.paper_column else None
        spice_based = column is not None and column.id != d and column.primary_metric in {"SPIDEr", "SPICE"}
        if column is None or not spice_based or section.primary[d] == column.primary_metric:
            continue
        why = "SPICE, half of SPIDEr, needs the CoreNLP 3.6.0 jars and a Java 8-15, which an offline install lacks"
        lines.append(
            f"{dataset_title(d)} shows {section.primary[d]} where the paper's {dataset_title(column.id)} column "
            f"shows {column.primary_metric}: {why}."
        )
    return lines


# --------------------------------------------------------------------------------------------- Tables S2 – S5


def _s_table_of(dataset: str) -> str:
    spec = benchmark_spec(dataset)
    return S_TABLE_OF_MODALITY[spec.modality] if spec is not None else "tableS2"


def s_part(section: Section, table: str) -> tuple[Part, pd.DataFrame] | None:
    datasets = [d for d in section.datasets if _s_table_of(d) == table or section.source == "paper"]
    cols = aggregate.supplementary_columns(section, datasets)
    if not cols:
        return None
    c = aggregate.cells(section, cols)
    ran = c.mean.notna().any(axis=1) | (c.status != "ok").any(axis=1)  # else not run on these benchmarks
    mean, std = c.mean[ran], c.std[ran]
    text = pd.DataFrame(
        [[_mean_std(m, s) for m, s in zip(ms, ss)] for ms, ss in zip(mean.values, std.values)],
        index=mean.index,
        columns=mean.columns,
    )
    heads = [(dataset_title(d), f"{metric_label(m)} {SPLIT_LABELS.get(s, s)}") for d, m, s in cols]
    notes: list[Text] = ["Mean ± sample standard deviation over seeds (a published row: as printed)."]
    notes += _control_legend(section, ranked_table=False)
    notes += metric_lines((m for _, m, _ in cols), paper=section.source == "paper")
    notes += _status_legend(c.flagged, section) + _note_legend(c.footnotes)
    part = Part(
        section.key,
        section.title,
        _section_intro(section),
        [_table(section.title, section, heads, text, marks=c.marks[ran])],
        notes,
    )
    csv = pd.concat([mean, std.add_suffix(":std")], axis=1)
    csv = csv[[k for col in mean.columns for k in (col, f"{col}:std")]]
    csv.insert(0, "method", mean.index)
    csv["section"] = section.key
    return part, csv.reset_index(drop=True)


# -------------------------------------------------------------------------------------------------------- Table 3


def _published_table3() -> pd.DataFrame:
    """The numbers Table 3 quotes from the baselines' own papers, shown above any reimplementation: from the stored
    paper results, whichever results directories the report reads."""
    rows = read_results([PAPER_RESULTS / "paper-table3.parquet"])
    return rows[rows.citation != ""]


def _table3_datasets(section: Section) -> dict[str, str]:
    """Table 3 column -> the section's dataset filling it (the paper dataset itself, else its offline mirror)."""
    out = {}
    for col in TABLE3_COLUMNS:
        candidates = [
            d for d in section.datasets if (spec := benchmark_spec(d)) is not None and spec.paper_column == col
        ]
        if candidates:
            out[col] = col if col in candidates else candidates[0]
    return out


def _table3_values(section: Section | None, published: pd.DataFrame) -> pd.DataFrame:
    """Table 3's numbers, one row per value: label, ours (a reimplementation row), column, value, mark, and the
    CSV fields method, origin, note. A published cell may hold several values (e.g. 0-shot / 8-shot)."""
    names = method_names(published)
    footnotes = aggregate.footnote_marks([n for n in published.note if n])
    values = []
    for method in TABLE3_METHODS:
        pub = published[published.method == method]
        if not pub.empty:
            label = f"{display_of(names, method)} {pub.citation.iloc[0]} (published)"
            values += [
                dict(
                    label=label,
                    ours=False,
                    column=r.dataset,
                    value=float(r.value),
                    mark=footnotes.get(r.note, ""),
                    method=method,
                    origin=f"published {r.citation}",
                    note=r.note,
                )
                for r in pub.itertuples()
            ]
    mapping = _table3_datasets(section) if section else {}
    ours = [m for m in TABLE3_METHODS if section is not None and m in section.methods]
    if section is not None and ours and mapping:
        c = aggregate.cells(
            section, [(d, section.primary[d], section.report_split[d]) for d in mapping.values()], list(mapping)
        )
        values += [
            dict(
                label=f"{section.method(m)} (reimpl.)",
                ours=True,
                column=col,
                value=c.mean.loc[m, col],
                mark=STATUS_MARKS.get(c.status.loc[m, col], ""),
                method=m,
                origin="reimplementation",
                note="",
            )
            for m in ours
            for col in TABLE3_COLUMNS
            if col in mapping
        ]
    return pd.DataFrame(values, columns=["label", "ours", "column", "value", "mark", "method", "origin", "note"])


def table3_part(section: Section | None, published: pd.DataFrame) -> tuple[Part, pd.DataFrame]:
    """Published baseline numbers (quoted in the paper's Table 3) above a section's reimplementation of them."""
    values = _table3_values(section, published)
    # the paper bolds the best of all rows; runs on other backbones / data are only compared among themselves
    all_compared = section is None or section.source == "paper"
    compared = values[values.ours | all_compared]
    best = compared.groupby("column").value.max()
    shown = values[values.value.notna()]
    cells = (
        shown.assign(text=[f"{v:.1f}{m}" for v, m in zip(shown.value, shown.mark)])
        .groupby(["label", "column"], sort=False)
        .agg(text=("text", " / ".join), n=("value", "size"), value=("value", "first"), ours=("ours", "first"))
    )
    is_best = (
        (cells.n == 1)
        & (cells.ours | all_compared)
        & (cells.value == best.reindex(cells.index.get_level_values("column")).to_numpy())
    )
    labels = list(dict.fromkeys(values.label))
    text = cells.text.unstack("column").reindex(index=labels, columns=list(TABLE3_COLUMNS)).fillna("—")
    place = (
        is_best.map({True: 1.0, False: math.nan}).unstack("column").reindex(index=labels, columns=list(TABLE3_COLUMNS))
    )
    ours = values.drop_duplicates("label").ours.tolist()
    heads: list[tuple[str, ...]] = []
    metrics = []
    for col in TABLE3_COLUMNS:
        spec = benchmark_spec(col)
        assert spec is not None, col  # Table 3's columns are registered paper benchmarks
        metrics.append(spec.primary_metric)
        head: tuple[str, ...] = _column_head(col, spec.primary_metric, spec.eval_split)
        runs = _table3_datasets(section).get(col, col) if section is not None else col
        if section is not None and section.source != "paper" and runs in section.report_split:
            head += (f"runs: {dataset_title(runs)}, {SPLIT_LABELS.get(section.report_split[runs], '')}",)
        heads.append(head)
    title = f"Published vs reimplemented: {section.title}" if section else "Published baseline numbers"
    if section is None or section.source == "paper":
        notes: list[Text] = ["Best value per column in bold."]
    else:
        notes = [
            "Best reimplementation value per column in bold. Reimplementation numbers come from the runs of this "
            "section, with their own backbones and data (offline mirrors where the header says so): they are "
            "not directly comparable with the published numbers."
        ]
    if section is not None:
        notes += metric_lines(metrics, paper=section.source == "paper")
    notes += _note_legend(aggregate.footnote_marks([n for n in published.note if n]))
    if section is None:
        notes.append("No reimplementation results in the given directories.")
    intro = [f"Published numbers as quoted by {PAPER_LABEL}, Table 3."] + (_section_intro(section) if section else [])
    rules = tuple(i for i in range(1, len(ours)) if ours[i] and not ours[i - 1])
    table = Table(title, text.set_axis(header(heads), axis=1), place.set_axis(header(heads), axis=1), rules=rules)
    key = section.key if section else "published"
    part = Part(key, title, intro, [table], notes)
    per_column = {col: values.value.where(values.column == col) for col in TABLE3_COLUMNS}
    csv = values.assign(**per_column).groupby(["method", "origin", "note"], sort=False)[list(TABLE3_COLUMNS)].first()
    csv = csv.reset_index()
    csv["section"] = key
    return part, csv


# --------------------------------------------------------------------------------------------------- reports


def _paper_section(paper: pd.DataFrame, table_ref: str, title: str) -> Section | None:
    rows = paper[(paper.table_ref == table_ref) & (paper.citation == "")]
    if rows.empty:
        return None
    return make_section(rows, f"paper-{table_ref.lower()}", title, choose=False)


def _report(name: str, title: str, parts: list[tuple[Part, pd.DataFrame]], empty_note: str) -> Report:
    if not parts:
        return Report(name, title, [Part("empty", "No results", [empty_note])], pd.DataFrame({"method": []}))
    csv = pd.concat([c for _, c in parts], ignore_index=True)
    head = [c for c in _CSV_HEAD if c in csv.columns]
    tail = [c for c in _CSV_TAIL if c in csv.columns]
    # dataset columns ("coco" or "coco:CIDEr:test") in paper order; a stable sort keeps each dataset's metric order
    middle = sorted((c for c in csv.columns if c not in head + tail), key=lambda c: dataset_sort_key(c.split(":")[0]))
    return Report(name, title, [p for p, _ in parts], csv[head + middle + tail])


def build_reports(
    df: pd.DataFrame, items: pd.DataFrame | None = None, points: pd.DataFrame | None = None
) -> list[Report]:
    """All reports for a results frame (read_results output) and the runs' per-item scores (read_item_scores);
    `points`: the runs' sweep points (harness.report.sweeps), computed here when not given."""
    paper, runs = df[df.source == "paper"], df[df.source == "run"]
    sections = run_sections(runs) if len(runs) else []
    reports = []

    t4_paper = _paper_section(paper, "table4", "DePALM paper, Table 4 (published numbers, 5 seeds)")
    printed = paper[(paper.table_ref == "table4") & (paper.dataset == AGGREGATE_DATASET)]
    parts = [table4_part(t4_paper, printed)] if t4_paper else []
    parts += [table4_part(s, printed.iloc[0:0], items) for s in sections]
    t4 = _report(
        "table4",
        "Table 4: methods × benchmarks, average rank and normalized score",
        parts,
        "No results for Table 4 in the given directories.",
    )
    hparams = [
        s.choices.assign(section=s.key, report_split=s.choices.dataset.map(s.report_split))
        for s in sections
        if not s.choices.empty
    ]
    if hparams:
        t4.extra_csv["table4_hparams"] = pd.concat(hparams, ignore_index=True)
    reports.append(t4)

    for table, title in S_TABLES.items():
        paper_sec = _paper_section(paper, table, f"DePALM paper, {title.split(':')[0]} (published numbers)")
        parts = [p for p in ([s_part(paper_sec, table)] if paper_sec else []) if p]
        if table != "tableS5":
            parts += [p for p in (s_part(s, table) for s in sections) if p]
        if parts or table != "tableS5":
            reports.append(_report(table, title, parts, "No results for this table in the given directories."))

    published = _published_table3()
    t3_paper = _paper_section(paper, "table3", "DePALM paper, Table 3 (published numbers)")
    t3_sections = ([t3_paper] if t3_paper else []) + [
        s for s in sections if set(TABLE3_METHODS) & set(s.methods) and _table3_datasets(s)
    ]
    parts = [table3_part(s, published) for s in t3_sections] or [table3_part(None, published)]
    reports.append(
        _report("table3", "Table 3: our reimplementation of the baselines vs originally published numbers", parts, "")
    )
    return reports + with_runs_table5(paper_only_reports(paper, sections), table5_report(runs, points))


def render_reports(results_dirs: list[Path], out_dir: Path) -> list[Path]:
    """Render every table from the results under `results_dirs` into `out_dir`; returns the files written."""
    try:
        df = read_results(list(results_dirs))
    except FileNotFoundError as e:
        raise UsageError(str(e)) from e
    if df.empty:
        raise NoResultsError(
            f"no results found under {', '.join(map(str, results_dirs))}: run the matrix first "
            f"(python run_matrix.py ...) or pass --results results/paper for the paper's numbers"
        )
    items = read_item_scores(list(results_dirs), run_ids=set(df.run_id[df.source == "run"]))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    points = sweep_points(df[df.source == "run"])
    paths = [p for report in build_reports(df, items, points) for p in write_report(report, out_dir)]
    return paths + write_figures(points, out_dir)
