"""Uncertainty of Table 4's aggregates (Sec. 4.2): bootstrap intervals of average rank and normalized score, and
which methods are statistically tied with the best (no torch).

Each replicate resamples, with replacement, the seeds of every (method, benchmark) cell and the evaluation items of
every benchmark. The resampled item ids are drawn once per benchmark and replicate and shared by all methods, so
methods are compared on the same items (a paired design); a seed's value in a replicate is the mean of its per-item
scores over the resampled ids (harness/store/items.py; the corpus value is their mean). A cell whose runs have no
per-item scores resamples its seeds only. The replicate's cells are then ranked and normalized with Table 4's rules
(harness/report/ranking.py), so the interval of a method's average rank or score is the 2.5th-97.5th percentile
over replicates (percentile bootstrap, `N_BOOT` replicates, `RNG_SEED`: the same results give the same report).

Tie test: the best method is the one with the best average score on the point estimates; another method is tied with
it when the 95% percentile interval of the best's paired advantage (its replicate average score minus the other's,
both from the same replicate) contains 0. With fewer than `MIN_SEEDS` seeds in a cell, nothing is computed: seed-to-
seed variation cannot be estimated from so few runs, so such a table cannot rank.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.report.ranking import average_rank_score

N_BOOT = 1000
RNG_SEED = 0
LEVEL = 0.95
MIN_SEEDS = 3
COLUMNS = ["rank_lo", "rank_hi", "score_lo", "score_hi", "tied"]
_CHUNK_ENTRIES = 1 << 22  # resampling weights drawn at a time (32 MiB of float64)


@dataclass(frozen=True)
class Run:
    """One seed of a cell: its corpus `value` and, when stored, its per-item scores (item id -> score)."""

    value: float
    items: Mapping[str, float] | None = None


Cells = Mapping[tuple[str, str], Sequence[Run]]  # (method, benchmark) -> its finished runs


@dataclass(frozen=True)
class Uncertainty:
    """`frame`: per ranked method rank_lo, rank_hi, score_lo, score_hi (NaN when not computed) and `tied` (tied
    with the best; False for the best itself, NA when not computed). `best`: the best method ("" when none);
    `min_seeds`: the fewest seeds of a cell; `cells`, `cells_with_items`: how many non-empty cells there are and
    how many resample items; `computed`: whether intervals were computed (enough seeds)."""

    frame: pd.DataFrame
    best: str
    min_seeds: int
    cells: int
    cells_with_items: int
    n_boot: int

    @property
    def computed(self) -> bool:
        return self.min_seeds >= MIN_SEEDS

    @property
    def n_tied(self) -> int:
        return int(self.frame.tied.fillna(False).astype(bool).sum())

    @property
    def separable(self) -> bool:
        """False when more than half the ranked methods are tied with the best: the budget cannot order them."""
        return not self.computed or self.n_tied <= len(self.frame) / 2


def _point_values(cells: Cells, methods: Sequence[str], datasets: Sequence[str]) -> np.ndarray:
    out = np.full((len(methods), len(datasets)), np.nan)
    for i, m in enumerate(methods):
        for j, d in enumerate(datasets):
            runs = cells.get((m, d), ())
            if runs:
                out[i, j] = float(np.mean([r.value for r in runs]))
    return out


def _item_means(runs: Sequence[Run], ids: Sequence[str], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, runs): each run's mean per-item score over each replicate's resampled `ids` (drawn once for all the
    runs), its corpus value where it has no per-item scores or none of its items was drawn."""
    index = pd.Index(ids)
    scores = np.zeros((len(runs), len(ids)))
    present = np.zeros((len(runs), len(ids)))
    for k, run in enumerate(runs):
        if run.items:
            aligned = pd.Series(run.items, dtype=float).reindex(index).to_numpy()
            present[k] = ~np.isnan(aligned)
            scores[k] = np.nan_to_num(aligned)
    values = np.array([r.value for r in runs])
    out = np.empty((n_boot, len(runs)))
    chunk = max(1, _CHUNK_ENTRIES // len(ids))  # replicates per draw, so that the weights stay small
    for start in range(0, n_boot, chunk):
        size = min(chunk, n_boot - start)
        weights = rng.multinomial(len(ids), np.full(len(ids), 1.0 / len(ids)), size=size).astype(float)
        total, count = weights @ scores.T, weights @ present.T  # one product for every run of the benchmark
        with np.errstate(invalid="ignore", divide="ignore"):
            out[start : start + size] = np.where(count > 0, total / count, values)
    return out


def _replicates(
    cells: Cells, methods: Sequence[str], datasets: Sequence[str], n_boot: int, rng: np.random.Generator
) -> np.ndarray:
    """(n_boot, methods, datasets) replicate cell values (see the module docstring)."""
    out = np.full((n_boot, len(methods), len(datasets)), np.nan)
    for j, d in enumerate(datasets):
        runs_of = {m: list(cells.get((m, d), ())) for m in methods}
        runs = [r for m in methods for r in runs_of[m]]
        ids = sorted({i for r in runs if r.items for i in r.items})
        if ids:
            per_run = _item_means(runs, ids, n_boot, rng)
        else:
            per_run = np.tile([r.value for r in runs], (n_boot, 1))
        start = 0
        for i, m in enumerate(methods):
            k = len(runs_of[m])
            if k:
                seeds = rng.multinomial(k, np.full(k, 1.0 / k), size=n_boot)
                out[:, i, j] = (seeds * per_run[:, start : start + k]).sum(axis=1) / k
            start += k
    return out


def bootstrap(
    cells: Cells,
    methods: Sequence[str],
    datasets: Sequence[str],
    n_boot: int = N_BOOT,
    seed: int = RNG_SEED,
) -> Uncertainty:
    """Intervals and ties of the ranked `methods` over `datasets` (see the module docstring)."""
    counts = [len(cells.get((m, d), ())) for m in methods for d in datasets]
    filled = [n for n in counts if n]
    with_items = sum(
        1 for m in methods for d in datasets if (runs := cells.get((m, d), ())) and all(r.items for r in runs)
    )
    frame = pd.DataFrame(
        {c: np.nan for c in COLUMNS[:-1]} | {"tied": pd.Series(pd.NA, index=list(methods), dtype="boolean")},
        index=list(methods),
    )
    min_seeds = min(filled, default=0)
    empty = Uncertainty(frame, "", min_seeds, len(filled), with_items, n_boot)
    if not methods or not datasets or min_seeds < MIN_SEEDS:
        return empty
    _, point_score = average_rank_score(_point_values(cells, methods, datasets))
    best = int(np.argmax(point_score))  # first of equal bests, in table order
    rank, score = average_rank_score(_replicates(cells, methods, datasets, n_boot, np.random.default_rng(seed)))
    tail = 100.0 * (1.0 - LEVEL) / 2.0
    frame["rank_lo"], frame["rank_hi"] = np.percentile(rank, [tail, 100.0 - tail], axis=0)
    frame["score_lo"], frame["score_hi"] = np.percentile(score, [tail, 100.0 - tail], axis=0)
    advantage_lo = np.percentile(score[:, [best]] - score, tail, axis=0)
    tied = advantage_lo <= 0.0
    tied[best] = False
    frame["tied"] = pd.array(tied, dtype="boolean")
    return Uncertainty(frame, str(methods[best]), min_seeds, len(filled), with_items, n_boot)


def section_cells(
    rows: pd.DataFrame, columns: Sequence[tuple[str, str, str]], items: pd.DataFrame | None
) -> dict[tuple[str, str], list[Run]]:
    """(method, dataset) -> its finished runs for Table 4's columns (dataset, metric, split), one per run id in seed
    order, each with its per-item scores of that metric and split when `items` (read_item_scores) holds them."""
    wanted = pd.DataFrame(columns, columns=["dataset", "metric", "split"])
    ok = rows[(rows.status == "ok") & rows.value.notna()].merge(wanted, on=["dataset", "metric", "split"])
    by_run: dict[tuple[str, str, str], dict[str, float]] = {}
    if items is not None and len(items):
        picked = items[items.run_id.isin(set(ok.run_id))]
        # plain lists indexed by each group's positions: iterating arrow-backed columns group by group costs
        # seconds at a few hundred thousand items
        ids, scores = picked.item_id.astype(str).tolist(), picked.score.astype(float).tolist()
        for (run_id, split, metric), where in picked.groupby(["run_id", "split", "metric"], sort=False).indices.items():
            by_run[(str(run_id), str(split), str(metric))] = {ids[i]: scores[i] for i in where}
    out: dict[tuple[str, str], list[Run]] = {}
    for r in ok.sort_values(["method", "dataset", "seed", "run_id"], kind="stable").itertuples():
        run = Run(float(r.value), by_run.get((str(r.run_id), str(r.split), str(r.metric))))
        out.setdefault((str(r.method), str(r.dataset)), []).append(run)
    return out
