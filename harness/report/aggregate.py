"""From a section's rows to the numbers its tables print, as DataFrames (no text): each cell's mean ± std over seeds,
worst run status, marks and footnotes (Sec. 4.1), and Table 4's per-benchmark ranks, average rank and normalized
score (Sec. 4.2, harness/report/ranking.py) with their bootstrap intervals (harness/report/uncertainty.py).

A cell is one (method, dataset, metric, split) of a section. Its run status is its (method, dataset)'s: how many
runs it has, how many did not finish ok, the worst status. Marks: ♦ unstable, ✗ failed or cancelled (the paper's
♦), then one footnote mark per distinct note of the cell's rows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from harness.report import ranking
from harness.report.labels import PAPER_COMPUTATION, benchmark_spec
from harness.report.select import STATUS_SEVERITY, Section
from harness.report.uncertainty import Uncertainty, bootstrap, section_cells

STATUS_MARKS = {"unstable": "♦", "failed": "✗", "cancelled": "✗", "interrupted": "✗"}
NOTE_MARKS = ("•", "†", "‡", "§", "¶", "#")
_STATUS_OF = {v: k for k, v in STATUS_SEVERITY.items()}
_CELL = ["method", "dataset", "metric", "split"]
_OWN_MARK = re.compile(r"\s*\((\S)\)$")  # a note ending with the paper's own mark, e.g. "... (†)"


def metric_stats(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (method, dataset, metric, split): mean and sample std over the finished runs' values, and the distinct
    notes of its rows. A single published row averaging several seeds keeps its printed std."""
    ok = rows[(rows.status == "ok") & rows.value.notna()]
    values = ok.groupby(_CELL, sort=False).value
    # Series.mean / .std per group rather than groupby's own kernels, whose compensated sums differ in the last bits
    out = pd.DataFrame({"mean": values.agg(lambda s: s.mean()), "std": values.agg(lambda s: s.std())})
    if len(ok):
        first = ok.groupby(_CELL, sort=False)[["n_seeds", "std"]].first()
        published = (values.size() == 1) & first.n_seeds.gt(1).fillna(False).astype(bool)
        out["std"] = out["std"].mask(published, first["std"])
    # object dtype: with pyarrow strings, tuples would come back as arrow lists
    notes = (
        rows.astype({"note": object})
        .groupby(_CELL, sort=False)
        .note.agg(lambda s: tuple(dict.fromkeys(n for n in s if n)))
    )
    return out.join(notes.rename("notes"), how="outer")


def run_status(rows: pd.DataFrame) -> pd.DataFrame:
    """Per (method, dataset): n_runs, n_bad (runs whose worst row is not ok) and the worst status. Paper rows share
    one run_id per table, so a published cell counts as one run."""
    keys = [rows.method, rows.dataset, rows.run_id, rows.seed.astype("string").fillna("")]
    worst = rows.status.map(STATUS_SEVERITY).groupby(keys).max()
    per_cell = worst.groupby(level=[0, 1]).agg(n_runs="size", n_bad=lambda s: int((s > 0).sum()), severity="max")
    per_cell.index.names = ["method", "dataset"]
    return per_cell


def first_errors(rows: pd.DataFrame) -> pd.Series:
    """Per (method, dataset): the first line of its first error message ("" when none)."""
    errors = rows[rows.error != ""]
    return errors.groupby(["method", "dataset"], sort=False).error.first().map(lambda e: e.splitlines()[0])


def footnote_marks(notes: Sequence[str]) -> dict[str, str]:
    """A footnote mark per distinct note: the paper's own mark when the note ends with it, else the next free one."""
    marks: dict[str, str] = {}
    for note in dict.fromkeys(notes):
        own = _OWN_MARK.search(note)
        if own and own.group(1) in NOTE_MARKS:
            marks[note] = own.group(1)
    free = iter(m for m in NOTE_MARKS if m not in marks.values())
    for note in dict.fromkeys(notes):
        if note not in marks:
            marks[note] = next(free, "*")
    return marks


def footnote_text(note: str) -> str:
    """A note as its footnote prints it (without the paper's own mark)."""
    return _OWN_MARK.sub("", note)


@dataclass
class Cells:
    """A section's cells for some (dataset, metric, split) columns as aligned frames (rows: method ids, columns: the
    given labels): `mean`, `std`, `status` (the cell's worst run status), `marks`; `footnotes` maps each note to its
    mark; `flagged` lists the (method, dataset)s with a run that did not finish ok (n_bad, n_runs, status, error)."""

    mean: pd.DataFrame
    std: pd.DataFrame
    status: pd.DataFrame
    marks: pd.DataFrame
    footnotes: dict[str, str]
    flagged: pd.DataFrame


