"""Score prediction files from anywhere: `python -m benchmarks.score caption|vqa PREDICTIONS REFERENCES`.

caption: PREDICTIONS = JSON list of {"id", "caption"}; REFERENCES = JSON object id -> list of reference captions;
         or the COCO formats: results [{"image_id", "caption"}] and a COCO captions annotation file.
vqa:     PREDICTIONS = JSON list of {"id", "answer"};  ANNOTATIONS = JSON object id -> list of the 10 human answers;
         or the official VQA formats: results [{"question_id", "answer"}], the annotation file and, optionally
         (checked as the official loader does), the questions file.
Each file's format is recognised from its content (`benchmarks.score_formats`). Prints one JSON object metric ->
value on the paper's scale (x100: BLEU/METEOR/ROUGE-L/CIDEr/SPICE/SPIDEr and VQA accuracy in percent: VQA_acc by the
official VQA evaluator, VQA_acc_depalm as the DePALM code computes it); with an official VQA annotation file also
VQA_acc per question type and per answer type, which stderr shows as the official evaluator prints them. Ids
missing on either side are listed and exit 2, unless --partial scores the ids present on both sides (the missing
ones are still listed on stderr); a COCO annotation file is scored on the images of the results, as COCO's
evaluator does. Bad input exits 2 with the reason.
"""

from __future__ import annotations

import argparse
import json
import sys

from benchmarks.score_formats import (
    InputError,
    check_questions,
    official_printout,
    per_type,
    read_annotations,
    read_predictions,
    read_references,
)


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
    c.add_argument("predictions", help='[{"id", "caption"}] or COCO results [{"image_id", "caption"}]')
    c.add_argument("references", help="{id: [captions]} or a COCO captions annotation file")
    c.add_argument("--metrics", default=None, help="comma list (default: all available)")
    v = sub.add_parser("vqa", help="VQA accuracy: official VQA evaluator (VQA_acc) and DePALM's (VQA_acc_depalm)")
    v.add_argument("predictions", help='[{"id", "answer"}] or VQA results [{"question_id", "answer"}]')
    v.add_argument("annotations", help="{id: [answers]} or a VQA annotation file")
    v.add_argument("questions", nargs="?", default=None, help="the VQA questions file (official annotations only)")
    for s in (c, v):
        s.add_argument("--partial", action="store_true", help="score the ids present in both files")
    return p


def _score_captions(args: argparse.Namespace) -> dict:
    from benchmarks.metrics.caption import CAPTION_METRICS, score_captions

    preds = read_predictions(args.predictions, "caption", "image_id").texts
    refs = read_references(args.references)
    metrics = tuple(m.strip() for m in args.metrics.split(",")) if args.metrics else CAPTION_METRICS
    unknown = set(metrics) - set(CAPTION_METRICS)
    if unknown:
        raise InputError(f"--metrics: unknown {sorted(unknown)}; choose from {', '.join(CAPTION_METRICS)}")
    captions = refs.captions
    if refs.official:  # COCOEvalCap scores the images of the results
        captions = {k: v for k, v in captions.items() if k in preds}
        print(
            f"benchmarks.score: COCO annotation file: scoring the {len(captions)} images with a result "
            f"(of {len(refs.captions)} annotated), as COCO's evaluator does",
            file=sys.stderr,
        )
    ids = _report_missing(preds, captions, "REFERENCES", args.partial)
    return score_captions({k: preds[k] for k in ids}, {k: captions[k] for k in ids}, metrics)


def _score_vqa(args: argparse.Namespace) -> dict:
    from benchmarks.metrics.vqa import VQA_ACC, vqa_item_scores

    preds = read_predictions(args.predictions, "answer", "question_id").texts
    ann = read_annotations(args.annotations)
    if args.questions is not None:
        if not ann.official:
            raise InputError("QUESTIONS: a questions file goes with an official VQA annotation file only")
        check_questions(args.questions, ann, preds)
    ids = _report_missing(preds, ann.answers, "ANNOTATIONS", args.partial)
    corpus, per_question = vqa_item_scores({k: preds[k] for k in ids}, {k: ann.answers[k] for k in ids})
    out: dict = dict(corpus)
    if ann.official:
        by_question = per_type(per_question[VQA_ACC], ann.question_type)
        by_answer = per_type(per_question[VQA_ACC], ann.answer_type)
        out[f"{VQA_ACC}_per_question_type"], out[f"{VQA_ACC}_per_answer_type"] = by_question, by_answer
        print(official_printout(corpus[VQA_ACC], by_question, by_answer), file=sys.stderr)
    return out


def run(args: argparse.Namespace) -> dict:
    return _score_captions(args) if args.task == "caption" else _score_vqa(args)


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
