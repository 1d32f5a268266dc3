"""Knowledge VQA (mirrors of OK-VQA and A-OKVQA): the image shows a simply drawn flag or everyday object; the
question asks a fact the picture does not show (capital, language, season, use...) and the LLM must supply.

Each (question, subject) pair is assigned to train or to evaluation, never both, so evaluation asks facts
about subjects seen in training only under other questions: identifying the subject is learnt from the image,
the fact itself has to come from the language model's knowledge. Answers are balanced per question (drawn first,
uniformly), so the question alone does not give its answer away.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from dataclasses import dataclass
from typing import cast

from benchmarks.synthetic.language import article, human_answers
from benchmarks.synthetic.scenes import BACKGROUNDS, COLORS, draw_shape

_C = {**COLORS, "gold": (250, 200, 0), "light blue": (120, 180, 230), "brown": (120, 75, 35), "gray": (140, 140, 140)}

# country: (flag drawing, capital, language, continent)
# drawing: ("v"|"h", colors) stripes, optionally weighted; ("disc", field, disc); ("cross", field, cross);
# ("star", field, star color, centred?)
FLAGS = {
    "france": (("v", ["blue", "white", "red"]), "paris", "french", "europe"),
    "italy": (("v", ["green", "white", "red"]), "rome", "italian", "europe"),
    "ireland": (("v", ["green", "white", "orange"]), "dublin", "english", "europe"),
    "belgium": (("v", ["black", "yellow", "red"]), "brussels", "dutch", "europe"),
    "romania": (("v", ["blue", "yellow", "red"]), "bucharest", "romanian", "europe"),
    "nigeria": (("v", ["green", "white", "green"]), "abuja", "english", "africa"),
    "peru": (("v", ["red", "white", "red"]), "lima", "spanish", "south america"),
    "germany": (("h", ["black", "red", "gold"]), "berlin", "german", "europe"),
    "russia": (("h", ["white", "blue", "red"]), "moscow", "russian", "europe"),
    "netherlands": (("h", ["red", "white", "blue"]), "amsterdam", "dutch", "europe"),
    "austria": (("h", ["red", "white", "red"]), "vienna", "german", "europe"),
    "poland": (("h", ["white", "red"]), "warsaw", "polish", "europe"),
    "ukraine": (("h", ["blue", "yellow"]), "kyiv", "ukrainian", "europe"),
    "hungary": (("h", ["red", "white", "green"]), "budapest", "hungarian", "europe"),
    "argentina": (("h", ["light blue", "white", "light blue"]), "buenos aires", "spanish", "south america"),
    "spain": (("h", ["red", "yellow", "yellow", "red"]), "madrid", "spanish", "europe"),
    "japan": (("disc", "white", "red"), "tokyo", "japanese", "asia"),
    "bangladesh": (("disc", "green", "red"), "dhaka", "bengali", "asia"),
    "sweden": (("cross", "blue", "yellow"), "stockholm", "swedish", "europe"),
    "denmark": (("cross", "red", "white"), "copenhagen", "danish", "europe"),
    "finland": (("cross", "white", "blue"), "helsinki", "finnish", "europe"),
    "china": (("star", "red", "yellow", False), "beijing", "chinese", "asia"),
    "vietnam": (("star", "red", "yellow", True), "hanoi", "vietnamese", "asia"),
}
FLAG_QUESTIONS = {  # question -> FLAGS field it asks (None: the country itself)
    "which country does this flag belong to?": None,
    "what is the capital of the country with this flag?": 1,
    "what language is spoken in the country of this flag?": 2,
    "on which continent is the country with this flag?": 3,
}
FLAG_VARIANTS = {"kyiv": ["kiev"], "chinese": ["mandarin"]}
OBJECTS = ("snowman", "sun", "moon", "umbrella", "apple", "banana", "fish", "tree", "house", "car", "clock", "heart")
_YES, _NO = ("yes", ["yeah"]), ("no", ["nope"])
_NATURAL, _MAN_MADE = ("natural", ["nature"]), ("man made", ["manmade", "made by people"])
# question -> {object: (answer, equivalent variants)}: world knowledge the drawing does not show; each question is
# asked of several objects, most with answers shared by two or more of them
OBJECT_FACTS: dict[str, dict[str, tuple[str, list[str]]]] = {
    "what is shown in this picture?": {o: (o, [article(o)]) for o in OBJECTS},
    "can you eat this?": {
        **{o: _YES for o in ("apple", "banana", "fish")},
        **{o: _NO for o in ("snowman", "sun", "moon", "umbrella", "tree", "house", "car", "clock")},
    },
    "would you see this in the sky?": {
        **{o: _YES for o in ("sun", "moon")},
        **{o: _NO for o in ("apple", "banana", "fish", "house", "car", "clock", "umbrella", "snowman")},
    },
    "is this alive?": {
        **{o: _YES for o in ("fish", "tree")},
        **{o: _NO for o in ("car", "clock", "house", "umbrella", "snowman", "sun", "moon")},
    },
    "is this natural or man made?": {
        **{o: _NATURAL for o in ("sun", "moon", "tree", "apple", "banana", "fish")},
        **{o: _MAN_MADE for o in ("umbrella", "house", "car", "clock", "snowman")},
    },
    "is this bigger than a person?": {
        **{o: _YES for o in ("car", "house", "tree", "sun", "moon")},
        **{o: _NO for o in ("apple", "banana", "clock", "umbrella")},
    },
    "at what time of day do you see this in the sky?": {
        "sun": ("day", ["daytime", "noon"]),
        "moon": ("night", ["nighttime"]),
    },
    "what is this used for?": {
        "umbrella": ("rain", ["keeping dry", "staying dry"]),
        "car": ("driving", ["transportation", "travel"]),
        "clock": ("telling time", ["time"]),
        "house": ("living", ["living in", "shelter"]),
    },
    "what is this made of?": {
        "snowman": ("snow", ["ice"]),
        "house": ("bricks", ["brick"]),
        "tree": ("wood", []),
        "car": ("metal", ["steel"]),
    },
    "on which holiday do people send or build this?": {
        "heart": ("valentines day", ["valentine's day"]),
        "snowman": ("christmas", ["winter holidays"]),
    },
}
FLAG_FACTS: dict[str, dict[str, tuple[str, list[str]]]] = {
    q: {c: (a, FLAG_VARIANTS.get(a, [])) for c in FLAGS for a in [c if f is None else cast(str, FLAGS[c][f])]}
    for q, f in FLAG_QUESTIONS.items()
}
RECOGNITION = ("which country does this flag belong to?", "what is shown in this picture?")


def _hash(*parts: str) -> int:
    return int(hashlib.sha256("/".join(parts).encode()).hexdigest(), 16)


def held_out(question: str, table: dict[str, tuple[str, list[str]]]) -> set[str]:
    """Subjects whose fact `question` is asked only in evaluation. Recognition is always trained; of the subjects
    sharing an answer, a third (at least one, never all) are held out, so an evaluated answer of a shared kind
    (continent, language, yes/no) is one training gave other subjects; an answer of one subject alone (a capital)
    is held out for 1 subject in 3."""
    if question in RECOGNITION:
        return set()
    by_answer: dict[str, list[str]] = {}
    for subject, (answer, _) in table.items():
        by_answer.setdefault(answer, []).append(subject)
    out: set[str] = set()
    for subjects in by_answer.values():
        ranked = sorted(subjects, key=lambda s: _hash(s, question))
        if len(ranked) > 1:
            out.update(ranked[: max(1, len(ranked) // 3)])
        elif _hash(ranked[0], question) % 3 == 0:
            out.add(ranked[0])
    return out


def split_of(family: str, question: str, subject: str) -> str:
    """'train' or 'eval' for a (question, subject) pair of `family` ('flags' or 'objects')."""
    table = (FLAG_FACTS if family == "flags" else OBJECT_FACTS)[question]
    return "eval" if subject in held_out(question, table) else "train"


@functools.cache
def _asked(family: str, split: str) -> dict[str, dict[str, list[str]]]:
    """question -> answer -> subjects, of the pairs in `split` ('train' or 'eval')."""
    asked: dict[str, dict[str, list[str]]] = {}
    for question, table in (FLAG_FACTS if family == "flags" else OBJECT_FACTS).items():
        for subject, (answer, _) in table.items():
            if split_of(family, question, subject) == split:
                asked.setdefault(question, {}).setdefault(answer, []).append(subject)
    return asked


@dataclass(frozen=True)
class KnowledgeScene:
    subject: str  # a country (flag) or an object
    background: str
    scale: float
    dx: float
    dy: float


def sample_question(rng: random.Random, family: str, role: str) -> tuple[KnowledgeScene, str, list[str]]:
    """A (scene, question, 10 answers) of `family` ('flags' or 'objects') for split role train|val|test.

    Balanced per question: the question is drawn uniformly among those the split asks, then its answer uniformly
    among the split's answers to it, then a subject with that answer."""
    facts = FLAG_FACTS if family == "flags" else OBJECT_FACTS
    asked = _asked(family, "train" if role == "train" else "eval")
    question = rng.choice(list(asked))
    answer = rng.choice(list(asked[question]))
    subject = rng.choice(asked[question][answer])
    scene = KnowledgeScene(
        subject,
        rng.choice(["white", "gray", "light blue"]),
        rng.uniform(0.75, 1.0),
        rng.uniform(-0.08, 0.08),
        rng.uniform(-0.08, 0.08),
    )
    variants = facts[question][subject][1]
    distractors = sorted({a for a, _ in facts[question].values()} - {answer})
    return scene, question, human_answers(rng, answer, variants, distractors)


