"""VQAv2 accuracy: official normalization and leave-one-out averaging, values computed by hand."""
import pytest

from benchmarks.metrics.vqa import (answer_accuracy, multiple_choice_accuracy, normalize_answer, vqa_accuracy)


@pytest.mark.parametrize("raw, expected", [
    ("two", "2"), ("none", "0"), ("Zero", "0"), ("a dog", "dog"), ("The Red Car", "red car"),
    ("yes.", "yes"), ("red, white", "red white"), ("dont", "don’t"), ("don't", "don t"), ("3.5", "3.5"),
    ("  hot\tdog\n", "hot dog"), ("what?", "what"), ("1,000", "1000"),
])
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


def test_number_words_match_digits():
    assert answer_accuracy("two", ["2"] * 10) == 1.0
    assert answer_accuracy("none", ["0"] * 10) == 1.0


def test_all_identical_answers_prediction_still_normalized():
    # 2017 evaluator: "Two" -> "2" although all ten answers are identical (current master would score 0).
    assert answer_accuracy("Two", ["2"] * 10) == 1.0
    assert answer_accuracy("The dog.", ["dog"] * 10) == 1.0


def test_official_targets_mode_only_strips_punctuation_of_differing_answers():
    assert answer_accuracy("2", ["two"] * 10, normalize_targets=False) == 0.0
    assert answer_accuracy("2", ["two"] * 10) == 1.0
    assert answer_accuracy("dont", ["don’t"] * 10, normalize_targets=False) == 1.0


def test_leave_one_out_partial_credit():
    # 2 of 10 say red: red annotators see 1 other match (1/3), blue annotators see 2 (2/3): (2/3 + 16/3) / 10
    assert answer_accuracy("red", ["red"] * 2 + ["blue"] * 8) == pytest.approx(0.6)
    # 3 matches: (3 * 2/3 + 7 * 1) / 10
    assert answer_accuracy("red", ["red"] * 3 + ["blue"] * 7) == pytest.approx(0.9)
    assert answer_accuracy("red", ["red"] * 4 + ["blue"] * 6) == 1.0
    assert answer_accuracy("green", ["red"] * 4 + ["blue"] * 6) == 0.0


def test_articles_and_punctuation_in_targets():
    answers = ["a dog", "dog", "Dog.", "the dog", "dog", "cat", "cat", "dog!", "dogs", "dog"]
    # "dog!" keeps "!" (not in the official punctuation list); 7 answers normalize to "dog"
    assert answer_accuracy("dog", answers) == 1.0
    assert normalize_answer("dog!") == "dog!"


def test_vqa_accuracy_scale_and_errors():
    preds = {"q1": "2", "q2": "no"}
    answers = {"q1": ["two"] * 10, "q2": ["yes"] * 10}
    assert vqa_accuracy(preds, answers) == pytest.approx(50.0)
    with pytest.raises(ValueError, match="no prediction"):
        vqa_accuracy({"q1": "2"}, answers)
    with pytest.raises(ValueError, match="at least one"):
        answer_accuracy("x", [])


def test_multiple_choice_exact_match():
    assert multiple_choice_accuracy({"a": "red car", "b": "Blue"}, {"a": "red car", "b": "blue"}) == 50.0
