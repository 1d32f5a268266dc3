"""Shared wording helpers of the offline suite: articles, plurals, number words, human-style answer sets."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

NUMBER_WORDS = {0: "zero", 1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}


def article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def plural(noun: str) -> str:
    head, _, tail = noun.rpartition(" ")
    last = tail or noun
    if last.endswith(("s", "x", "sh", "ch")):
        last += "es"
    else:
        last += "s"
    return f"{head} {last}" if head else last


def pick_refs(rng: random.Random, candidates: list[str], k: int = 5) -> list[str]:
    """k distinct reference captions (COCO-like: several annotators, varied wording)."""
    unique = list(dict.fromkeys(candidates))
    return rng.sample(unique, min(k, len(unique)))


def framed_refs(rng: random.Random, frames: Sequence[str], fill: Callable[[], dict[str, str]], k: int = 5) -> list[str]:
    """k references: k of the frames every item of a mirror shares (no frame marks a kind of item), each filled with
    slots that `fill()` words afresh, so the references vary in wording."""
    return pick_refs(rng, [frame.format(**fill()) for frame in rng.sample(list(frames), k)], k)


def human_answers(
    rng: random.Random, canonical: str, variants: Sequence[str] = (), distractors: Sequence[str] = (), n: int = 10
) -> list[str]:
    """n annotator answers (VQAv2-like): a clear majority for the canonical answer, 0-3 equivalent variants
    (synonyms, number words, casing) and sometimes one wrong answer, in random order."""
    n_var = rng.choice([0, 1, 1, 2, 2, 3]) if variants else 0
    n_wrong = 1 if distractors and rng.random() < 0.15 else 0
    answers = (
        [canonical] * (n - n_var - n_wrong)
        + [rng.choice(list(variants)) for _ in range(n_var)]
        + [rng.choice(list(distractors)) for _ in range(n_wrong)]
    )
    rng.shuffle(answers)
    return answers
