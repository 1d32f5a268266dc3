"""The reports as data, free of any output format (no torch).

A `Report` is one table of the paper (`<name>.md/.tex/.csv`): its `Part`s (one per section of comparable results)
and its machine-readable CSV. A `Table` is one tabular as aligned DataFrames: the text of each cell, its
first/second/third-best highlight and the marks printed after it; row labels are display names, column labels the
header lines. Intro and note lines are `Text`: plain text, or fragments where a `Name` is a method's display name and
a `Ranked` a sample of a highlight. harness/report/render.py writes them as Markdown, LaTeX and CSV.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd


class Name(str):
    """A method's display name inside text (e.g. "DePALM^{QP,inner}"): printed as a name, not as plain text."""


@dataclass(frozen=True)
class Ranked:
    """Text shown with the highlight of the first / second / third best (1, 2, 3)."""

    text: str
    place: int


Text = str | tuple[str | Name | Ranked, ...]


def header(columns: Sequence[tuple[str, ...]]) -> pd.MultiIndex:
    """Column labels from header lines (top to bottom); shorter ones are padded with empty lines at the top."""
    depth = max((len(c) for c in columns), default=1)
    return pd.MultiIndex.from_tuples([("",) * (depth - len(c)) + tuple(c) for c in columns])


@dataclass
class Table:
    """One tabular: `text` (rows: display names; columns: `header`) and optional aligned `place` (1, 2, 3 or NA) and
    `marks` frames; `rules`: positions of the rows preceded by a horizontal rule; `controls`: position -> kind of
    the reference rows (printed in italics with a "(control: kind)" tag)."""

    caption: str
    text: pd.DataFrame
    place: pd.DataFrame | None = None
    marks: pd.DataFrame | None = None
    stub: str = "Method"
    rules: tuple[int, ...] = ()
    controls: dict[int, str] = field(default_factory=dict)


@dataclass
class Part:
    """A section of a report: heading, intro lines (source, backbones), its tables and their footnotes."""

    key: str
    title: str
    intro: Sequence[Text] = field(default_factory=list)
    tables: Sequence[Table] = field(default_factory=list)
    notes: Sequence[Text] = field(default_factory=list)


@dataclass
class Report:
    """One report table: its parts, its CSV and further CSVs written beside it (name -> frame)."""

    name: str
    title: str
    parts: list[Part]
    csv: pd.DataFrame
    extra_csv: dict[str, pd.DataFrame] = field(default_factory=dict)
