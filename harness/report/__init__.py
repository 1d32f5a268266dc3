"""Reports from stored results, torch-free: `select` (sections, hyper-parameter choice, mean ± std) -> `ranking`
(average rank and normalized score) -> `tables` (Table 4, S2–S5, 3) and `paper_tables` (published-only tables) ->
`render` (Markdown, LaTeX, CSV). `labels` says how ids print; `paper_numbers` transcribes the paper's numbers."""
from harness.report.tables import render_reports

__all__ = ["render_reports"]
