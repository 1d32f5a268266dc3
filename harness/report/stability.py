"""Ranking stability: the rankings of Table 4 from two disjoint seed sets and the Kendall tau between them (no torch).

A ranking that measures something is reproducible: trained again with other seeds, the methods come in the same order.
`python -m harness.report.stability --results DIR --seeds-a 0,1,2 --seeds-b 3,4,5` selects the runs sections as
Table 4 does (harness/report/select.py), ranks the connectors (controls excluded) on each seed set's means with
Table 4's rule (average rank over the benchmark columns, ties by the average score) and prints both orders and
Kendall's tau-b between the two average ranks.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from harness.report import aggregate, ranking
from harness.report.select import Section, run_sections
from harness.store.results import read_results


def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b of two paired sequences (ties in either reduce the denominator); NaN when undefined."""
    concordant = discordant = ties_x = ties_y = 0
    for (a1, b1), (a2, b2) in itertools.combinations(zip(x, y), 2):
        dx, dy = a1 - a2, b1 - b2
        if dx == 0 and dy == 0:
            continue
        if dx == 0:
            ties_x += 1
        elif dy == 0:
            ties_y += 1
        elif (dx > 0) == (dy > 0):
            concordant += 1
        else:
            discordant += 1
    denom = math.sqrt((concordant + discordant + ties_x) * (concordant + discordant + ties_y))
    return (concordant - discordant) / denom if denom else math.nan


def seed_set_ranks(section: Section, seeds: Sequence[int]) -> pd.Series:
    """Average rank of each ranked method from the runs of `seeds` only (Table 4's rule)."""
    rows = section.rows[section.rows.seed.isin(list(seeds))]
    sub = dataclasses.replace(section, rows=rows)
    c = aggregate.cells(sub, aggregate.primary_columns(sub), sub.datasets)
    return ranking.aggregate(c.mean.reindex(section.ranked))["rank"]


@dataclasses.dataclass
class Stability:
    section: str
    ranks_a: pd.Series
    ranks_b: pd.Series
    tau: float


def stability(results: Sequence[Path], seeds_a: Sequence[int], seeds_b: Sequence[int]) -> list[Stability]:
    if set(seeds_a) & set(seeds_b):
        raise ValueError(f"the seed sets must be disjoint, both hold {sorted(set(seeds_a) & set(seeds_b))}")
    df = read_results(list(results))
    runs = df[df.source == "run"]
    out = []
    for section in run_sections(runs) if len(runs) else []:
        a, b = seed_set_ranks(section, seeds_a), seed_set_ranks(section, seeds_b)
        out.append(Stability(section.title, a, b, kendall_tau_b(a.to_list(), b.to_list())))
    return out


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected seeds separated by commas, e.g. 0,1,2") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.report.stability", description=__doc__.split("\n")[0])
    parser.add_argument("--results", type=Path, action="append", required=True, help="results directory (repeat)")
    parser.add_argument("--seeds-a", type=_seeds, required=True, help="first seed set, e.g. 0,1,2")
    parser.add_argument("--seeds-b", type=_seeds, required=True, help="second, disjoint seed set, e.g. 3,4,5")
    args = parser.parse_args(argv)
    missing = [str(d) for d in args.results if not d.is_dir()]
    if missing:
        print(f"error: --results {', '.join(missing)}: no such directory", file=sys.stderr)
        return 2
    try:
        found = stability(args.results, args.seeds_a, args.seeds_b)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not found:
        print(f"error: no run results under {', '.join(map(str, args.results))}: run the matrix first", file=sys.stderr)
        return 2
    for s in found:
        print(f"## {s.section}")
        table = pd.DataFrame({f"avg rank, seeds {args.seeds_a}": s.ranks_a, f"seeds {args.seeds_b}": s.ranks_b})
        print(table.sort_values(table.columns[0]).to_string(float_format=lambda v: f"{v:.2f}"))
        print(f"Kendall tau-b between the two rankings: {s.tau:.3f} ({len(s.ranks_a)} methods)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
