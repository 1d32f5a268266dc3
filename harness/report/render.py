"""Rendering of report tables: Markdown and LaTeX (booktabs) through jinja2 templates, plus CSV (no torch).

harness/report/tables.py builds `Document`s (what the tables say); this module lays them out with
reports/templates/table.{md,tex}.j2: highlights (bold / underline / italic, \\textbf / \\underline / \\textit),
escaping, grouped LaTeX headers.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

from harness import REPO_ROOT
from harness.report.labels import latex_escape
from harness.store.atomic import write_text

TEMPLATES = REPO_ROOT / "reports" / "templates"
PLACE_NAMES = {1: "first", 2: "second", 3: "third"}


@dataclass(frozen=True)
class Rich:
    """Text with a Markdown and a LaTeX form (display names, highlights); plain strings are escaped instead."""

    md: str
    tex: str


Text = str | Rich


@dataclass
class Cell:
    """One table cell: plain text, an optional first/second/third highlight and marks appended after it."""

    text: str
    place: int | None = None  # 1, 2, 3: highlighted as first / second / third best
    marks: str = ""


@dataclass
class Grid:
    """One tabular: a stub column of row labels and value columns with multi-line headers."""

    caption: str
    stub: str
    columns: list[tuple[str, ...]]  # header lines of each column, top to bottom
    rows: list[tuple[Text, list[Cell], bool]]  # (label, cells, horizontal rule before the row)


@dataclass
class Block:
    """A section of a report: heading, intro lines (source, backbones), its tables and their footnotes."""

    key: str
    title: str
    intro: list[Text] = field(default_factory=list)
    grids: list[Grid] = field(default_factory=list)
    notes: list[Text] = field(default_factory=list)


@dataclass
class Document:
    """One report table (`<name>.md/.tex/.csv`): its sections and its machine-readable CSV."""

    name: str
    title: str
    blocks: list[Block]
    csv: pd.DataFrame
    extra_csv: dict[str, pd.DataFrame] = field(default_factory=dict)


def escape(text: Text, fmt: str) -> str:
    """A plain string escaped for Markdown tables or LaTeX; a `Rich` text in its own form."""
    if isinstance(text, Rich):
        return text.md if fmt == "md" else text.tex
    return text.replace("|", r"\|") if fmt == "md" else latex_escape(text)


def highlight(text: str, place: int | None, fmt: str) -> str:
    """Mark the first / second / third best: bold / underline / italic."""
    if place not in PLACE_NAMES:
        return text
    if fmt == "md":
        return {1: "**{}**", 2: "<ins>{}</ins>", 3: "*{}*"}[place].format(text)  # <ins>: underline GitHub keeps
    return {1: r"\textbf{{{}}}", 2: r"\underline{{{}}}", 3: r"\textit{{{}}}"}[place].format(text)


def _cell(cell: Cell, fmt: str) -> str:
    return highlight(escape(cell.text, fmt), cell.place, fmt) + escape(cell.marks, fmt)


def _md_grid(grid: Grid) -> dict:
    return {"caption": escape(grid.caption, "md"),
            "head": [grid.stub] + ["<br>".join(escape(x, "md") for x in col if x) for col in grid.columns],
            "align": ["---"] + ["---:"] * len(grid.columns),
            "rows": [[escape(label, "md")] + [_cell(c, "md") for c in cells] for label, cells, _ in grid.rows]}


def _tex_head(grid: Grid) -> list[str]:
    """Header lines; the top lines group equal neighbouring labels under one \\multicolumn with a \\cmidrule."""
    depth = max((len(c) for c in grid.columns), default=1)
    cols = [("",) * (depth - len(c)) + tuple(c) for c in grid.columns]
    lines = []
    for level in range(depth):
        parts, rules, i = [latex_escape(grid.stub) if level == depth - 1 else ""], [], 0
        while i < len(cols):
            j = i
            while level < depth - 1 and j + 1 < len(cols) and cols[i][level] and \
                    cols[j + 1][:level + 1] == cols[i][:level + 1]:
                j += 1
            text = latex_escape(cols[i][level])
            parts.append(text if j == i else rf"\multicolumn{{{j - i + 1}}}{{c}}{{{text}}}")
            if j > i:
                rules.append(rf"\cmidrule(lr){{{i + 2}-{j + 2}}}")
            i = j + 1
        lines.append(" & ".join(parts) + r" \\" + (" " + " ".join(rules) if rules else ""))
    return lines


def _tex_grid(grid: Grid, label: str) -> dict:
    return {"caption": latex_escape(grid.caption), "label": label, "colspec": "l" + "r" * len(grid.columns),
            "head": _tex_head(grid),
            "rows": [{"cells": [escape(lbl, "tex")] + [_cell(c, "tex") for c in cells], "rule": rule}
                     for lbl, cells, rule in grid.rows]}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                              keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def _tex_environment() -> jinja2.Environment:
    """LaTeX-friendly delimiters, so braces in the template stay LaTeX."""
    env = _environment()
    env.block_start_string, env.block_end_string = "<%", "%>"
    env.variable_start_string, env.variable_end_string = "<<", ">>"
    env.comment_start_string, env.comment_end_string = "<#", "#>"
    return env


def render_markdown(doc: Document) -> str:
    blocks = [{"title": escape(b.title, "md"), "intro": [escape(x, "md") for x in b.intro],
               "grids": [_md_grid(g) for g in b.grids], "notes": [escape(x, "md") for x in b.notes]}
              for b in doc.blocks]
    return _environment().get_template("table.md.j2").render(title=doc.title, blocks=blocks)


def render_latex(doc: Document) -> str:
    blocks = [{"title": latex_escape(b.title), "intro": [escape(x, "tex") for x in b.intro],
               "grids": [_tex_grid(g, f"tab:{doc.name}-{b.key}-{i}") for i, g in enumerate(b.grids)],
               "notes": [escape(x, "tex") for x in b.notes]} for b in doc.blocks]
    return _tex_environment().get_template("table.tex.j2").render(title=latex_escape(doc.title), blocks=blocks)


def write_document(doc: Document, out_dir: Path) -> list[Path]:
    """Write `<name>.md`, `<name>.tex`, `<name>.csv` (+ extra CSVs) into out_dir; returns their paths."""
    paths = [out_dir / f"{doc.name}.md", out_dir / f"{doc.name}.tex", out_dir / f"{doc.name}.csv"]
    write_text(paths[0], render_markdown(doc))
    write_text(paths[1], render_latex(doc))
    write_text(paths[2], doc.csv.to_csv(index=False))
    for name, frame in doc.extra_csv.items():
        paths.append(out_dir / f"{name}.csv")
        write_text(paths[-1], frame.to_csv(index=False))
    return paths
