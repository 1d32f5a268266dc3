"""The method x dataset x seed (x lr) matrix: resolve and validate the study (harness.config.study) into `RunConfig`
cells, skip cells whose result is cached under the same config hash, run the rest on an executor with a live
display, then render the reports. Everything is validated before any directory is created.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import REPO_ROOT
from harness.backbones.precision import resolve_backbone_dtype
from harness.config import PAPER_LR_GRID, REPORTED_SPLIT, EvalSettings, RunConfig, TrainSettings
from harness.config.profiles import PROFILES, Profile, default_profile_name, get_profile
from harness.config.recipes import resolve_recipe
from harness.config.study import StudyConfig, flag_names
from harness.errors import UsageError
from harness.runner.energy import check_energy
from harness.runner.eta import CellEstimate, Estimator, fmt_s, planned_hardware, print_estimates
from harness.runner.executors.base import check_executor_name, get_executor
from harness.runner.sweeps import (
    check_fractions,
    check_train_size,
    check_widths,
    resolve_backbones,
    resolve_fractions,
    resolve_widths,
    widened,
)
from harness.runner.tracking import check_tracker
from harness.store.results import check_run_id

if TYPE_CHECKING:
    import pandas as pd


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
    rows: pd.DataFrame | None = None  # the results directory's rows as read by the plan (None: no directory)


# ---- resolution of the study --------------------------------------------------------------------------------


def _split_ids(value: str | Sequence[str]) -> list[str]:
    """Ids from a comma separated string or a list."""
    parts = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    ids = [v.strip() for v in parts if v.strip()]
    if not ids:
        raise UsageError("an empty id list; pass ids separated by commas")
    return list(dict.fromkeys(ids))


def resolve_methods(value: str | Sequence[str], controls: bool = True) -> list[str]:
    """Ids of registered presets; `<id>+bias-ft` variants (Table S6) resolve through get_preset too. With `controls`
    the blind controls (methods.controls) are added, so every study shows whether its connectors use their input;
    without, `all` leaves them out too."""
    from methods import UnknownMethodError, get_preset, list_presets
    from methods.controls import CONTROLS

    valid = list(list_presets())
    if isinstance(value, str) and value.strip() == "all":
        return [m for m in valid if controls or m not in CONTROLS]
    ids = _split_ids(value)
    if controls:
        ids += [c for c in CONTROLS if c not in ids]
    unknown = []
    for m in ids:
        try:
            get_preset(m)
        except UnknownMethodError:
            unknown.append(m)
    if unknown:
        raise UsageError(
            f"--methods: unknown method id(s) {', '.join(unknown)}; valid: {', '.join(valid)} or 'all' "
            f"(any id + '+bias-ft' for bias tuning; a plugin's methods need --plugin MODULE)"
        )
    return ids


def resolve_datasets(value: str | Sequence[str], data_root: str | None) -> tuple[list[str], list[tuple[str, str]]]:
    """Dataset ids to run and (id, why) of those `all` skips for missing data."""
    from benchmarks import get_benchmark, list_benchmarks

    valid = list(list_benchmarks())
    groups = {b: get_benchmark(b).spec.group for b in valid}
    keyword = value.strip() if isinstance(value, str) else ""
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
            raise UsageError(
                f"--datasets: unknown dataset id(s) {', '.join(unknown)}; valid: {', '.join(valid)} "
                f"or one of all | paper | offline"
            )
    missing = [(b, why) for b in ids if (why := get_benchmark(b).availability(data_root))]
    if missing:
        raise UsageError(
            f"--datasets {_show(value)}: data not found for {', '.join(b for b, _ in missing)}:\n"
            + _reasons(missing)
            + "\n(use --data-root DIR, or --datasets all to run what is available)"
        )
    return ids, []


def _reasons(pairs: list[tuple[str, str]]) -> str:
    return "\n".join(f"  {b}: {why}" for b, why in pairs)


MAX_SEED_COUNT = 1000  # a larger count is a typo for a seed (one seed S: --seeds S,)


def _show(value: str | Sequence[Any]) -> str:
    return value if isinstance(value, str) else ",".join(map(str, value))


def resolve_seeds(value: int | str | Sequence[int]) -> list[int]:
    listed = isinstance(value, (list, tuple))
    text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value).strip()
    try:
        if listed or "," in text:
            seeds = [int(v) for v in text.split(",") if v.strip()]
            if not seeds or any(not 0 <= s < 2**32 for s in seeds):
                raise ValueError
            return list(dict.fromkeys(seeds))
        n = int(text)
        if n > MAX_SEED_COUNT:
            raise ValueError
    except ValueError:
        raise UsageError(
            f"--seeds {value!r}: pass a count 1 <= N <= {MAX_SEED_COUNT} (seeds 0..N-1) or a comma "
            f"list of seeds >= 0 and < 2**32, e.g. --seeds 5 or --seeds 0,3"
        ) from None
    if n < 1:
        raise UsageError(
            f"--seeds {value}: the seed count must be >= 1 (--seeds 1 runs seed 0; a single other seed: --seeds 3,)"
        )
    return list(range(n))


def check_output_dir(flag: str, path: Path) -> None:
    """A directory the matrix will write to must be, or be creatable as, a writable directory."""
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        where = "is a file" if existing == path else f"is under {existing}, which is a file"
        raise UsageError(f"{flag} {path}: {where}; pass a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: {existing} is not writable; pass a directory you can write to")


def _positive(name: str, value: float) -> float:
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{name} {value}: must be a positive number")
    return value


def resolve_variants(value: str | Sequence[str] | None) -> list[str]:
    """Recipe variants (methods.variants); the official code's by default."""
    from methods.variants import DEFAULT_VARIANT, VARIANTS

    if value is None:
        return [DEFAULT_VARIANT]
    variants = _split_ids(value)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise UsageError(
            f"--variant: unknown variant(s) {', '.join(unknown)}; valid: {', '.join(VARIANTS)} "
            f"(comma separated for both)"
        )
    return variants


