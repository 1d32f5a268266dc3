"""The method x dataset x seed (x lr) matrix: resolve and validate the command line into `RunConfig` cells, skip
cells whose result is cached under the same config hash, run the rest on an executor with a live display, then
render the reports. Everything is validated before any directory is created.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import REPO_ROOT
from harness.config import PAPER_LR_GRID, REPORTED_SPLIT, RunConfig
from harness.config.profiles import PROFILES, Profile, default_profile_name, get_profile
from harness.config.recipes import resolve_recipe
from harness.errors import UsageError
from harness.runner.executors.base import check_executor_name, get_executor


@dataclass
class Plan:
    cells: list[RunConfig]  # every cell of the matrix
    todo: list[RunConfig]  # those to run now
    cached: list[RunConfig]  # skipped: a result with the same config hash exists
    stored: dict[str, str]  # config_hash -> stored status
    skipped_datasets: list[tuple[str, str]]  # (id, why) for --datasets all
    profile: Profile
    results_dir: Path
    runs_dir: Path
    out_dir: Path


# ---- resolution of the command line -------------------------------------------------------------------------

def _split_ids(value: str) -> list[str]:
    ids = [v.strip() for v in value.split(",") if v.strip()]
    if not ids:
        raise UsageError("an empty id list; pass ids separated by commas")
    return list(dict.fromkeys(ids))


def resolve_methods(value: str) -> list[str]:
    """Ids of registered presets; `<id>+bias-ft` variants (Table S6) resolve through get_preset too."""
    from methods import UnknownMethodError, get_preset, list_presets

    valid = list(list_presets())
    if value.strip() == "all":
        return valid
    ids = _split_ids(value)
    unknown = []
    for m in ids:
        try:
            get_preset(m)
        except UnknownMethodError:
            unknown.append(m)
    if unknown:
        raise UsageError(f"--methods: unknown method id(s) {', '.join(unknown)}; valid: {', '.join(valid)} or 'all' "
                         f"(any id + '+bias-ft' for bias tuning; a plugin's methods need --plugin MODULE)")
    return ids


def resolve_datasets(value: str, data_root: str | None) -> tuple[list[str], list[tuple[str, str]]]:
    """Dataset ids to run and (id, why) of those `all` skips for missing data."""
    from benchmarks import get_benchmark, list_benchmarks

    valid = list(list_benchmarks())
    groups = {b: get_benchmark(b).spec.group for b in valid}
    keyword = value.strip()
    if keyword == "all":
        ids, reasons = [], []
        for b in valid:
            why = get_benchmark(b).availability(data_root)
            (reasons.append((b, why)) if why else ids.append(b))
        if not ids:
            raise UsageError("--datasets all: no benchmark has its data here:\n" + _reasons(reasons))
        return ids, reasons
    if keyword == "paper":
        ids = [b for b in valid if groups[b] == "paper"]
    elif keyword == "offline":
        ids = [b for b in valid if groups[b] in ("offline", "external")]
    else:
        ids = _split_ids(value)
        unknown = [d for d in ids if d not in valid]
        if unknown:
            raise UsageError(f"--datasets: unknown dataset id(s) {', '.join(unknown)}; valid: {', '.join(valid)} "
                             f"or one of all | paper | offline")
    missing = [(b, why) for b in ids if (why := get_benchmark(b).availability(data_root))]
    if missing:
        raise UsageError(f"--datasets {value}: data not found for {', '.join(b for b, _ in missing)}:\n"
                         + _reasons(missing) + "\n(use --data-root DIR, or --datasets all to run what is available)")
    return ids, []


def _reasons(pairs: list[tuple[str, str]]) -> str:
    return "\n".join(f"  {b}: {why}" for b, why in pairs)


def resolve_seeds(value: str) -> list[int]:
    text = str(value).strip()
    try:
        if "," in text:
            seeds = [int(v) for v in text.split(",") if v.strip()]
            if not seeds or any(s < 0 for s in seeds):
                raise ValueError
            return list(dict.fromkeys(seeds))
        n = int(text)
    except ValueError:
        raise UsageError(f"--seeds {value!r}: pass a count N >= 1 (seeds 0..N-1) or a comma list of seeds >= 0, "
                         f"e.g. --seeds 5 or --seeds 0,3") from None
    if n < 1:
        raise UsageError(f"--seeds {value}: the seed count must be >= 1 (--seeds 1 runs seed 0; a single other "
                         f"seed: --seeds 3,)")
    return list(range(n))


def _positive(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{name} {value}: must be a positive number")
    return value


def resolve_variants(value: str | None) -> list[str]:
    """Recipe variants (methods.variants); the official code's by default."""
    from methods.variants import DEFAULT_VARIANT, VARIANTS

    if value is None:
        return [DEFAULT_VARIANT]
    variants = _split_ids(value)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise UsageError(f"--variant: unknown variant(s) {', '.join(unknown)}; valid: {', '.join(VARIANTS)} "
                         f"(comma separated for both)")
    return variants


