"""Moving-object clips (mirror of MSRVTT): shapes that move, rise, fall, grow or shrink, as lists of PIL frames."""

from __future__ import annotations

import random
from dataclasses import dataclass

from benchmarks.spec import BenchmarkSpec, Item
from benchmarks.synthetic.language import article, pick_refs
from benchmarks.synthetic.scenes import BACKGROUNDS, COLORS, SHAPES, draw_shape, object_colors
from benchmarks.synthetic.source import item_id

# motion: (start (x, y, scale), end (x, y, scale)) in units of the frame size
MOTIONS = {
    "right": ((0.2, 0.5, 1.0), (0.8, 0.5, 1.0)),
    "left": ((0.8, 0.5, 1.0), (0.2, 0.5, 1.0)),
    "up": ((0.5, 0.8, 1.0), (0.5, 0.2, 1.0)),
    "down": ((0.5, 0.2, 1.0), (0.5, 0.8, 1.0)),
    "grow": ((0.5, 0.5, 0.4), (0.5, 0.5, 1.6)),
    "shrink": ((0.5, 0.5, 1.6), (0.5, 0.5, 0.4)),
}
_VERBS = {
    "right": [
        "moves to the right",
        "slides from left to right",
        "moves across the screen to the right",
        "travels right",
    ],
    "left": ["moves to the left", "slides from right to left", "moves across the screen to the left", "travels left"],
    "up": ["moves up", "rises", "goes upward", "floats up"],
    "down": ["moves down", "falls", "drops down", "goes downward"],
    "grow": ["grows bigger", "gets larger", "expands", "grows in size"],
    "shrink": ["shrinks", "gets smaller", "becomes smaller", "shrinks in size"],
}


@dataclass(frozen=True)
class Mover:
    shape: str
    color: str
    motion: str
    lane: float  # offset across the motion direction


@dataclass(frozen=True)
class Clip:
    background: str
    movers: tuple[Mover, ...]


def sample_clip(rng: random.Random) -> Clip:
    background = rng.choice(list(BACKGROUNDS))
    n = 2 if rng.random() < 0.3 else 1
    shapes = rng.sample(SHAPES, n)
    colors = rng.sample(object_colors(background), n)
    motions = rng.sample(["right", "left", "up", "down"], n) if n == 2 else [rng.choice(list(MOTIONS))]
    lanes = [-0.22, 0.22] if n == 2 else [rng.uniform(-0.1, 0.1)]
    return Clip(background, tuple(Mover(s, c, m, lane) for s, c, m, lane in zip(shapes, colors, motions, lanes)))


def render_clip(clip: Clip, size: int, n_frames: int) -> list:
    from PIL import Image, ImageDraw

    frames = []
    for f in range(n_frames):
        a = f / max(1, n_frames - 1)
        img = Image.new("RGB", (size, size), BACKGROUNDS[clip.background])
        draw = ImageDraw.Draw(img)
        for m in clip.movers:
            (x0, y0, s0), (x1, y1, s1) = MOTIONS[m.motion]
            x, y, s = x0 + a * (x1 - x0), y0 + a * (y1 - y0), s0 + a * (s1 - s0)
            if m.motion in ("up", "down"):
                x += m.lane
            else:
                y += m.lane
            draw_shape(draw, m.shape, COLORS[m.color], x * size, y * size, size * 0.09 * s)
        frames.append(img)
    return frames


def clip_captions(rng: random.Random, clip: Clip, k: int = 5) -> list[str]:
    candidates = []
    for _ in range(3 * k):
        parts = []
        for m in clip.movers:
            noun = rng.choice([f"{m.color} {m.shape}", m.shape] if len(clip.movers) == 1 else [f"{m.color} {m.shape}"])
            parts.append(f"{article(noun)} {rng.choice(_VERBS[m.motion])}")
        if len(parts) == 1:
            text = rng.choice(["{}", "{} on {} background", "in this video {}"]).format(
                parts[0], article(clip.background)
            )
        else:
            text = rng.choice(["{} while {}", "{} and {}", "two shapes move: {} and {}"]).format(*parts)
        candidates.append(text)
    return pick_refs(rng, candidates, k)


def video_caption_item(spec: BenchmarkSpec, role: str, seed: int, index: int) -> Item:
    key = f"{spec.options['namespace']}/s{seed}/{role}/{index:05d}"
    rng = random.Random(key)
    clip = sample_clip(rng)
    size, n_frames = spec.options["image_size"], spec.options["n_frames"]
    return Item(
        item_id(role, index),
        key,
        lambda: render_clip(clip, size, n_frames),
        spec.format_prompt(),
        clip_captions(rng, clip),
    )
