"""Signs with written words (mirrors of TextCaps / TextVQA): the caption or answer must read the word in the image."""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks.synthetic.language import article, framed_refs, human_answers
from benchmarks.synthetic.scenes import BACKGROUNDS, CAPTION_COLORS, color_word, object_colors

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
# Captions read a wider vocabulary on signs of any caption colour, so that a fixed caption rarely names the sign.
CAPTION_WORDS = (
    *WORDS,
    *[
        "bakery",
        "pharmacy",
        "library",
        "airport",
        "hospital",
        "station",
        "theater",
        "garage",
        "studio",
        "gallery",
        "bistro",
        "grill",
        "deli",
        "candy",
        "florist",
        "laundry",
        "motel",
        "tacos",
        "burger",
        "noodle",
        "bagel",
        "donut",
        "waffle",
        "pasta",
        "salad",
        "soup",
        "juice",
        "lemon",
        "apple",
        "cherry",
        "mango",
        "honey",
        "cheese",
        "butter",
        "pepper",
        "spice",
        "tavern",
        "lounge",
        "arcade",
        "casino",
        "cinema",
        "circus",
        "stadium",
        "harbor",
        "ferry",
        "train",
        "tram",
        "subway",
        "rental",
        "repair",
        "tires",
        "paint",
        "lumber",
        "hardware",
        "plants",
        "flowers",
        "seeds",
        "pottery",
        "jewelry",
        "watches",
        "phones",
        "camera",
        "vinyl",
        "guitar",
        "piano",
        "dance",
        "yoga",
        "karate",
        "boxing",
        "tennis",
        "soccer",
        "golf",
        "bowling",
        "skate",
        "surf",
        "kayak",
        "camping",
        "hiking",
        "maps",
        "travel",
        "tours",
        "hostel",
        "inn",
        "lodge",
        "cabin",
        "ranch",
        "dairy",
        "bees",
        "eggs",
        "tools",
        "lamps",
        "rugs",
        "quilts",
        "fabric",
        "yarn",
        "sewing",
        "tailor",
        "barber",
        "nails",
        "spa",
        "sauna",
        "clinic",
        "dental",
        "vet",
        "kennel",
        "bridge",
        "tunnel",
        "north",
        "south",
        "east",
        "west",
        "welcome",
        "sorry",
        "closed",
        "danger",
        "quiet",
        "slow",
        "yield",
        "wet",
        "push",
        "pull",
        "free",
        "fresh",
        "hot",
        "cold",
    ],
)
SIGN_COLORS = ("red", "green", "blue", "yellow", "black", "white", "orange")
BOARDS = ("sign", "board", "banner")
CAPTION_BOARDS = (*BOARDS, "billboard", "plaque")


@dataclass(frozen=True)
class TextScene:
    word: str
    sign_color: str
    text_color: str
    board: str
    background: str
    row: int  # 0 top, 1 middle, 2 bottom


def letter_color(sign: str) -> str:
    """Letters are white on dark signs, black on light ones (luma below or above 130)."""
    r, g, b = CAPTION_COLORS[sign]
    return "white" if 0.299 * r + 0.587 * g + 0.114 * b < 130 else "black"


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
        draw.rounded_rectangle(box, radius=int(pad), fill=CAPTION_COLORS[scene.sign_color])
    else:
        draw.rectangle(box, fill=CAPTION_COLORS[scene.sign_color])
    post = (110, 70, 30)
    if scene.board == "sign":  # a post below the sign
        draw.rectangle([cx - size * 0.02, box[3], cx + size * 0.02, min(size, box[3] + size * 0.3)], fill=post)
    elif scene.board == "billboard":  # two legs
        for x in (box[0] + pad, box[2] - pad):
            draw.rectangle([x - size * 0.015, box[3], x + size * 0.015, min(size, box[3] + size * 0.3)], fill=post)
    elif scene.board == "plaque":  # a frame inside the edge
        inset = [box[0] + pad / 3, box[1] + pad / 3, box[2] - pad / 3, box[3] - pad / 3]
        draw.rectangle(inset, outline=CAPTION_COLORS[scene.text_color], width=max(1, int(pad / 4)))
    draw.text((cx - tw / 2 - left, cy - th / 2 - top), text, font=font, fill=CAPTION_COLORS[scene.text_color])
    return img


def sample_caption_sign(rng: random.Random) -> TextScene:
    """A captioned sign: word (`CAPTION_WORDS`), sign colour (any caption colour apart from the background's),
    board, background and row uniform."""
    background = rng.choice(list(BACKGROUNDS))
    sign = rng.choice(object_colors(background, CAPTION_COLORS))
    return TextScene(
        rng.choice(CAPTION_WORDS), sign, letter_color(sign), rng.choice(CAPTION_BOARDS), background, rng.randrange(3)
    )


# Frames shared by every sign: the wording varies between references, each reads the word.
_FRAMES = (
    "{a_sign} that says {w}",
    "{a_sign} with the word {w} written on it",
    "the word {w} on {a_sign}",
    "{a_sign} reading {w}",
    "{w} written on {a_sign}",
    "{a_sign} with {w} in capital letters",
    "a picture of {a_sign} that reads {w}",
)


def text_captions(rng: random.Random, s: TextScene, k: int = 5) -> list[str]:
    """k references (k of the shared frames), each naming the word and the board, most its colour."""

    def fill() -> dict[str, str]:
        color = color_word(rng, s.sign_color)
        # "sign" fits every board: named in every item, it tells no board from another
        return {"a_sign": article(rng.choice([f"{color} {s.board}", f"{color} sign"])), "w": s.word}

    return framed_refs(rng, _FRAMES, fill, k)


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
