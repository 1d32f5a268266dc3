"""Command line of run_matrix.py: parses flags and dispatches, importing heavy modules only when needed.

`--report-only` must stay torch-free so tables regenerate instantly from cached results.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from harness import REPO_ROOT
from harness.errors import UsageError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="run_matrix.py",
        description="Train and evaluate connector methods over benchmarks and seeds; render the paper's tables.",
    )
    mode = p.add_argument_group("modes (default: run the matrix)")
    mode.add_argument("--report-only", action="store_true", help="render every table from cached results; train nothing")
    mode.add_argument("--describe-methods", action="store_true", help="write Table 1 (table1.md/.csv) and exit")
    mode.add_argument("--doctor", action="store_true", help="check Java, metrics jars, embedded backbones, data, SLURM, GPUs")
    mode.add_argument("--gc", action="store_true", help="list run directories and feature-cache entries no current "
                      "result refers to (a dry run; with --yes, remove them)")
    mode.add_argument("--yes", action="store_true", help="with --gc: remove what it lists")

    m = p.add_argument_group("matrix")
    m.add_argument("--methods", default="all", help="method ids, comma separated, or 'all'")
    m.add_argument("--datasets", default="offline", help="dataset ids, comma separated, or 'all' | 'paper' | 'offline'")
    m.add_argument("--seeds", default="1", help="a count N (seeds 0..N-1) or a comma list of seeds")
    m.add_argument("--lr", type=float, default=None, help="peak learning rate (default: the profile's, 8e-4 in the paper)")
    m.add_argument("--variant", default=None,
                   help="recipe variant(s), comma separated: official (default: as the official code ran it) | "
                        "paper (as the appendix writes it); with --describe-methods, one of them")
    m.add_argument("--lr-grid", action="store_true", help="sweep lr over {1e-3, 8e-4, 4e-4}, pick on validation")
    m.add_argument("--grad-clip", type=float, default=None, help="gradient clipping value (default 0.8)")
    m.add_argument("--profile", choices=None, default=None, help="smoke | cpu | paper (default: paper with a GPU, else cpu)")
    m.add_argument("--llm", default=None, help="LLM backbone id overriding each benchmark's default")
    m.add_argument("--encoder", default=None, help="perceptual encoder id overriding each benchmark's default")
    m.add_argument("--data-root", default=None, help="root directory of the real datasets (or DEPALM_DATA_ROOT)")
    m.add_argument("--executor", default="local", help="inline | local | slurm")
    m.add_argument("--max-parallel", type=int, default=1, help="cells run at once by the local executor")
    m.add_argument("--results", action="append", default=None, metavar="DIR",
                   help="results directory (repeatable for --report-only; default: results/)")
    m.add_argument("--runs-dir", default=None, help="where run directories go (default: <results>/runs)")
    m.add_argument("--out", default=None, help="report output directory (default: reports/)")
    m.add_argument("--dry-run", action="store_true", help="list the cells to run with an ETA; run nothing")
    m.add_argument("--retry-failed", action="store_true", help="re-run cells whose stored status is failed/unstable")
    m.add_argument("--keep-checkpoints", action="store_true",
                   help="keep each run's full-state checkpoint once it succeeds (default: removed; weights stay)")
    m.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (registers new blocks, presets or benchmarks); repeatable")
    m.add_argument("--num-beams", type=int, default=None, help="override the profile's beam count")
    m.add_argument("--max-new-tokens", type=int, default=None, help="override the profile's generation length")

    s = p.add_argument_group("slurm (with --executor slurm)")
    s.add_argument("--partition", default=None)
    s.add_argument("--account", default=None)
    s.add_argument("--qos", default=None)
    s.add_argument("--time", default=None, help="job time limit in minutes")
    s.add_argument("--constraint", default=None)
    s.add_argument("--gpus-per-node", type=int, default=None, help="default 8")
    s.add_argument("--cpus-per-task", type=int, default=None)
    s.add_argument("--mem-gb", type=int, default=None)
    s.add_argument("--array-parallelism", type=int, default=None, help="cap on simultaneous array tasks")
    s.add_argument("--sbatch-arg", action="append", default=[], metavar="KEY=VALUE", help="extra sbatch argument")
    s.add_argument("--detach", action="store_true", help="submit and return; re-run the same command to collect")

    d = p.add_argument_group("--describe-methods")
    d.add_argument("--d-llm", type=int, default=4096, help="LLM hidden size (default LLaMA-7B)")
    d.add_argument("--d-feats", type=int, default=1024, help="encoder width (default CLIP-L)")
    d.add_argument("--llm-layers", type=int, default=32, help="LLM depth (default LLaMA-7B)")
    d.add_argument("--n-tokens", type=int, default=256, help="encoder patch tokens, CLS excluded (default 16x16)")
    return p


def _load_plugins(modules: list[str]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise UsageError(f"--plugin {name}: cannot import it ({e}); pass an importable module path "
                             f"(e.g. methods.contrib.my_connector) or add its folder to PYTHONPATH") from e
        except Exception as e:  # noqa: BLE001 - a plugin that raises on import is bad input, not a crash
            raise UsageError(f"--plugin {name}: importing it raised {type(e).__name__}: {e}; fix the plugin "
                             f"(python -c 'import {name}' shows the traceback)") from e


def _dispatch(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else REPO_ROOT / "reports"
    if args.report_only:
        _load_plugins(args.plugin)  # a plugin benchmark's spec gives its column title
        from harness.report import render_reports

        dirs = [Path(d) for d in (args.results or [REPO_ROOT / "results"])]
        for d in dirs:
            if not d.exists():
                raise UsageError(f"--results {d}: no such directory")
        for path in render_reports(dirs, out):
            print(path)
        return 0
    if args.describe_methods:
        _load_plugins(args.plugin)
        from methods.describe import describe_methods
        from methods.variants import DEFAULT_VARIANT, check_variant

        variant = args.variant or DEFAULT_VARIANT
        try:
            check_variant(variant)
        except ValueError as e:
            raise UsageError(f"--variant: {e}") from None
        paths = describe_methods(args.d_llm, args.d_feats, args.llm_layers, args.n_tokens, out, variant)
        print(next(p for p in paths if p.suffix == ".md").read_text(encoding="utf-8"))
        for path in paths:
            print(path)
        return 0
    if args.doctor:
        from harness.doctor import run_doctor

        return run_doctor()
    if args.gc:
        from harness.runner.gc import main as gc_main

        return gc_main(args)
    _load_plugins(args.plugin)
    from harness.runner.matrix import main as matrix_main

    return matrix_main(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except UsageError as e:
        print(f"run_matrix.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("run_matrix.py: interrupted; finished cells are kept, run the same command again to resume",
              file=sys.stderr)
        return 130
