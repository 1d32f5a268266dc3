"""How ids print in the reports, torch-free: benchmark titles and column order from the benchmark registry's specs,
method names, metric and split labels, durations and LaTeX escaping. Ids stay ids in parquet and CSV; the labels
only appear in rendered Markdown / LaTeX.
"""
from __future__ import annotations

from dataclasses import dataclass

from benchmarks import BenchmarkSpec, UnknownBenchmark, get_benchmark, list_benchmarks


@dataclass(frozen=True)
class MethodDisplay:
    """How a method id is printed: Markdown / plain text and LaTeX."""

    md: str
    tex: str


_METHODS: dict[str, MethodDisplay] = {
    "limber-1": MethodDisplay("LiMBeR⁽¹⁾", r"LiMBeR\textsuperscript{(1)}"),
    "limber-all": MethodDisplay("LiMBeR⁽ᵃˡˡ⁾", r"LiMBeR\textsuperscript{(all)}"),
    "mapl": MethodDisplay("MAPL", "MAPL"),
    "epalm": MethodDisplay("eP-ALM", "eP-ALM"),
    "depalm": MethodDisplay("DePALM", "DePALM"),
    "depalm-qp-inner": MethodDisplay("DePALM^{QP,inner}", r"DePALM\textsuperscript{QP,inner}"),
    "depalm-r-avgpool": MethodDisplay("DePALM^{R-avgpool,L0}", r"DePALM\textsuperscript{R-avgpool,L0}"),
    "depalm-r-linear": MethodDisplay("DePALM^{R-linear,L0}", r"DePALM\textsuperscript{R-linear,L0}"),
    "depalm-r-qpmapper": MethodDisplay("DePALM^{R-QPMapper,L0}", r"DePALM\textsuperscript{R-QPMapper,L0}"),
    "depalm-r-rand": MethodDisplay("DePALM^{R-rand,L0}", r"DePALM\textsuperscript{R-rand,L0}"),
    "depalm-c-attn": MethodDisplay("DePALM^{c-attn}", r"DePALM\textsuperscript{c-attn}"),
    # methods the paper cites (Tables 3 and 6)
    "flamingo": MethodDisplay("Flamingo", "Flamingo"),
    "blip-2": MethodDisplay("BLIP-2", "BLIP-2"),
    "unival": MethodDisplay("UnIVAL", "UnIVAL"),
    "next-gpt": MethodDisplay("NExT-GPT", "NExT-GPT"),
    "idefics-80b-instruct": MethodDisplay("IDEFICS 80B Instruct", "IDEFICS 80B Instruct"),
    "qwen-vl-7b": MethodDisplay("Qwen-VL (7B)", "Qwen-VL (7B)"),
    "vl-adapter": MethodDisplay("VL-Adapter", "VL-Adapter"),
}
METHOD_ORDER: tuple[str, ...] = tuple(_METHODS)[:11]  # the 11 canonical methods, in Table 4's row order
BIAS_FT_SUFFIX = "+bias-ft"  # Table S6: a method with bias tuning of the perceptual encoder


def method_display(method_id: str) -> MethodDisplay:
    """Display names of a method id; unknown ids (plugins) print as themselves."""
    if method_id.endswith(BIAS_FT_SUFFIX):
        base = method_display(method_id[: -len(BIAS_FT_SUFFIX)])
        return MethodDisplay(f"{base.md} + bias-FT", f"{base.tex} + bias-FT")
    return _METHODS.get(method_id, MethodDisplay(method_id, latex_escape(method_id)))


METRIC_LABELS = {"BLEU_1": "B@1", "BLEU_2": "B@2", "BLEU_3": "B@3", "BLEU_4": "B@4", "VQA_acc": "Acc",
                 "ROUGE_L": "ROUGE-L"}
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
    """Table 4's row order; bias-tuned variants after their base; unknown methods (plugins) last, sorted."""
    base = method_id.removesuffix(BIAS_FT_SUFFIX)
    if base in METHOD_ORDER:
        return (0, METHOD_ORDER.index(base), method_id != base, method_id)
    return (1, 0, False, method_id)


def dataset_title(dataset_id: str, fmt: str = "md") -> str:
    spec = benchmark_spec(dataset_id)
    title = spec.display_title if spec is not None else dataset_id
    return title if fmt == "md" else latex_escape(title)


def metric_label(metric: str, fmt: str = "md") -> str:
    label = METRIC_LABELS.get(metric, metric)
    return label if fmt == "md" else latex_escape(label)


def format_duration(seconds: float) -> str:
    """Training time as the paper prints it ('1h19'); shorter runs as '12m05s' or '45s'."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}h{(s % 3600) // 60:02d}"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def parse_duration(text: str) -> float:
    """Inverse of `format_duration` for the paper's 'XhYY' notation; returns seconds."""
    hours, sep, minutes = text.partition("h")
    if not sep or not hours.isdigit() or not minutes.isdigit():
        raise ValueError(f"train time {text!r}: expected the paper's notation like '1h19'")
    return 3600.0 * int(hours) + 60.0 * int(minutes)


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  # symbols the reports print (status marks, arrows, footnote marks)
                  "♦": r"\ensuremath{\diamondsuit}", "✗": r"\ensuremath{\times}", "•": r"\ensuremath{\bullet}",
                  "↑": r"\ensuremath{\uparrow}", "↓": r"\ensuremath{\downarrow}", "±": r"\ensuremath{\pm}",
                  "×": r"\ensuremath{\times}", "†": r"\dag{}", "‡": r"\ddag{}", "§": r"\S{}", "¶": r"\P{}",
                  "—": "---", "–": "--", "·": r"\ensuremath{\cdot}", "≥": r"\ensuremath{\geq}",
                  "₂": r"\textsubscript{2}", "⁽": r"\textsuperscript{(}", "⁾": r"\textsuperscript{)}",
                  "¹": r"\textsuperscript{1}", "ᵃ": r"\textsuperscript{a}", "ˡ": r"\textsuperscript{l}"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))
