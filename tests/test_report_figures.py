"""Figure 3 and the runs' Table 5 from results that contain a sweep axis (harness/report/figures.py, sweeps.py):
the PNG and PDF files exist, each panel has one line per method (mean over seeds, a ± std band), log-scale x, and
`--report-only` redraws them from the cached results; results without an axis draw no figure."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.cli import main as cli_main
from harness.report.figures import figure3
from harness.report.sweeps import sweep_points
from harness.store.results import read_results, write_result

METHODS = {"limber-all": 40.0, "depalm": 50.0}
FRACTIONS = (0.0012, 0.01, 0.1, 1.0)
WIDTHS = {64: 1.0e5, 256: 4.0e5}


def _write(root, method, seed, *, fraction=None, width=None, encoder="clip-b16-embedded", value=0.0):
    rid = f"{method}__syn-coco__s{seed}__f{fraction}__w{width}__{encoder}"
    write_result(
        [
            dict(
                method=method,
                dataset="syn-coco",
                seed=seed,
                lr=1e-3,
                grad_clip=0.8,
                llm="smollm2-135m",
                encoder=encoder,
                profile="cpu",
                variant="official",
                train_fraction=fraction,
                width=width,
                trainable_params=WIDTHS.get(width, 1e6),
                split="test",
                metric="CIDEr",
                value=value,
                status="ok",
                config_hash=rid,
            )
        ],
        root,
        rid,
    )


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    results = root / "results"
    for method, base in METHODS.items():
        for seed in (0, 1, 2):
            for f in FRACTIONS:
                _write(results, method, seed, fraction=f, value=base * (1 + f) + seed)
            for w in WIDTHS:
                _write(results, method, seed, fraction=0.01, width=w, value=base + w / 64 + seed)
            for enc in ("clip-b16-embedded", "dinov2-s14-embedded"):
                _write(results, method, seed, encoder=enc, value=base + len(enc) + seed)
    out = root / "reports"
    assert cli_main(["--report-only", "--results", str(results), "--out", str(out)]) == 0
    return results, out


def test_points_are_mean_and_std_over_seeds(swept):
    results, _ = swept
    points = sweep_points(read_results([results]))
    p = points[(points.method == "depalm") & (points.train_fraction == 0.1) & points.width.isna()].iloc[0]
    assert p["mean"] == pytest.approx(50.0 * 1.1 + 1) and p["std"] == pytest.approx(1.0) and p.n_seeds == 3


def test_figure3_has_one_line_per_method_and_log_x(swept):
    results, _ = swept
    figures = figure3(sweep_points(read_results([results])))
    right, left = figures["figure3_right__syn-coco"], figures["figure3_left__syn-coco"]
    for fig, xs in ((right, list(FRACTIONS)), (left, list(WIDTHS.values()))):
        (ax,) = fig.axes
        lines = ax.get_lines()
        assert sorted(line.get_label() for line in lines) == sorted(METHODS) and ax.get_xscale() == "log"
        for line in lines:
            assert list(line.get_xdata()) == pytest.approx(xs)
        assert len(ax.collections) == len(METHODS)  # one ± std band per method


def test_files_exist_next_to_the_tables_and_report_only_redraws_them(swept):
    results, out = swept
    stems = ("figure3_right__syn-coco", "figure3_left__syn-coco")
    for stem in stems:
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"
    for stem in stems:
        (out / f"{stem}.png").unlink()
        (out / f"{stem}.pdf").write_bytes(b"stale")
    assert cli_main(["--report-only", "--results", str(results), "--out", str(out)]) == 0
    for stem in stems:
        assert (out / f"{stem}.png").is_file() and (out / f"{stem}.pdf").read_bytes()[:5] == b"%PDF-"


def test_sections_and_table5_name_the_axis_values(swept):
    _, out = swept
    t4 = (out / "table4.md").read_text()
    for label in (
        "train fraction 0.12%",
        "train fraction 100%",
        "train fraction 1%, width 64",
        "train fraction 1%, width 256",
    ):
        assert f"variant official, {label}" in t4
    t5 = (out / "table5.md").read_text()
    assert "Table 5 (visual backbones)" in t5 and "dinov2-s14-embedded" in t5 and "clip-b16-embedded" in t5
    csv = pd.read_csv(out / "table5.csv")
    assert set(csv.encoder) == {"clip-b16-embedded", "dinov2-s14-embedded"}


def test_results_without_an_axis_draw_no_figure(tmp_path):
    for seed in (0, 1):
        _write(tmp_path / "r", "depalm", seed, value=10.0 + seed)
    assert cli_main(["--report-only", "--results", str(tmp_path / "r"), "--out", str(tmp_path / "o")]) == 0
    assert not list((tmp_path / "o").glob("figure3*")) and not (tmp_path / "o" / "table5.md").exists()
