"""Exporters of the reports (harness/report/document.py): Markdown, LaTeX (booktabs) and CSV (no torch).

Both text formats go through the same code: a `Format` says how plain text, display names and highlights print
(Markdown: `|` escaped, bold / <ins> / italic; LaTeX: escaped, superscripts raised, \\textbf / \\underline /
\\textit), and reports/templates/table.{md,tex}.j2 lay out the page around the tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd

from harness import REPO_ROOT
from harness.report.document import Name, Ranked, Report, Table, Text
from harness.report.labels import latex_escape, name_tex
from harness.store.atomic import write_text

TEMPLATES = REPO_ROOT / "reports" / "templates"


@dataclass(frozen=True)
class Format:
    """How one output format prints plain text, display names, first / second / third-best highlights and the
    label of a control row."""

    escape: Callable[[str], str]
    name: Callable[[str], str]
    places: dict[int, str]  # place -> pattern around the highlighted text
    control: str  # pattern of a control row's label: {name} (printed) and {kind}

    def highlight(self, text: str, place: int) -> str:
        return self.places[place].format(text) if place in self.places else text

    def text(self, text: Text) -> str:
        if isinstance(text, str):
            return self.escape(text)
        return "".join(
            self.name(f)
            if isinstance(f, Name)
            else self.highlight(self.escape(f.text), f.place)
            if isinstance(f, Ranked)
            else self.escape(f)
            for f in text
        )

    def cells(self, table: Table) -> list[list[str]]:
        """Each cell printed: escaped text, highlighted by its place, then its escaped marks."""
        text = _positional(table.text).map(self.escape)
        if table.place is not None:
            place = table.place.to_numpy()
            for p, pattern in self.places.items():
                text = text.mask(place == p, text.map(pattern.format))
        if table.marks is not None:
            text = text + _positional(table.marks).map(self.escape)
        return text.to_numpy().tolist()


def _positional(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with positional row and column labels, so that frames with the same shape align."""
    return pd.DataFrame(frame.to_numpy(dtype=object), dtype=object)


def _md_escape(text: str) -> str:
    return text.replace("|", r"\|")


MARKDOWN = Format(
    _md_escape, _md_escape, {1: "**{}**", 2: "<ins>{}</ins>", 3: "*{}*"}, "*{name}* (control: {kind})"
)  # <ins>: GitHub keeps it
LATEX = Format(
    latex_escape,
    name_tex,
    {1: r"\textbf{{{}}}", 2: r"\underline{{{}}}", 3: r"\textit{{{}}}"},
    r"\textit{{{name}}} (control: {kind})",
)


def _labels(table: Table, fmt: Format) -> list[str]:
    labels = [fmt.name(str(label)) for label in table.text.index]
    for i, kind in table.controls.items():
        labels[i] = fmt.control.format(name=labels[i], kind=fmt.escape(kind))
    return labels


def _md_table(table: Table) -> dict:
    heads = [[x for x in col if x] for col in table.text.columns]
    return {
        "caption": MARKDOWN.escape(table.caption),
        "head": [table.stub] + ["<br>".join(MARKDOWN.escape(x) for x in col) for col in heads],
        "align": ["---"] + ["---:"] * len(heads),
        "rows": [[label] + cells for label, cells in zip(_labels(table, MARKDOWN), MARKDOWN.cells(table))],
    }


def _tex_head(table: Table) -> list[str]:
    """Header lines; the top lines group equal neighbouring labels under one \\multicolumn with a \\cmidrule."""
    cols = list(table.text.columns)
    depth = table.text.columns.nlevels
    lines = []
    for level in range(depth):
        parts, rules, i = [latex_escape(table.stub) if level == depth - 1 else ""], [], 0
        while i < len(cols):
            j = i
            while (
                level < depth - 1
                and j + 1 < len(cols)
                and cols[i][level]
                and cols[j + 1][: level + 1] == cols[i][: level + 1]
            ):
                j += 1
            text = latex_escape(cols[i][level])
            parts.append(text if j == i else rf"\multicolumn{{{j - i + 1}}}{{c}}{{{text}}}")
            if j > i:
                rules.append(rf"\cmidrule(lr){{{i + 2}-{j + 2}}}")
            i = j + 1
        lines.append(" & ".join(parts) + r" \\" + (" " + " ".join(rules) if rules else ""))
    return lines


def _tex_table(table: Table, label: str) -> dict:
    rows = zip(_labels(table, LATEX), LATEX.cells(table))
    return {
        "caption": latex_escape(table.caption),
        "label": label,
        "colspec": "l" + "r" * table.text.shape[1],
        "head": _tex_head(table),
        "rows": [{"cells": [lbl] + cells, "rule": i in table.rules} for i, (lbl, cells) in enumerate(rows)],
    }


def _environment(latex: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    if latex:  # LaTeX-friendly delimiters, so braces in the template stay LaTeX
        env.block_start_string, env.block_end_string = "<%", "%>"
        env.variable_start_string, env.variable_end_string = "<<", ">>"
        env.comment_start_string, env.comment_end_string = "<#", "#>"
    return env


def render_markdown(report: Report) -> str:
    parts = [
        {
            "title": MARKDOWN.escape(p.title),
            "intro": [MARKDOWN.text(x) for x in p.intro],
            "tables": [_md_table(t) for t in p.tables],
            "notes": [MARKDOWN.text(x) for x in p.notes],
        }
        for p in report.parts
    ]
    return _environment(latex=False).get_template("table.md.j2").render(title=report.title, parts=parts)


def render_latex(report: Report) -> str:
    parts = [
        {
            "title": latex_escape(p.title),
            "intro": [LATEX.text(x) for x in p.intro],
            "tables": [_tex_table(t, f"tab:{report.name}-{p.key}-{i}") for i, t in enumerate(p.tables)],
            "notes": [LATEX.text(x) for x in p.notes],
        }
        for p in report.parts
    ]
    return _environment(latex=True).get_template("table.tex.j2").render(title=latex_escape(report.title), parts=parts)


def write_report(report: Report, out_dir: Path) -> list[Path]:
    """Write `<name>.md`, `<name>.tex`, `<name>.csv` (+ extra CSVs) into out_dir; returns their paths."""
    paths = [out_dir / f"{report.name}.md", out_dir / f"{report.name}.tex", out_dir / f"{report.name}.csv"]
    write_text(paths[0], render_markdown(report))
    write_text(paths[1], render_latex(report))
    write_text(paths[2], report.csv.to_csv(index=False))
    for name, frame in report.extra_csv.items():
        paths.append(out_dir / f"{name}.csv")
        write_text(paths[-1], frame.to_csv(index=False))
    return paths
