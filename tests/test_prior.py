"""Blind baselines (benchmarks.prior) on hand-made items, and the offline VQA mirrors balanced against them."""

import math
from collections import Counter

import pytest

from benchmarks import get_benchmark
from benchmarks.metrics.vqa import vqa_accuracy
from benchmarks.prior import (
    canonical_answer,
    chance_accuracy,
    main,
    prefix_type,
    prior_predictions,
    prior_score,
    question_type,
)
from benchmarks.spec import Item

OFFLINE_VQA = ["syn-vqav2", "syn-vqav2-1pct", "syn-textvqa", "syn-okvqa", "syn-aokvqa"]


def _item(i: str, qtype: str | None, targets: list[str], question: str = "q?") -> Item:
    return Item(i, f"img/{i}", lambda: None, f"{question}\n\nAnswer:", targets, question_type=qtype)


@pytest.fixture
def vqa_spec():
    return get_benchmark("syn-vqav2").spec


def test_vqa_prior_answers_each_type_its_majority_and_unseen_types_the_overall_one(vqa_spec):
    train = [
        _item("t1", "is there a", ["yes"] * 10),
        _item("t2", "is there a", ["yes"] * 8 + ["no"] * 2),
        _item("t3", "is there a", ["no"] * 7 + ["yeah"] * 3),
        _item("t8", "is there a", ["yes"] * 6 + ["no"] * 4),
        _item("t4", "how many", ["two"] * 3 + ["2"] * 7),  # normalized: ten "2"
        _item("t5", "how many", ["2"] * 10),
        _item("t6", "how many", ["3"] * 10),
        _item("t7", "where is the", ["left"] * 10),
    ]
    evals = [
        _item("e1", "is there a", ["yes"] * 10),
        _item("e2", "is there a", ["no"] * 10),
        _item("e3", "how many", ["2"] * 2 + ["3"] * 8),
        _item("e4", "what color is the", ["red"] * 10),  # unseen type: the overall majority, "yes" (3 of 8)
    ]
    preds = prior_predictions(vqa_spec, train, evals)
    assert preds == {"e1": "yes", "e2": "yes", "e3": "2", "e4": "yes"}
    # e3: 8 annotators find 2 of the others agreeing (2/3), the 2 who said "2" find 1 (1/3): (16/3 + 2/3) / 10
    acc = vqa_accuracy(preds, {it.id: it.targets for it in evals})
    assert acc == pytest.approx((100 + 0 + 60 + 0) / 4)
    # K: "is there a" 2 answers, "how many" 2, unseen type: the 5 distinct answers of all training
    assert chance_accuracy(train, evals) == pytest.approx(100 * (2 / 2 + 1 / 2 + 1 / 5) / 4)


def test_ties_break_alphabetically_and_the_canonical_answer_is_normalized(vqa_spec):
    train = [_item("a", "t", ["yes"] * 10), _item("b", "t", ["no"] * 10)]
    assert prior_predictions(vqa_spec, train, [_item("e", "t", ["yes"] * 10)]) == {"e": "no"}
    assert canonical_answer(_item("x", None, ["Two"] * 4 + ["2"] * 3 + ["three"] * 3)) == "2"
    assert canonical_answer(_item("y", None, ["a dog"] * 5 + ["cat"] * 5)) == "cat"  # "dog" vs "cat": tie


def test_fallback_type_is_the_question_prefix(vqa_spec):
    item = _item("x", None, ["2"] * 10, question="How many red circles are there?")
    assert item.prompt.startswith("How many") and item.prompt.endswith("Answer:")
    assert question_type(item, vqa_spec) == "how many red"
    assert prefix_type("Is there a dog?") == "is there a" and prefix_type("Why?") == "why"
    assert question_type(_item("y", "count", ["2"] * 10), vqa_spec) == "count"
    # the fallback groups items of the same prefix: two types here, each with its own majority
    train = [
        _item("a", None, ["yes"] * 10, "is there a cat?"),
        _item("b", None, ["yes"] * 10, "is there a dog?"),
        _item("c", None, ["2"] * 10, "how many dogs?"),
    ]
    evals = [_item("e", None, ["no"] * 10, "is there a cow?"), _item("f", None, ["2"] * 10, "how many cats?")]
    assert prior_predictions(vqa_spec, train, evals) == {"e": "yes", "f": "yes"}  # "how many cats" is unseen


