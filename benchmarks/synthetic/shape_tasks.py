"""Captions and questions about shape scenes (mirrors of COCO captions and VQAv2 questions).

VQA scenes are built for their questions: answers are drawn first, uniformly per question type, so that no
question type can be answered from priors better than chance (VQAv2's balancing, Goyal et al. 2017).
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import cast

from benchmarks.synthetic.language import NUMBER_WORDS, article, framed_refs, human_answers, plural
from benchmarks.synthetic.scenes import (
    BACKGROUNDS,
    COLOR_SYNONYMS,
    COLORS,
    SHAPE_SYNONYMS,
    SHAPES,
    Scene,
    Shape,
    color_word,
    object_colors,
    shape_word,
)


def position_phrase(position: str) -> str:
    """'on the left', 'at the top', 'in the top left corner', 'in the center'."""
    if position == "center":
        return "in the center"
    if position in ("left", "right"):
        return f"on the {position}"
    if position in ("top", "bottom"):
        return f"at the {position}"
    return f"in the {position} corner"


def _object(rng: random.Random, s: Shape) -> str:
    return f"{color_word(rng, s.color)} {shape_word(rng, s.shape)}"


def _relation(a: Shape, b: Shape) -> tuple[str, str]:
    """(relation of a to b, inverse), by column (pairs never share a column)."""
    return ("to the left of", "to the right of") if a.col < b.col else ("to the right of", "to the left of")


def _subjects(rng: random.Random, scene: Scene) -> tuple[str, str]:
    """(what is drawn, the same placed in the image), worded afresh on each call."""
    if scene.kind == "single":
        s = scene.shapes[0]
        size = rng.choice(["large" if s.large else "small", ""])
        subject = article(f"{size} {_object(rng, s)}".strip())
        return subject, f"{subject} {position_phrase(s.position)}"
    if scene.kind == "pair":
        a, b = scene.shapes if rng.random() < 0.5 else scene.shapes[::-1]
        oa, ob = article(_object(rng, a)), article(_object(rng, b))
        placed = rng.choice([f"{oa} {_relation(a, b)[0]} {ob}", f"{oa} {position_phrase(a.position)} and {ob}"])
        return f"{oa} and {ob}", placed
    s, n = scene.shapes[0], len(scene.shapes)
    group = f"{rng.choice([NUMBER_WORDS[n], str(n)])} {color_word(rng, s.color)} {plural(shape_word(rng, s.shape))}"
    return group, group


# Frames shared by every kind of scene: the wording varies between references, while no frame marks a kind.
_FRAMES = (
    "{subject}",
    "{placed}",
    "a picture of {placed}",
    "{there} {subject} on {bg} background",
    "{bg} background with {subject}",
    "an image showing {placed}",
    "{subject} drawn on {bg} background",
    "{placed}, and the background is {bg_color}",
)


def scene_captions(rng: random.Random, scene: Scene, k: int = 5) -> list[str]:
    """k reference captions in varied wording (k of the shared frames), all true of the drawn scene."""
    there = "there are" if scene.kind != "single" else "there is"

    def fill() -> dict[str, str]:
        subject, placed = _subjects(rng, scene)
        bg = color_word(rng, scene.background)
        return {"subject": subject, "placed": placed, "bg": article(bg), "bg_color": bg, "there": there}

    return framed_refs(rng, _FRAMES, fill, k)


def _count_answers(rng: random.Random, n: int) -> list[str]:
    variants = [NUMBER_WORDS[n]] + (["none", "no"] if n == 0 else [])
    return human_answers(rng, str(n), variants, [str(n + 1), str(max(n - 1, 0))])


# Question templates of the shapes VQA mirror; each is the `question_type` of its items.
COLOR_OF = "what color is the <shape>?"
WHERE = "where is the <shape>?"
SHAPE_OF = "what shape is the <color> object?"
COUNT = "how many <shapes> are there?"
BACKGROUND = "what color is the background?"
IS_THERE = "is there a <color> <shape>?"
ALL_SAME = "are all the shapes the same color?"
POSITIONS = tuple(Shape("circle", "red", False, r, c).position for r in range(3) for c in range(3))
ANSWERS: dict[str, tuple] = {  # each type's answer set, drawn uniformly before the scene is built
    COLOR_OF: tuple(COLORS),
    WHERE: POSITIONS,
    SHAPE_OF: SHAPES,
    COUNT: (0, 1, 2, 3, 4),
    BACKGROUND: tuple(BACKGROUNDS),
    IS_THERE: ("yes", "no"),
    ALL_SAME: ("yes", "no"),
}
# Asked of one image these two would contradict each other ("the red object" is ambiguous when all are red).
_EXCLUSIVE = frozenset({SHAPE_OF, ALL_SAME})


@dataclass(frozen=True)
class _Slots:
    """What the scene was built for: the shape each question names (counted, colour-asked, position-asked) and
    the colour the shape question names."""

    counted: str
    colored: str
    located: str
    named_color: str | None


def _build(rng: random.Random, target: dict[str, object]) -> tuple[Scene, _Slots] | None:
    """A scene in which every drawn answer of `target` (type -> answer) is true, or None when they conflict."""
    color_of = cast("str | None", target.get(COLOR_OF))
    background = cast("str | None", target.get(BACKGROUND)) or rng.choice(
        [b for b in BACKGROUNDS if color_of is None or color_of in object_colors(b)]
    )
    colors = object_colors(background)
    if color_of is not None and color_of not in colors:
        return None
    same = target.get(ALL_SAME)
    base = color_of or rng.choice(colors)  # the colour of every shape when all are asked to be the same
    named_shape = cast("str | None", target.get(SHAPE_OF))
    counted, colored, located = rng.sample([s for s in SHAPES if s != named_shape], 3)
    named_color = rng.choice([c for c in colors if c != color_of]) if named_shape else None
    free = [c for c in colors if c != named_color]  # the named colour belongs to one shape only
    cells = rng.sample([(r, c) for r in range(3) for c in range(3)], 9)
    shapes: list[Shape] = []

    def put(shape: str, color: str, cell: tuple[int, int] | None = None) -> None:
        cell = cell or next(c for c in cells if all((s.row, s.col) != c for s in shapes))
        shapes.append(Shape(shape, color, False, *cell))

    def any_color() -> str:
        return base if same == "yes" else rng.choice(free)

    if WHERE in target:
        put(located, any_color(), divmod(POSITIONS.index(cast(str, target[WHERE])), 3))
    if color_of is not None:
        put(colored, color_of)
    if named_shape is not None:
        put(named_shape, cast(str, named_color))
    for _ in range(cast(int, target.get(COUNT, 0))):
        put(counted, any_color())
    asked = ((COUNT, counted), (COLOR_OF, colored), (WHERE, located), (SHAPE_OF, named_shape))
    fillers = [s for s in SHAPES if s not in {shape for qtype, shape in asked if qtype in target}]
    wanted = max(rng.randint(0, 2), 2 - len(shapes) if ALL_SAME in target else 1 - len(shapes))
    if len(shapes) + wanted > len(cells):
        return None
    for _ in range(wanted):
        put(rng.choice(fillers), any_color())
    if same == "no" and len({s.color for s in shapes}) == 1:  # recolour a shape whose colour no answer names
        i = next(i for i, s in enumerate(shapes) if s.shape not in (named_shape, colored if color_of else None))
        shapes[i] = dataclasses.replace(shapes[i], color=rng.choice([c for c in free if c != shapes[i].color]))
    return Scene(background, tuple(shapes), "mixed"), _Slots(counted, colored, located, named_color)


def _ask(rng: random.Random, scene: Scene, slots: _Slots, qtype: str, answer: object) -> tuple[str, list[str]]:
    colors = object_colors(scene.background)
    if qtype == COLOR_OF:
        c = cast(str, answer)
        return f"what color is the {slots.colored}?", human_answers(
            rng, c, COLOR_SYNONYMS.get(c, []) + [f"{c} color"], colors
        )
    if qtype == WHERE:
        p = cast(str, answer)
        return f"where is the {slots.located}?", human_answers(
            rng, p, [position_phrase(p)], [q for q in ("center", "left", "right") if q != p]
        )
    if qtype == SHAPE_OF:
        s = cast(str, answer)
        return f"what shape is the {slots.named_color} object?", human_answers(
            rng, s, SHAPE_SYNONYMS.get(s, []), [t for t in SHAPES if t != s]
        )
    if qtype == COUNT:
        return f"how many {plural(slots.counted)} are there?", _count_answers(rng, cast(int, answer))
    if qtype == BACKGROUND:
        b = cast(str, answer)
        return "what color is the background?", human_answers(
            rng, b, COLOR_SYNONYMS.get(b, []), [x for x in ("white", "gray") if x != b]
        )
    if qtype == IS_THERE:
        present = {(s.color, s.shape) for s in scene.shapes}
        if answer == "yes":
            color, shape = rng.choice(sorted(present))
        else:
            color, shape = rng.choice(sorted({(c, s) for c in colors for s in SHAPES} - present))
        yes = answer == "yes"
        return f"is there {article(color + ' ' + shape)}?", human_answers(
            rng, cast(str, answer), ["yeah"] if yes else ["nope"], ["no" if yes else "yes"]
        )
    yes = answer == "yes"
    return ALL_SAME, human_answers(rng, cast(str, answer), ["yeah"] if yes else ["nope"], ["no" if yes else "yes"])


def shape_vqa(rng: random.Random, k: int) -> tuple[Scene, list[tuple[str, list[str], str]]]:
    """A scene and k (question, 10 answers, question type) of distinct types about it, balanced as VQAv2 balanced
    its pairs: each type's answer is drawn uniformly from its answer set first (yes/no 50/50, counts 0-4, every
    colour, cell, shape and background) and the scene is built to make the drawn answers true."""
    while True:
        types = rng.sample(list(ANSWERS), k)
        if set(types) >= _EXCLUSIVE:
            continue
        target = {t: rng.choice(ANSWERS[t]) for t in types}
        built = _build(rng, target)
        if built is not None:
            scene, slots = built
            return scene, [(*_ask(rng, scene, slots, t, target[t]), t) for t in types]
