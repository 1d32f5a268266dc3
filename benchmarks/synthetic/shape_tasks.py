"""Captions and questions about shape scenes (mirrors of COCO captions and VQAv2 questions)."""

from __future__ import annotations

import random

from benchmarks.synthetic.language import NUMBER_WORDS, article, human_answers, pick_refs, plural
from benchmarks.synthetic.scenes import COLOR_SYNONYMS, SHAPE_SYNONYMS, SHAPES, Scene, Shape, object_colors


def _shape_word(rng: random.Random, shape: str) -> str:
    return rng.choice([shape, shape, *SHAPE_SYNONYMS.get(shape, [])])


def _color_word(rng: random.Random, color: str) -> str:
    return rng.choice([color, color, *COLOR_SYNONYMS.get(color, [])])


def position_phrase(position: str) -> str:
    """'on the left', 'at the top', 'in the top left corner', 'in the center'."""
    if position == "center":
        return "in the center"
    if position in ("left", "right"):
        return f"on the {position}"
    if position in ("top", "bottom"):
        return f"at the {position}"
    return f"in the {position} corner"


def _single(rng: random.Random, scene: Scene) -> list[str]:
    s = scene.shapes[0]
    size = "large" if s.large else "small"
    bg = _color_word(rng, scene.background)
    obj = f"{_color_word(rng, s.color)} {_shape_word(rng, s.shape)}"
    where = position_phrase(s.position)
    return [
        f"{article(size + ' ' + obj)} on {article(bg)} background",
        f"{article(obj)} {where} of the image",
        f"there is {article(size + ' ' + obj)} {where}",
        f"a single {obj} on {article(bg)} background",
        f"{article(bg)} background with {article(obj)} {where}",
        f"{article(size)} {_shape_word(rng, s.shape)} colored {s.color} {where}",
        f"an image of one {obj}",
    ]


def _relation(a: Shape, b: Shape) -> tuple[str, str]:
    """(relation of a to b, inverse), by column (pairs never share a column)."""
    return ("to the left of", "to the right of") if a.col < b.col else ("to the right of", "to the left of")


def _pair(rng: random.Random, scene: Scene) -> list[str]:
    a, b = scene.shapes
    oa = f"{_color_word(rng, a.color)} {_shape_word(rng, a.shape)}"
    ob = f"{_color_word(rng, b.color)} {_shape_word(rng, b.shape)}"
    rel, inv = _relation(a, b)
    bg = _color_word(rng, scene.background)
    refs = [
        f"{article(oa)} {rel} {article(ob)}",
        f"{article(ob)} {inv} {article(oa)}",
        f"{article(oa)} and {article(ob)} on {article(bg)} background",
        f"two shapes, {article(oa)} and {article(ob)}",
        f"{article(oa)} next to {article(ob)}",
        f"there is {article(ob)} and {article(oa)}",
    ]
    if a.row != b.row:
        above = (a, b) if a.row < b.row else (b, a)
        refs.append(
            f"{article(above[0].color + ' ' + above[0].shape)} above {article(above[1].color + ' ' + above[1].shape)}"
        )
    return refs


def _group(rng: random.Random, scene: Scene) -> list[str]:
    s = scene.shapes[0]
    n = len(scene.shapes)
    word = NUMBER_WORDS[n]
    shapes = plural(_shape_word(rng, s.shape))
    color = _color_word(rng, s.color)
    bg = _color_word(rng, scene.background)
    return [
        f"{word} {color} {shapes} on {article(bg)} background",
        f"{n} {color} {shapes}",
        f"a group of {word} {color} {shapes}",
        f"there are {word} {shapes}, all of them {color}",
        f"{word} small {color} {shapes} scattered on {article(bg)} background",
        f"several {color} {shapes}, {word} in total",
    ]


def scene_captions(rng: random.Random, scene: Scene, k: int = 5) -> list[str]:
    """k reference captions in varied wording, all true of the drawn scene."""
    make = {"single": _single, "pair": _pair, "group": _group}[scene.kind]
    return pick_refs(rng, make(rng, scene), k)


def _count_answers(rng: random.Random, n: int) -> list[str]:
    variants = [NUMBER_WORDS[n]] + (["none", "no"] if n == 0 else [])
    return human_answers(rng, str(n), variants, [str(n + 1), str(max(n - 1, 0))])


def scene_questions(rng: random.Random, scene: Scene, k: int) -> list[tuple[str, list[str]]]:
    """k (question, 10 answers) pairs of distinct kinds about the scene (colour, shape, count, yes/no, position)."""
    shapes = scene.shapes
    present = {s.shape for s in shapes}
    colors = object_colors(scene.background)
    pool: list[tuple[str, list[str]]] = []
    unique = [s for s in shapes if sum(t.shape == s.shape for t in shapes) == 1]
    if unique:
        s = rng.choice(unique)
        pool.append(
            (
                f"what color is the {s.shape}?",
                human_answers(rng, s.color, COLOR_SYNONYMS.get(s.color, []) + [f"{s.color} color"], colors),
            )
        )
        pool.append(
            (
                f"where is the {s.shape}?",
                human_answers(
                    rng, s.position, [f"on the {s.position}", f"{s.position} side"], ["center", "left", "right"]
                ),
            )
        )
    s = rng.choice(shapes)
    pool.append(
        (
            f"what shape is the {s.color} object?",
            human_answers(rng, s.shape, SHAPE_SYNONYMS.get(s.shape, []), list(SHAPES)),
        )
    )
    counted = rng.choice([s.shape, rng.choice(SHAPES)])
    n = sum(t.shape == counted for t in shapes)
    pool.append((f"how many {plural(counted)} are there?", _count_answers(rng, n)))
    pool.append(
        (
            "what color is the background?",
            human_answers(rng, scene.background, COLOR_SYNONYMS.get(scene.background, []), ["white", "gray"]),
        )
    )
    ask_shape = rng.choice(SHAPES)
    ask_color = rng.choice([c for c in colors] + [s.color for s in shapes])
    yes = any(t.shape == ask_shape and t.color == ask_color for t in shapes)
    pool.append(
        (
            f"is there {article(ask_color + ' ' + ask_shape)}?",
            human_answers(rng, "yes" if yes else "no", ["yeah"] if yes else ["nope"], ["no" if yes else "yes"]),
        )
    )
    if len(present) == 1 and len(shapes) > 1:
        pool.append(("are all the shapes the same color?", human_answers(rng, "yes", ["yeah"], ["no"])))
    return rng.sample(pool, min(k, len(pool)))
