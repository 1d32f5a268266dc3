"""The reports' data layer (harness/report/aggregate.py, ranking.py) and exporters (render.py), checked on frames:
Table 4's values, ranks, scores and marks for the golden runs fixture without going through text."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest
from test_report_golden import PAPER_RESULTS, write_run_results

from harness.report import aggregate
from harness.report.document import Name, Ranked, Table, header
from harness.report.ranking import aggregate as rank_and_score
from harness.report.ranking import column_ranks
from harness.report.render import LATEX, MARKDOWN
from harness.report.select import make_section, run_sections
from harness.store.results import read_results

LOSS_NAN = "RuntimeError: loss is NaN at step 12"


@pytest.fixture(scope="module")
def sections(tmp_path_factory) -> dict:
    rows = read_results([write_run_results(tmp_path_factory.mktemp("runs"))])
    return {s.key: s for s in run_sections(rows)}


def _counting_rule(values: pd.DataFrame) -> pd.DataFrame:
    """Table 4's rules written out: rank 1 + number strictly better, missing = number of methods; score
    100 x value / column best, missing = 0; both averaged over the columns."""
    n = len(values)
    ranks = values.apply(lambda col: col.map(lambda x: n if math.isnan(x) else 1 + int((col > x).sum())))
    scores = values.apply(lambda col: (100 * col / col.max()).fillna(0.0))
    return pd.DataFrame({"rank": ranks.mean(axis=1), "score": scores.mean(axis=1)})


def test_table4_frame_of_the_runs_fixture(sections):
    t = aggregate.table4(sections["run-smoke-official-1"])
    methods = ["limber-all", "mapl", "epalm", "depalm", "depalm-qp8"]
    assert t.cells.mean.index.tolist() == methods
    assert t.cells.mean.columns.tolist() == [
        "syn-coco",
        "syn-vqav2",
        "syn-okvqa",
        "syn-audiocaps",
        "syn-msrvtt",
        "easy-vqa",
        "zz-plugin",
    ]
    # syn-coco: depalm's lr 8e-4 won on val, its test mean is reported; mapl and LiMBeR tie for third
    assert t.cells.mean["syn-coco"].tolist() == [37.0, 37.0, 16.5, 41.0, 42.25]
    assert t.ranks["syn-coco"].tolist() == [3, 3, 5, 2, 1]
    # eP-ALM failed on syn-vqav2: missing, no rank of its own, flagged ✗; the failed seed of MAPL on easy-vqa is left
    # out of the mean (62 of seeds 0 and 2) but flagged; DePALM^{QP8}'s unstable seed likewise (♦)
    assert math.isnan(t.cells.mean.loc["epalm", "syn-vqav2"]) and math.isnan(t.ranks.loc["epalm", "syn-vqav2"])
    assert t.cells.mean.loc["mapl", "easy-vqa"] == 63.0
    assert t.cells.marks.loc[["mapl", "epalm", "depalm-qp8"], ["easy-vqa", "syn-vqav2"]].values.tolist() == [
        ["✗", ""],
        ["", "✗"],
        ["♦", ""],
    ]
    assert t.cells.marks.loc["depalm"].tolist() == [""] * 7
    flagged = t.cells.flagged.set_index(["method", "dataset"])
    assert flagged[["n_bad", "n_runs", "status"]].to_dict("index") == {
        ("mapl", "easy-vqa"): {"n_bad": 1, "n_runs": 3, "status": "failed"},
        ("epalm", "syn-vqav2"): {"n_bad": 2, "n_runs": 2, "status": "failed"},
        ("depalm-qp8", "easy-vqa"): {"n_bad": 1, "n_runs": 3, "status": "unstable"},
    }
    assert set(flagged.error) == {LOSS_NAN}
    # averages by the rules written out; positions with ties; the worst status of each row
    expected = _counting_rule(t.cells.mean)
    pd.testing.assert_series_equal(t.summary["rank"], expected["rank"], check_names=False)
    pd.testing.assert_series_equal(t.summary["score"], expected["score"], check_names=False)
    assert t.summary["rank"].round(1).tolist() == [3.9, 2.6, 4.9, 1.6, 3.9]
    assert t.summary.rank_pos.tolist() == [3, 2, 5, 1, 3] and t.summary.score_pos.tolist() == [4, 2, 5, 1, 3]
    assert t.summary.status.tolist() == ["ok", "failed", "failed", "ok", "unstable"]
    assert t.summary.train_time.drop("depalm").tolist() == [101.0] * 4  # 100 s + seed: seeds 0-2 (or 0 and 2)


def test_a_rerun_replaces_the_failed_run_and_single_settings_need_no_grid(sections):
    s = sections["run-smoke-official-1"]
    c = aggregate.cells(s, [("syn-msrvtt", "CIDEr", "test"), ("syn-msrvtt", "METEOR", "test")])
    assert c.mean.columns.tolist() == ["syn-msrvtt:CIDEr:test", "syn-msrvtt:METEOR:test"]
    assert c.mean.loc["depalm"].round(6).tolist() == [48.333333, 29.0]  # seeds 0 (the rerun), 1, 2
    assert c.status.loc["depalm"].tolist() == ["ok", "ok"] and s.superseded == 1
    assert c.mean.loc["mapl"].tolist() == [47.0, 28.2]  # lr 8e-4, the better on test (no val split)
    assert c.std.loc["mapl", "syn-msrvtt:CIDEr:test"] == 1.0
    assert c.mean.loc["limber-all"].isna().all() and c.status.loc["limber-all"].tolist() == ["ok", "ok"]  # not run


def test_paper_cells_keep_the_printed_std_and_the_papers_marks():
    paper = read_results([PAPER_RESULTS])
    t4 = make_section(paper[paper.table_ref == "table4"], "t4", "Table 4", choose=False)
    c = aggregate.table4(t4).cells
    note = "tokens first averaged across time to prevent memory errors"
    assert c.footnotes == {note: "•"}
    assert c.marks.loc[["limber-1", "depalm-r-rand"], "msrvtt"].tolist() == ["•", "•"]
    assert c.marks.loc["depalm-c-attn", "textcaps"] == "♦" and c.status.loc["depalm-c-attn", "coco"] == "ok"
    s2 = make_section(paper[paper.table_ref == "tableS2"], "s2", "Table S2", choose=False)
    c2 = aggregate.cells(s2, [("textcaps", "CIDEr", "val"), ("vqav2", "VQA_acc", "test")])
    assert c2.mean.loc["limber-all"].tolist() == [75.51, 72.73] and c2.std.loc["limber-all"].tolist() == [19.68, 0.1]


def test_pandas_rank_is_the_counting_rule_with_ties_and_missing_cells():
    rng = random.Random(0)
    for _ in range(200):
        n, m = rng.randint(1, 8), rng.randint(1, 5)
        values = pd.DataFrame(
            [[rng.choice([math.nan, 1.0, 2.0, 2.5, 7.0, 100 * rng.random()]) for _ in range(m)] for _ in range(n)],
            index=[f"m{i}" for i in range(n)],
        )
        ranks = column_ranks(values)
        for col in values:
            for method, x in values[col].items():
                assert (math.isnan(x) and math.isnan(ranks.loc[method, col])) or ranks.loc[method, col] == 1 + (
                    values[col] > x
                ).sum()
        got, expected = rank_and_score(values), _counting_rule(values)
        assert got["rank"].tolist() == pytest.approx(expected["rank"].tolist())
        assert got["score"].fillna(-1).tolist() == pytest.approx(expected["score"].fillna(-1).tolist())
        for key, better in (("rank", got["rank"].lt), ("score", got["score"].gt)):
            assert got[f"{key}_pos"].tolist() == [1 + int(better(x).sum()) for x in got[key]]


def test_both_formats_print_the_same_frames():
    table = Table(
        "c",
        pd.DataFrame(
            [["1.00", "2|3"], ["—", "x_y"]],
            index=["DePALM^{QP8}", "MAPL"],
            columns=header([("COCO", "CIDEr"), ("Avg.",)]),
        ),
        place=pd.DataFrame([[1.0, math.nan], [math.nan, 2.0]]),
        marks=pd.DataFrame([["•", ""], ["✗", ""]]),
    )
    assert MARKDOWN.cells(table) == [["**1.00**•", r"2\|3"], ["—✗", "<ins>x_y</ins>"]]
    assert LATEX.cells(table) == [
        [r"\textbf{1.00}\ensuremath{\bullet}", "2|3"],
        [r"---\ensuremath{\times}", r"\underline{x\_y}"],
    ]
    assert table.text.columns.tolist() == [("COCO", "CIDEr"), ("", "Avg.")]  # header lines padded at the top
    text = (Name("DePALM^{QP8}"), " on COCO_1: ", Ranked("best", 1))
    assert MARKDOWN.text(text) == "DePALM^{QP8} on COCO_1: **best**"
    assert LATEX.text(text) == r"DePALM\textsuperscript{QP8} on COCO\_1: \textbf{best}"
