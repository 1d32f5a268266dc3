"""Figure 3 from runs (Sec. 4.3 "Parameter and data efficiency"), drawn with matplotlib's Agg backend (no torch, no
display): score against trainable parameters (left: the mapping-width axis) and against the training-set size
(right: the train-fraction axis), one line per method, mean ± std over seeds as a band, log-scale x.

A figure is drawn for each dataset and each group of points that share everything but the swept axis
(harness/report/sweeps.py) and hold at least two of its values, whenever the results contain that axis; it is
written as PNG and PDF next to the tables, so `--report-only` redraws it from cached results.
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from harness.report.labels import SWEEP_AXES, axis_label, dataset_title, fraction_label, metric_label
from harness.report.sweeps import GROUP

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FORMATS = ("png", "pdf")
# panel -> (swept axis, x of a point, x label)
PANELS = {
    "left": ("width", "params", "trainable parameters"),
    "right": ("train_fraction", "train_fraction", "training data (% of the train split)"),
}


def _slug(parts: list[str]) -> str:
    text = "-".join(p for p in parts if p)
    return "".join(ch if ch.isalnum() or ch in "._" else "-" for ch in text).strip("-").lower()


def _draw(points: pd.DataFrame, panel: str, title: str) -> Figure:
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    _, x_col, x_label = PANELS[panel]
    fig = Figure(figsize=(5.5, 4.0), dpi=150)
    ax = fig.add_subplot()
    for method, line in points.groupby("method", sort=False):
        line = line.dropna(subset=[x_col]).sort_values(x_col)
        if line.empty:
            continue
        x, mean, std = line[x_col].to_numpy(float), line["mean"].to_numpy(float), line["std"].fillna(0).to_numpy(float)
        (drawn,) = ax.plot(x, mean, marker="o", label=str(line.method_display.iloc[0] or method))
        ax.fill_between(x, mean - std, mean + std, color=drawn.get_color(), alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    if panel == "right":
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fraction_label(v)))
    ax.set_xlabel(x_label)
    first = points.iloc[0]
    ax.set_ylabel(f"{metric_label(str(first.metric))} ({first.split})")
    ax.set_title("\n".join(textwrap.wrap(title, 80)), fontsize=7)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def figure3(points: pd.DataFrame) -> dict[str, Figure]:
    """File stem -> figure for every Figure 3 panel the points (`harness.report.sweeps.sweep_points`) contain."""
    figures: dict[str, Figure] = {}
    for panel, (axis, x_col, _) in PANELS.items():
        swept = points[points[axis].notna() & points[x_col].notna()]
        others = [c for c in GROUP if c != axis]
        # a line needs two values of the axis; a group holding one (e.g. a single width) draws no panel
        groups = [
            (key, g) for key, g in swept.groupby([*others, "dataset"], sort=True, dropna=False) if g[axis].nunique() > 1
        ]
        # name a figure by its dataset alone when that is unique, else by everything its group shares
        datasets = [key[-1] for key, _ in groups]
        by_dataset = len(set(datasets)) == len(datasets)
        for key, g in groups:
            values = dict(zip([*others, "dataset"], key))
            fixed = [axis_label(a, values[a]) for a in SWEEP_AXES if a != axis]
            lo, hi = int(g.n_seeds.min()), int(g.n_seeds.max())
            title = (
                f"Figure 3 ({panel}): {dataset_title(values['dataset'])}; profile {values['profile']}, variant "
                f"{values['variant']}, {values['llm']} + {values['encoder']}"
                + "".join(f", {f}" for f in fixed if f)
                + f"; mean ± std over {lo if lo == hi else f'{lo}-{hi}'} seed(s)"
            )
            parts = [values["dataset"]]
            if not by_dataset:
                parts += [str(values[c]) for c in others if not _missing(values[c])]
            figures[f"figure3_{panel}__{_slug(parts)}"] = _draw(g, panel, title)
    return figures


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA


def write_figures(points: pd.DataFrame, out_dir: Path) -> list[Path]:
    """Write each Figure 3 panel as PNG and PDF into `out_dir`; returns the paths (none when no axis is swept).
    Files of panels the results no longer contain are left as they are."""
    from harness.store.atomic import atomic_path

    paths = []
    for stem, fig in figure3(points).items():
        for fmt in FORMATS:
            path = Path(out_dir) / f"{stem}.{fmt}"
            with atomic_path(path) as tmp:
                # no creation date in the PDF: the same results redraw the same file
                fig.savefig(tmp, format=fmt, metadata={"CreationDate": None} if fmt == "pdf" else None)
            paths.append(path)
    return paths