def test_caption_prior_is_the_most_common_training_caption():
    spec = get_benchmark("syn-coco").spec
    train = [
        _item("a", None, ["A red circle", "two squares", "a  red circle"]),
        _item("b", None, ["two squares", "a red circle", "a star"]),
        _item("c", None, ["a star", "two squares"]),
    ]
    preds = prior_predictions(spec, train, [_item("e", None, ["x"]), _item("f", None, ["y"])])
    assert preds == {"e": "a red circle", "f": "a red circle"}  # 3 each after casing/spaces: alphabetical tie
    train.append(_item("d", None, ["two squares"]))
    assert set(prior_predictions(spec, train, [_item("e", None, ["x"])]).values()) == {"two squares"}


def test_prior_needs_training_items(vqa_spec):
    with pytest.raises(ValueError, match="training items"):
        prior_predictions(vqa_spec, [], [_item("e", "t", ["yes"] * 10)])


def test_offline_vqa_items_carry_their_template_deterministically():
    for bench_id in ("syn-vqav2", "syn-textvqa", "syn-aokvqa"):
        bench = get_benchmark(bench_id)
        a = [(it.prompt, tuple(it.targets), it.question_type) for it in bench.load("train", size=60, seed=0)]
        b = [(it.prompt, tuple(it.targets), it.question_type) for it in bench.load("train", size=60, seed=0)]
        c = [(it.prompt, tuple(it.targets), it.question_type) for it in bench.load("train", size=60, seed=1)]
        assert a == b and a != c
        assert all(t for _, _, t in a) and len({t for _, _, t in a}) >= 4


@pytest.mark.parametrize("bench_id", ["syn-vqav2", "syn-textvqa", "syn-okvqa", "syn-aokvqa"])
@pytest.mark.parametrize("split", ["train", "val"])
def test_answers_are_balanced_within_each_question_type(bench_id, split):
    items = get_benchmark(bench_id).load(split, size=600)
    by_type: dict[str, Counter] = {}
    for it in items:
        by_type.setdefault(question_type(it), Counter())[canonical_answer(it)] += 1
    for qtype, counts in by_type.items():
        n, k = sum(counts.values()), len(counts)
        if n < 20:
            continue
        assert k >= 2, (qtype, counts)  # a type with one answer is answered by its question alone
        # uniform over k answers: the largest share stays within 4 binomial standard deviations of 1/k
        bound = 1 / k + 4 * math.sqrt((1 / k) * (1 - 1 / k) / n)
        assert max(counts.values()) / n <= bound, (qtype, counts)


@pytest.mark.parametrize("bench_id", OFFLINE_VQA)
@pytest.mark.parametrize("split", ["val", "test"])
def test_blind_prior_is_within_1_5_times_chance(bench_id, split):
    s = prior_score(get_benchmark(bench_id), split)
    assert s["VQA_acc"] <= 1.5 * s["chance"], s
    assert 0 < s["chance"] < 100


def test_cli_prints_one_row_per_benchmark_and_rejects_unknown_ids(capsys):
    assert main(["--benchmarks", "syn-okvqa,syn-textvqa", "--split", "val"]) == 0
    rows = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| syn-")]
    assert [r.split(" | ")[0] for r in rows] == ["| syn-okvqa", "| syn-textvqa"]
    assert all(r.split(" | ")[2] == "VQA_acc" for r in rows)
    assert main(["--benchmarks", "syn-nope"]) == 2
    assert "unknown benchmark" in capsys.readouterr().err


# The blind caption's CIDEr on each caption mirror's test split, generation seed 0; before the caption generators
# drew from wide spaces with shared frames it was 32.3 / 36.3 / 13.2 / 38.4 / 63.7.
BLIND_CIDER_BOUND = 10.0
OFFLINE_CAPTIONS = ["syn-coco", "syn-coco-1pct", "syn-textcaps", "syn-audiocaps", "syn-msrvtt"]


@pytest.mark.parametrize("bench_id", OFFLINE_CAPTIONS)
def test_blind_caption_scores_low_cider(bench_id):
    assert prior_score(get_benchmark(bench_id), "test")["CIDEr"] <= BLIND_CIDER_BOUND


@pytest.mark.parametrize("bench_id", OFFLINE_CAPTIONS)
def test_blind_caption_is_deterministic_per_seed(bench_id):
    bench = get_benchmark(bench_id)

    def blind(seed: int) -> set[str]:
        return set(prior_predictions(bench, bench.load("train", seed=seed), bench.load("test", seed=seed)).values())

    assert blind(0) == blind(0) != blind(1)