def resolve_lrs(args: argparse.Namespace, profile: Profile) -> list[float]:
    if args.lr_grid:
        if args.lr is not None:
            raise UsageError(f"--lr {args.lr} with --lr-grid: the grid sweeps {PAPER_LR_GRID}; pass one of them")
        return list(PAPER_LR_GRID)
    return [_positive("--lr", args.lr if args.lr is not None else profile.lr)]


def resolve_profile(name: str | None) -> Profile:
    name = name or default_profile_name()
    if name not in PROFILES:
        raise UsageError(f"--profile {name!r}: unknown profile; valid: {', '.join(PROFILES)}")
    return get_profile(name)


def check_backbone(kind: str, value: str | None) -> None:
    from harness.backbones import list_encoders, list_llms

    if value is None:
        return
    valid = list_llms() if kind == "llm" else list_encoders()
    if value not in valid and not (kind == "llm" and Path(value).is_dir()):
        extra = " or a local Hugging Face model directory" if kind == "llm" else ""
        raise UsageError(f"--{kind} {value!r}: unknown {kind} id; valid: {', '.join(valid)}{extra}")


def resolve_eval_splits(splits: tuple[str, ...], spec: Any, lr_grid: bool) -> tuple[str, ...]:
    """Concrete split roles: the reported one in place of REPORTED_SPLIT, val first under --lr-grid (the lr is
    chosen on val), only roles the benchmark has."""
    roles = (["val"] if lr_grid else []) + [spec.eval_split if r == REPORTED_SPLIT else r for r in splits]
    return tuple(r for r in dict.fromkeys(roles) if getattr(spec.splits, r, None) is not None)


def build_cells(methods: list[str], datasets: list[str], seeds: list[int], lrs: list[float], grad_clip: float,
                profile: Profile, args: argparse.Namespace, variants: list[str]) -> list[RunConfig]:
    from benchmarks import get_benchmark
    from methods import get_preset

    eval_settings = profile.eval
    if args.num_beams is not None:
        eval_settings = dataclasses.replace(eval_settings, num_beams=int(_positive("--num-beams", args.num_beams)))
    if args.max_new_tokens is not None:
        eval_settings = dataclasses.replace(eval_settings,
                                            max_new_tokens=int(_positive("--max-new-tokens", args.max_new_tokens)))
    presets = {(m, v): get_preset(m, v) for v in variants for m in methods}
    feature_levels = max(p.extraction.n_levels for p in presets.values())
    cells = []
    for dataset in datasets:
        spec = get_benchmark(dataset).spec
        train = dataclasses.replace(
            profile.train, epochs=profile.train.epochs or spec.epochs,
            image_size=profile.train.image_size if spec.modality in ("image", "video") else None)
        ev = dataclasses.replace(eval_settings, splits=resolve_eval_splits(eval_settings.splits, spec, args.lr_grid))
        encoder = args.encoder or spec.default_encoder
        for (method, variant), preset in presets.items():
            for seed in seeds:
                for lr in lrs:
                    recipe = resolve_recipe(preset, dataset, encoder, profile, train,
                                            lr=lr if args.lr is not None or args.lr_grid else None,
                                            grad_clip=grad_clip if args.grad_clip is not None else None)
                    cells.append(RunConfig(
                        method=method, dataset=dataset, seed=seed, lr=recipe.lr, grad_clip=recipe.grad_clip,
                        llm=args.llm or spec.default_llm, encoder=encoder, profile=profile.name, variant=variant,
                        method_config=dataclasses.asdict(recipe.method_config), train=recipe.train, eval=ev,
                        data_root=args.data_root, plugins=tuple(args.plugin or ()), feature_levels=feature_levels,
                        recipe_source=recipe.source))
    return cells


