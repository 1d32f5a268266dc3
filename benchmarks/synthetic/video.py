"""Moving-object clips (mirror of MSRVTT): shapes that move, grow, spin, bounce, orbit or blink, as PIL frames."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from benchmarks.spec import BenchmarkSpec, Item
from benchmarks.synthetic.language import article, framed_refs
from benchmarks.synthetic.scenes import (
    BACKGROUNDS,
    CAPTION_COLORS,
    CAPTION_SHAPES,
    ROUND,
    color_word,
    draw_shape,
    object_colors,
    shape_word,
)
from benchmarks.synthetic.source import item_id

# straight motions: (start (x, y, scale), end (x, y, scale)) in units of the frame size
LINEAR = {
    "right": ((0.2, 0.5, 1.0), (0.8, 0.5, 1.0)),
    "left": ((0.8, 0.5, 1.0), (0.2, 0.5, 1.0)),
    "up": ((0.5, 0.8, 1.0), (0.5, 0.2, 1.0)),
    "down": ((0.5, 0.2, 1.0), (0.5, 0.8, 1.0)),
    "grow": ((0.5, 0.5, 0.4), (0.5, 0.5, 1.6)),
    "shrink": ((0.5, 0.5, 1.6), (0.5, 0.5, 0.4)),
    "up right": ((0.2, 0.8, 1.0), (0.8, 0.2, 1.0)),
    "up left": ((0.8, 0.8, 1.0), (0.2, 0.2, 1.0)),
    "down right": ((0.2, 0.2, 1.0), (0.8, 0.8, 1.0)),
    "down left": ((0.8, 0.2, 1.0), (0.2, 0.8, 1.0)),
}
MOTIONS = (*LINEAR, "spin", "bounce", "orbit", "zigzag", "blink")
_DIAGONAL = {"up right": "soars northeast", "up left": "floats northwest", "down right": "slips southeast"}
_VERBS = {  # ways to say each motion, sharing as few words as they can
    "right": ["moves to the right", "slides rightward", "travels right", "heads east", "scoots to the right"],
    "left": ["moves to the left", "slides leftward", "travels left", "heads west", "scoots to the left"],
    "up": ["moves up", "rises", "goes upward", "floats up", "ascends"],
    "down": ["moves down", "falls", "drops down", "sinks", "descends"],
    "grow": ["grows bigger", "gets larger", "expands", "swells", "inflates"],
    "shrink": ["shrinks", "dwindles", "becomes tiny", "contracts", "deflates"],
    **{
        f"{v} {h}": [
            f"moves diagonally {v} and to the {h}",
            f"heads for the {'upper' if v == 'up' else 'lower'}-{h} corner",
            _DIAGONAL.get(f"{v} {h}", "drifts southwest"),
            f"{'climbs' if v == 'up' else 'slides down'} {h}ward on a slant",
        ]
        for v in ("up", "down")
        for h in ("right", "left")
    },
    "spin": ["spins", "rotates in place", "pirouettes", "twirls", "whirls"],
    "bounce": ["bounces up and down", "hops", "bounces", "jumps repeatedly", "springs up and down"],
    "orbit": ["loops around the center", "travels in an arc", "orbits the midpoint", "sweeps along a curved path"],
    "zigzag": ["zigzags across", "moves in a zigzag", "zigzags along", "wiggles across", "weaves sideways"],
    "blink": ["blinks", "flashes on and off", "keeps disappearing", "flickers", "winks in and out"],
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
    """One or two movers (50/50), each in a lane of its own: motions, colours and shapes uniform (a spinning one is
    never round)."""
    background = rng.choice(list(BACKGROUNDS))
    n = rng.choice([1, 2])
    motions = rng.sample(MOTIONS, n)
    colors = rng.sample(object_colors(background, CAPTION_COLORS), n)
    shapes: list[str] = []
    for m in motions:
        shapes.append(rng.choice([s for s in CAPTION_SHAPES if s not in shapes and (m != "spin" or s not in ROUND)]))
    lanes = [-0.22, 0.22] if n == 2 else [rng.uniform(-0.1, 0.1)]
    return Clip(background, tuple(Mover(s, c, m, lane) for s, c, m, lane in zip(shapes, colors, motions, lanes)))


def _pose(m: Mover, f: int, n_frames: int) -> tuple[float, float, float, float, bool]:
    """(x, y, scale, angle, visible) of mover m at frame f, x and y in units of the frame size."""
    a = f / max(1, n_frames - 1)
    x, y, s, angle, visible = 0.5, 0.5, 1.0, 0.0, True
    if m.motion in LINEAR:
        (x0, y0, s0), (x1, y1, s1) = LINEAR[m.motion]
        x, y, s = x0 + a * (x1 - x0), y0 + a * (y1 - y0), s0 + a * (s1 - s0)
    elif m.motion == "spin":
        angle = 100.0 * a  # no shape is symmetric under 100 degrees: the first and last frames differ
    elif m.motion == "bounce":
        y = 0.75 - 0.5 * abs(math.sin(2.5 * math.pi * a))  # one and a quarter bounces: it ends up high
    elif m.motion == "orbit":  # three quarters of a turn
        x, y = 0.5 + 0.22 * math.cos(1.5 * math.pi * a), 0.5 + 0.22 * math.sin(1.5 * math.pi * a)
    elif m.motion == "zigzag":
        x, y = 0.2 + 0.6 * a, 0.5 + (0.15 if f % 2 else -0.15)
    else:  # blink: shown on even frames
        visible = f % 2 == 0
    if m.motion in ("up", "down"):
        x += m.lane
    elif m.motion in ("left", "right", "zigzag"):
        y += m.lane
    else:  # diagonal or in place: the lane shifts it along both axes
        x, y = x + m.lane, y + m.lane
    return x, y, s, angle, visible


def render_clip(clip: Clip, size: int, n_frames: int) -> list:
    from PIL import Image, ImageDraw

    frames = []
    for f in range(n_frames):
        img = Image.new("RGB", (size, size), BACKGROUNDS[clip.background])
        draw = ImageDraw.Draw(img)
        for m in clip.movers:
            x, y, s, angle, visible = _pose(m, f, n_frames)
            if visible:
                draw_shape(draw, m.shape, CAPTION_COLORS[m.color], x * size, y * size, size * 0.09 * s, angle)
        frames.append(img)
    return frames


# Frames shared by every clip: the wording varies between references, while no frame marks the number of movers.
_FRAMES = (
    "{parts}",
    "in this video {parts}",
    "a clip where {parts}",
    "{parts} in this clip",
    "the video shows how {parts}",
    "here {parts}",
    "we see how {parts}",
)


def _noun(rng: random.Random, m: Mover) -> str:
    return f"{color_word(rng, m.color)} {shape_word(rng, m.shape)}"


def clip_captions(rng: random.Random, clip: Clip, k: int = 5) -> list[str]:
    """k references (k of the shared frames), each naming every mover's colour, shape and motion."""

    def fill() -> dict[str, str]:
        movers = clip.movers if rng.random() < 0.5 else clip.movers[::-1]
        parts = [f"{article(_noun(rng, m))} {rng.choice(_VERBS[m.motion])}" for m in movers]
        return {"parts": parts[0] if len(parts) == 1 else f" {rng.choice(['while', 'and', 'as'])} ".join(parts)}

    return framed_refs(rng, _FRAMES, fill, k)


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
