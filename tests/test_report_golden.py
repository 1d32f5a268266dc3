"""Golden tests: the reports are byte-identical to committed output.

- tests/fixtures/golden/paper: rendered from the paper's own numbers (results/paper);
- tests/fixtures/golden/runs: rendered from `write_run_results`, a deterministic folder of run results that takes
  every path of the runs sections (lr grid chosen on val, on test, or on nothing; failed, unstable and superseded
  runs; two profiles, two variants, a backbone override; a plugin method; VQA with both accuracies; an audio, a
  video and an unregistered benchmark); and a profile with 3 seeds and per-item scores everywhere (bootstrap
  intervals, a tie with the best, a blind and a prior control).

A deliberate change of the report regenerates both with `PYTHONPATH=. python tests/test_report_golden.py` (from the
repository root; the path makes this checkout's code render them).
"""

from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from test_report import _run
from test_report_stats import write_study

from harness.cli import main as cli_main
from harness.report import render_reports

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "fixtures" / "golden"
PAPER_RESULTS = REPO / "results" / "paper"

NAMES = {
    "depalm": "DePALM",
    "mapl": "MAPL",
    "limber-all": "LiMBeR⁽ᵃˡˡ⁾",
    "epalm": "eP-ALM",
    "depalm-qp8": "DePALM^{QP8}",
}  # depalm-qp8: the README's plugin preset
VQA_BOTH = {"VQA_acc_depalm": 1.02}  # the DePALM code's accuracy beside the official evaluator's


