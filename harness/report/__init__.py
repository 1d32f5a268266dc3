"""Reports from stored results, torch-free: `select` (sections, hyper-parameter choice on val) -> `aggregate`
(DataFrames: each cell's mean ± std, status, marks and footnotes; Table 4's ranks and scores by `ranking`) ->
`tables` (Table 4, S2–S5, 3) and `paper_tables` (published-only tables), reports as frames (`document`) ->
`render` (Markdown, LaTeX, CSV; the page templates in reports/templates). `labels` says how ids print;
`paper_numbers` transcribes the paper's numbers."""

from harness.report.tables import render_reports

__all__ = ["render_reports"]
