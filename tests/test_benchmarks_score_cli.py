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