def cells(section: Section, columns: Sequence[tuple[str, str, str]], labels: Sequence[str] | None = None) -> Cells:
    """The section's cells for `columns` (dataset, metric, split), every method a row; columns labelled `labels`
    (default "dataset:metric:split"). A cell without rows is missing (NaN) with its (method, dataset)'s status."""
    methods = section.methods
    labels = list(labels) if labels is not None else [":".join(c) for c in columns]
    index = pd.MultiIndex.from_frame(pd.DataFrame([(m, *c) for m in methods for c in columns], columns=_CELL))
    long = metric_stats(section.rows).reindex(index)
    runs = run_status(section.rows).reindex(index.droplevel(["metric", "split"]))
    runs = runs.fillna({"n_runs": 0, "n_bad": 0, "severity": 0}).astype(int)
    long = long.assign(
        notes=[n if isinstance(n, tuple) else () for n in long.notes],
        n_runs=runs.n_runs.to_numpy(),
        n_bad=runs.n_bad.to_numpy(),
        status=runs.severity.map(_STATUS_OF).to_numpy(),
    )
    footnotes = footnote_marks([n for notes in long.notes for n in notes])
    long["marks"] = [
        STATUS_MARKS.get(status, "") + "".join(footnotes[n] for n in notes)
        for status, notes in zip(long.status, long.notes)
    ]

    def wide(name: str) -> pd.DataFrame:
        return pd.DataFrame(long[name].to_numpy().reshape(len(methods), len(columns)), index=methods, columns=labels)

    flagged = long[long.status != "ok"].reset_index().drop_duplicates(["method", "dataset"])
    errors = first_errors(section.rows)
    flagged["error"] = [errors.get(key, "") for key in zip(flagged.method, flagged.dataset)]
    return Cells(
        wide("mean").astype(float),
        wide("std").astype(float),
        wide("status"),
        wide("marks"),
        footnotes,
        flagged[["method", "dataset", "n_bad", "n_runs", "status", "error"]].reset_index(drop=True),
    )


def primary_columns(section: Section) -> list[tuple[str, str, str]]:
    """Table 4's columns: each dataset's primary metric on its reported split."""
    return [(d, section.primary[d], section.report_split[d]) for d in section.datasets]


def supplementary_columns(section: Section, datasets: Sequence[str]) -> list[tuple[str, str, str]]:
    """Tables S2–S5's (dataset, metric, split) columns: the paper's extra metrics on the reported split, and the
    primary metric on both val and test where the paper shows both (VQAv2); for a benchmark without a spec, every
    metric of its results, the primary last. A metric the paper computed otherwise (`PAPER_COMPUTATION`) is followed
    by that computation where the results have it."""
    present = set(zip(section.rows.dataset, section.rows.metric, section.rows.split))
    cols = []
    for d in datasets:
        split, primary = section.report_split[d], section.primary[d]
        spec = benchmark_spec(d)
        if spec is not None and spec.s_metrics:
            metrics, primary_splits = spec.s_metrics, spec.s_splits or (split,)
        else:
            last = {primary, PAPER_COMPUTATION.get(primary)}
            metrics = tuple(sorted({m for dd, m, _ in present if dd == d and m and m not in last})) + (primary,)
            primary_splits = (split,)
        for m in metrics:
            splits = primary_splits if m == primary else (split,)
            for shown in (m, *([PAPER_COMPUTATION[m]] if m in PAPER_COMPUTATION else [])):
                cols += [(d, shown, s) for s in splits if (d, shown, s) in present]
    return cols


def train_times(section: Section) -> tuple[pd.Series, list[str]]:
    """Mean training time per method over its runs (paper: the AudioCaps runs), and the datasets it covers."""
    rows = section.rows[section.rows.train_time_s.notna() & ~section.rows.status.isin(["failed", "cancelled"])]
    if rows.empty:
        return pd.Series(dtype=float), []
    keys = [rows.method, rows.run_id, rows.dataset, rows.seed.astype("string").fillna("")]
    per_run = rows.groupby(keys).train_time_s.first()
    return per_run.groupby(level=0).mean(), sorted(set(rows.dataset))


@dataclass
class Table4:
    """Table 4 of a section: its primary-metric `cells` (columns: dataset ids), each column's competition `ranks`
    (the highlight places) and per method `summary`: train_time (NaN when unknown), rank, rank_pos, score,
    score_pos (NA for a control) and the worst status over its cells; `timed`: the datasets the train times cover.
    Run sections add `seeds` (finished runs per cell) and `uncertainty` (bootstrap intervals and ties of the ranked
    methods, harness/report/uncertainty.py); None for the paper's numbers."""

    cells: Cells
    ranks: pd.DataFrame
    summary: pd.DataFrame
    timed: list[str]
    seeds: pd.DataFrame | None = None
    uncertainty: Uncertainty | None = None


def table4(section: Section, items: pd.DataFrame | None = None) -> Table4:
    """Table 4 of a section; `items`: per-item scores (harness/store/items.py) for the bootstrap of run sections.
    Controls are shown but take no part in ranks, scores or the column best that normalizes the scores."""
    columns = primary_columns(section)
    c = cells(section, columns, section.datasets)
    train, timed = train_times(section)
    ranked = c.mean.loc[section.ranked]
    summary = ranking.aggregate(ranked).reindex(section.methods)
    summary = summary.astype({"rank_pos": "Int64", "score_pos": "Int64"})
    summary = pd.concat([train.reindex(section.methods).rename("train_time"), summary], axis=1)
    summary["status"] = c.status.apply(lambda s: max(s, key=STATUS_SEVERITY.__getitem__, default="ok"), axis=1)
    t4 = Table4(c, ranking.column_ranks(ranked).reindex(section.methods), summary, timed)
    if section.source == "run":
        runs = section_cells(section.rows, columns, items)
        t4.seeds = pd.DataFrame(
            [[len(runs.get((m, d), ())) for d in section.datasets] for m in section.methods],
            index=section.methods,
            columns=section.datasets,
        )
        t4.uncertainty = bootstrap(runs, section.ranked, section.datasets) if section.ranked else None
    return t4