def cached_status(results_dir: Path) -> dict[str, str]:
    """config_hash -> stored status of the runs already in `results_dir` (an `ok` row wins)."""
    if not results_dir.exists():
        return {}
    from harness.store.results import read_results

    df = read_results([results_dir])
    df = df[(df["source"] == "run") & (df["config_hash"] != "")]
    status: dict[str, str] = {}
    for h, s in zip(df["config_hash"], df["status"]):
        if status.get(h) != "ok":
            status[h] = s
    return status


def plan(args: argparse.Namespace) -> Plan:
    """Validate every argument and resolve the cells; creates nothing on disk."""
    check_executor_name(args.executor)
    if args.max_parallel is not None and args.max_parallel < 1:
        raise UsageError(f"--max-parallel {args.max_parallel}: must be >= 1")
    profile = resolve_profile(args.profile)
    lrs = resolve_lrs(args, profile)
    grad_clip = _positive("--grad-clip", args.grad_clip if args.grad_clip is not None else profile.grad_clip)
    seeds = resolve_seeds(args.seeds)
    methods = resolve_methods(args.methods)
    variants = resolve_variants(args.variant)
    datasets, skipped = resolve_datasets(args.datasets, args.data_root)
    check_backbone("llm", args.llm)
    check_backbone("encoder", args.encoder)
    results_dir = Path(args.results[0]) if args.results else REPO_ROOT / "results"
    if args.results and len(args.results) > 1:
        raise UsageError("--results: a matrix writes to one results directory; repeat it only with --report-only")
    if results_dir.exists() and not results_dir.is_dir():
        raise UsageError(f"--results {results_dir}: exists and is not a directory")
    runs_dir = Path(args.runs_dir) if args.runs_dir else results_dir / "runs"
    out_dir = Path(args.out) if args.out else REPO_ROOT / "reports"
    cells = build_cells(methods, datasets, seeds, lrs, grad_clip, profile, args, variants)
    stored = cached_status(results_dir)
    rerun = {"cancelled"} | ({"failed", "unstable"} if args.retry_failed else set())
    todo = [c for c in cells if c.config_hash() not in stored or stored[c.config_hash()] in rerun]
    cached = [c for c in cells if c not in todo]
    return Plan(cells, todo, cached, stored, skipped, profile, results_dir, runs_dir, out_dir)


# ---- estimates ----------------------------------------------------------------------------------------------

