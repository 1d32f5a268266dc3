"""Blind baselines computed without a model, from the training split only: how far priors alone go.

VQA, the question-type prior (as VQAv2 measured its language priors): each question type answers the majority
answer most frequent among the training items of that type; a type never seen in training answers the overall most
frequent one. An item's answer is its VQA-normalized majority (`normalize_answer`, the evaluator's normalization of
a prediction); its type is `Item.question_type`, or, when that is None, the first `PREFIX_WORDS` words of its
question (lowercased, the evaluator's punctuation rule applied), an approximation of VQAv2's question-prefix types.
`chance_accuracy` is the score of guessing uniformly among a type's training answers, for the eval split's type mix.

Captioning: the most common training caption (over all reference captions, lowercased, whitespace collapsed) for
every item.

    python -m benchmarks.prior [--benchmarks syn-vqav2,syn-coco] [--split test] [--seed 0]

prints, per offline benchmark, the prior's primary metric on the split (VQA_acc by the official evaluator, or
CIDEr) and, for VQA, the chance for its type mix and the ratio prior / chance.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Sequence

from benchmarks.benchmark import Benchmark
from benchmarks.metrics.vqa import normalize_answer, process_punctuation, vqa_accuracy
from benchmarks.spec import BenchmarkSpec, DatasetNotFound, Item

PREFIX_WORDS = 3  # the fallback type: this many leading words of the question


def _most_common(counts: Counter[str]) -> str:
    """The most frequent key; ties go to the alphabetically first, so the prior is a pure function of its data."""
    return min(counts, key=lambda k: (-counts[k], k))


def canonical_answer(item: Item) -> str:
    """The item's majority answer after the evaluator's normalization of a prediction."""
    return _most_common(Counter(normalize_answer(t) for t in item.targets))


def question_text(item: Item, spec: BenchmarkSpec | None = None) -> str:
    """The question inside the item's prompt: the spec's template around it removed (the whole prompt without a
    spec)."""
    if spec is None:
        return item.prompt
    before, after = spec.format_prompt("\0").split("\0")
    prompt = item.prompt
    if before and prompt.startswith(before):
        prompt = prompt[len(before) :]
    if after and prompt.endswith(after):
        prompt = prompt[: len(prompt) - len(after)]
    return prompt


def prefix_type(question: str, n_words: int = PREFIX_WORDS) -> str:
    """Fallback question type: the first `n_words` words, lowercased, after the evaluator's punctuation rule."""
    return " ".join(process_punctuation(question).lower().split()[:n_words])


def question_type(item: Item, spec: BenchmarkSpec | None = None) -> str:
    """`item.question_type`, or the prefix of its question (`prefix_type`) when the item carries none."""
    return item.question_type if item.question_type is not None else prefix_type(question_text(item, spec))


def _answers_by_type(items: Iterable[Item], spec: BenchmarkSpec | None) -> dict[str, Counter[str]]:
    by_type: dict[str, Counter[str]] = {}
    for it in items:
        by_type.setdefault(question_type(it, spec), Counter())[canonical_answer(it)] += 1
    return by_type


def _spec_of(spec_or_bench: BenchmarkSpec | Benchmark) -> BenchmarkSpec:
    return spec_or_bench.spec if isinstance(spec_or_bench, Benchmark) else spec_or_bench


def prior_predictions(
    spec_or_bench: BenchmarkSpec | Benchmark, train_items: Sequence[Item], eval_items: Sequence[Item]
) -> dict[str, str]:
    """Blind predictions (item id -> text) for `eval_items`, learnt from `train_items` alone: the question-type
    prior for VQA, the most common training caption for captioning."""
    spec = _spec_of(spec_or_bench)
    if not train_items:
        raise ValueError(f"{spec.id}: the prior needs training items")
    if spec.task == "caption":
        caption = _most_common(Counter(" ".join(t.lower().split()) for it in train_items for t in it.targets))
        return {it.id: caption for it in eval_items}
    by_type = _answers_by_type(train_items, spec)
    overall = _most_common(sum(by_type.values(), Counter()))
    majority = {t: _most_common(c) for t, c in by_type.items()}
    return {it.id: majority.get(question_type(it, spec), overall) for it in eval_items}


def chance_accuracy(
    train_items: Sequence[Item], eval_items: Sequence[Item], spec: BenchmarkSpec | Benchmark | None = None
) -> float:
    """Chance for the eval items' type mix, x100: sum over types t of w_t / K_t, with w_t the share of eval items
    of type t and K_t the number of distinct canonical answers of type t in training (a type unseen in training:
    the number over all training items). `spec` locates the question in the prompt for the fallback types."""
    if not eval_items or not train_items:
        raise ValueError("chance needs training and evaluation items")
    s = None if spec is None else _spec_of(spec)
    by_type = _answers_by_type(train_items, s)
    overall = len(set().union(*by_type.values()))
    weights = Counter(question_type(it, s) for it in eval_items)
    return 100.0 * sum(n / (len(by_type[t]) if t in by_type else overall) for t, n in weights.items()) / len(eval_items)


def prior_score(bench: Benchmark, split: str = "test", seed: int = 0) -> dict[str, float]:
    """The prior's primary metric on `split` of `bench` (generation seed `seed`); VQA adds `chance` and `ratio`."""
    train, items = bench.load("train", seed=seed), bench.load(split, seed=seed)
    preds = prior_predictions(bench, train, items)
    spec = bench.spec
    if spec.task == "caption":
        from benchmarks.metrics.caption import score_captions

        scores = score_captions(preds, {it.id: it.targets for it in items}, (spec.primary_metric,))
        return {spec.primary_metric: scores.get(spec.primary_metric, float("nan"))}
    acc = vqa_accuracy(preds, {it.id: it.targets for it in items})
    chance = chance_accuracy(train, items, spec)
    return {"VQA_acc": acc, "chance": chance, "ratio": acc / chance}


def main(argv: list[str] | None = None) -> int:
    from benchmarks import get_benchmark, list_benchmarks
    from benchmarks.registry import UnknownBenchmark

    parser = argparse.ArgumentParser(prog="python -m benchmarks.prior", description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmarks", default="offline", help="comma list of ids, or 'offline' (default)")
    parser.add_argument("--split", default="test", choices=("val", "test"), help="split scored (default test)")
    parser.add_argument("--seed", type=int, default=0, help="generation seed of the offline suite (default 0)")
    args = parser.parse_args(argv)
    ids = list_benchmarks("offline") if args.benchmarks == "offline" else args.benchmarks.split(",")
    try:
        benches = [get_benchmark(b.strip()) for b in ids]
    except UnknownBenchmark as e:
        print(f"benchmarks.prior: {e}", file=sys.stderr)
        return 2
    print("| benchmark | split | metric | prior | chance | prior / chance |\n|---|---|---|---|---|---|")
    for bench in benches:
        try:
            s = prior_score(bench, args.split, args.seed)
        except DatasetNotFound as e:
            print(f"benchmarks.prior: {str(e).splitlines()[0]}", file=sys.stderr)
            return 2
        metric = bench.spec.primary_metric
        if "chance" in s:
            print(f"| {bench.id} | {args.split} | {metric} | {s[metric]:.1f} | {s['chance']:.1f} | {s['ratio']:.2f} |")
        else:
            print(f"| {bench.id} | {args.split} | {metric} | {s[metric]:.1f} | - | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