def resolve_lrs(study: StudyConfig, profile: Profile) -> list[float]:
    if study.lr_grid:
        if study.lr is not None:
            raise UsageError(
                f"--lr {study.lr} with --lr-grid: the grid sweeps {PAPER_LR_GRID}; drop --lr (or "
                f"the lr of the --config file) or --lr-grid"
            )
        return list(PAPER_LR_GRID)
    return [_positive("--lr", study.lr if study.lr is not None else profile.lr)]


def resolve_profile(name: str | None) -> Profile:
    """The named profile (default: paper with a GPU, else cpu)."""
    name = name or default_profile_name()
    if name not in PROFILES:
        raise UsageError(f"--profile {name!r}: unknown profile; valid: {', '.join(PROFILES)}")
    return get_profile(name)


def resolve_eval_splits(splits: tuple[str, ...], spec: Any, lr_grid: bool) -> tuple[str, ...]:
    """Concrete split roles: the reported one in place of REPORTED_SPLIT, val first under --lr-grid (the lr is
    chosen on val), only roles the benchmark has."""
    roles = (["val"] if lr_grid else []) + [spec.eval_split if r == REPORTED_SPLIT else r for r in splits]
    return tuple(r for r in dict.fromkeys(roles) if getattr(spec.splits, r, None) is not None)


def check_settings(train: TrainSettings, ev: EvalSettings) -> None:
    """Counts >= 1, rates and fractions in range, split roles and caption metrics that exist."""
    from benchmarks.metrics.caption import CAPTION_METRICS
    from benchmarks.spec import SPLIT_ROLES

    fractions = ("warmup_frac", "min_lr_ratio", "label_smoothing", "adam_betas")
    from_zero = ("subset_seed", "num_workers")  # a seed; 0 workers: loading in the training process
    for group, settings in (("train", train), ("eval", ev)):
        for f in dataclasses.fields(settings):
            value = getattr(settings, f.name)
            numbers = value if isinstance(value, tuple) else (value,)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
                continue
            if f.name in from_zero:
                bad, need = any(not isinstance(v, int) or v < 0 for v in numbers), "an integer >= 0"
            elif all(isinstance(v, int) for v in numbers):
                bad, need = any(v < 1 for v in numbers), ">= 1"
            elif f.name in fractions:
                bad, need = any(not 0 <= v < 1 for v in numbers), "in [0, 1)"
            else:
                bad, need = any(not (math.isfinite(v) and v >= 0) for v in numbers), "a finite number >= 0"
            if bad:
                raise UsageError(f"{flag_names(f'{group}.{f.name}')} {value}: must be {need}")
    roles = (REPORTED_SPLIT, *SPLIT_ROLES)
    unknown = [r for r in ev.splits if r not in roles]
    if unknown or not ev.splits:
        raise UsageError(
            f"--eval.splits {list(ev.splits)}: pass a list of split roles from {', '.join(roles)}, "
            f"e.g. --eval.splits '[{REPORTED_SPLIT}]'"
        )
    unknown = [m for m in ev.metrics or () if m not in CAPTION_METRICS]
    if unknown:
        raise UsageError(
            f"--eval.metrics: unknown caption metric(s) {', '.join(unknown)}; valid: "
            f"{', '.join(CAPTION_METRICS)} (null: all of them)"
        )


