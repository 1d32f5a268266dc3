"""Signs with written words (mirrors of TextCaps / TextVQA): the caption or answer must read the word in the image."""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks.synthetic.language import article, human_answers, pick_refs
from benchmarks.synthetic.scenes import BACKGROUNDS, COLORS

WORDS = (
    "open",
    "stop",
    "sale",
    "cafe",
    "hotel",
    "pizza",
    "taxi",
    "bank",
    "books",
    "exit",
    "park",
    "milk",
    "bread",
    "music",
    "shop",
    "bar",
    "police",
    "school",
    "farm",
    "toys",
    "fruit",
    "coffee",
    "diner",
    "bus",
    "movies",
    "pets",
    "tea",
    "fish",
    "zoo",
    "gym",
    "jazz",
    "beach",
    "home",
    "love",
    "hello",
    "radio",
    "metro",
    "cake",
    "wine",
    "sushi",
    "salon",
    "games",
    "bikes",
    "post",
    "hats",
    "shoes",
    "garden",
    "market",
    "museum",
)
SIGN_COLORS = ("red", "green", "blue", "yellow", "black", "white", "orange")
BOARDS = ("sign", "board", "banner")


@dataclass(frozen=True)
class TextScene:
    word: str
    sign_color: str
    text_color: str
    board: str
    background: str
    row: int  # 0 top, 1 middle, 2 bottom


def letter_color(sign: str) -> str:
    """Letters are white on dark signs, black on light ones."""
    return "white" if sign in ("red", "green", "blue", "black") else "black"


def sample_text_scene(rng: random.Random, sign: str | None = None) -> TextScene:
    sign = sign or rng.choice(SIGN_COLORS)
    text = letter_color(sign)
    background = rng.choice([b for b in BACKGROUNDS if b != sign])
    return TextScene(rng.choice(WORDS), sign, text, rng.choice(BOARDS), background, rng.randrange(3))


def render_text_scene(scene: TextScene, size: int, jitter_seed: str):
    from PIL import Image, ImageDraw, ImageFont

    rng = random.Random(jitter_seed)
    img = Image.new("RGB", (size, size), BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=max(10, int(size * 0.16)))
    text = scene.word.upper()
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tw, th = right - left, bottom - top
    pad = size * 0.06
    cx = size / 2 + rng.uniform(-0.05, 0.05) * size
    cy = (scene.row + 0.5) * size / 3
    box = [cx - tw / 2 - pad, cy - th / 2 - pad, cx + tw / 2 + pad, cy + th / 2 + pad]
    if scene.board == "banner":
        draw.rounded_rectangle(box, radius=int(pad), fill=COLORS[scene.sign_color])
    else:
        draw.rectangle(box, fill=COLORS[scene.sign_color])
    if scene.board == "sign":  # a post below the sign
        draw.rectangle([cx - size * 0.02, box[3], cx + size * 0.02, min(size, box[3] + size * 0.3)], fill=(110, 70, 30))
    draw.text((cx - tw / 2 - left, cy - th / 2 - top), text, font=font, fill=COLORS[scene.text_color])
    return img


def text_captions(rng: random.Random, s: TextScene, k: int = 5) -> list[str]:
    w, board, color = s.word, s.board, s.sign_color
    return pick_refs(
        rng,
        [
            f"{article(color + ' ' + board)} that says {w}",
            f"{article(board)} with the word {w} written on it",
            f"the word {w} in {s.text_color} letters on {article(color + ' ' + board)}",
            f"{article(color + ' ' + board)} reading {w}",
            f"{w} written on {article(color + ' ' + board)}",
            f"{article(board)} that reads {w} on {article(s.background)} background",
            f"{article(color + ' ' + board)} with {s.text_color} text saying {w}",
        ],
        k,
    )


# Question templates of the TextVQA mirror; each is the `question_type` of its items.
SAYS = "what does the <board> say?"
WRITTEN = "what word is written in the image?"
WRITTEN_ON = "what is written on the <color> <board>?"
BOARD_COLOR = "what color is the <board>?"
LETTERS = "what color are the letters?"


def text_vqa(rng: random.Random, k: int) -> tuple[TextScene, list[tuple[str, list[str], str]]]:
    """A sign and k (question, 10 answers, question type): two reading questions (the answer is the written word,
    uniform over WORDS) and one about the sign itself, whose answer is drawn first (sign colours uniform, letters
    white or black 50/50), then the sign built to fit."""
    other = rng.choice([BOARD_COLOR, LETTERS])
    if other == LETTERS:
        letters = rng.choice(["white", "black"])
        s = sample_text_scene(rng, rng.choice([c for c in SIGN_COLORS if letter_color(c) == letters]))
    else:
        s = sample_text_scene(rng)
    others = [x for x in WORDS if x != s.word]
    reading = [
        (f"what does the {s.board} say?", human_answers(rng, s.word, [s.word.upper(), f"{s.word} {s.board}"], others)),
        ("what word is written in the image?", human_answers(rng, s.word, [s.word.upper()], others)),
        (
            f"what is written on the {s.sign_color} {s.board}?",
            human_answers(rng, s.word, [s.word.capitalize()], others),
        ),
    ]
    chosen = [(q, a, t) for (q, a), t in rng.sample(list(zip(reading, (SAYS, WRITTEN, WRITTEN_ON))), min(k, 2))]
    if other == BOARD_COLOR:
        chosen.append((f"what color is the {s.board}?", human_answers(rng, s.sign_color, [], list(SIGN_COLORS)), other))
    else:
        chosen.append(("what color are the letters?", human_answers(rng, s.text_color, [], ["white", "black"]), other))
    return s, chosen[:k]
