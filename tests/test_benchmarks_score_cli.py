"""`python -m benchmarks.score`: JSON output on the x100 scale, missing ids reported, bad input exits 2."""

import json
import shutil
import subprocess
import sys

import pytest

from benchmarks.score import main

ANNOTATIONS = {"1": ["2"] * 10, "2": ["yes"] * 7 + ["no"] * 3, "3": ["red"] * 2 + ["blue"] * 8}
VQA_METRICS = ("VQA_acc", "VQA_acc_depalm")


def _write(tmp_path, name, obj):
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return str(p)


def test_vqa_scores_and_prints_json(tmp_path, capsys):
    preds = _write(
        tmp_path, "p.json", [{"id": 1, "answer": "two"}, {"id": "2", "answer": "no"}, {"id": "3", "answer": "red"}]
    )
    ann = _write(tmp_path, "a.json", ANNOTATIONS)
    assert main(["vqa", preds, ann]) == 0
    out = json.loads(capsys.readouterr().out)
    # q1: 1, q2: "no" matched by 3 -> (3 * 2/3 + 7 * 1) / 10 = 0.9, q3: 0.6 (both metrics agree here)
    assert out == {m: pytest.approx(100 * (1 + 0.9 + 0.6) / 3) for m in VQA_METRICS}


def test_vqa_reports_both_metrics_where_they_differ(tmp_path, capsys):
    # "2" against ten "two": the official evaluator compares with the stored answers, DePALM normalizes them too
    preds = _write(tmp_path, "p.json", [{"id": "q", "answer": "2"}])
    assert main(["vqa", preds, _write(tmp_path, "a.json", {"q": ["two"] * 10})]) == 0
    assert json.loads(capsys.readouterr().out) == {"VQA_acc": 0.0, "VQA_acc_depalm": 100.0}


def test_missing_ids_are_reported_and_fail_unless_partial(tmp_path, capsys):
    preds = _write(tmp_path, "p.json", [{"id": "1", "answer": "2"}, {"id": "9", "answer": "x"}])
    ann = _write(tmp_path, "a.json", ANNOTATIONS)
    assert main(["vqa", preds, ann]) == 2
    err = capsys.readouterr().err
    assert "2 ids in ANNOTATIONS without a prediction: 2, 3" in err and "1 predicted ids not in ANNOTATIONS: 9" in err
    assert main(["vqa", preds, ann, "--partial"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == dict.fromkeys(VQA_METRICS, 100.0) and "without a prediction" in captured.err


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('{"id": 1}', "expected a JSON list"),
        ('[{"id": 1, "caption": "x"}]', "entry 0 must be"),
        ('[{"id": 1, "answer": "a"}, {"id": "1", "answer": "b"}]', "appears more than once"),
    ],
)
def test_bad_predictions_exit_2(tmp_path, capsys, content, message):
    p = tmp_path / "p.json"
    p.write_text(content)
    assert main(["vqa", str(p), _write(tmp_path, "a.json", ANNOTATIONS)]) == 2
    assert message in capsys.readouterr().err