def build_cells(
    study: StudyConfig,
    profile: Profile,
    methods: list[str],
    datasets: list[str],
    seeds: list[int],
    lrs: list[float],
    grad_clip: float,
    variants: list[str],
) -> list[RunConfig]:
    """Every cell, with the study's train and eval settings made concrete for each benchmark, for each value of the
    sweep axes (harness.runner.sweeps: llm, encoder, train fraction, mapping width)."""
    from benchmarks import get_benchmark
    from methods import get_preset, has_gates

    presets = {(m, v): get_preset(m, v) for v in variants for m in methods}
    llms, encoders = resolve_backbones("llm", study.llm), resolve_backbones("encoder", study.encoder)
    fractions, widths = resolve_fractions(study.train_fraction), resolve_widths(study.width)
    check_widths(presets, widths)
    check_train_size(study.train.train_size, profile.train.train_size, fractions)
    # the study holds the profile's values unless the user set others (flags, --config): those win over a cell's
    # official recipe (harness.config.recipes); a value equal to the profile's counts as the profile's
    batch_fields = ("batch_size", "micro_batch_size", "grad_sum_steps")
    user_batch = any(getattr(study.train, f) != getattr(profile.train, f) for f in batch_fields)
    user_lr = study.lr_grid or study.lr not in (None, profile.lr)
    user_clip = study.grad_clip not in (None, profile.grad_clip)
    try:
        dtype = resolve_backbone_dtype(study.train.backbone_dtype, cells_on_gpu(study))
    except ValueError as e:
        raise UsageError(f"--train.backbone_dtype: {e}") from None
    cells = []
    as_dicts: dict[tuple[int, int | None], tuple[Any, dict[str, Any]]] = {}

    def method_dict(config: Any, width: int | None) -> dict[str, Any]:
        # one dict per recipe object and width, shared by its cells (nothing mutates a cell's method_config):
        # converting every cell's config costs seconds at tens of thousands of cells. The entry holds the config,
        # so its id is not reused while the cache lives.
        key = (id(config), width)
        if key not in as_dicts:
            as_dicts[key] = (config, dataclasses.asdict(widened(config, width)))
        return as_dicts[key][1]

    for dataset in datasets:
        spec = get_benchmark(dataset).spec
        check_fractions(get_benchmark(dataset), fractions)
        train = dataclasses.replace(
            study.train,
            backbone_dtype=dtype,
            epochs=study.train.epochs or spec.epochs,
            image_size=study.train.image_size if spec.modality in ("image", "video") else None,
        )
        ev = dataclasses.replace(study.eval, splits=resolve_eval_splits(study.eval.splits, spec, study.lr_grid))
        axes = [
            (llm or spec.default_llm, encoder or spec.default_encoder, fraction)
            for llm in llms
            for encoder in encoders
            for fraction in fractions
        ]
        for encoder in dict.fromkeys(e for _, e, _ in axes):
            check_image_size_for(encoder, train.image_size)
        for (method, variant), preset in presets.items():
            cell_widths = [None] if preset.control else widths
            # a gate lr scale where there is no gate would only split results that are the same (1 is not hashed)
            method_train = train if has_gates(preset) else dataclasses.replace(train, gate_lr_scale=1.0)
            for (llm, encoder, fraction), width, seed in itertools.product(axes, cell_widths, seeds):
                # the prior trains nothing: one cell, whatever the lr grid
                for lr in lrs[:1] if preset.control == "prior" else lrs:
                    recipe = resolve_recipe(
                        preset,
                        dataset,
                        encoder,
                        profile,
                        method_train,
                        lr=lr if user_lr else None,
                        grad_clip=grad_clip if user_clip else None,
                        user_batch=user_batch,
                    )
                    cells.append(
                        RunConfig(
                            method=method,
                            dataset=dataset,
                            seed=seed,
                            lr=recipe.lr,
                            grad_clip=recipe.grad_clip,
                            llm=llm,
                            encoder=encoder,
                            profile=profile.name,
                            variant=variant,
                            method_config=method_dict(recipe.method_config, width),
                            # a train fraction sets the training-set size: the profile's cap on it is dropped
                            train=recipe.train
                            if fraction is None
                            else dataclasses.replace(recipe.train, train_size=None),
                            eval=ev,
                            data_root=study.data_root,
                            plugins=study.plugins,
                            recipe_source=recipe.source,
                            tracking=study.tracking,
                            energy=study.energy,
                            train_fraction=fraction,
                            width=width,
                        )
                    )
    return cells