def estimate_cell_s(cfg: RunConfig, profile: Profile, step_s: dict[tuple[str, str, str, str], float]) -> float:
    """Seconds one cell takes: its steps x the stored (else the profile's) step time, plus generation."""
    from benchmarks import get_benchmark

    spec = get_benchmark(cfg.dataset).spec
    n_train = cfg.train.train_size or spec.default_sizes.get("train") or cfg.train.batch_size
    per_epoch = max(1, n_train // min(cfg.train.batch_size, n_train))
    steps = min(s for s in (per_epoch * (cfg.train.epochs or 1), cfg.train.max_steps) if s)
    n_eval = sum(cfg.eval.size or spec.default_sizes.get(r) or 1000 for r in cfg.eval.splits)
    per_step = step_s.get((cfg.method, cfg.profile, cfg.llm, cfg.encoder), profile.est_step_s)
    return steps * per_step + n_eval * profile.est_eval_item_s * cfg.eval.num_beams


def stored_step_times(results_dir: Path) -> dict[tuple[str, str, str, str], float]:
    """Median measured seconds per optimiser step by (method, profile, llm, encoder), from earlier results."""
    if not results_dir.exists():
        return {}
    from harness.store.results import read_results

    df = read_results([results_dir])
    if "mean_step_s" not in df.columns:
        return {}
    df = df[df["source"] == "run"].dropna(subset=["mean_step_s"])
    med = df.groupby(["method", "profile", "llm", "encoder"])["mean_step_s"].median()
    return {k: float(v) for k, v in med.items()}


def _fmt_s(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}h{m % 60:02d}m" if m >= 60 else f"{m}m{s:02d}s"


def print_plan(p: Plan, estimates: dict[str, float], parallel: int, stream: Any = None) -> None:
    stream = stream or sys.stdout
    print(f"profile {p.profile.name}: {p.profile.summary}", file=stream)
    for d, why in p.skipped_datasets:
        print(f"skipped dataset {d}: {why}", file=stream)
    print(f"{len(p.cells)} cells: {len(p.todo)} to run, {len(p.cached)} cached in {p.results_dir}", file=stream)
    for c in p.todo:
        print(f"  {c.run_id}  ~{_fmt_s(estimates[c.run_id])}", file=stream)
    total = sum(estimates.values())
    print(f"ETA {_fmt_s(total / max(1, parallel))} ({_fmt_s(total)} of compute, {parallel} at a time)", file=stream)


# ---- main -----------------------------------------------------------------------------------------------------

def main(args: argparse.Namespace) -> int:
    p = plan(args)
    executor = get_executor(args.executor, args)
    parallel = getattr(executor, "max_parallel", 1)
    step_s = stored_step_times(p.results_dir)
    estimates = {c.run_id: estimate_cell_s(c, p.profile, step_s) for c in p.todo}
    print_plan(p, estimates, parallel)
    if args.dry_run:
        return 0
    outcomes = []
    if p.todo:
        from harness.runner.progress import MatrixProgress

        progress = MatrixProgress(p.todo, p.runs_dir, parallel, estimates)
        try:
            for outcome in executor.run(p.todo, p.runs_dir, p.results_dir, progress):
                outcomes.append(outcome)
        finally:
            progress.close()
        print(f"ran {len(outcomes)} cells in {_fmt_s(progress.elapsed_s())}")
    bad = [o for o in outcomes if o.status != "ok"]
    for o in bad:
        first = (o.error or "").strip().splitlines()
        print(f"{o.status}: {o.run_id} ({p.runs_dir / o.run_id}): {first[-1] if first else ''}", file=sys.stderr)
    cached_bad = [(c, p.stored[c.config_hash()]) for c in p.cached if p.stored[c.config_hash()] != "ok"]
    for c, status in cached_bad:
        print(f"{status} (cached): {c.run_id} ({p.runs_dir / c.run_id}); --retry-failed runs it again",
              file=sys.stderr)
    render(p)
    failed = any(o.status in ("failed", "cancelled") for o in outcomes) or any(s == "failed" for _, s in cached_bad)
    return 1 if failed else 0


def render(p: Plan) -> None:
    """Reports from the results directory; says so instead when it holds no result yet (e.g. detached jobs)."""
    from harness.store.results import result_files

    if not p.results_dir.is_dir() or not result_files([p.results_dir]):
        print(f"no results in {p.results_dir} yet: reports not rendered")
        return
    from harness.report import render_reports

    for path in render_reports([p.results_dir], p.out_dir):
        print(path)
