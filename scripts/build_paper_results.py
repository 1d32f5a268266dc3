"""Regenerate results/paper/*.parquet from the transcription in harness/report/paper_numbers.py (one file per table).

Usage: python scripts/build_paper_results.py [--out results/paper]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.report.paper_numbers import paper_rows_by_table
from harness.store.results import write_result

REPO_ROOT = Path(__file__).resolve().parent.parent


def paper_rows() -> dict[str, list[dict]]:
    """The transcription's rows with each reimplemented method's display name from its preset (the cited works carry
    theirs from the transcription), so the report prints names from the rows alone."""
    from methods import get_preset

    tables = paper_rows_by_table()
    for rows in tables.values():
        for row in rows:
            if row["method"] and not row["method_display"]:
                row["method_display"] = get_preset(row["method"]).display_name
    return tables


def build(out_dir: Path) -> list[Path]:
    """Write one parquet per paper table, remove stale `paper-*.parquet` files; returns the paths written."""
    written = [write_result(rows, out_dir, f"paper-{table}") for table, rows in paper_rows().items()]
    for stale in set(out_dir.glob("paper-*.parquet")) - set(written):
        stale.unlink()
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=REPO_ROOT / "results" / "paper", help="output directory")
    for path in build(p.parse_args(argv).out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
