"""VQA accuracy (Sec. 4.1: "the official VQAv2 accuracy metric"), computed two ways, and multiple-choice exact match.

`VQA_acc` is the official evaluator, GT-Vision-Lab/VQA vqaEval.py on branch feature/update_style (its Python 3
port, commit 0dc4ab7), whose tables live verbatim in vqa_normalization.json. Per question:
- the prediction is always normalized (`normalize_answer`): newlines/tabs -> spaces, strip, the punctuation rule,
  lowercase, number words -> digits, articles dropped, contraction table;
- the human answers are compared as stored, except that when they are not all identical each gets the punctuation
  rule alone (no strip, no lowercasing, no digit/article/contraction mapping): the official annotation files hold
  answers processed in advance (OK-VQA keeps the unprocessed ones as `raw_answer`);
- accuracy = mean over the answers of min(1, matches among the other answers / 3).
The evaluator rounds only what it prints (overall, per type and per question, x100 to 2 decimals); values here are
unrounded. master (a013f00) differs: there the prediction and the answers are fully normalized only when the answers
differ and not at all when they are identical ("Two" against ten "2" scores 0 there, 100 here).

`VQA_acc_depalm` is the accuracy as the official DePALM code computes the paper's numbers: prediction and answers are
PTB-tokenized first (CoreNLP 3.4.1, lowercased, punctuation tokens dropped: the caption metrics' tokenizer), then
all of them fully normalized with the same tables, then the same leave-one-out mean. DePALM rounds the mean to
2 decimals; not here either.
"""

from __future__ import annotations

import json
import re
from importlib.resources import files

VQA_ACC = "VQA_acc"
VQA_ACC_DEPALM = "VQA_acc_depalm"
METRIC_DESCRIPTIONS = {
    VQA_ACC: "VQA accuracy, official VQA evaluator (GT-Vision-Lab/VQA vqaEval.py, feature/update_style): normalized "
    "prediction vs the stored answers, mean of min(1, matches/3) leaving each annotator out",
    VQA_ACC_DEPALM: "VQA accuracy as the official DePALM code computes it (PTB-tokenized, fully normalized prediction "
    "and answers, same leave-one-out mean): the computation behind the paper's tables",
}

_TABLES = json.loads(files("benchmarks.metrics").joinpath("vqa_normalization.json").read_text(encoding="utf-8"))
_PUNCTUATION = tuple(_TABLES["punctuation"])
_NUMBER_WORDS: dict[str, str] = _TABLES["number_words"]
_ARTICLES = frozenset(_TABLES["articles"])
_CONTRACTIONS: dict[str, str] = _TABLES["contractions"]
# The lookbehind is a typo in the original ("(?!<=" is a lookahead), so a period before a non-digit always goes.
_PERIOD_STRIP = re.compile(_TABLES["period_strip"])
_PERIOD_STRIP_COUNT = _TABLES["period_strip_count"]
_COMMA_STRIP = re.compile(_TABLES["comma_strip"])


def process_punctuation(text: str) -> str:
    """The evaluator's punctuation rule: a mark is deleted when it touches a space in `text` (or when `text` holds
    a digit,digit comma anywhere), else replaced by a space; then periods not followed by a digit go (32 at most)."""
    delete_every_mark = _COMMA_STRIP.search(text) is not None
    out = text
    for mark in _PUNCTUATION:
        # Both tests look at the input text, not at the partly processed one.
        if delete_every_mark or mark + " " in text or " " + mark in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD_STRIP.sub("", out, count=_PERIOD_STRIP_COUNT)


