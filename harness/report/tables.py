"""Reports from cached results: Table 4, Tables S2–S5 and Table 3 as Markdown, LaTeX (booktabs) and CSV (no torch).

`render_reports(results_dirs, out_dir)` reads every results file under the given directories and writes, for each
table, `<name>.md`, `<name>.tex` and `<name>.csv`. Results are split into sections (harness/report/select.py) so that a
table never mixes sources, profiles or backbones without a header saying so. This module decides what the tables
say; harness/report/render.py and reports/templates/table.{md,tex}.j2 lay them out.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from harness import REPO_ROOT
from harness.errors import UsageError
from harness.report import ranking
from harness.report.labels import (SPLIT_LABELS, benchmark_spec, dataset_sort_key, dataset_title, display_of,
                                   format_duration, latex_escape, method_names, metric_label)
from harness.report.paper_numbers import PAPER_LABEL
from harness.report.paper_tables import paper_only_documents
from harness.report.render import (PLACE_NAMES, Block, Cell, Document, Grid, Rich, Text, escape, highlight,
                                   write_document)
from harness.report.select import STATUS_SEVERITY, CellStats, Section, make_section, run_sections
from harness.store.results import AGGREGATE_DATASET, read_results

PAPER_RESULTS = REPO_ROOT / "results" / "paper"  # the paper's numbers (scripts/build_paper_results.py)
STATUS_MARKS = {"unstable": "♦", "failed": "✗", "cancelled": "✗", "interrupted": "✗"}
NOTE_MARKS = ("•", "†", "‡", "§", "¶", "#")
TABLE3_METHODS = ("limber-all", "mapl", "epalm")
TABLE3_COLUMNS = ("coco", "coco-1pct", "vqav2", "vqav2-1pct", "okvqa")
_CSV_HEAD = ("method", "origin", "note")
_CSV_TAIL = ("train_time", "rank", "rank_pos", "score", "score_pos", "section")
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

def _method(section: Section, method_id: str) -> Rich:
    d = section.method(method_id)
    return Rich(d.md, d.tex)


def _num(x: float, digits: int = 2) -> str:
    return "—" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def _mean_std(s: CellStats) -> str:
    if math.isnan(s.mean):
        return "—"
    return _num(s.mean) if math.isnan(s.std) else f"{s.mean:.2f}±{s.std:.2f}"


def _lr(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    mantissa, exponent = f"{x:.2e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


# ------------------------------------------------------------------------------------------------ shared pieces

def _status_mark(status: str) -> str:
    return STATUS_MARKS.get(status, "")


_OWN_MARK = re.compile(r"\s*\((\S)\)$")  # a note ending with the paper's own mark, e.g. "... (†)"


def _note_marks(notes: list[str]) -> dict[str, str]:
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


def _note_legend(marks: dict[str, str]) -> list[str]:
    return [f"{mark} {_OWN_MARK.sub('', note)}." for note, mark in marks.items()]


def _status_legend(stats: dict, section: Section) -> list[Text]:
    """One line per flagged cell (how many runs failed and the first error), after a legend of the marks."""
    flagged = {k: s for k, s in stats.items() if s.status != "ok"}
    if not flagged:
        return []
    lines: list[Text] = ["♦: unstable training (incomplete data, as the paper's ♦); ✗: failed or cancelled run(s). "
                         "Flagged cells average the runs that finished; a cell with no finished run is missing."]
    if section.source == "paper":
        return lines
    for (method, dataset), s in flagged.items():
        errors = [e for e in section.cell_rows(method, dataset).error if e]
        detail = f"; first error: {errors[0].splitlines()[0][:160]}" if errors else ""
        d = section.method(method)
        lines.append(Rich(f"{d.md} on {dataset_title(dataset)}: {s.n_bad} of {s.n_runs} run(s) {s.status}"
                          f"{escape(detail, 'md')}",
                          f"{d.tex} on {dataset_title(dataset, 'tex')}: {s.n_bad} of {s.n_runs} run(s) {s.status}"
                          f"{latex_escape(detail)}"))
    return lines


def _backbone_line(section: Section) -> str:
    by_pair: dict[tuple[str, str], list[str]] = {}
    for d in section.datasets:
        by_pair.setdefault(section.backbones.get(d, ("", "")), []).append(dataset_title(d))
    parts = [f"{llm or '?'} + {enc or '?'}: {', '.join(ds)}" for (llm, enc), ds in by_pair.items()]
    return "Backbones (LLM + encoder) per column: " + "; ".join(parts) + "."


def _section_intro(section: Section) -> list[Text]:
    if section.source == "paper":
        lines = [f"Source: numbers published in {PAPER_LABEL} (source=paper)."]
    else:
        n = section.rows.groupby(["method", "dataset"]).seed.nunique()
        seeds = f"{n.min()}" if n.min() == n.max() else f"{n.min()}–{n.max()}"
        lines = [f"Source: runs (source=run), profile {section.profile}, recipe variant {section.variant} "
                 f"(docs/FIDELITY.md: official = as the official code ran it, paper = as the appendix writes it); "
                 f"seeds per cell: {seeds} (mean over seeds)."]
        if section.superseded:
            lines.append(f"{section.superseded} older run(s) superseded by a rerun of the same cell, seed and "
                         f"hyper-parameters (not used).")
    return lines + [_backbone_line(section)]


def _column_head(section: Section, dataset: str, metric: str, split: str) -> tuple[str, str]:
    return dataset_title(dataset), f"{metric_label(metric)} {SPLIT_LABELS.get(split, split)} ↑"


def _hparam_notes(section: Section) -> tuple[list[Text], list[Grid]]:
    """Say which lr / grad clip each cell used: one line when uniform, else a table of the val-selected settings."""
    ch = section.choices
    if ch.empty:
        return [], []
    splits = ", ".join(f"{dataset_title(d)}: {SPLIT_LABELS.get(section.report_split[d], section.report_split[d])}"
                       for d in section.datasets)
    notes: list[Text] = [f"Each cell reports the test split where the section has one, else val ({splits})."]
    settings = set(zip(ch.lr.map(_lr), ch.grad_clip.map(lambda x: "—" if pd.isna(x) else f"{x:g}")))
    if len(settings) == 1 and (ch.n_candidates == 1).all():
        lr, clip = settings.pop()
        return notes + [f"Hyper-parameters: lr {lr}, grad clip {clip} in every cell (no grid)."], []
    notes.append("With several learning rates per cell, each cell uses the setting with the best mean primary "
                 "metric on the val split over seeds (table below: selected lr / number of candidates).")
    rows = []
    for method in section.methods:
        cells = []
        for d in section.datasets:
            hit = ch[(ch.method == method) & (ch.dataset == d)]
            if hit.empty:
                cells.append(Cell("—"))
                continue
            c = hit.iloc[0]
            on = "" if c.selected_on in ("val", "only setting") else f" ({c.selected_on})"
            cells.append(Cell(f"{_lr(c.lr)} /{c.n_candidates}{on}"))
        rows.append((_method(section, method), cells, False))
    grid = Grid("Selected learning rate per cell (chosen on val)", "Method",
                [(dataset_title(d),) for d in section.datasets], rows)
    return notes, [grid]


# -------------------------------------------------------------------------------------------------------- Table 4

def _train_times(section: Section) -> tuple[pd.Series, list[str]]:
    """Mean training time per method over its runs (paper: the AudioCaps runs), and the datasets it covers."""
    rows = section.rows[section.rows.train_time_s.notna() & ~section.rows.status.isin(["failed", "cancelled"])]
    if rows.empty:
        return pd.Series(dtype=float), []
    keys = [rows.method, rows.run_id, rows.dataset, rows.seed.astype("string").fillna("")]
    per_run = rows.groupby(keys).train_time_s.first()
    return per_run.groupby(level=0).mean(), sorted(set(rows.dataset))


def _printed_comparison(section: Section, agg: pd.DataFrame, printed: pd.DataFrame) -> list[Text]:
    """Compare computed aggregates with the ones the paper prints (dataset 'average' rows)."""
    if printed.empty:
        return []
    table = printed.pivot_table(index="method", columns="metric", values="value", aggfunc="first")
    diffs = []
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
            d = section.method(method)
            diffs.append(Rich(f"{d.md}: " + "; ".join(parts), f"{d.tex}: " + latex_escape("; ".join(parts))))
    if not diffs:
        return ["Every computed average rank, score and position equals the one printed in the paper."]
    head = "Computed with these rules, some values differ from those printed in the paper (slips in the paper): "
    return [Rich(head + "; ".join(d.md for d in diffs) + ".",
                 latex_escape(head) + "; ".join(d.tex for d in diffs) + ".")]


def table4_block(section: Section, printed: pd.DataFrame) -> tuple[Block, pd.DataFrame]:
    methods, datasets = section.methods, section.datasets
    stats = {(m, d): section.cell(m, d, section.primary[d], section.report_split[d]) for m in methods
             for d in datasets}
    values = pd.DataFrame({d: [stats[m, d].mean for m in methods] for d in datasets}, index=methods, dtype=float)
    agg = ranking.aggregate(values)
    places = ranking.column_ranks(values)
    train, timed = _train_times(section)
    notes_all = [n for s in stats.values() for n in s.notes]
    note_marks = _note_marks(notes_all)
    columns = [_column_head(section, d, section.primary[d], section.report_split[d]) for d in datasets]
    show_train = not train.empty
    columns += ([("Train time ↓",)] if show_train else []) + [("Avg. rank ↓",), ("Avg. score ↑",)]
    rows = []
    for m in methods:
        cells = []
        for d in datasets:
            s = stats[m, d]
            place = places.loc[m, d]
            cells.append(Cell(_num(s.mean), None if math.isnan(place) else int(place),
                              _status_mark(s.status) + "".join(note_marks[n] for n in s.notes)))
        if show_train:
            cells.append(Cell(format_duration(train[m]) if m in train.index else "—"))
        worst = max((stats[m, d].status for d in datasets), key=STATUS_SEVERITY.__getitem__, default="ok")
        a = agg.loc[m]
        cells.append(Cell(f"{a['rank']:.1f} ({int(a.rank_pos)})", int(a.rank_pos)))
        cells.append(Cell(f"{a.score:.1f} ({int(a.score_pos)})", int(a.score_pos), _status_mark(worst)))
        rows.append((_method(section, m), cells, False))
    hl = Rich("Highlights per column: " + ", ".join(highlight(PLACE_NAMES[p], p, "md") for p in (1, 2, 3)) +
              " best (ties share a place).",
              "Highlights per column: " + ", ".join(highlight(PLACE_NAMES[p], p, "tex") for p in (1, 2, 3)) +
              " best (ties share a place).")
    notes: list[Text] = [ranking.RULES, hl]
    notes += _printed_comparison(section, agg, printed)
    specs = {d: benchmark_spec(d) for d in datasets}
    substitutes = [f"{dataset_title(d)}: {section.primary[d]} (the paper's {spec.primary_metric} is not in "
                   f"the results)" for d, spec in specs.items()
                   if spec is not None and section.primary[d] != spec.primary_metric]
    if substitutes:
        notes.append("Substitute column metrics: " + "; ".join(substitutes) + ".")
    if show_train:
        where = dataset_title(timed[0]) if len(timed) == 1 else "the columns shown"
        notes.append(f"Train time: mean training wall-clock time per run on {where}.")
    notes += _status_legend(stats, section) + _note_legend(note_marks)
    hp_notes, hp_grids = _hparam_notes(section)
    block = Block(section.key, section.title, _section_intro(section),
                  [Grid(section.title, "Method", columns, rows)] + hp_grids, notes + hp_notes)
    csv = values.copy()
    csv["train_time"] = train.reindex(methods) if show_train else math.nan
    csv = pd.concat([csv, agg], axis=1)
    csv.insert(0, "method", methods)
    csv["section"] = section.key
    return block, csv.reset_index(drop=True)


# --------------------------------------------------------------------------------------------- Tables S2 – S5

def _s_table_of(dataset: str) -> str:
    spec = benchmark_spec(dataset)
    return S_TABLE_OF_MODALITY[spec.modality] if spec is not None else "tableS2"


def _s_columns(section: Section, datasets: list[str]) -> list[tuple[str, str, str]]:
    """(dataset, metric, split) columns: the paper's extra metrics on the reported split, and the primary metric on
    both val and test where the paper shows both (VQAv2)."""
    present = set(zip(section.rows.dataset, section.rows.metric, section.rows.split))
    cols = []
    for d in datasets:
        split, primary = section.report_split[d], section.primary[d]
        spec = benchmark_spec(d)
        if spec is not None and spec.s_metrics:
            metrics, primary_splits = spec.s_metrics, spec.s_splits or (split,)
        else:
            metrics = tuple(sorted({m for dd, m, _ in present if dd == d and m and m != primary})) + (primary,)
            primary_splits = (split,)
        for m in metrics:
            splits = primary_splits if m == primary else (split,)
            cols += [(d, m, s) for s in splits if (d, m, s) in present]
    return cols


def s_block(section: Section, table: str) -> tuple[Block, pd.DataFrame] | None:
    datasets = [d for d in section.datasets if _s_table_of(d) == table or section.source == "paper"]
    cols = _s_columns(section, datasets)
    if not cols:
        return None
    stats = {(m, c): section.cell(m, *c) for m in section.methods for c in cols}
    note_marks = _note_marks([n for s in stats.values() for n in s.notes])
    rows, records = [], []
    for m in section.methods:
        cells, rec = [], {"method": m}
        for c in cols:
            s = stats[m, c]
            cells.append(Cell(_mean_std(s), None, _status_mark(s.status) + "".join(note_marks[n] for n in s.notes)))
            rec[":".join(c)], rec[":".join(c) + ":std"] = s.mean, s.std
        if all(math.isnan(stats[m, c].mean) and stats[m, c].status == "ok" for c in cols):
            continue  # the method was not run on these benchmarks
        rows.append((_method(section, m), cells, False))
        records.append(rec)
    columns = [(dataset_title(d), f"{metric_label(m)} {SPLIT_LABELS.get(s, s)}") for d, m, s in cols]
    flagged = {(m, c[0]): s for (m, c), s in stats.items()}
    notes: list[Text] = ["Mean ± sample standard deviation over seeds (a published row: as printed)."]
    notes += _status_legend(flagged, section) + _note_legend(note_marks)
    block = Block(section.key, section.title, _section_intro(section), [Grid(section.title, "Method", columns, rows)],
                  notes)
    csv = pd.DataFrame(records)
    csv["section"] = section.key
    return block, csv


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
        candidates = [d for d in section.datasets
                      if (spec := benchmark_spec(d)) is not None and spec.paper_column == col]
        if candidates:
            out[col] = col if col in candidates else candidates[0]
    return out


def table3_block(section: Section | None, published: pd.DataFrame) -> tuple[Block, pd.DataFrame]:
    """Published baseline numbers (quoted in the paper's Table 3) above a section's reimplementation of them."""
    mapping = _table3_datasets(section) if section else {}
    published_names = method_names(published)
    note_marks = _note_marks([n for n in published.note if n])
    entries, records = [], []  # entries: (label, [[(value, mark)] per column], is_reimplementation)
    for method in TABLE3_METHODS:
        pub = published[published.method == method]
        if pub.empty:
            continue
        cells = [[(float(r.value), note_marks.get(r.note, "")) for r in pub[pub.dataset == col].itertuples()]
                 for col in TABLE3_COLUMNS]
        citation, d = pub.citation.iloc[0], display_of(published_names, method)
        entries.append((Rich(f"{d.md} {citation} (published)", f"{d.tex} {latex_escape(citation)} (published)"),
                        cells, False))
        records += [{"method": method, "origin": f"published {citation}", "note": r.note, r.dataset: r.value}
                    for r in pub.itertuples()]
    for method in (m for m in TABLE3_METHODS if section is not None and m in section.methods):
        cells, rec = [], {"method": method, "origin": "reimplementation", "note": ""}
        for col in TABLE3_COLUMNS:
            d = mapping.get(col)
            s = section.cell(method, d, section.primary[d], section.report_split[d]) if d else None
            cells.append([] if s is None or math.isnan(s.mean) else [(s.mean, _status_mark(s.status))])
            rec[col] = s.mean if s else math.nan
        disp = section.method(method)
        entries.append((Rich(f"{disp.md} (reimpl.)", f"{disp.tex} (reimpl.)"), cells, True))
        records.append(rec)
    # the paper bolds the best of all rows; runs on other backbones / data are only compared among themselves
    all_compared = section is None or section.source == "paper"
    best = [max((v for _, cells, ours in entries if ours or all_compared for v, _ in cells[j]), default=math.nan)
            for j in range(len(TABLE3_COLUMNS))]
    rows = []
    for i, (label, cells, ours) in enumerate(entries):
        bold = ours or all_compared
        out = [Cell(" / ".join(f"{v:.1f}{m}" for v, m in vals) if vals else "—",
                    1 if bold and len(vals) == 1 and vals[0][0] == best[j] else None)
               for j, vals in enumerate(cells)]
        rows.append((label, out, ours and not entries[i - 1][2]))
    columns = []
    for col in TABLE3_COLUMNS:
        spec = benchmark_spec(col)
        head = (dataset_title(col), f"{metric_label(spec.primary_metric)} {SPLIT_LABELS[spec.eval_split]} ↑")
        shown = mapping.get(col, col)
        if section is not None and section.source != "paper" and shown in section.report_split:
            head += (f"runs: {dataset_title(shown)}, {SPLIT_LABELS.get(section.report_split[shown], '')}",)
        columns.append(head)
    title = f"Published vs reimplemented: {section.title}" if section else "Published baseline numbers"
    if section is None or section.source == "paper":
        notes: list[Text] = ["Best value per column in bold."]
    else:
        notes = ["Best reimplementation value per column in bold. Reimplementation numbers come from the runs of this "
                 "section, with their own backbones and data (offline mirrors where the header says so): they are "
                 "not directly comparable with the published numbers."]
    notes += _note_legend(note_marks)
    if section is None:
        notes.append("No reimplementation results in the given directories.")
    intro = [f"Published numbers as quoted by {PAPER_LABEL}, Table 3."] + (_section_intro(section) if section else [])
    block = Block(section.key if section else "published", title, intro, [Grid(title, "Method", columns, rows)], notes)
    csv = pd.DataFrame(records, columns=["method", "origin", "note", *TABLE3_COLUMNS])
    csv = csv.groupby(["method", "origin", "note"], sort=False).first().reset_index()
    csv["section"] = block.key
    return block, csv


# ------------------------------------------------------------------------------------------------- documents

def _paper_section(paper: pd.DataFrame, table_ref: str, title: str) -> Section | None:
    rows = paper[(paper.table_ref == table_ref) & (paper.citation == "")]
    if rows.empty:
        return None
    return make_section(rows, f"paper-{table_ref.lower()}", title, choose=False)


def _document(name: str, title: str, parts: list[tuple[Block, pd.DataFrame]], empty_note: str) -> Document:
    if not parts:
        return Document(name, title, [Block("empty", "No results", [empty_note])], pd.DataFrame({"method": []}))
    csv = pd.concat([c for _, c in parts], ignore_index=True)
    head = [c for c in _CSV_HEAD if c in csv.columns]
    tail = [c for c in _CSV_TAIL if c in csv.columns]
    # dataset columns ("coco" or "coco:CIDEr:test") in paper order; a stable sort keeps each dataset's metric order
    middle = sorted((c for c in csv.columns if c not in head + tail), key=lambda c: dataset_sort_key(c.split(":")[0]))
    return Document(name, title, [b for b, _ in parts], csv[head + middle + tail])


def build_documents(df: pd.DataFrame) -> list[Document]:
    """All report documents for a results frame (read_results output)."""
    paper, runs = df[df.source == "paper"], df[df.source == "run"]
    sections = run_sections(runs) if len(runs) else []
    docs = []

    t4_paper = _paper_section(paper, "table4", "DePALM paper, Table 4 (published numbers, 5 seeds)")
    printed = paper[(paper.table_ref == "table4") & (paper.dataset == AGGREGATE_DATASET)]
    parts = [table4_block(t4_paper, printed)] if t4_paper else []
    parts += [table4_block(s, printed.iloc[0:0]) for s in sections]
    doc = _document("table4", "Table 4: methods × benchmarks, average rank and normalized score", parts,
                    "No results for Table 4 in the given directories.")
    hparams = [s.choices.assign(section=s.key, report_split=s.choices.dataset.map(s.report_split))
               for s in sections if not s.choices.empty]
    if hparams:
        doc.extra_csv["table4_hparams"] = pd.concat(hparams, ignore_index=True)
    docs.append(doc)

    for table, title in S_TABLES.items():
        paper_sec = _paper_section(paper, table, f"DePALM paper, {title.split(':')[0]} (published numbers)")
        parts = [p for p in ([s_block(paper_sec, table)] if paper_sec else []) if p]
        if table != "tableS5":
            parts += [p for p in (s_block(s, table) for s in sections) if p]
        if parts or table != "tableS5":
            docs.append(_document(table, title, parts, "No results for this table in the given directories."))

    published = _published_table3()
    t3_paper = _paper_section(paper, "table3", "DePALM paper, Table 3 (published numbers)")
    t3_sections = ([t3_paper] if t3_paper else []) + [
        s for s in sections if set(TABLE3_METHODS) & set(s.methods) and _table3_datasets(s)]
    parts = [table3_block(s, published) for s in t3_sections] or [table3_block(None, published)]
    docs.append(_document("table3", "Table 3: our reimplementation of the baselines vs originally published numbers",
                          parts, ""))
    return docs + paper_only_documents(paper)


def render_reports(results_dirs: list[Path], out_dir: Path) -> list[Path]:
    """Render every table from the results under `results_dirs` into `out_dir`; returns the files written."""
    try:
        df = read_results(list(results_dirs))
    except FileNotFoundError as e:
        raise UsageError(str(e)) from e
    if df.empty:
        raise NoResultsError(f"no results found under {', '.join(map(str, results_dirs))}: run the matrix first "
                             f"(python run_matrix.py ...) or pass --results results/paper for the paper's numbers")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [p for doc in build_documents(df) for p in write_document(doc, out_dir)]
