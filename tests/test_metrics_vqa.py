"""VQA accuracy: the official evaluator's rules and DePALM's computation, pinned to the values both reference
implementations returned on hand-made edge cases (fixtures/vqa_metric/edge_cases.json says how they were run)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.metrics import METRIC_DESCRIPTIONS
from benchmarks.metrics.caption import tokenize
from benchmarks.metrics.vqa import (
    VQA_ACC,
    VQA_ACC_DEPALM,
    answer_accuracy,
    depalm_answer_accuracy,
    depalm_vqa_accuracy,
    multiple_choice_accuracy,
    normalize_answer,
    vqa_accuracy,
    vqa_scores,
)

FIXTURES = Path(__file__).parent / "fixtures" / "vqa_metric"
EDGE = json.loads((FIXTURES / "edge_cases.json").read_text(encoding="utf-8"))
CASES = EDGE["cases"]
SHIFTED_BY_DEPALM = set(EDGE["depalm_overall_excludes"])  # Java line breaks: DePALM scores a shifted line
TOKENIZED = [c for c in CASES if "tokenized_answers" in c["depalm"]]
TABLES = json.loads(
    (Path(__file__).parents[1] / "benchmarks" / "metrics" / "vqa_normalization.json").read_text(encoding="utf-8")
)
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="DePALM's metric runs the PTB tokenizer on Java")


def _ids(cases):
    return [c["id"] for c in cases]


def test_fixture_is_broad():
    assert len(CASES) >= 40 and len(set(_ids(CASES))) == len(CASES)
    # every contraction table entry, as a prediction, against its expansion
    assert len([c for c in CASES if c["id"].startswith("contraction_")]) == len(TABLES["contractions"]) == 120
    assert {c["official"]["accuracy"] for c in CASES} >= {0.0, 0.3, 0.6, 0.9, 1.0}


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_official_evaluator_values(case):
    acc = answer_accuracy(case["prediction"], case["answers"])
    assert normalize_answer(case["prediction"]) == case["official"]["normalized_prediction"]
    # bit-identical on the fixture's Python (3.11); 3.12+ sums floats with compensation, hence the tolerance
    assert acc == pytest.approx(case["official"]["accuracy"], abs=1e-12)
    assert round(100 * acc, 2) == case["official"]["evalQA"]


def test_official_overall_rounds_to_the_evaluator_figure():
    preds = {c["id"]: c["prediction"] for c in CASES}
    answers = {c["id"]: c["answers"] for c in CASES}
    assert round(vqa_accuracy(preds, answers), 2) == EDGE["official_overall"]


def test_defects_of_the_old_tables_are_gone():
    assert answer_accuracy("blue!", ["blue"] * 10) == 1.0
    assert answer_accuracy("dont know", ["don't know"] * 10) == 1.0
    assert not any("\u2019" in k + v for k, v in TABLES["contractions"].items())
    assert "!" in TABLES["punctuation"] and "'" not in TABLES["punctuation"] and ":" not in TABLES["punctuation"]


def test_prediction_normalized_even_when_answers_agree():
    # feature/update_style; master skips all normalization when the answers are identical (0 there)
    assert answer_accuracy("Two", ["2"] * 10) == 1.0
    # ... while identical answers are never touched, differing ones only lose punctuation
    assert answer_accuracy("t-shirt", ["t-shirt"] * 10) == 0.0
    assert answer_accuracy("t-shirt", ["t-shirt"] * 9 + ["tshirt"]) == 1.0
    assert answer_accuracy("2", ["two"] * 10) == 0.0


@pytest.mark.parametrize("case", TOKENIZED, ids=_ids(TOKENIZED))
def test_depalm_values_on_its_tokenized_text(case):
    dep = case["depalm"]
    assert normalize_answer(dep["tokenized_prediction"]) == dep["normalized_prediction"]
    acc = depalm_answer_accuracy(dep["tokenized_prediction"], dep["tokenized_answers"])
    assert 100 * acc == pytest.approx(dep["accuracy_x100"], abs=1e-10)
    assert round(100 * acc, 2) == dep["rounded"]


def test_depalm_normalizes_answers_fully():
    assert depalm_answer_accuracy("2", ["two"] * 10) == 1.0
    assert depalm_answer_accuracy("dog", ["the dog"] * 10) == 1.0
    assert depalm_answer_accuracy("yes", ["Yes "] * 10) == 1.0


@needs_java
def test_depalm_tokenization_and_overall_match_depalm():
    cases = [c for c in TOKENIZED if c["id"] not in SHIFTED_BY_DEPALM]
    tok = tokenize(
        {**{("p", c["id"]): [c["prediction"]] for c in cases}, **{("a", c["id"]): c["answers"] for c in cases}}
    )
    wrong = [
        c["id"]
        for c in cases
        if tok[("p", c["id"])] != [c["depalm"]["tokenized_prediction"]]
        or tok[("a", c["id"])] != c["depalm"]["tokenized_answers"]
    ]
    assert not wrong
    preds = {c["id"]: c["prediction"] for c in cases}
    answers = {c["id"]: c["answers"] for c in cases}
    assert round(depalm_vqa_accuracy(preds, answers), 2) == EDGE["depalm_overall"]


@needs_java
def test_java_line_breaks_do_not_shift_later_questions():
    (case,) = [c for c in CASES if c["id"] in SHIFTED_BY_DEPALM]
    assert case["depalm"]["accuracy_x100"] == 0.0  # DePALM scored only 'red' of 'red\rcar' (a deliberate deviation)
    preds = {"cr": case["prediction"], "next": "car"}
    scores = vqa_scores(preds, {"cr": case["answers"], "next": ["car"] * 10})
    assert scores == {VQA_ACC: 100.0, VQA_ACC_DEPALM: 100.0}


def test_scores_carry_one_line_descriptions():
    scores = vqa_scores({"q": "two"}, {"q": ["2"] * 10})
    assert scores == {VQA_ACC: 100.0, VQA_ACC_DEPALM: 100.0}
    assert set(scores) <= set(METRIC_DESCRIPTIONS)
    assert all(d and "\n" not in d for d in METRIC_DESCRIPTIONS.values())
    out = subprocess.run(
        [sys.executable, "-c", "import sys, benchmarks.metrics; print('torch' in sys.modules)"],
        check=False,
        capture_output=True,
        text=True,
        cwd=Path(__file__).parents[1],
    )
    assert out.stdout.strip() == "False", out.stderr


def test_errors():
    answers = {"q1": ["2"] * 10, "q2": ["yes"] * 10}
    for metric in (vqa_accuracy, depalm_vqa_accuracy):
        with pytest.raises(ValueError, match="no prediction"):
            metric({"q1": "2"}, answers)
        with pytest.raises(ValueError, match="at least one human answer"):
            metric({"q1": "2"}, {"q1": []})
        with pytest.raises(ValueError, match="no questions"):
            metric({}, {})
    with pytest.raises(ValueError, match="at least one"):
        answer_accuracy("x", [])


def test_multiple_choice_exact_match():
    assert multiple_choice_accuracy({"a": "red car", "b": "Blue"}, {"a": "red car", "b": "blue"}) == 50.0