def _draw_flag(draw, spec, box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    kind = spec[0]
    if kind in ("v", "h"):
        colors = spec[1]
        n = len(colors)
        for i, c in enumerate(colors):
            if kind == "v":
                draw.rectangle([x0 + w * i / n, y0, x0 + w * (i + 1) / n, y1], fill=_C[c])
            else:
                draw.rectangle([x0, y0 + h * i / n, x1, y0 + h * (i + 1) / n], fill=_C[c])
    elif kind == "disc":
        draw.rectangle(box, fill=_C[spec[1]])
        r = h * 0.3
        draw.ellipse([x0 + w * 0.45 - r, y0 + h / 2 - r, x0 + w * 0.45 + r, y0 + h / 2 + r], fill=_C[spec[2]])
    elif kind == "cross":
        draw.rectangle(box, fill=_C[spec[1]])
        t = h * 0.18
        draw.rectangle([x0 + w * 0.3, y0, x0 + w * 0.3 + t, y1], fill=_C[spec[2]])
        draw.rectangle([x0, y0 + h / 2 - t / 2, x1, y0 + h / 2 + t / 2], fill=_C[spec[2]])
    elif kind == "star":
        draw.rectangle(box, fill=_C[spec[1]])
        cx, cy, r = (x0 + w / 2, y0 + h / 2, h * 0.3) if spec[3] else (x0 + w * 0.2, y0 + h * 0.3, h * 0.17)
        draw_shape(draw, "star", _C[spec[2]], cx, cy, r)


def _draw_object(draw, name: str, cx: float, cy: float, r: float, bg: tuple[int, int, int]) -> None:
    c = _C
    if name == "snowman":
        draw.ellipse([cx - r * 0.6, cy, cx + r * 0.6, cy + r * 1.1], fill=c["white"], outline=c["black"])
        draw.ellipse([cx - r * 0.4, cy - r * 0.75, cx + r * 0.4, cy + r * 0.05], fill=c["white"], outline=c["black"])
        draw.polygon([(cx, cy - r * 0.4), (cx + r * 0.35, cy - r * 0.33), (cx, cy - r * 0.28)], fill=c["orange"])
    elif name == "sun":
        for k in range(12):
            a = k * math.pi / 6
            draw_shape(draw, "triangle", c["orange"], cx + r * 0.8 * math.cos(a), cy + r * 0.8 * math.sin(a), r * 0.18)
        draw.ellipse([cx - r * 0.6, cy - r * 0.6, cx + r * 0.6, cy + r * 0.6], fill=c["yellow"])
    elif name == "moon":
        draw.ellipse([cx - r * 0.7, cy - r * 0.7, cx + r * 0.7, cy + r * 0.7], fill=c["yellow"])
        draw.ellipse([cx - r * 0.35, cy - r * 0.85, cx + r * 0.95, cy + r * 0.55], fill=bg)
    elif name == "umbrella":
        draw.pieslice([cx - r, cy - r * 0.8, cx + r, cy + r * 0.8], 180, 360, fill=c["purple"])
        draw.line([cx, cy, cx, cy + r * 0.9], fill=c["black"], width=3)
        draw.arc([cx - r * 0.3, cy + r * 0.7, cx, cy + r], 0, 180, fill=c["black"], width=3)
    elif name == "apple":
        draw.ellipse([cx - r * 0.6, cy - r * 0.5, cx + r * 0.6, cy + r * 0.6], fill=c["red"])
        draw.line([cx, cy - r * 0.5, cx + r * 0.1, cy - r * 0.85], fill=c["brown"], width=3)
        draw.ellipse([cx + r * 0.1, cy - r * 0.85, cx + r * 0.4, cy - r * 0.65], fill=c["green"])
    elif name == "banana":
        draw.chord([cx - r, cy - r * 1.2, cx + r, cy + r * 0.6], 20, 160, fill=c["yellow"])
        draw.chord([cx - r * 0.8, cy - r * 1.1, cx + r * 0.8, cy + r * 0.2], 20, 160, fill=bg)
    elif name == "fish":
        draw.ellipse([cx - r * 0.7, cy - r * 0.35, cx + r * 0.4, cy + r * 0.35], fill=c["orange"])
        draw.polygon(
            [(cx + r * 0.3, cy), (cx + r * 0.8, cy - r * 0.35), (cx + r * 0.8, cy + r * 0.35)], fill=c["orange"]
        )
        draw.ellipse([cx - r * 0.5, cy - r * 0.12, cx - r * 0.38, cy], fill=c["black"])
    elif name == "tree":
        draw.rectangle([cx - r * 0.12, cy + r * 0.2, cx + r * 0.12, cy + r], fill=c["brown"])
        draw.ellipse([cx - r * 0.7, cy - r, cx + r * 0.7, cy + r * 0.4], fill=c["green"])
    elif name == "house":
        draw.rectangle([cx - r * 0.6, cy - r * 0.1, cx + r * 0.6, cy + r * 0.8], fill=c["orange"])
        draw.polygon([(cx - r * 0.8, cy - r * 0.1), (cx, cy - r * 0.8), (cx + r * 0.8, cy - r * 0.1)], fill=c["red"])
        draw.rectangle([cx - r * 0.12, cy + r * 0.35, cx + r * 0.12, cy + r * 0.8], fill=c["brown"])
    elif name == "car":
        draw.rectangle([cx - r * 0.9, cy - r * 0.1, cx + r * 0.9, cy + r * 0.35], fill=c["blue"])
        draw.rectangle([cx - r * 0.5, cy - r * 0.45, cx + r * 0.4, cy - r * 0.1], fill=c["blue"])
        for x in (cx - r * 0.5, cx + r * 0.5):
            draw.ellipse([x - r * 0.2, cy + r * 0.2, x + r * 0.2, cy + r * 0.6], fill=c["black"])
    elif name == "clock":
        draw.ellipse(
            [cx - r * 0.8, cy - r * 0.8, cx + r * 0.8, cy + r * 0.8], fill=c["white"], outline=c["black"], width=3
        )
        draw.line([cx, cy, cx, cy - r * 0.6], fill=c["black"], width=3)
        draw.line([cx, cy, cx + r * 0.4, cy], fill=c["black"], width=3)
    elif name == "heart":
        draw.ellipse([cx - r * 0.7, cy - r * 0.6, cx, cy + r * 0.1], fill=c["red"])
        draw.ellipse([cx, cy - r * 0.6, cx + r * 0.7, cy + r * 0.1], fill=c["red"])
        draw.polygon([(cx - r * 0.68, cy - r * 0.1), (cx + r * 0.68, cy - r * 0.1), (cx, cy + r * 0.75)], fill=c["red"])
    else:
        raise ValueError(f"no drawing for object {name!r}")


def render_knowledge_scene(scene: KnowledgeScene, size: int):
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(img)
    cx, cy = size * (0.5 + scene.dx), size * (0.5 + scene.dy)
    if scene.subject in FLAGS:
        w, h = size * 0.8 * scene.scale, size * 0.53 * scene.scale
        draw.line([cx - w / 2, cy - h / 2, cx - w / 2, min(size, cy + h)], fill=(90, 60, 30), width=3)
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        _draw_flag(draw, FLAGS[scene.subject][0], box)
        draw.rectangle(box, outline=(60, 60, 60))
    else:
        _draw_object(draw, scene.subject, cx, cy, size * 0.4 * scene.scale, BACKGROUNDS[scene.background])
    return img
