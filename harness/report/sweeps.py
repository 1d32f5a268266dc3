"""Results along the study's sweep axes (no torch): one point per method, dataset and axis value, and Table 5
(Sec. 4.3: encoders with a fixed LLM, left; LLMs with a fixed encoder, right) from runs.

A point is a cell of a section (harness/report/select.py) of one profile, recipe variant, backbone pair, train
fraction and mapping width: its primary metric on the reported split, mean ± std over seeds, with the
hyper-parameters chosen on val as Table 4 chooses them, and the run's trainable parameter count (Figure 3 left's
x axis). harness/report/figures.py draws Figure 3 from the same points.
"""

from __future__ import annotations

import math

import pandas as pd

from harness.report import aggregate
from harness.report.document import Part, Report, Table, header
from harness.report.labels import SWEEP_AXES, axis_label, dataset_sort_key, dataset_title, metric_label
from harness.report.select import latest_runs, make_section

# what a group of points shares: one value of each
GROUP = ["profile", "variant", "llm", "encoder", *SWEEP_AXES]
TABLE5_TITLE = "Table 5: visual backbones with a fixed LLM, and LLMs with a fixed encoder"
POINT_COLUMNS = [*GROUP, "dataset", "method", "method_display", "metric", "split", "mean", "std", "n_seeds", "params"]


def swept_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The run rows on a sweep: a train fraction or width set, or a (profile, variant, dataset) run with several
    LLMs or encoders; the others make no point of a figure or of Table 5 (and cost nothing to leave out)."""
    runs = runs.assign(**{a: math.nan for a in SWEEP_AXES if a not in runs.columns})
    on_axis = runs[list(SWEEP_AXES)].notna().any(axis=1)
    per = runs.groupby(["profile", "variant", "dataset"])[["llm", "encoder"]].transform("nunique")
    return runs[on_axis | (per.max(axis=1) > 1)]


def sweep_points(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (group, dataset, method) of the swept run rows (`swept_runs`): `POINT_COLUMNS`. Controls
    (reference rows) and cells without a finished run are left out."""
    runs = swept_runs(runs)
    if runs.empty:
        return pd.DataFrame(columns=POINT_COLUMNS)
    out = []
    for key, g in runs.groupby(GROUP, sort=True, dropna=False):
        rows, _ = latest_runs(g)
        section = make_section(rows, "sweep", "sweep", choose=True)
        cols = aggregate.primary_columns(section)
        c = aggregate.cells(section, cols)
        ok = section.rows[section.rows.status == "ok"]
        params = ok.groupby(["method", "dataset"]).trainable_params.median()
        n_seeds = ok.groupby(["method", "dataset"]).seed.nunique()
        for method in section.ranked:
            for (dataset, metric, split), label in zip(cols, c.mean.columns):
                mean = c.mean.at[method, label]
                if math.isnan(mean):
                    continue
                p = params.get((method, dataset), pd.NA)
                out.append(
                    (
                        *key,
                        dataset,
                        method,
                        section.method(method),
                        metric,
                        split,
                        mean,
                        c.std.at[method, label],
                        int(n_seeds.get((method, dataset), 0)),
                        math.nan if pd.isna(p) else float(p),
                    )
                )
    return pd.DataFrame(out, columns=POINT_COLUMNS)


def _cell(mean: float, std: float) -> str:
    return f"{mean:.2f}" if math.isnan(std) else f"{mean:.2f}±{std:.2f}"


def _backbone_part(points: pd.DataFrame, vary: str, fixed: str, key: str, title: str) -> tuple[Part, pd.DataFrame]:
    """Rows: the `vary` backbones; columns: dataset x method (Table 5's layout)."""
    fields = ["dataset", "method", "method_display", "metric", "split"]
    cols = sorted(set(points[fields].itertuples(index=False, name=None)), key=lambda c: (dataset_sort_key(c[0]), c[1]))
    backbones = sorted(set(points[vary]))
    text = pd.DataFrame("—", index=backbones, columns=range(len(cols)), dtype=object)
    for p in points.itertuples(index=False):
        j = cols.index((p.dataset, p.method, p.method_display, p.metric, p.split))
        text.at[getattr(p, vary), j] = _cell(p.mean, p.std)
    heads = [(dataset_title(d), disp, f"{metric_label(met)} ({sp})") for d, _, disp, met, sp in cols]
    stub = "LLM backbone" if vary == "llm" else "Visual backbone"
    table = Table(title, text.set_axis(header(heads), axis=1), stub=stub)
    n = points.groupby(["method", "dataset", vary]).n_seeds.first()
    intro = [f"{'Encoder' if vary == 'llm' else 'LLM'} fixed: {points[fixed].iloc[0]}.", _seeds_line(n)]
    csv = points.assign(section=key)
    return Part(key, title, intro, [table]), csv


def _seeds_line(n: pd.Series) -> str:
    lo, hi = int(n.min()), int(n.max())
    seeds = f"{lo} seed(s)" if lo == hi else f"{lo} to {hi} seeds"
    return f"Each cell: the primary metric on the reported split, mean ± std over {seeds} (lr chosen on val)."


def table5_report(runs: pd.DataFrame, points: pd.DataFrame | None = None) -> Report | None:
    """Table 5 from runs that sweep a backbone: a part per fixed LLM with several encoders, and per fixed encoder with
    several LLMs, in each profile / variant / train fraction / width; None when no run sweeps one."""
    points = sweep_points(runs) if points is None else points
    parts, csvs = [], []
    for key, g in points.groupby(["profile", "variant", *SWEEP_AXES], sort=True, dropna=False):
        profile, variant, *axes = key
        on_axes = "".join(f", {label}" for a, v in zip(SWEEP_AXES, axes) if (label := axis_label(a, v)))
        for vary, fixed, side in (("encoder", "llm", "visual backbones"), ("llm", "encoder", "LLMs")):
            for value, sub in g.groupby(fixed, sort=True):
                if sub[vary].nunique() < 2:
                    continue
                title = f"Table 5 ({side}), runs, profile {profile}, variant {variant}{on_axes}, {fixed} {value}"
                slug = "".join(ch if ch.isalnum() else "-" for ch in f"{profile}-{variant}{on_axes}-{fixed}-{value}")
                part, csv = _backbone_part(sub, vary, fixed, f"table5-{slug.lower()}", title)
                parts.append(part)
                csvs.append(csv)
    if not parts:
        return None
    return Report("table5", f"{TABLE5_TITLE} (runs)", parts, pd.concat(csvs, ignore_index=True))


def with_runs_table5(reports: list[Report], runs_table5: Report | None) -> list[Report]:
    """`reports` with the runs' Table 5 parts after the published Table 5's (one report, one table5.md), or added
    when the paper's numbers are not among the results."""
    if runs_table5 is None:
        return reports
    published = next((r for r in reports if r.name == runs_table5.name), None)
    if published is None:
        return [runs_table5, *reports]
    published.title = f"{TABLE5_TITLE} (published numbers, then runs)"
    published.parts = [*published.parts, *runs_table5.parts]
    published.csv = pd.concat([published.csv, runs_table5.csv], ignore_index=True)
    return reports
