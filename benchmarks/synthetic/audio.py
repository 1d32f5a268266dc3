"""Synthesized sounds (mirror of AudioCaps): tones, chirps, beeps, noise bursts and rhythms made with numpy.

A clip is one or two events in sequence; captions name the event kinds, pitch, direction, speed and counts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from benchmarks.spec import BenchmarkSpec, Item
from benchmarks.synthetic.language import NUMBER_WORDS, pick_refs
from benchmarks.synthetic.source import item_id

KINDS = ("tone", "chirp", "beeps", "noise", "rhythm")


@dataclass(frozen=True)
class Event:
    kind: str
    high: bool = False  # tone pitch / chirp direction (rising when True)
    count: int = 0  # beeps
    fast: bool = False  # rhythm speed
    loud: bool = True


def sample_events(rng: random.Random) -> tuple[Event, ...]:
    def one(kind: str) -> Event:
        return Event(
            kind, high=rng.random() < 0.5, count=rng.randint(2, 5), fast=rng.random() < 0.5, loud=rng.random() < 0.7
        )

    kinds = rng.sample(KINDS, 2) if rng.random() < 0.5 else [rng.choice(KINDS)]
    return tuple(one(k) for k in kinds)


def _phrases(rng: random.Random, e: Event) -> list[str]:
    if e.kind == "tone":
        p = "high" if e.high else "low"
        return [f"a steady {p} pitched tone", f"a {p} tone", f"a continuous {p} beep", f"a {p} humming tone"]
    if e.kind == "chirp":
        d = "rising" if e.high else "falling"
        up = "up" if e.high else "down"
        return [f"a {d} chirp", f"a sweep going {up} in pitch", f"a tone sliding {up}", f"a {d} whistle"]
    if e.kind == "beeps":
        w = NUMBER_WORDS[e.count]
        return [f"{w} short beeps", f"{e.count} beeps", f"a beep repeated {w} times", f"{w} quick beeps"]
    if e.kind == "noise":
        return ["a burst of static noise", "a short hiss", "a blast of white noise", "a noisy hissing sound"]
    speed = "fast" if e.fast else "slow"
    return [
        f"a {speed} ticking sound",
        f"{speed} steady clicks",
        f"a {speed} rhythmic tapping",
        f"clicking at a {speed} pace",
    ]


def audio_captions(rng: random.Random, events: tuple[Event, ...], k: int = 5) -> list[str]:
    candidates = []
    for _ in range(3 * k):
        parts = [rng.choice(_phrases(rng, e)) for e in events]
        if len(parts) == 1:
            text = rng.choice(["{}", "{} is heard", "there is {}", "{} plays"]).format(parts[0])
            if not events[0].loud:
                text = rng.choice([text + " quietly", "a quiet sound: " + parts[0]])
        else:
            text = rng.choice(["{} followed by {}", "{} and then {}", "first {}, then {}", "{} before {}"]).format(
                *parts
            )
        candidates.append(text)
    return pick_refs(rng, candidates, k)


def synthesize(events: tuple[Event, ...], sample_rate: int, seconds: float, noise_seed: int) -> np.ndarray:
    """Float32 mono waveform in [-1, 1]: events placed one after another with short silences."""
    rng = np.random.default_rng(noise_seed)
    out = np.zeros(int(sample_rate * seconds), dtype=np.float32)
    slot = len(out) // len(events)

    def t(n: int) -> np.ndarray:
        return np.arange(n, dtype=np.float32) / sample_rate

    for i, e in enumerate(events):
        n = int(slot * 0.8)
        if e.kind == "tone":
            sig = np.sin(2 * np.pi * (880.0 if e.high else 220.0) * t(n))
        elif e.kind == "chirp":
            f0, f1 = (300.0, 2000.0) if e.high else (2000.0, 300.0)
            tt = t(n)
            sig = np.sin(2 * np.pi * (f0 * tt + (f1 - f0) * tt**2 / (2 * tt[-1])))
        elif e.kind == "beeps":
            sig = np.zeros(n, dtype=np.float32)
            beep = int(0.12 * sample_rate)
            for b in range(e.count):
                start = int(b * n / e.count)
                sig[start : start + beep] = np.sin(2 * np.pi * 1000.0 * t(beep))[: n - start]
        elif e.kind == "noise":
            sig = rng.uniform(-1, 1, n) * np.hanning(n)
        else:
            sig = np.zeros(n, dtype=np.float32)
            period = int(sample_rate / (8 if e.fast else 2))
            click = int(0.01 * sample_rate)
            for start in range(0, n - click, period):
                sig[start : start + click] = rng.uniform(-1, 1, click)
        gain = 0.8 if e.loud else 0.25
        out[i * slot : i * slot + n] = gain * sig.astype(np.float32)
    return out


def audio_caption_item(spec: BenchmarkSpec, role: str, seed: int, index: int) -> Item:
    key = f"{spec.options['namespace']}/s{seed}/{role}/{index:05d}"
    rng = random.Random(key)
    events = sample_events(rng)
    sr, seconds = spec.options["sample_rate"], spec.options["seconds"]
    noise_seed = rng.getrandbits(32)
    return Item(
        item_id(role, index),
        key,
        lambda: (synthesize(events, sr, seconds, noise_seed), sr),
        spec.format_prompt(),
        audio_captions(rng, events),
    )
