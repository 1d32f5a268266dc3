"""Reports (harness/report): Table 4 / S2–S5 / 3 from results/paper and from runs, via the CLI; LaTeX sanity; tolerance
to corrupted files; lr-grid selection; no mixing of profiles / backbones; no torch."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import get_benchmark
from benchmarks.metrics import METRIC_DESCRIPTIONS
from harness.cli import main as cli_main
from harness.report import render_reports
from harness.report.labels import paper_columns
from harness.report.paper_numbers import PAPER_METHODS, TABLE4, parse_block
from harness.store.results import ResultsWarning, read_results, write_result

REPO = Path(__file__).resolve().parent.parent
PAPER = REPO / "results" / "paper"
TABLE4_CSV_COLUMNS = ["method", *paper_columns(), "train_time", "rank", "rank_pos", "score", "score_pos", "section"]


@pytest.fixture(scope="module")
def paper_report(tmp_path_factory) -> Path:
    """Acceptance: `python run_matrix.py --report-only --results results/paper --out DIR`, through the CLI."""
    out = tmp_path_factory.mktemp("report")
    assert cli_main(["--report-only", "--results", str(PAPER), "--out", str(out)]) == 0
    return out


def _printed_aggregates() -> pd.DataFrame:
    header, rows = parse_block(TABLE4)
    return pd.DataFrame(rows, columns=header).set_index("method")


ALL_TABLES = ("table4", "tableS2", "tableS3", "tableS4", "tableS5", "table3", "table5", "table6", "tableS6", "tableS7")


def test_report_only_writes_every_table_in_three_formats(paper_report):
    for name in ALL_TABLES:
        for ext in ("md", "tex", "csv"):
            assert (paper_report / f"{name}.{ext}").stat().st_size > 0, f"{name}.{ext}"


def test_table4_csv_has_one_row_per_method_and_the_documented_columns(paper_report):
    df = pd.read_csv(paper_report / "table4.csv")
    assert list(df.columns) == TABLE4_CSV_COLUMNS
    assert df.method.tolist() == list(PAPER_METHODS)
    assert df.set_index("method").loc["depalm", "coco"] == 131.29
    assert df.set_index("method").loc["limber-all", "train_time"] == 4 * 3600 + 59 * 60


def test_table4_rank_and_score_equal_the_paper_to_one_decimal(paper_report):
    df = pd.read_csv(paper_report / "table4.csv").set_index("method")
    printed = _printed_aggregates()
    for method in PAPER_METHODS:
        assert f"{df.loc[method, 'rank']:.1f}" == printed.loc[method, "rank"], method
        assert f"{df.loc[method, 'score']:.1f}" == printed.loc[method, "score"], method
    # positions: computed correctly; the paper's two slips (eP-ALM) are corrected and noted
    assert (df.loc["epalm", "rank_pos"], df.loc["epalm", "score_pos"]) == (11, 10)
    same = [m for m in PAPER_METHODS if m != "epalm"]
    assert df.loc[same, "rank_pos"].astype(str).tolist() == printed.loc[same, "rank_pos"].tolist()
    assert df.loc[same, "score_pos"].astype(str).tolist() == printed.loc[same, "score_pos"].tolist()


def test_table4_markdown_states_the_rules_highlights_and_the_paper_slips(paper_report):
    md = (paper_report / "table4.md").read_text()
    assert "1 + the number of methods with a strictly better value" in md and "a missing cell counts 0" in md
    assert "eP-ALM: rank position printed (10), computed (11); score position printed (11), computed (10)" in md
    row = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert "**136.31**" in row["LiMBeR⁽ᵃˡˡ⁾"] and "<ins>134.90</ins>" in row["DePALM^{R-rand,L0}"]
    assert "*133.01*" in row["DePALM^{R-linear,L0}"]
    assert "| 10.4 (11) | 73.1 (10) |" in row["eP-ALM"]
    assert "—♦" in row["DePALM^{c-attn}"] and "36.9 (11)♦" in row["DePALM^{c-attn}"]
    assert "4h59" in row["LiMBeR⁽ᵃˡˡ⁾"] and "AudioCaps" in md.split("Train time:")[1]


def _tex_rows(tex: str) -> list[str]:
    body = tex.split("\\midrule\n", 1)[1].split("\\bottomrule", 1)[0]
    return [line for line in body.splitlines() if line.endswith("\\\\")]


def _balanced(tex: str) -> bool:
    depth = 0
    for ch in re.sub(r"\\[{}]", "", tex):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_table4_latex_is_booktabs_balanced_one_row_per_method_with_highlights(paper_report):
    tex = (paper_report / "table4.tex").read_text()
    for rule in ("\\toprule", "\\midrule", "\\bottomrule", "\\begin{tabular}", "\\end{tabular}"):
        assert tex.count(rule) == 1, rule
    assert "\\hline" not in tex and _balanced(tex)
    rows = _tex_rows(tex)
    assert len(rows) == 11
    n_cols = tex.split("\\begin{tabular}{", 1)[1].split("}", 1)[0]
    assert all(r.count(" & ") == len(n_cols) - 1 for r in rows)
    by_label = {r.split(" & ")[0]: r.split(" & ") for r in rows}
    assert by_label["LiMBeR\\textsuperscript{(all)}"][1] == "\\textbf{136.31}"
    assert by_label["DePALM\\textsuperscript{R-rand,L0}"][1] == "\\underline{134.90}"
    assert by_label["DePALM\\textsuperscript{R-linear,L0}"][1] == "\\textit{133.01}"
    assert by_label["DePALM"][-2] == "\\textbf{2.5 (1)}"
    assert "%" not in tex.split("\\toprule")[1].replace("\\%", "")  # percent signs escaped


@pytest.mark.parametrize(
    "name, n_rows",
    [
        ("tableS2", [11]),
        ("tableS3", [10]),
        ("tableS4", [10]),
        ("tableS5", [11]),
        ("table3", [6]),
        ("table5", [8, 6]),
        ("table6", [12]),
        ("tableS6", [4]),
        ("tableS7", [4]),
    ],
)
def test_other_tables_latex_and_rows(paper_report, name, n_rows):
    tex = (paper_report / f"{name}.tex").read_text()
    assert _balanced(tex) and tex.count("\\toprule") == tex.count("\\bottomrule") == len(n_rows)
    tables = tex.split("\\end{table}")[:-1]
    assert [len(_tex_rows(t)) for t in tables] == n_rows


def test_published_only_tables(paper_report):
    t6 = (paper_report / "table6.md").read_text()
    assert "| DePALM (ours) | **131.3** | **87.1** | **70.1** | **37.7** | **49.9** |" in t6
    assert "| Flamingo [1] | 138.1† |" in t6
    t5 = (paper_report / "table5.md").read_text()
    assert "| eva-clip-l | 130.66 | 123.2 | 37.13 | 79.8 |" in t5
    assert "| llama-7b | 130.73 | 123.12 | 42.48 | 51.02 |" in t5
    assert "| Emitted kg of CO₂: E | 1.89 | 1.17 | 1.99 | 0.44 |" in (paper_report / "tableS7.md").read_text()
    s6 = pd.read_csv(paper_report / "tableS6.csv")
    assert s6.set_index("method").loc["depalm+bias-ft"].query("dataset == 'audiocaps'").value.tolist() == [47.35]


def test_supplementary_tables_show_mean_and_std(paper_report):
    md = (paper_report / "tableS2.md").read_text()
    assert "75.51±19.68" in md and "| 44.84 |" not in md
    assert "44.84 | 44.89" in (paper_report / "tableS5.md").read_text()  # printed without std
    s3 = pd.read_csv(paper_report / "tableS3.csv").set_index("method")
    assert s3.loc["depalm", "audiocaps:SPIDEr:test"] == 43.37 and s3.loc["depalm", "audiocaps:SPIDEr:test:std"] == 1.42
    assert "B@4" in (paper_report / "tableS4.md").read_text()


def test_table3_puts_published_numbers_next_to_the_reimplementation(paper_report):
    md = (paper_report / "table3.md").read_text()
    assert "18.7 / 31.6‡" in md and "**136.3**" in md and "39.2†" in md
    csv = pd.read_csv(paper_report / "table3.csv")
    ours = csv[csv.origin == "reimplementation"].set_index("method")
    assert ours.loc["mapl", "vqav2"] == 67.1 and ours.loc["epalm", "okvqa"] == 23.5


def test_corrupted_file_beside_good_ones_is_named_and_skipped(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(PAPER, results / "paper")
    (results / "paper" / "zz-broken.parquet").write_bytes(b"PAR1\x00\x01 truncated")
    with pytest.warns(ResultsWarning, match="zz-broken.parquet"):
        paths = render_reports([results], tmp_path / "out")
    assert tmp_path / "out" / "table4.md" in paths
    assert len(pd.read_csv(tmp_path / "out" / "table4.csv")) == 11


def test_empty_results_directory_is_a_usage_error(tmp_path, capsys):
    assert cli_main(["--report-only", "--results", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no results found" in capsys.readouterr().err


def test_report_path_imports_no_torch(tmp_path):
    code = (
        "import sys; from pathlib import Path; from harness.cli import main; "
        f"assert main(['--report-only', '--results', {str(PAPER)!r}, '--out', {str(tmp_path)!r}]) == 0; "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True)


# ---------------------------------------------------------------------------------------------- run results


def _run(
    root: Path,
    method: str,
    dataset: str,
    seed: int,
    lr: float,
    scores: dict[str, float],
    *,
    llm="smollm2-135m",
    encoder="clip-b16-embedded",
    profile="smoke",
    status="ok",
    metric=None,
    run_id=None,
    variant=None,
    grad_clip=0.8,
    method_display=None,
    created_at=None,
    companions=None,
):
    """One run's rows: `scores` split -> primary value; CIDEr runs add BLEU_4 = CIDEr / 4, and `companions`
    (metric -> factor) adds further metrics as factor x the primary value."""
    metric = metric or ("VQA_acc" if "vqa" in dataset else "CIDEr")
    extra = {} if variant is None else {"variant": variant}  # rows without the column: written before the axis
    extra |= {k: v for k, v in (("method_display", method_display), ("created_at", created_at)) if v is not None}
    rows = [
        dict(
            method=method,
            dataset=dataset,
            seed=seed,
            lr=lr,
            grad_clip=grad_clip,
            llm=llm,
            encoder=encoder,
            profile=profile,
            **extra,
            split=split,
            metric=metric,
            value=value if status == "ok" else None,
            status=status,
            error="" if status == "ok" else "RuntimeError: loss is NaN at step 12",
            train_time_s=100.0 + seed,
        )
        for split, value in scores.items()
    ]
    factors = ({"BLEU_4": 0.25} if metric == "CIDEr" else {}) | (companions or {})
    rows += [
        dict(r, metric=m, value=None if r["value"] is None else r["value"] * f)
        for m, f in factors.items()
        for r in rows
    ]
    write_result(rows, root, run_id or f"{profile}-{method}-{dataset}-{llm}-s{seed}-lr{lr:g}")


@pytest.fixture
def run_results(tmp_path) -> Path:
    root = tmp_path / "results" / "runs"
    for seed in (0, 1):
        # depalm on syn-coco: lr 1e-3 wins on test, 8e-4 on val -> 8e-4 is chosen and its test value reported
        _run(root, "depalm", "syn-coco", seed, 1e-3, {"val": 30.0, "test": 40.0})
        _run(root, "depalm", "syn-coco", seed, 8e-4, {"val": 35.0, "test": 20.0 + seed})
        _run(root, "mapl", "syn-coco", seed, 1e-3, {"val": 25.0, "test": 30.0})
        _run(root, "mapl", "syn-coco", seed, 8e-4, {"val": 20.0, "test": 10.0})
        _run(root, "depalm", "easy-vqa", seed, 8e-4, {"val": 50.0, "test": 51.0})
        _run(root, "mapl", "easy-vqa", seed, 8e-4, {"val": 60.0, "test": 61.0}, status="failed" if seed == 1 else "ok")
        _run(root, "depalm", "syn-vqav2", seed, 8e-4, {"val": 40.0, "test": 41.0})
        _run(root, "mapl", "syn-vqav2", seed, 8e-4, {"val": 45.0})
    # the same method on another LLM (an --llm override) and another profile must not land in the same table
    _run(root, "depalm", "syn-coco", 0, 8e-4, {"val": 99.0, "test": 99.0}, llm="opt-125m")
    _run(root, "depalm", "syn-coco", 0, 8e-4, {"val": 77.0, "test": 77.0}, profile="cpu")
    return tmp_path / "results"


def test_runs_report_selects_lr_on_val_and_reports_test(run_results, tmp_path):
    render_reports([run_results], tmp_path / "out")
    df = pd.read_csv(tmp_path / "out" / "table4.csv")
    smoke = df[df.section == "run-smoke-paper-1"].set_index("method")
    assert smoke.loc["depalm", "syn-coco"] == 20.5  # lr 8e-4 (best val), test mean over seeds 20 and 21
    assert smoke.loc["mapl", "syn-coco"] == 30.0  # lr 1e-3 (best val)
    assert smoke.loc["mapl", "easy-vqa"] == 61.0  # the failed seed is left out of the mean ...
    md = (tmp_path / "out" / "table4.md").read_text()
    assert "**61.00**✗" in md and "1 of 2 run(s) failed; first error: RuntimeError: loss is NaN" in md  # ... and shown
    hp = pd.read_csv(tmp_path / "out" / "table4_hparams.csv")
    chosen = hp[hp.section == "run-smoke-paper-1"].set_index(["method", "dataset"])
    assert chosen.loc[("depalm", "syn-coco"), "lr"] == 8e-4 and chosen.loc[("mapl", "syn-coco"), "lr"] == 1e-3
    assert chosen.loc[("depalm", "syn-coco"), "n_candidates"] == 2
    assert "Selected learning rate per cell" in md and "8e-4 /2" in md and "1e-3 /2" in md


def test_a_rerun_supersedes_the_older_run_of_the_same_cell_and_seed(run_results, tmp_path):
    root = run_results / "runs"
    assert len(list(root.glob("smoke-mapl-easy-vqa-*-s1-*.parquet"))) == 1  # the failed seed
    _run(root, "mapl", "easy-vqa", 1, 8e-4, {"val": 62.0, "test": 63.0}, run_id="retry")  # written later
    render_reports([run_results], tmp_path / "out")
    smoke = pd.read_csv(tmp_path / "out" / "table4.csv").query("section == 'run-smoke-paper-1'").set_index("method")
    assert smoke.loc["mapl", "easy-vqa"] == 62.0  # mean of seed 0 (61) and the retried seed 1 (63)
    md = (tmp_path / "out" / "table4.md").read_text()
    assert "1 older run(s) superseded by a rerun" in md and "run(s) failed" not in md


def test_runs_report_the_split_of_the_paper_column(run_results, tmp_path):
    render_reports([run_results], tmp_path / "out")
    smoke = pd.read_csv(tmp_path / "out" / "table4.csv").query("section == 'run-smoke-paper-1'").set_index("method")
    # syn-vqav2 reports its spec's split, test (the offline mirrors report test and select on val, where the
    # paper reports VQAv2 on val): a run scored on val alone leaves its cell empty
    assert get_benchmark("syn-vqav2").spec.eval_split == "test"
    assert smoke.loc["depalm", "syn-vqav2"] == 41.0 and pd.isna(smoke.loc["mapl", "syn-vqav2"])
    assert smoke.loc["depalm", "easy-vqa"] == 51.0  # no paper column: test where present


def test_runs_of_other_profiles_and_backbones_get_their_own_sections(run_results, tmp_path):
    render_reports([run_results], tmp_path / "out")
    df = pd.read_csv(tmp_path / "out" / "table4.csv")
    assert sorted(set(df.section)) == ["run-cpu-paper-1", "run-smoke-paper-1", "run-smoke-paper-2"]
    assert df[df.section == "run-smoke-paper-2"]["syn-coco"].tolist() == [99.0]
    assert df[df.section == "run-cpu-paper-1"]["syn-coco"].tolist() == [77.0]
    assert 77.0 not in df[df.section == "run-smoke-paper-1"]["syn-coco"].tolist()
    md = (tmp_path / "out" / "table4.md").read_text()
    assert "## Runs, profile smoke, variant paper (backbone set 2 of 2: opt-125m + clip-b16-embedded)" in md
    # paper column order with the benchmark titles; unknown datasets (easy-vqa) after
    assert list(df.columns[1:4]) == ["syn-coco", "syn-vqav2", "easy-vqa"]
    assert "COCO [offline]<br>CIDEr Test ↑" in md and "easy-vqa<br>Acc Test ↑" in md


def test_runs_supplementary_and_table3(run_results, tmp_path):
    render_reports([run_results, PAPER], tmp_path / "out")
    s2 = (tmp_path / "out" / "tableS2.md").read_text()
    assert "20.50±0.71" in s2 and "5.12±0.18" in s2  # CIDEr and BLEU_4 of the chosen lr, mean ± std over seeds
    assert (
        "## Runs, profile smoke, variant paper (backbone set 1 of 2: smollm2-135m + clip-b16-embedded)" in s2
        and "## DePALM paper, Table S2" in s2
    )
    t3 = pd.read_csv(tmp_path / "out" / "table3.csv")
    runs = t3[(t3.section == "run-smoke-paper-1") & (t3.origin == "reimplementation")].set_index("method")
    assert runs.loc["mapl", "coco"] == 30.0
    assert "not directly comparable" in (tmp_path / "out" / "table3.md").read_text()
    t4 = pd.read_csv(tmp_path / "out" / "table4.csv")
    assert t4.section.iloc[0] == "paper-table4" and len(t4[t4.section == "paper-table4"]) == 11


def test_every_latex_file_is_well_formed_for_mixed_results(run_results, tmp_path):
    paths = render_reports([run_results, PAPER], tmp_path / "out")
    for path in (p for p in paths if p.suffix == ".tex"):
        tex = path.read_text()
        assert _balanced(tex), path.name
        n = tex.count("\\begin{tabular}")
        assert n and tex.count("\\toprule") == tex.count("\\bottomrule") == n <= tex.count("\\midrule"), path.name
        for table in tex.split("\\end{table}")[:-1]:
            n_cols = len(table.split("\\begin{tabular}{", 1)[1].split("}", 1)[0])
            assert all(r.count(" & ") == n_cols - 1 for r in _tex_rows(table)), path.name


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed (the checks above need none)")
def test_latex_compiles_when_pdflatex_is_installed(run_results, tmp_path):
    paths = render_reports([run_results, PAPER], tmp_path / "out")
    for path in (p for p in paths if p.suffix == ".tex"):
        doc = tmp_path / f"{path.stem}-doc.tex"
        doc.write_text(
            "\\documentclass{article}\\usepackage[T1]{fontenc}\\usepackage[utf8]{inputenc}"
            "\\usepackage{booktabs}"
            f"\\begin{{document}}\\input{{{path}}}\\end{{document}}\n"
        )
        done = subprocess.run(
            ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", doc.name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{path.name}: {done.stdout[-2000:]}"
        assert "Missing character" not in (tmp_path / f"{path.stem}-doc.log").read_text(), path.name


def test_variants_get_sections_of_their_own_and_old_rows_read_as_paper(tmp_path):
    root = tmp_path / "results"
    for seed in (0, 1):
        _run(root, "depalm", "syn-coco", seed, 8e-4, {"test": 30.0}, variant="official")
        _run(root, "depalm", "syn-coco", seed, 8e-4, {"test": 10.0}, run_id=f"old-{seed}")  # no variant column
        _run(root, "mapl", "syn-coco", seed, 8e-4, {"test": 20.0}, variant="official", run_id=f"mapl-{seed}")
    assert set(read_results([root]).variant) == {"official", "paper"}
    render_reports([root], tmp_path / "out")
    df = pd.read_csv(tmp_path / "out" / "table4.csv")
    official = df[df.section == "run-smoke-official-1"].set_index("method")
    paper = df[df.section == "run-smoke-paper-1"].set_index("method")
    assert official.loc["depalm", "syn-coco"] == 30.0 and official.loc["mapl", "syn-coco"] == 20.0
    assert paper["syn-coco"].tolist() == [10.0]  # never averaged with the official runs of the same cell
    md = (tmp_path / "out" / "table4.md").read_text()
    assert "## Runs, profile smoke, variant official" in md and "## Runs, profile smoke, variant paper" in md
    assert "recipe variant official" in md


def test_vqa_tables_say_which_accuracy_each_column_shows(tmp_path, paper_report):
    root = tmp_path / "results"
    for seed in (0, 1):
        _run(
            root,
            "depalm",
            "syn-vqav2",
            seed,
            8e-4,
            {"val": 50.0 + seed, "test": 49.0},
            variant="official",
            companions={"VQA_acc_depalm": 1.02},
        )
    render_reports([root], tmp_path / "out")
    s2 = (tmp_path / "out" / "tableS2.md").read_text()
    # the DePALM code's accuracy (the paper's computation) beside the official evaluator's, each named
    assert (
        "| VQAv2 [offline]<br>Acc Val | VQAv2 [offline]<br>Acc Test | VQAv2 [offline]<br>Acc (DePALM) Val | "
        "VQAv2 [offline]<br>Acc (DePALM) Test |"
    ) in s2
    assert f"- Acc = VQA_acc: {METRIC_DESCRIPTIONS['VQA_acc']} (the paper's numbers: VQA_acc_depalm)." in s2
    assert f"- Acc (DePALM) = VQA_acc_depalm: {METRIC_DESCRIPTIONS['VQA_acc_depalm']}." in s2
    t4 = (tmp_path / "out" / "table4.md").read_text()
    assert "- Acc = VQA_acc: VQA accuracy, official VQA evaluator" in t4 and "Acc (DePALM)" not in t4
    # the paper's own sections: their accuracies come from the DePALM code's computation
    said = (
        "the DePALM authors' numbers come from the official DePALM code's own metric, which runs report as "
        "VQA_acc_depalm (Acc (DePALM)), not as VQA_acc"
    )
    for name in ("table4", "tableS2", "tableS5", "table3", "table5", "table6"):
        assert said in (paper_report / f"{name}.md").read_text(), name
    assert "DePALM code's own metric" not in (paper_report / "tableS3.md").read_text()  # no VQA column
