"""Synthesized sounds (mirror of AudioCaps): tones, chirps, beeps, noise, clicks, sirens, buzzes, bells, thumps,
trills and pulses made with numpy.

A clip is one or two events in sequence; captions name the event kinds, pitch, direction, speed and counts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import cast

import numpy as np

from benchmarks.spec import BenchmarkSpec, Item
from benchmarks.synthetic.language import NUMBER_WORDS, article, framed_refs
from benchmarks.synthetic.source import item_id

# kind -> the values of its one attribute (pitch, direction, count, speed; None: no attribute)
KINDS: dict[str, tuple] = {
    "tone": ("low", "medium", "high"),
    "chirp": ("rising", "falling"),
    "beeps": (2, 3, 4, 5, 6),
    "noise": (None,),
    "clicks": ("slow", "fast"),
    "siren": (None,),
    "buzz": (None,),
    "bell": (1, 2, 3),
    "thumps": (2, 3, 4, 5),
    "trill": (None,),
    "pulse": (None,),
    "chord": (None,),
    "rumble": (None,),
    "crackle": (None,),
    "scale": ("rising", "falling"),
    "ping": (None,),
    "gong": (None,),
}
_PITCH = {"low": 220.0, "medium": 440.0, "high": 880.0}
_TIMES = {1: "once", 2: "twice", 3: "three times"}


@dataclass(frozen=True)
class Event:
    kind: str
    value: str | int | None = None  # the kind's attribute (KINDS)
    loud: bool = True


def sample_events(rng: random.Random) -> tuple[Event, ...]:
    """One or two events (50/50) of different kinds, kinds and then their attribute uniform."""
    kinds = rng.sample(list(KINDS), rng.choice([1, 2]))
    return tuple(Event(kind, rng.choice(KINDS[kind]), loud=rng.random() < 0.7) for kind in kinds)


def _count(rng: random.Random, n: int) -> str:
    return rng.choice([NUMBER_WORDS[n], str(n)])


def _phrases(rng: random.Random, e: Event) -> list[str]:
    """Ways to name event e, all true of what `synthesize` plays; they share as few words as they can."""
    v = e.value
    if e.kind in ("beeps", "bell", "thumps"):
        n = cast(int, v)
        times, many = _TIMES.get(n, f"{NUMBER_WORDS[n]} times"), n > 1
        if e.kind == "beeps":
            return [
                f"{_count(rng, n)} short beeps",
                f"a beep repeated {times}",
                f"{_count(rng, n)} quick electronic blips",
                f"a series of {NUMBER_WORDS[n]} bleeps",
                f"{_count(rng, n)} beeps from a machine",
                f"an alert sounding {times}",
            ]
        if e.kind == "bell":
            return [
                f"a bell ringing {times}",
                f"{_count(rng, n)} chime{'s' * many}",
                f"a small bell that rings {times}",
                f"{NUMBER_WORDS[n]} bright ding{'s' * many}",
                f"a bell struck {times}",
                f"{_count(rng, n)} clear metallic ring{'s' * many}",
            ]
        return [
            f"{_count(rng, n)} dull thumps",
            f"{_count(rng, n)} muffled thuds",
            f"a knock repeated {times}",
            f"{NUMBER_WORDS[n]} soft bangs",
            f"{_count(rng, n)} heavy thumps",
            f"a drum-like thud heard {times}",
        ]
    if e.kind == "tone":
        return [
            f"a steady {v} pitched tone",
            f"a {v} note held steadily",
            f"a continuous {v} hum",
            f"a {v} sine wave",
            f"an unchanging {v} pitch",
            f"a pure {v} frequency",
        ]
    if e.kind == "chirp":
        up = "upward" if v == "rising" else "downward"
        return [
            f"a {v} chirp",
            f"a sweep going {up} in pitch",
            f"a whistle gliding {up}",
            f"a {v} swoop",
            f"a slide whistle going {up}",
            f"a {v} glissando",
        ]
    if e.kind == "clicks":
        return [
            f"a {v} ticking sound",
            f"{v} steady clicks",
            f"a {v} rhythmic tapping",
            f"clock-like ticks at a {v} pace",
            f"a {v} metronome",
            f"{v} regular knocking clicks",
        ]
    if e.kind == "scale":  # its own direction words: "rising" and "falling" are the chirp's
        way, ward = ("up", "ascending") if v == "rising" else ("down", "descending")
        return [
            f"{article(ward)} scale of notes",
            f"notes stepping {way}",
            f"a melody walking {way}",
            f"{article(ward)} run of pitches",
            f"six notes going {way} one by one",
            f"{article(ward)} sequence of musical notes",
        ]
    return {
        "noise": [
            "a burst of static",
            "a short hiss",
            "a blast of white noise",
            "a wash of broadband noise",
            "radio static",
            "a spray of fuzz",
        ],
        "siren": [
            "a wailing siren",
            "an alarm wailing up and down",
            "a police-style siren",
            "a warbling emergency alarm",
            "an ambulance-like wail",
            "a rising and falling alarm",
        ],
        "buzz": [
            "a harsh buzz",
            "an electric buzzing",
            "a buzzer sounding",
            "a rough droning noise",
            "a raspy drone",
            "a coarse square-wave growl",
        ],
        "trill": [
            "a rapid trill",
            "a fast warble between two notes",
            "a trilling sound",
            "two notes alternating quickly",
            "a fluttering two-note figure",
            "a bird-like twitter",
        ],
        "pulse": [
            "a throbbing pulse",
            "a pulsing hum",
            "a tone that swells and fades rapidly",
            "a wobbling tremolo",
            "a beating wah-wah sound",
            "a pulsating drone",
        ],
        "chord": [
            "a chord",
            "three notes played together",
            "a sustained major triad",
            "a harmonious organ-like sound",
            "a held harmony",
            "a consonant cluster of pitches",
        ],
        "rumble": [
            "a rumble",
            "a deep rumbling",
            "a sound like distant thunder",
            "a muffled roar",
            "a bassy grumble",
            "an earthy growl",
        ],
        "crackle": [
            "a crackling sound",
            "popping and sputtering",
            "crackles like a fire",
            "random pops",
            "a fizzing sizzle",
            "scratchy snaps like an old record",
        ],
        "ping": [
            "a single ping",
            "a sonar-like echo",
            "one bright ping",
            "a short plink that fades",
            "a lone tink",
            "a glassy tap",
        ],
        "gong": [
            "a deep gong",
            "a resonant metallic clang",
            "a booming tam-tam",
            "a low bong that slowly fades",
            "a temple gong",
            "a heavy struck plate ringing out",
        ],
    }[e.kind]


# Frames shared by every clip: the wording varies between references, while no frame marks the number of events.
_FRAMES = (
    "{sound}",
    "{sound} is heard",
    "there is {sound}",
    "you can hear {sound}",
    "the sound of {sound}",
    "a recording of {sound}",
    "{sound} plays",
)
_THEN = ("{} followed by {}", "{} and then {}", "first {}, then {}", "{} before {}")


def audio_captions(rng: random.Random, events: tuple[Event, ...], k: int = 5) -> list[str]:
    """k references (k of the shared frames), each naming every event in order, some the quiet ones' volume."""

    def fill() -> dict[str, str]:
        parts = [rng.choice(_phrases(rng, e)) for e in events]
        if not events[0].loud and rng.random() < 0.5:
            parts[0] = "quietly, " + parts[0]
        return {"sound": parts[0] if len(parts) == 1 else rng.choice(_THEN).format(*parts)}

    return framed_refs(rng, _FRAMES, fill, k)