def write_run_results(root: Path) -> Path:
    """Write the runs fixture under `root` (one parquet per run, fixed timestamps); returns `root`."""
    clock = itertools.count()

    def run(method, dataset, seeds, lr, scores, **kw):
        for seed in seeds:
            split_scores = {split: v + seed for split, v in scores.items()}
            t = next(clock)
            _run(
                root,
                method,
                dataset,
                seed,
                lr,
                split_scores,
                method_display=NAMES.get(method, ""),
                created_at=f"2026-01-01T00:{t // 60:02d}:{t % 60:02d}+00:00",
                **{"variant": "official", **kw},
            )

    seeds = (0, 1, 2)
    # syn-coco: an lr grid chosen on val (depalm: 8e-4 best on val, 1e-3 best on test); a tie (mapl = limber-all)
    run("depalm", "syn-coco", seeds, 1e-3, {"val": 30.0, "test": 44.0})
    run("depalm", "syn-coco", seeds, 8e-4, {"val": 35.0, "test": 40.0})
    run("mapl", "syn-coco", seeds, 1e-3, {"val": 25.0, "test": 36.0})
    run("mapl", "syn-coco", seeds, 4e-4, {"val": 20.0, "test": 10.0})
    run("limber-all", "syn-coco", seeds, 8e-4, {"val": 28.0, "test": 36.0}, grad_clip=1.0)
    run("epalm", "syn-coco", seeds, 8e-4, {"val": 12.0, "test": 15.5})
    run("depalm-qp8", "syn-coco", seeds, 8e-4, {"val": 33.0, "test": 41.25})
    # syn-vqav2 (the offline mirrors report test, val selects): both accuracies; eP-ALM failed at both lrs
    for method, v in (("depalm", 50.0), ("mapl", 47.0), ("limber-all", 52.0), ("depalm-qp8", 49.0)):
        run(method, "syn-vqav2", seeds, 8e-4, {"val": v, "test": v - 1.0}, companions=VQA_BOTH)
    for lr in (1e-3, 8e-4):
        run("epalm", "syn-vqav2", (0, 1), lr, {"val": 0.0, "test": 0.0}, status="failed", companions=VQA_BOTH)
    # syn-okvqa: val only; depalm-qp8 was not run on it
    for method, v in (("depalm", 30.0), ("mapl", 31.0), ("limber-all", 29.5), ("epalm", 20.0)):
        run(method, "syn-okvqa", seeds, 8e-4, {"val": v}, companions=VQA_BOTH)
    # easy-vqa (no paper column): mapl's seed 1 failed, depalm-qp8's seed 2 unstable
    run("depalm", "easy-vqa", seeds, 8e-4, {"val": 60.0, "test": 61.0}, companions=VQA_BOTH)
    run("mapl", "easy-vqa", (0, 2), 8e-4, {"val": 58.0, "test": 62.0}, companions=VQA_BOTH)
    run("mapl", "easy-vqa", (1,), 8e-4, {"val": 0.0, "test": 0.0}, status="failed", companions=VQA_BOTH)
    run("depalm-qp8", "easy-vqa", (0, 1), 8e-4, {"val": 55.0, "test": 56.0}, companions=VQA_BOTH)
    run("depalm-qp8", "easy-vqa", (2,), 8e-4, {"val": 0.0, "test": 0.0}, status="unstable", companions=VQA_BOTH)
    # syn-audiocaps (Table S3) and syn-msrvtt (Table S4); mapl's msrvtt grid has no val: chosen on test
    for method, v in (("depalm", 42.0), ("mapl", 40.5)):
        run(method, "syn-audiocaps", seeds, 8e-4, {"test": v}, companions={"METEOR": 0.5, "SPIDEr": 0.6})
    run("depalm", "syn-msrvtt", (1, 2), 8e-4, {"test": 47.0}, companions={"METEOR": 0.6})
    run("mapl", "syn-msrvtt", seeds, 1e-3, {"test": 45.0}, companions={"METEOR": 0.6})
    run("mapl", "syn-msrvtt", seeds, 8e-4, {"test": 46.0}, companions={"METEOR": 0.6})
    # depalm's msrvtt seed 0: a failed run, then its rerun (supersedes it)
    run("depalm", "syn-msrvtt", (0,), 8e-4, {"test": 0.0}, status="failed", run_id="msrvtt-s0-first")
    run("depalm", "syn-msrvtt", (0,), 8e-4, {"test": 48.0}, companions={"METEOR": 0.6}, run_id="msrvtt-s0-rerun")
    # a benchmark no registered spec knows (a plugin's whose module is not imported), with its own metric
    run("depalm", "zz-plugin", (0, 1), 8e-4, {"test": 12.0}, metric="ROUGE_L")
    # an --llm override on one dataset: a second backbone set of the same profile and variant
    run("depalm", "syn-coco", (0,), 8e-4, {"val": 70.0, "test": 71.0}, llm="opt-125m", run_id="override-opt")
    # the paper's recipe variant (rows written before the variant axis), and another profile
    for seed in (0, 1):
        _run(
            root,
            "depalm",
            "syn-coco",
            seed,
            8e-4,
            {"test": 22.0 + seed},
            method_display="DePALM",
            created_at="2026-01-02T00:00:00+00:00",
            run_id=f"appendix-depalm-s{seed}",
        )
        _run(
            root,
            "mapl",
            "syn-coco",
            seed,
            8e-4,
            {"test": 18.0 + seed},
            method_display="MAPL",
            created_at="2026-01-02T00:00:00+00:00",
            run_id=f"appendix-mapl-s{seed}",
        )
    run("depalm", "syn-coco", (0,), 8e-4, {"val": 12.0, "test": 13.0}, profile="cpu")
    # enough seeds to rank, per-item scores, a method within the noise of the best and two controls
    write_study(
        root,
        {"depalm": 0.6, "mapl": 0.58, "epalm": 0.3, "blind": 0.45, "prior": 0.1},
        controls={"blind": "blind", "prior": "prior"},
        n_items=120,
        profile="stats",
    )
    return root


def _render(kind: str, out: Path) -> Path:
    if kind == "paper":  # through the CLI, as a user regenerates them
        assert cli_main(["--report-only", "--results", str(PAPER_RESULTS), "--out", str(out)]) == 0
    else:
        results = write_run_results(out.parent / f"{out.name}-results")
        render_reports([results], out)
    return out


KINDS = ("paper", "runs")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    return {kind: _render(kind, tmp_path_factory.mktemp("golden") / kind) for kind in KINDS}


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_files_are_rendered(rendered, kind):
    assert sorted(p.name for p in rendered[kind].iterdir()) == sorted(p.name for p in (GOLDEN / kind).iterdir())


@pytest.mark.parametrize("kind, name", [(k, p.name) for k in KINDS for p in sorted((GOLDEN / k).glob("*"))])
def test_report_is_byte_identical_to_the_golden_file(rendered, kind, name):
    assert (rendered[kind] / name).read_bytes() == (GOLDEN / kind / name).read_bytes(), (
        f"{name} differs from tests/fixtures/golden/{kind}/{name}; if the change is deliberate, regenerate the "
        f"fixtures (see this module's docstring)"
    )


if __name__ == "__main__":
    for kind in KINDS:
        with tempfile.TemporaryDirectory() as tmp:
            target = GOLDEN / kind
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(_render(kind, Path(tmp) / kind), target)
            print(f"wrote {target.relative_to(REPO)}", file=sys.stderr)
