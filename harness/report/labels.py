"""How ids print in the reports, torch-free: benchmark titles and column order from the benchmark registry's specs,
method names, metric and split labels, durations and LaTeX escaping. Ids stay ids in parquet and CSV; the labels
only appear in rendered Markdown / LaTeX.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import pandas as pd

from benchmarks import BenchmarkSpec, UnknownBenchmark, get_benchmark, list_benchmarks
from benchmarks.metrics import METRIC_DESCRIPTIONS
from benchmarks.metrics.vqa import VQA_ACC, VQA_ACC_DEPALM
from harness.report.paper_numbers import BIAS_FT_SUFFIX, PAPER_METHODS

_SUPERSCRIPTS = dict(
    zip(
        "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂ",
        "0123456789+-=()abcdefghijklmnoprstuvwxyzABDEGHIJKLMNOPRTUVW",
    )
)
_NAME_PARTS = re.compile(r"\^\{([^{}]*)\}|([" + "".join(_SUPERSCRIPTS) + r"]+)")


def name_tex(name: str) -> str:
    """A display name in LaTeX: `X^{QP,inner}` and runs of Unicode superscripts (`⁽ᵃˡˡ⁾`) become
    `\\textsuperscript{...}`, the rest is escaped."""
    out, last = [], 0
    for m in _NAME_PARTS.finditer(name):
        raised = m.group(1) if m.group(1) is not None else "".join(_SUPERSCRIPTS[c] for c in m.group(2))
        out += [latex_escape(name[last : m.start()]), r"\textsuperscript{" + latex_escape(raised) + "}"]
        last = m.end()
    return "".join(out) + latex_escape(name[last:])


def method_names(rows: pd.DataFrame) -> dict[str, str]:
    """Method id -> display name, from the rows' `method_display` (each run carries its method config's display name;
    the latest row wins when a renamed method has older rows). Ids without one print as themselves."""
    if "method_display" not in rows.columns:
        return {}
    named = rows[rows.method_display.fillna("") != ""].sort_values("created_at", kind="stable")
    return {m: str(n) for m, n in named.groupby("method").method_display.last().items()}


def display_of(names: dict[str, str], method_id: str) -> str:
    """A method's display name; its id when it has none."""
    return names.get(method_id) or method_id


METRIC_LABELS = {
    "BLEU_1": "B@1",
    "BLEU_2": "B@2",
    "BLEU_3": "B@3",
    "BLEU_4": "B@4",
    VQA_ACC: "Acc",
    VQA_ACC_DEPALM: "Acc (DePALM)",
    "ROUGE_L": "ROUGE-L",
}
# metric -> the official DePALM code's own computation of it, which produced the paper's numbers (docs/FIDELITY.md,
# rows V1-V3); runs store both, and the supplementary tables show the second beside the first
PAPER_COMPUTATION = {VQA_ACC: VQA_ACC_DEPALM}
PRIMARY_METRIC_PREFERENCE = ("VQA_acc", "SPIDEr", "CIDEr")  # for dataset ids no registered benchmark has
SPLIT_LABELS = {"val": "Val", "test": "Test", "train": "Train"}


def benchmark_spec(dataset_id: str) -> BenchmarkSpec | None:
    """The registered spec of a dataset id (its title, column, splits, metrics); None for an id no registered
    benchmark has (e.g. a plugin benchmark whose module is not imported)."""
    try:
        return get_benchmark(dataset_id).spec
    except UnknownBenchmark:
        return None


def paper_columns() -> tuple[str, ...]:
    """The paper's Table 4 columns in order: the registry's `paper` benchmarks."""
    return tuple(list_benchmarks("paper"))


def dataset_sort_key(dataset_id: str) -> tuple:
    """Paper column order (Table 4); within a column the paper dataset before its mirror; other ids last, sorted."""
    spec, columns = benchmark_spec(dataset_id), paper_columns()
    if spec is None or spec.paper_column not in columns:
        return (1, 0, False, dataset_id)
    return (0, columns.index(spec.paper_column), dataset_id != spec.paper_column, dataset_id)


def method_sort_key(method_id: str) -> tuple:
    """Table 4's row order (the paper's); bias-tuned variants after their base; other methods (plugins) last, sorted."""
    base = method_id.removesuffix(BIAS_FT_SUFFIX)
    if base in PAPER_METHODS:
        return (0, PAPER_METHODS.index(base), method_id != base, method_id)
    return (1, 0, False, method_id)


def dataset_title(dataset_id: str) -> str:
    spec = benchmark_spec(dataset_id)
    return spec.display_title if spec is not None else dataset_id


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, metric)


def metric_lines(metrics: Iterable[str], *, paper: bool) -> list[str]:
    """What the columns' metrics compute, one line per described metric (`benchmarks.metrics.METRIC_DESCRIPTIONS`):
    for runs, the metric's description; for the paper's numbers, the official DePALM code's computation that the
    DePALM authors' numbers come from (`PAPER_COMPUTATION`; numbers the paper quotes from other works are theirs)."""
    lines = []
    for metric in dict.fromkeys(metrics):
        own = PAPER_COMPUTATION.get(metric)
        if paper and own is not None:
            lines.append(
                f"{metric_label(metric)}: the DePALM authors' numbers come from the official DePALM code's "
                f"own metric, which runs report as {own} ({metric_label(own)}), not as {metric}. "
                f"{own}: {METRIC_DESCRIPTIONS[own]}."
            )
        elif not paper and metric in METRIC_DESCRIPTIONS:
            known = f" (the paper's numbers: {own})" if own is not None else ""
            lines.append(f"{metric_label(metric)} = {metric}: {METRIC_DESCRIPTIONS[metric]}{known}.")
    return lines


def format_duration(seconds: float) -> str:
    """Training time as the paper prints it ('1h19'); shorter runs as '12m05s' or '45s'."""
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # symbols the reports print (status marks, arrows, footnote marks)
    "♦": r"\ensuremath{\diamondsuit}",
    "✗": r"\ensuremath{\times}",
    "•": r"\ensuremath{\bullet}",
    "↑": r"\ensuremath{\uparrow}",
    "↓": r"\ensuremath{\downarrow}",
    "±": r"\ensuremath{\pm}",
    "≈": r"\ensuremath{\approx}",
    "×": r"\ensuremath{\times}",
    "†": r"\dag{}",
    "‡": r"\ddag{}",
    "§": r"\S{}",
    "¶": r"\P{}",
    "—": "---",
    "–": "--",
    "·": r"\ensuremath{\cdot}",
    "≥": r"\ensuremath{\geq}",
    "₂": r"\textsubscript{2}",
    "⁽": r"\textsuperscript{(}",
    "⁾": r"\textsuperscript{)}",
    "¹": r"\textsuperscript{1}",
    "ᵃ": r"\textsuperscript{a}",
    "ˡ": r"\textsuperscript{l}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


# Sweep axes a section holds one value of (harness.runner.sweeps; null when not swept), and how each prints.
SWEEP_AXES = ("train_fraction", "width")


def fraction_label(fraction: float) -> str:
    """A train fraction as a percentage: 0.0012 -> 0.12%, 1.0 -> 100%."""
    return f"{fraction * 100:.4g}%"


def axis_label(axis: str, value: Any) -> str:
    """One sweep axis value as a section header says it ("" when the axis is not swept)."""
    if value is None or pd.isna(value):
        return ""
    if axis == "train_fraction":
        return f"train fraction {fraction_label(float(value))}"
    return f"{axis.replace('_', ' ')} {int(value)}"
