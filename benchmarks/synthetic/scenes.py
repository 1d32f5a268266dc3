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


def object_colors(background: str) -> list[str]:
    return [c for c in COLORS if c != background and not (background == "light blue" and c == "blue")]


def sample_scene(rng: random.Random) -> Scene:
    background = rng.choice(list(BACKGROUNDS))
    colors = object_colors(background)
    cells = rng.sample([(r, c) for r in range(3) for c in range(3)], 4)
    kind = rng.choice(["single", "pair", "group"])
    if kind == "single":
        shapes: tuple[Shape, ...] = (Shape(rng.choice(SHAPES), rng.choice(colors), rng.random() < 0.5, *cells[0]),)
    elif kind == "pair":
        s1, s2 = rng.sample(SHAPES, 2)
        c1, c2 = rng.sample(colors, 2)
        a, b = cells[0], cells[1]
        if a[1] == b[1]:  # same column: keep them distinguishable by side too
            b = (b[0], (a[1] + 1) % 3)
            if b == a:
                b = (a[0], (a[1] + 2) % 3)
        shapes = (Shape(s1, c1, False, *a), Shape(s2, c2, False, *b))
    else:
        n = rng.randint(2, 4)
        shape, color = rng.choice(SHAPES), rng.choice(colors)
        shapes = tuple(Shape(shape, color, False, *cells[i]) for i in range(n))
    return Scene(background, shapes, kind)


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r * 0.7, cy), (cx, cy + r), (cx - r * 0.7, cy)]
    if shape == "star":
        return [
            (
                cx + (r if k % 2 == 0 else r * 0.45) * math.sin(k * math.pi / 5),
                cy - (r if k % 2 == 0 else r * 0.45) * math.cos(k * math.pi / 5),
            )
            for k in range(10)
        ]
    raise ValueError(f"unknown shape {shape!r}")


def draw_shape(draw, shape: str, color: tuple[int, int, int], cx: float, cy: float, r: float) -> None:
    """Draw one shape (PIL ImageDraw) centred at (cx, cy) with radius r."""
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=color)
    else:
        draw.polygon(_polygon(shape, cx, cy, r), fill=color)


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
        draw_shape(draw, s.shape, COLORS[s.color], cx, cy, r)
    return img