def test_bad_references_and_missing_file_exit_2(tmp_path, capsys):
    preds = _write(tmp_path, "p.json", [{"id": "1", "caption": "a dog"}])
    assert main(["caption", preds, _write(tmp_path, "r.json", {"1": "a dog"})]) == 2
    assert "non-empty list of strings" in capsys.readouterr().err
    assert main(["caption", preds, str(tmp_path / "nope.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["caption", preds, _write(tmp_path, "r2.json", {"1": ["a dog"]}), "--metrics", "CIDEr,FOO"]) == 2
    assert "unknown" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("java") is None, reason="PTB tokenizer needs Java")
def test_caption_cli_as_module(tmp_path):
    preds = _write(
        tmp_path,
        "p.json",
        [{"id": "a", "caption": "a red circle on the left"}, {"id": "b", "caption": "two blue squares"}],
    )
    refs = _write(
        tmp_path,
        "r.json",
        {"a": ["a red circle on the left", "red circle at left"], "b": ["two blue squares", "2 blue boxes"]},
    )
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.score", "caption", preds, refs, "--metrics", "BLEU_1,ROUGE_L,CIDEr"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    scores = json.loads(out.stdout)
    assert set(scores) == {"BLEU_1", "ROUGE_L", "CIDEr"} and scores["BLEU_1"] == pytest.approx(100.0)
    usage = subprocess.run([sys.executable, "-m", "benchmarks.score", "caption"], capture_output=True, text=True)
    assert usage.returncode == 2


# ---------------------------------------------------------------------------------------------- official formats

VQA_TYPES = {"1": ("how many", "number"), "2": ("is the", "yes/no"), "3": ("what color is the", "other")}
VQA_TYPES["4"] = ("what color is the", "other")
VQA_ANSWERS = {**ANNOTATIONS, "4": ["blue"] * 10}
VQA_PREDS = {"1": "two", "2": "no", "3": "red", "4": "blue"}


def _vqa_official(tmp_path, task_type="Open-Ended", question_ids=VQA_ANSWERS):
    annotations = {
        "info": {},
        "annotations": [
            {
                "question_id": int(q),
                "image_id": 100 + int(q),
                "question_type": VQA_TYPES[q][0],
                "answer_type": VQA_TYPES[q][1],
                "multiple_choice_answer": answers[0],
                "answers": [
                    {"answer": a, "answer_confidence": "yes", "answer_id": i + 1} for i, a in enumerate(answers)
                ],
            }
            for q, answers in VQA_ANSWERS.items()
        ],
    }
    questions = {
        "task_type": task_type,
        "questions": [
            {"question_id": int(q), "image_id": 100 + int(q), "question": "?", "multiple_choices": ["two", "no", "red"]}
            for q in question_ids
        ],
    }
    results = [{"question_id": int(q), "answer": a} for q, a in VQA_PREDS.items()]
    return (
        _write(tmp_path, "res.json", results),
        _write(tmp_path, "ann.json", annotations),
        _write(tmp_path, "ques.json", questions),
    )


def test_vqa_official_formats_equal_own_format_with_per_type_accuracy(tmp_path, capsys):
    own_p = _write(tmp_path, "p.json", [{"id": q, "answer": a} for q, a in VQA_PREDS.items()])
    assert main(["vqa", own_p, _write(tmp_path, "a.json", VQA_ANSWERS)]) == 0
    own = json.loads(capsys.readouterr().out)
    res, ann, ques = _vqa_official(tmp_path)
    assert main(["vqa", res, ann, ques]) == 0
    captured = capsys.readouterr()
    official = json.loads(captured.out)
    assert {m: official[m] for m in VQA_METRICS} == own
    # q1 1.0, q2 0.9, q3 0.6, q4 1.0 (see test_vqa_scores_and_prints_json)
    assert official["VQA_acc"] == pytest.approx(87.5)
    assert official["VQA_acc_per_question_type"] == {
        "how many": pytest.approx(100.0),
        "is the": pytest.approx(90.0),
        "what color is the": pytest.approx(80.0),
    }
    assert official["VQA_acc_per_answer_type"] == {
        "number": pytest.approx(100.0),
        "yes/no": pytest.approx(90.0),
        "other": pytest.approx(80.0),
    }
    assert (
        "Overall Accuracy is: 87.50\n\nPer Question Type Accuracy is the following:\nhow many : 100.00\n"
        "is the : 90.00\nwhat color is the : 80.00\n\nPer Answer Type Accuracy is the following:\n"
        "number : 100.00\nyes/no : 90.00\nother : 80.00"
    ) in captured.err
    assert main(["vqa", res, ann]) == 0  # the questions file is optional
    assert json.loads(capsys.readouterr().out) == official


def test_vqa_official_files_are_checked(tmp_path, capsys):
    res, ann, ques = _vqa_official(tmp_path, question_ids=["1", "2", "3"])
    assert main(["vqa", res, ann, ques]) == 2
    assert "question ids differ from the annotation file's" in capsys.readouterr().err
    res, ann, ques = _vqa_official(tmp_path, task_type="Multiple Choice")
    assert main(["vqa", res, ann, ques]) == 2
    assert "not among their question's multiple_choices: ['4']" in capsys.readouterr().err
    res, ann, _ = _vqa_official(tmp_path)
    assert main(["vqa", res, _write(tmp_path, "a.json", VQA_ANSWERS), ann]) == 2
    assert "goes with an official VQA annotation file only" in capsys.readouterr().err
    partial = _write(tmp_path, "r2.json", [{"question_id": 1, "answer": "2"}])
    assert main(["vqa", partial, ann]) == 2
    assert "3 ids in ANNOTATIONS without a prediction: 2, 3, 4" in capsys.readouterr().err
    assert main(["vqa", partial, ann, "--partial"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["VQA_acc"] == 100.0 and out["VQA_acc_per_answer_type"] == {"number": 100.0}


CAPTION_REFS = {
    "1": ["a red circle on the left", "red circle at left", "a circle, red, to the left"],
    "2": ["two blue squares", "2 blue boxes", "a pair of blue squares"],
    "3": ["a green triangle", "one green triangle in the middle"],
}
CAPTION_PREDS = {"1": "a red circle on the left", "2": "two blue boxes", "3": "a triangle"}
FAST = ["--metrics", "BLEU_1,BLEU_4,ROUGE_L,CIDEr"]


def _coco_annotations(tmp_path, refs, extra_images=()):
    images = [{"id": int(k), "file_name": f"{k}.jpg"} for k in [*refs, *extra_images]]
    anns = [
        {"image_id": int(k), "id": 10 * int(k) + i, "caption": c} for k, cs in refs.items() for i, c in enumerate(cs)
    ]
    anns += [{"image_id": int(k), "id": 10 * int(k), "caption": "an unscored caption"} for k in extra_images]
    return _write(tmp_path, "captions.json", {"info": {}, "images": images, "annotations": anns, "licenses": []})


def test_coco_official_formats_equal_own_format(tmp_path, capsys):
    own_p = _write(tmp_path, "p.json", [{"id": k, "caption": c} for k, c in CAPTION_PREDS.items()])
    assert main(["caption", own_p, _write(tmp_path, "r.json", CAPTION_REFS), *FAST]) == 0
    own = json.loads(capsys.readouterr().out)
    results = _write(tmp_path, "res.json", [{"image_id": int(k), "caption": c} for k, c in CAPTION_PREDS.items()])
    # an annotated image without a result is not scored, as in COCOEvalCap (which scores the results' images)
    assert main(["caption", results, _coco_annotations(tmp_path, CAPTION_REFS, extra_images=["9"]), *FAST]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == own and set(own) == {"BLEU_1", "BLEU_4", "ROUGE_L", "CIDEr"}
    assert "scoring the 3 images with a result (of 4 annotated)" in captured.err


def test_coco_results_outside_the_annotation_file_fail(tmp_path, capsys):
    results = [{"image_id": int(k), "caption": c} for k, c in CAPTION_PREDS.items()] + [{"image_id": 7, "caption": "x"}]
    res = _write(tmp_path, "res.json", results)
    ann = _coco_annotations(tmp_path, CAPTION_REFS)
    assert main(["caption", res, ann, *FAST]) == 2
    assert "1 predicted ids not in REFERENCES: 7" in capsys.readouterr().err
    dup = _write(tmp_path, "dup.json", [{"image_id": 1, "caption": "a"}, {"image_id": 1, "caption": "b"}])
    assert main(["caption", dup, ann, *FAST]) == 2
    assert "image_id '1' appears more than once" in capsys.readouterr().err