def check_image_size_for(encoder: str, image_size: int | None) -> None:
    """An image size the encoder's patch grid cannot take is a usage error at planning, not a failed cell."""
    from harness.backbones import encoder_entry
    from harness.backbones.preprocess import check_image_size

    shape = encoder_entry(encoder).shape
    if image_size is None or shape is None or not shape.patch:
        return
    try:
        check_image_size(image_size, shape.patch, encoder)
    except ValueError as e:
        raise UsageError(f"--train.image_size: {e}") from None


def cells_on_gpu(study: StudyConfig) -> bool:
    """Whether the cells will run on GPUs: SLURM jobs that ask for them, else this machine's."""
    if study.executor == "slurm":
        return study.slurm.gpus_per_node > 0
    import torch

    return torch.cuda.is_available()


def read_stored(results_dir: Path) -> pd.DataFrame | None:
    """Every row of `results_dir` (None when it does not exist): read once per invocation, then the cache lookup
    and the step times of the estimates are computed from it."""
    if not results_dir.exists():
        return None
    from harness.store.results import read_results

    return read_results([results_dir])


def cached_status(rows: pd.DataFrame | None) -> dict[str, str]:
    """config_hash -> stored status of the runs in `rows` (an `ok` row wins)."""
    if rows is None or rows.empty:
        return {}
    runs = rows[(rows["source"] == "run") & (rows["config_hash"] != "")]
    ok = set(runs.loc[runs["status"] == "ok", "config_hash"])
    status = dict(zip(runs["config_hash"], runs["status"]))  # one status per hash; an `ok` row overrides it
    status.update(dict.fromkeys(ok, "ok"))
    return status


def split_cached(
    cells: list[RunConfig], stored: dict[str, str], retry_failed: bool
) -> tuple[list[RunConfig], list[RunConfig]]:
    """(to run, cached): a cell runs unless a row with its config hash holds a final status. Each hash is computed
    once and looked up in a dict, so planning is linear in the cells."""
    rerun = {"cancelled", "interrupted"} | ({"failed", "unstable"} if retry_failed else set())
    todo: list[RunConfig] = []
    cached: list[RunConfig] = []
    for c in cells:
        h = c.config_hash()
        (todo if h not in stored or stored[h] in rerun else cached).append(c)
    return todo, cached


def plan(study: StudyConfig) -> Plan:
    """Validate the study and resolve its cells; creates nothing on disk."""
    check_executor_name(study.executor)
    if study.local.max_parallel < 1:
        raise UsageError(f"--max-parallel {study.local.max_parallel}: must be >= 1")
    profile = resolve_profile(study.profile)
    lrs = resolve_lrs(study, profile)
    grad_clip = _positive("--grad-clip", study.grad_clip if study.grad_clip is not None else profile.grad_clip)
    check_settings(study.train, study.eval)
    check_tracker(study.tracking)
    check_energy(study.energy)
    seeds = resolve_seeds(study.seeds)
    methods = resolve_methods(study.methods, study.controls)
    variants = resolve_variants(study.variants)
    datasets, skipped = resolve_datasets(study.datasets, study.data_root)
    results_dir = Path(study.results[0]) if study.results else REPO_ROOT / "results"
    if len(study.results) > 1:
        raise UsageError("--results: a matrix writes to one results directory; repeat it only with --report-only")
    runs_dir = Path(study.runs_dir) if study.runs_dir else results_dir / "runs"
    out_dir = Path(study.out) if study.out else REPO_ROOT / "reports"
    for flag, directory in (("--results", results_dir), ("--runs-dir", runs_dir), ("--out", out_dir)):
        check_output_dir(flag, directory)
    cells = build_cells(study, profile, methods, datasets, seeds, lrs, grad_clip, variants)
    for c in cells:
        try:
            check_run_id(c.run_id)
        except ValueError as e:
            raise UsageError(
                f"{e}: method {c.method!r} x dataset {c.dataset!r} (a plugin's ids must be path-safe)"
            ) from None
    rows = read_stored(results_dir)
    stored = cached_status(rows)
    todo, cached = split_cached(cells, stored, study.retry_failed)
    return Plan(cells, todo, cached, stored, skipped, profile, results_dir, runs_dir, out_dir, rows)