def process_digit_article(text: str) -> str:
    """Lowercase, split on whitespace, number words -> digits, drop articles, apply the contraction table."""
    words = [_NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    return " ".join(_CONTRACTIONS.get(w, w) for w in words if w not in _ARTICLES)


def normalize_answer(text: str) -> str:
    """Full normalization of one answer, as the official evaluator applies it to the prediction."""
    return process_digit_article(process_punctuation(text.replace("\n", " ").replace("\t", " ").strip()))


def _leave_one_out(prediction: str, answers: list[str]) -> float:
    # Leaving annotator i out removes one match exactly when annotator i matched. (The evaluator leaves out every
    # answer record equal to the current one; official records carry distinct answer_ids, so exactly one.)
    matches = sum(a == prediction for a in answers)
    return sum(min(1, float(matches - (a == prediction)) / 3) for a in answers) / len(answers)


def answer_accuracy(prediction: str, answers: list[str]) -> float:
    """Official accuracy in [0, 1] of one prediction against its human answers (usually 10)."""
    if not answers:
        raise ValueError("VQA accuracy needs at least one human answer per question")
    gts = list(answers) if len(set(answers)) == 1 else [process_punctuation(a) for a in answers]
    return _leave_one_out(normalize_answer(prediction), gts)


def depalm_answer_accuracy(prediction: str, answers: list[str]) -> float:
    """DePALM's accuracy in [0, 1] of one PTB-tokenized prediction against its PTB-tokenized answers."""
    if not answers:
        raise ValueError("VQA accuracy needs at least one human answer per question")
    return _leave_one_out(normalize_answer(prediction), [normalize_answer(a) for a in answers])


def _check(predictions: dict[str, str], answers: dict[str, list[str]]) -> None:
    missing = [q for q in answers if q not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} questions have no prediction (first: {missing[:5]})")
    if not answers:
        raise ValueError("no questions to score")
    empty = [q for q, a in answers.items() if not a]
    if empty:
        raise ValueError(f"VQA accuracy needs at least one human answer per question (none for {empty[:5]})")


def _accuracies(predictions: dict[str, str], answers: dict[str, list[str]]) -> dict[str, float]:
    _check(predictions, answers)
    return {q: answer_accuracy(predictions[q], a) for q, a in answers.items()}


def _depalm_accuracies(predictions: dict[str, str], answers: dict[str, list[str]]) -> dict[str, float]:
    from benchmarks.metrics.caption import tokenize

    _check(predictions, answers)
    tokens = tokenize(
        {
            **{("answers", q): list(a) for q, a in answers.items()},
            **{("prediction", q): [predictions[q]] for q in answers},
        }
    )  # one PTB tokenizer call for all texts
    return {q: depalm_answer_accuracy(tokens[("prediction", q)][0], tokens[("answers", q)]) for q in answers}


def _mean100(accuracies: dict[str, float]) -> float:
    return 100.0 * sum(accuracies.values()) / len(accuracies)


def vqa_accuracy(predictions: dict[str, str], answers: dict[str, list[str]]) -> float:
    """`VQA_acc`: mean official accuracy x100 over the questions in `answers`; every question needs a prediction."""
    return _mean100(_accuracies(predictions, answers))


def depalm_vqa_accuracy(predictions: dict[str, str], answers: dict[str, list[str]]) -> float:
    """`VQA_acc_depalm`: mean DePALM accuracy x100; one PTB tokenizer call for all texts."""
    return _mean100(_depalm_accuracies(predictions, answers))


def vqa_item_scores(
    predictions: dict[str, str], answers: dict[str, list[str]], raw: dict[str, str] | None = None
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Both VQA accuracies x100 (metric -> corpus value) and their per-question values (metric -> question id ->
    accuracy x100; the corpus value is their mean), from one pass; `VQA_acc_depalm` on `raw` (the generations
    before any post-processing, DePALM's input) when given."""
    per_question = {
        VQA_ACC: _accuracies(predictions, answers),
        VQA_ACC_DEPALM: _depalm_accuracies(predictions if raw is None else raw, answers),
    }
    corpus = {metric: _mean100(acc) for metric, acc in per_question.items()}
    return corpus, {metric: {q: 100.0 * a for q, a in acc.items()} for metric, acc in per_question.items()}


def vqa_scores(
    predictions: dict[str, str], answers: dict[str, list[str]], raw: dict[str, str] | None = None
) -> dict[str, float]:
    """Both VQA accuracies (x100), keyed by metric name; `VQA_acc_depalm` on `raw` when given."""
    return vqa_item_scores(predictions, answers, raw)[0]


def multiple_choice_accuracy(predictions: dict[str, str], correct: dict[str, str]) -> float:
    """Exact-match accuracy x100 for multiple choice (A-OKVQA MC): the prediction must equal the correct choice."""
    missing = [q for q in correct if q not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} questions have no prediction (first: {missing[:5]})")
    if not correct:
        raise ValueError("no questions to score")
    return 100.0 * sum(predictions[q].strip() == c.strip() for q, c in correct.items()) / len(correct)
