"""Score prediction files from anywhere: `python -m benchmarks.score caption|vqa PREDICTIONS REFERENCES`.

caption: PREDICTIONS = JSON list of {"id", "caption"}; REFERENCES = JSON object id -> list of reference captions.
vqa:     PREDICTIONS = JSON list of {"id", "answer"};  ANNOTATIONS = JSON object id -> list of the 10 human answers.
Prints one JSON object metric -> value on the paper's scale (x100: BLEU/METEOR/ROUGE-L/CIDEr/SPICE/SPIDEr and
VQA accuracy in percent: VQA_acc by the official VQA evaluator, VQA_acc_depalm as the DePALM code computes it).
Ids missing on either side are listed and exit 2, unless --partial scores the ids present on both sides (the
missing ones are still listed on stderr). Bad input exits 2 with the reason.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


class InputError(Exception):
    """Unusable input file: printed without a traceback, exit code 2."""


def _read_json(path: str, what: str):
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} file {path}: no such file")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{what} file {path}: not valid JSON ({e})") from e


def read_predictions(path: str, field: str) -> dict[str, str]:
    data = _read_json(path, "PREDICTIONS")
    if not isinstance(data, list):
        raise InputError(
            f'PREDICTIONS file {path}: expected a JSON list of {{"id", "{field}"}} objects, got {type(data).__name__}'
        )
    out: dict[str, str] = {}
    for n, row in enumerate(data):
        if not isinstance(row, dict) or "id" not in row or not isinstance(row.get(field), str):
            raise InputError(
                f'PREDICTIONS file {path}: entry {n} must be {{"id": ..., "{field}": "text"}}, '
                f"got {json.dumps(row)[:100]}"
            )
        key = str(row["id"])
        if key in out:
            raise InputError(f"PREDICTIONS file {path}: id {key!r} appears more than once")
        out[key] = row[field]
    return out


def read_targets(path: str, what: str) -> dict[str, list[str]]:
    data = _read_json(path, what)
    if not isinstance(data, dict):
        raise InputError(f"{what} file {path}: expected a JSON object id -> list of strings, got {type(data).__name__}")
    for key, value in data.items():
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise InputError(
                f"{what} file {path}: id {key!r} must map to a non-empty list of strings, got {json.dumps(value)[:100]}"
            )
    return {str(k): v for k, v in data.items()}


def _report_missing(preds: dict, targets: dict, what: str, partial: bool) -> list[str]:
    no_pred = [k for k in targets if k not in preds]
    no_target = [k for k in preds if k not in targets]
    for ids, msg in ((no_pred, f"ids in {what} without a prediction"), (no_target, f"predicted ids not in {what}")):
        if ids:
            print(
                f"benchmarks.score: {len(ids)} {msg}: {', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}",
                file=sys.stderr,
            )
    if (no_pred or no_target) and not partial:
        raise InputError(
            "ids differ between the two files (listed above); fix them or pass --partial to score "
            "the ids present in both"
        )
    common = [k for k in targets if k in preds]
    if not common:
        raise InputError(f"no id is present in both PREDICTIONS and {what}")
    return common


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.score", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="task", required=True)
    c = sub.add_parser("caption", help="BLEU-1..4, METEOR, ROUGE-L, CIDEr(-D), SPICE/SPIDEr if available")
    c.add_argument("predictions")
    c.add_argument("references")
    c.add_argument("--metrics", default=None, help="comma list (default: all available)")
    v = sub.add_parser("vqa", help="VQA accuracy: official VQA evaluator (VQA_acc) and DePALM's (VQA_acc_depalm)")
    v.add_argument("predictions")
    v.add_argument("annotations")
    for s in (c, v):
        s.add_argument("--partial", action="store_true", help="score the ids present in both files")
    return p


def run(args: argparse.Namespace) -> dict[str, float]:
    if args.task == "caption":
        from benchmarks.metrics.caption import CAPTION_METRICS, score_captions

        preds = read_predictions(args.predictions, "caption")
        refs = read_targets(args.references, "REFERENCES")
        ids = _report_missing(preds, refs, "REFERENCES", args.partial)
        metrics = tuple(m.strip() for m in args.metrics.split(",")) if args.metrics else CAPTION_METRICS
        unknown = set(metrics) - set(CAPTION_METRICS)
        if unknown:
            raise InputError(f"--metrics: unknown {sorted(unknown)}; choose from {', '.join(CAPTION_METRICS)}")
        return score_captions({k: preds[k] for k in ids}, {k: refs[k] for k in ids}, metrics)
    from benchmarks.metrics.vqa import vqa_scores

    preds = read_predictions(args.predictions, "answer")
    answers = read_targets(args.annotations, "ANNOTATIONS")
    ids = _report_missing(preds, answers, "ANNOTATIONS", args.partial)
    return vqa_scores({k: preds[k] for k in ids}, {k: answers[k] for k in ids})


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        scores = run(args)
    except InputError as e:
        print(f"benchmarks.score: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(scores, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
