"""The file formats `python -m benchmarks.score` reads, each recognised from its content (Sec. 4.1 metrics).

Own formats: predictions `[{"id", "caption"|"answer"}]`; references `{id: [captions]}`; VQA annotations
`{id: [10 answers]}`.
Official formats, as their evaluators read them:
- COCO captioning (pycocotools `COCO.loadRes` + pycocoevalcap `COCOEvalCap`): results `[{"image_id", "caption"}]`
  and a captions annotation file `{"images": [...], "annotations": [{"image_id", "caption"}, ...]}`. As there, the
  images scored are those of the results, which must all be in the annotation file.
- VQA (GT-Vision-Lab/VQA `VQA`, `loadRes`, `VQAEval`): results `[{"question_id", "answer"}]`, an annotation file
  `{"annotations": [{"question_id", "question_type", "answer_type", "answers": [{"answer"}, ...]}, ...]}` and its
  questions file `{"questions": [{"question_id", ...}], "task_type"}`, whose question ids must be the annotated
  ones; a Multiple Choice task's answers must be among the question's `multiple_choices`.
Ids become strings in every format, so a file of one format scores against a file of the other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class InputError(Exception):
    """Unusable input file: printed without a traceback, exit code 2."""


def read_json(path: str, what: str) -> Any:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} file {path}: no such file")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{what} file {path}: not valid JSON ({e})") from e


@dataclass(frozen=True)
class Predictions:
    texts: dict[str, str]  # id -> caption / answer
    official: bool  # COCO / VQA results format ({"image_id"} / {"question_id"} rows)


def read_predictions(path: str, field_name: str, official_key: str) -> Predictions:
    """Own rows `{"id", field}` or official rows `{official_key, field}` (the first row decides)."""
    data = read_json(path, "PREDICTIONS")
    if not isinstance(data, list):
        raise InputError(
            f'PREDICTIONS file {path}: expected a JSON list of {{"id", "{field_name}"}} or '
            f'{{"{official_key}", "{field_name}"}} objects, got {type(data).__name__}'
        )
    official = bool(data) and isinstance(data[0], dict) and official_key in data[0] and "id" not in data[0]
    key = official_key if official else "id"
    out: dict[str, str] = {}
    for n, row in enumerate(data):
        if not isinstance(row, dict) or key not in row or not isinstance(row.get(field_name), str):
            raise InputError(
                f'PREDICTIONS file {path}: entry {n} must be {{"{key}": ..., "{field_name}": "text"}}, '
                f"got {json.dumps(row)[:100]}"
            )
        ident = str(row[key])
        if ident in out:
            raise InputError(f"PREDICTIONS file {path}: {key} {ident!r} appears more than once")
        out[ident] = row[field_name]
    return Predictions(out, official)


def _own_targets(data: Any, path: str, what: str) -> dict[str, list[str]]:
    if not isinstance(data, dict):
        raise InputError(f"{what} file {path}: expected a JSON object id -> list of strings, got {type(data).__name__}")
    for key, value in data.items():
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise InputError(
                f"{what} file {path}: id {key!r} must map to a non-empty list of strings, got {json.dumps(value)[:100]}"
            )
    return {str(k): v for k, v in data.items()}


def _records(data: dict, key: str, path: str, what: str, needs: tuple[str, ...]) -> list[dict]:
    rows = data.get(key)
    if not isinstance(rows, list):
        raise InputError(f'{what} file {path}: "{key}" must be a list, got {type(rows).__name__}')
    for n, row in enumerate(rows):
        if not isinstance(row, dict) or any(k not in row for k in needs):
            raise InputError(f'{what} file {path}: "{key}"[{n}] needs {", ".join(needs)}, got {json.dumps(row)[:100]}')
    return rows


@dataclass(frozen=True)
class References:
    captions: dict[str, list[str]]  # id -> reference captions
    official: bool  # a COCO captions annotation file


def read_references(path: str) -> References:
    """Own `{id: [captions]}` or a COCO captions annotation file (an object with "annotations")."""
    data = read_json(path, "REFERENCES")
    if not (isinstance(data, dict) and "annotations" in data):
        return References(_own_targets(data, path, "REFERENCES"), False)
    captions: dict[str, list[str]] = {}
    for n, ann in enumerate(_records(data, "annotations", path, "REFERENCES", ("image_id", "caption"))):
        if not isinstance(ann["caption"], str):
            raise InputError(f'REFERENCES file {path}: "annotations"[{n}].caption must be a string')
        captions.setdefault(str(ann["image_id"]), []).append(ann["caption"])
    if not captions:
        raise InputError(f"REFERENCES file {path}: the COCO annotation file holds no caption")
    return References(captions, True)


@dataclass(frozen=True)
class Annotations:
    answers: dict[str, list[str]]  # question id -> the human answers
    official: bool  # a VQA annotation file
    question_type: dict[str, str] = field(default_factory=dict)  # official files only
    answer_type: dict[str, str] = field(default_factory=dict)


def read_annotations(path: str) -> Annotations:
    """Own `{id: [answers]}` or a VQA annotation file (an object with "annotations")."""
    data = read_json(path, "ANNOTATIONS")
    if not (isinstance(data, dict) and "annotations" in data):
        return Annotations(_own_targets(data, path, "ANNOTATIONS"), False)
    needs = ("question_id", "question_type", "answer_type", "answers")
    answers, qtype, atype = {}, {}, {}
    for n, ann in enumerate(_records(data, "annotations", path, "ANNOTATIONS", needs)):
        q = str(ann["question_id"])
        given = ann["answers"]
        if not isinstance(given, list) or not given or not all(isinstance(a, dict) and "answer" in a for a in given):
            raise InputError(
                f'ANNOTATIONS file {path}: "annotations"[{n}].answers must be a non-empty list of {{"answer"}}'
            )
        if q in answers:
            raise InputError(f"ANNOTATIONS file {path}: question_id {q!r} appears more than once")
        answers[q] = [str(a["answer"]) for a in given]
        qtype[q], atype[q] = str(ann["question_type"]), str(ann["answer_type"])
    return Annotations(answers, True, qtype, atype)


def check_questions(path: str, annotations: Annotations, predictions: dict[str, str]) -> None:
    """A VQA questions file must list the annotated questions; Multiple Choice answers must be offered choices."""
    data = read_json(path, "QUESTIONS")
    if not (isinstance(data, dict) and "questions" in data):
        raise InputError(
            f'QUESTIONS file {path}: expected the official VQA questions file (an object with "questions")'
        )
    questions = {str(q["question_id"]): q for q in _records(data, "questions", path, "QUESTIONS", ("question_id",))}
    if set(questions) != set(annotations.answers):
        only_q = sorted(set(questions) - set(annotations.answers))[:5]
        only_a = sorted(set(annotations.answers) - set(questions))[:5]
        raise InputError(
            f"QUESTIONS file {path}: its question ids differ from the annotation file's "
            f"(only in questions: {only_q}; only in annotations: {only_a}); pass the questions file of the same split"
        )
    if str(data.get("task_type", "")).lower().replace(" ", "") == "multiplechoice":
        bad = [
            q for q, a in predictions.items() if q in questions and a not in questions[q].get("multiple_choices", [])
        ]
        if bad:
            raise InputError(
                f"PREDICTIONS: {len(bad)} answers are not among their question's multiple_choices: {bad[:5]}"
            )


def per_type(accuracy: dict[str, float], types: dict[str, str]) -> dict[str, float]:
    """Mean accuracy per type over the scored questions, types in order of first appearance (as VQAEval groups)."""
    groups: dict[str, list[float]] = {}
    for q, acc in accuracy.items():
        groups.setdefault(types[q], []).append(acc)
    return {t: sum(v) / len(v) for t, v in groups.items()}


def official_printout(overall: float, by_question: dict[str, float], by_answer: dict[str, float]) -> str:
    """The accuracies as the official VQA demo prints them (2 decimals)."""
    lines = [f"Overall Accuracy is: {overall:.02f}", "", "Per Question Type Accuracy is the following:"]
    lines += [f"{t} : {v:.02f}" for t, v in by_question.items()]
    lines += ["", "Per Answer Type Accuracy is the following:"]
    lines += [f"{t} : {v:.02f}" for t, v in by_answer.items()]
    return "\n".join(lines)
