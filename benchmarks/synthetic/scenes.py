"""Shape scenes of the offline suite (mirror of COCO images): coloured shapes on a plain background, drawn with PIL.

A scene is a small, fully described structure (shapes, colours, sizes, 3x3 grid cells), so captions and answers
are grounded in exactly what is drawn: colours, shapes, counts and positions.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

COLORS = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (30, 70, 220),
    "yellow": (245, 215, 20),
    "purple": (140, 50, 180),
    "orange": (250, 140, 20),
    "black": (20, 20, 20),
    "white": (250, 250, 250),
}
COLOR_SYNONYMS = {"purple": ["violet"], "gray": ["grey"]}
BACKGROUNDS = {"white": (255, 255, 255), "gray": (150, 150, 150), "black": (0, 0, 0), "light blue": (170, 210, 245)}
SHAPES = ("circle", "square", "triangle", "star", "diamond")
SHAPE_SYNONYMS = {"circle": ["round shape", "disc"], "square": ["box"], "diamond": ["rhombus"]}
# Captions draw from a wider palette and more shapes than the VQA answer sets, so that a fixed caption rarely
# names what is drawn (the blind caption's CIDEr stays low).
CAPTION_COLORS = {
    **COLORS,
    "pink": (250, 120, 190),
    "brown": (125, 75, 30),
    "cyan": (20, 205, 215),
    "gray": (120, 120, 120),
    "lime": (150, 230, 40),
    "navy": (15, 25, 110),
    "teal": (0, 128, 128),
    "maroon": (128, 0, 32),
    "magenta": (230, 0, 230),
    "olive": (110, 120, 20),
}
# What captions call each colour and shape: references pick among these, as annotators word things differently.
CAPTION_COLOR_WORDS = {
    "red": ("red", "scarlet"),
    "green": ("green", "emerald"),
    "blue": ("blue", "cobalt"),
    "yellow": ("yellow", "canary yellow"),
    "purple": ("purple", "violet"),
    "orange": ("orange", "tangerine"),
    "black": ("black", "jet-black"),
    "white": ("white", "snow-white"),
    "pink": ("pink", "rose"),
    "brown": ("brown", "chocolate"),
    "cyan": ("cyan", "aqua", "turquoise"),
    "gray": ("gray", "grey"),
    "lime": ("lime", "chartreuse"),
    "navy": ("navy", "navy-blue"),
    "teal": ("teal", "blue-green"),
    "maroon": ("maroon", "burgundy"),
    "magenta": ("magenta", "fuchsia"),
    "olive": ("olive", "olive-green"),
}
CAPTION_SHAPE_WORDS = {
    "circle": ("circle", "disc", "dot"),
    "square": ("square", "box"),
    "triangle": ("triangle", "three-sided shape"),
    "star": ("star", "five-pointed star"),
    "diamond": ("diamond", "rhombus"),
    "hexagon": ("hexagon", "six-sided shape"),
    "pentagon": ("pentagon", "five-sided shape"),
    "octagon": ("octagon", "eight-sided shape"),
    "cross": ("cross", "plus sign"),
    "arrow": ("arrow", "pointer"),
    "heart": ("heart", "love heart"),
    "rectangle": ("rectangle", "bar"),
    "oval": ("oval", "ellipse"),
    "ring": ("ring", "hoop"),
    "semicircle": ("semicircle", "half circle"),
    "trapezoid": ("trapezoid", "trapezium"),
    "kite": ("kite", "kite shape"),
}
CAPTION_SHAPES = (
    *SHAPES,
    "hexagon",
    "pentagon",
    "octagon",
    "cross",
    "arrow",
    "heart",
    "rectangle",
    "oval",
    "ring",
    "semicircle",
    "trapezoid",
    "kite",
)
ROWS = ("top", "middle", "bottom")
COLS = ("left", "center", "right")


@dataclass(frozen=True)
class Shape:
    shape: str
    color: str
    large: bool
    row: int
    col: int

    @property
    def position(self) -> str:
        """Human name of the 3x3 cell: 'top left', 'left', 'center', 'bottom', ..."""
        r, c = ROWS[self.row], COLS[self.col]
        if r == "middle":
            return c
        return r if c == "center" else f"{r} {c}"


@dataclass(frozen=True)
class Scene:
    background: str
    shapes: tuple[Shape, ...]
    kind: str  # single | pair | group (captions); mixed (VQA: built for its questions)


_CLASHES = {
    "light blue": ("blue", "cyan"),
    "gray": ("gray", "olive"),
    "black": ("navy", "maroon"),
}  # too close to the background


def color_word(rng: random.Random, color: str) -> str:
    return rng.choice(CAPTION_COLOR_WORDS.get(color, (color,)))


def shape_word(rng: random.Random, shape: str) -> str:
    return rng.choice(CAPTION_SHAPE_WORDS.get(shape, (shape,)))


def object_colors(background: str, palette: dict[str, tuple[int, int, int]] = COLORS) -> list[str]:
    return [c for c in palette if c != background and c not in _CLASHES.get(background, ())]


def sample_scene(rng: random.Random) -> Scene:
    """A caption scene: kind, colours (`CAPTION_COLORS`), shapes (`CAPTION_SHAPES`), sizes and cells uniform."""
    background = rng.choice(list(BACKGROUNDS))
    colors = object_colors(background, CAPTION_COLORS)
    cells = rng.sample([(r, c) for r in range(3) for c in range(3)], 4)
    kind = rng.choice(["single", "pair", "group"])
    if kind == "single":
        shape, color = rng.choice(CAPTION_SHAPES), rng.choice(colors)
        shapes: tuple[Shape, ...] = (Shape(shape, color, rng.random() < 0.5, *cells[0]),)
    elif kind == "pair":
        s1, s2 = rng.sample(CAPTION_SHAPES, 2)
        c1, c2 = rng.sample(colors, 2)
        a, b = cells[0], cells[1]
        if a[1] == b[1]:  # same column: keep them distinguishable by side too
            b = (b[0], (a[1] + 1) % 3)
            if b == a:
                b = (a[0], (a[1] + 2) % 3)
        shapes = (Shape(s1, c1, False, *a), Shape(s2, c2, False, *b))
    else:
        n = rng.randint(2, 4)
        shape, color = rng.choice(CAPTION_SHAPES), rng.choice(colors)
        shapes = tuple(Shape(shape, color, False, *cells[i]) for i in range(n))
    return Scene(background, shapes, kind)


_SIDES = {"pentagon": 5, "hexagon": 6, "octagon": 8}


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r * 0.7, cy), (cx, cy + r), (cx - r * 0.7, cy)]
    if shape in _SIDES:
        n = _SIDES[shape]
        return [(cx + r * math.sin(2 * math.pi * k / n), cy - r * math.cos(2 * math.pi * k / n)) for k in range(n)]
    if shape == "rectangle":
        return [(cx - r, cy - r * 0.55), (cx + r, cy - r * 0.55), (cx + r, cy + r * 0.55), (cx - r, cy + r * 0.55)]
    if shape == "trapezoid":
        return [
            (cx - r * 0.5, cy - r * 0.6),
            (cx + r * 0.5, cy - r * 0.6),
            (cx + r, cy + r * 0.6),
            (cx - r, cy + r * 0.6),
        ]
    if shape == "kite":
        return [(cx, cy - r), (cx + r * 0.6, cy - r * 0.3), (cx, cy + r), (cx - r * 0.6, cy - r * 0.3)]
    if shape == "cross":
        a = r * 0.35
        pts = [
            (a, r),
            (a, a),
            (r, a),
            (r, -a),
            (a, -a),
            (a, -r),
            (-a, -r),
            (-a, -a),
            (-r, -a),
            (-r, a),
            (-a, a),
            (-a, r),
        ]
        return [(cx + x, cy + y) for x, y in pts]
    if shape == "arrow":  # pointing right
        pts = [(-r, -0.3 * r), (0.1 * r, -0.3 * r), (0.1 * r, -0.8 * r), (r, 0), (0.1 * r, 0.8 * r), (0.1 * r, 0.3 * r)]
        return [(cx + x, cy + y) for x, y in [*pts, (-r, 0.3 * r)]]
    if shape == "heart":  # the classic parametric heart curve, scaled to radius r
        ts = [2 * math.pi * k / 40 for k in range(40)]
        return [
            (
                cx + r * (math.sin(t) ** 3),
                cy - r * (13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)) / 16,
            )
            for t in ts
        ]
    if shape == "star":
        return [
            (
                cx + (r if k % 2 == 0 else r * 0.45) * math.sin(k * math.pi / 5),
                cy - (r if k % 2 == 0 else r * 0.45) * math.cos(k * math.pi / 5),
            )
            for k in range(10)
        ]
    raise ValueError(f"unknown shape {shape!r}")


ROUND = ("circle", "oval", "ring", "semicircle")  # drawn as ellipses: `angle` does not turn them


def draw_shape(
    draw, shape: str, color: tuple[int, int, int], cx: float, cy: float, r: float, angle: float = 0.0
) -> None:
    """Draw one shape (PIL ImageDraw) centred at (cx, cy) with radius r, polygons turned by `angle` degrees."""
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    elif shape == "oval":
        draw.ellipse([cx - r, cy - r * 0.6, cx + r, cy + r * 0.6], fill=color)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=color, width=max(2, int(r * 0.35)))
    elif shape == "semicircle":
        draw.chord([cx - r, cy - r * 0.5, cx + r, cy + r * 1.5], 180, 360, fill=color)
    else:
        pts = _polygon(shape, cx, cy, r)
        if angle:  # unturned points stay exactly as computed, so unturned drawings keep their pixels
            c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
            pts = [(cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in pts]
        draw.polygon(pts, fill=color)


def render_scene(scene: Scene, size: int, jitter_seed: str):
    """PIL image of the scene; small position jitter (seeded) so equal scenes are not pixel-identical."""
    from PIL import Image, ImageDraw

    rng = random.Random(jitter_seed)
    img = Image.new("RGB", (size, size), BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(img)
    cell = size / 3
    for s in scene.shapes:
        r = cell * (0.42 if s.large else 0.28)
        cx = (s.col + 0.5) * cell + rng.uniform(-0.08, 0.08) * cell
        cy = (s.row + 0.5) * cell + rng.uniform(-0.08, 0.08) * cell
        draw_shape(draw, s.shape, CAPTION_COLORS[s.color], cx, cy, r)
    return img