def synthesize(events: tuple[Event, ...], sample_rate: int, seconds: float, noise_seed: int) -> np.ndarray:
    """Float32 mono waveform in [-1, 1]: events placed one after another with short silences."""
    rng = np.random.default_rng(noise_seed)
    out = np.zeros(int(sample_rate * seconds), dtype=np.float32)
    slot = len(out) // len(events)

    def t(n: int) -> np.ndarray:
        return np.arange(n, dtype=np.float32) / sample_rate

    def hits(n: int, count: int, hit: np.ndarray) -> np.ndarray:
        sig = np.zeros(n, dtype=np.float32)
        for b in range(count):
            start = int(b * n / count)
            sig[start : start + len(hit)] = hit[: n - start]
        return sig

    for i, e in enumerate(events):
        n = int(slot * 0.8)
        tt = t(n)
        if e.kind == "tone":
            sig = np.sin(2 * np.pi * _PITCH[cast(str, e.value)] * tt)
        elif e.kind == "chirp":
            f0, f1 = (300.0, 2000.0) if e.value == "rising" else (2000.0, 300.0)
            sig = np.sin(2 * np.pi * (f0 * tt + (f1 - f0) * tt**2 / (2 * tt[-1])))
        elif e.kind == "beeps":
            sig = hits(n, cast(int, e.value), np.sin(2 * np.pi * 1000.0 * t(int(0.12 * sample_rate))))
        elif e.kind == "noise":
            sig = rng.uniform(-1, 1, n) * np.hanning(n)
        elif e.kind == "clicks":
            sig = np.zeros(n, dtype=np.float32)
            period = int(sample_rate / (8 if e.value == "fast" else 2))
            click = int(0.01 * sample_rate)
            for start in range(0, n - click, period):
                sig[start : start + click] = rng.uniform(-1, 1, click)
        elif e.kind == "siren":  # the pitch swings between 600 and 1200 Hz twice a second
            sig = np.sin(2 * np.pi * (900.0 * tt - 300.0 / (2 * np.pi * 2.0) * np.cos(2 * np.pi * 2.0 * tt)))
        elif e.kind == "buzz":
            sig = 0.8 * np.sign(np.sin(2 * np.pi * 120.0 * tt))
        elif e.kind == "bell":
            tb = t(int(0.6 * sample_rate))
            ring = (np.sin(2 * np.pi * 1200.0 * tb) + 0.5 * np.sin(2 * np.pi * 2760.0 * tb)) * np.exp(-6.0 * tb) / 1.5
            sig = hits(n, cast(int, e.value), ring)
        elif e.kind == "thumps":
            th = t(int(0.15 * sample_rate))
            sig = hits(n, cast(int, e.value), np.sin(2 * np.pi * 60.0 * th) * np.exp(-25.0 * th))
        elif e.kind == "trill":  # two notes alternating 12 times a second
            sig = np.sin(2 * np.pi * np.where((tt * 12).astype(int) % 2 == 0, 660.0, 880.0) * tt)
        elif e.kind == "pulse":  # a tone whose loudness throbs 6 times a second
            sig = np.sin(2 * np.pi * 500.0 * tt) * (0.5 + 0.5 * np.sin(2 * np.pi * 6.0 * tt))
        elif e.kind == "chord":  # C major
            sig = np.sin(2 * np.pi * np.array([262.0, 330.0, 392.0])[:, None] * tt).mean(axis=0)
        elif e.kind == "rumble":  # noise through a 10 ms moving average: its energy sits low
            raw = np.convolve(rng.uniform(-1, 1, n), np.ones(160) / 160, mode="same")
            sig = raw / (np.abs(raw).max() + 1e-9) * np.hanning(n)
        elif e.kind == "crackle":  # about 25 clicks a second at random times
            sig = np.zeros(n, dtype=np.float32)
            click = int(0.003 * sample_rate)
            for start in rng.integers(0, n - click, int(25 * n / sample_rate)):
                sig[start : start + click] = rng.uniform(-1, 1, click)
        elif e.kind == "scale":  # six notes of C major, a step at a time
            notes = np.array([262.0, 294.0, 330.0, 349.0, 392.0, 440.0])
            step = np.minimum((tt / tt[-1] * 6).astype(int), 5)
            sig = np.sin(2 * np.pi * (notes if e.value == "rising" else notes[::-1])[step] * tt)
        elif e.kind == "ping":
            sig = hits(
                n, 1, np.sin(2 * np.pi * 2000.0 * t(int(0.4 * sample_rate))) * np.exp(-12.0 * t(int(0.4 * sample_rate)))
            )
        else:  # gong: a low tone and its partials, fading over the whole slot
            partials = np.array([[1.0, 110.0], [0.6, 253.0], [0.4, 401.0]])
            sig = (partials[:, :1] * np.sin(2 * np.pi * partials[:, 1:] * tt)).sum(axis=0) / 2.0 * np.exp(-2.0 * tt)
        gain = 0.8 if e.loud else 0.25
        out[i * slot : i * slot + n] = gain * np.asarray(sig, dtype=np.float32)
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
