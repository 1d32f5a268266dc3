"""Shared wording helpers of the offline suite: articles, plurals, number words, human-style answer sets."""
from __future__ import annotations

import random

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


def human_answers(rng: random.Random, canonical: str, variants: list[str] = (), distractors: list[str] = (),
                  n: int = 10) -> list[str]:
    """n annotator answers: mostly the canonical answer, some equivalent variants, rarely a wrong one (VQAv2-like)."""
    answers = []
    for _ in range(n):
        r = rng.random()
        if variants and r < 0.25:
            answers.append(rng.choice(list(variants)))
        elif distractors and r > 0.95:
            answers.append(rng.choice(list(distractors)))
        else:
            answers.append(canonical)
    if canonical not in answers:
        answers[0] = canonical
    return answers