# ---- estimates ----------------------------------------------------------------------------------------------


def estimate(p: Plan, study: StudyConfig) -> tuple[Estimator, list[CellEstimate]]:
    """Estimates of the cells to run (harness.runner.eta), from the rows the plan read."""
    hardware = planned_hardware(study.executor, study.slurm)
    estimator = Estimator(p.profile, p.rows, hardware, p.cells)
    return estimator, [estimator.cell(c) for c in p.todo]


def print_plan(p: Plan, estimator: Estimator, estimates: list[CellEstimate], parallel: int, stream: Any = None) -> None:
    stream = stream or sys.stdout
    print(f"profile {p.profile.name}: {p.profile.summary}", file=stream)
    for d, why in p.skipped_datasets:
        print(f"skipped dataset {d}: {why}", file=stream)
    print(f"{len(p.cells)} cells: {len(p.todo)} to run, {len(p.cached)} cached in {p.results_dir}", file=stream)
    print_estimates(estimates, parallel, estimator.hardware, estimator.model(), stream)


# ---- main -----------------------------------------------------------------------------------------------------


def main(study: StudyConfig) -> int:
    p = plan(study)
    executor = get_executor(study.executor, study.executor_options)
    parallel = getattr(executor, "max_parallel", 1)
    estimator, cell_estimates = estimate(p, study)
    print_plan(p, estimator, cell_estimates, parallel)
    estimates = {e.run_id: e.total_s for e in cell_estimates}
    if study.dry_run:
        return 0
    _check_feature_cache(study)
    outcomes = []
    if p.todo:
        from harness.runner.claims import run_owned, sigterm_interrupts
        from harness.runner.progress import MatrixProgress

        progress = MatrixProgress(p.todo, p.runs_dir, parallel, estimates)
        try:
            with sigterm_interrupts():
                for outcome in run_owned(executor, p.todo, p.runs_dir, p.results_dir, p.stored, progress):
                    outcomes.append(outcome)
        finally:
            progress.close()
        print(f"ran {len(outcomes)} cells in {fmt_s(progress.elapsed_s())}")
    bad = [o for o in outcomes if o.status != "ok"]
    for o in bad:
        first = (o.error or "").strip().splitlines()
        print(f"{o.status}: {o.run_id} ({p.runs_dir / o.run_id}): {first[-1] if first else ''}", file=sys.stderr)
    cached_bad = [(c, p.stored[c.config_hash()]) for c in p.cached if p.stored[c.config_hash()] != "ok"]
    for c, status in cached_bad:
        print(f"{status} (cached): {c.run_id} ({p.runs_dir / c.run_id}); --retry-failed runs it again", file=sys.stderr)
    render(p)
    failed = any(o.status in ("failed", "cancelled", "interrupted") for o in outcomes) or any(
        s == "failed" for _, s in cached_bad
    )
    return 1 if failed else 0


def _check_feature_cache(study: StudyConfig) -> None:
    """--verify-cache: every shard re-hashed before any cell reads it; and a warning for a cache under the home
    directory of a cluster (the jobs warn too, where SLURM's variables are set)."""
    from harness.runner.features import features_root, home_cache_warning, verify_cache

    message = home_cache_warning(features_root(), on_cluster=study.executor == "slurm" or None)
    if message:
        print(f"warning: {message}", file=sys.stderr)
    if study.verify_cache:
        report = verify_cache(features_root())
        for entry, shard in report.bad:
            print(f"feature cache: {entry}/{shard} did not match its SHA-256: deleted", file=sys.stderr)
        print(report.summary())


def render(p: Plan) -> None:
    """Reports from the results directory; says so instead when it holds no result yet (e.g. detached jobs)."""
    from harness.store.results import result_files

    if not p.results_dir.is_dir() or not result_files([p.results_dir]):
        print(f"no results in {p.results_dir} yet: reports not rendered")
        return
    from harness.report import render_reports

    for path in render_reports([p.results_dir], p.out_dir):
        print(path)
