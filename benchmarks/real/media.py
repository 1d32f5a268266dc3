"""Raw input readers: images (PIL), audio (wave / soundfile), video frames (frame folder, GIF, or PyAV)."""

from __future__ import annotations

import random
import wave
from pathlib import Path

import numpy as np

FRAME_SAMPLINGS = ("centres", "segments")

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


def load_image(path: Path):
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


def load_audio(path: Path) -> tuple[np.ndarray, int]:
    """(mono float32 waveform in [-1, 1], sample rate). WAV natively; other formats need `soundfile`."""
    if path.suffix.lower() == ".wav":
        with wave.open(str(path), "rb") as w:
            sr, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
            raw = w.readframes(w.getnframes())
        if width == 1:
            data = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
        elif width in (2, 4):
            dtype = np.int16 if width == 2 else np.int32
            data = np.frombuffer(raw, dtype).astype(np.float32) / float(np.iinfo(dtype).max + 1)
        else:
            raise ValueError(f"{path}: {8 * width}-bit WAV is not supported; convert it to 16-bit PCM")
        return data.reshape(-1, channels).mean(axis=1).astype(np.float32), sr
    try:
        import soundfile
    except ImportError as e:
        raise RuntimeError(
            f"{path}: reading {path.suffix} audio needs `pip install soundfile` (or convert the clips to .wav)"
        ) from e
    data, sr = soundfile.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1).astype(np.float32), int(sr)


def sample_indices(n_total: int, n_frames: int) -> list[int]:
    """Centres of n_frames equal segments (uniform sampling, as for TimeSformer clips)."""
    if n_total < 1:
        raise ValueError("video has no frames")
    return [min(n_total - 1, int((i + 0.5) * n_total / n_frames)) for i in range(n_frames)]


def segment_indices(n_total: int, n_frames: int, rng: random.Random | None = None) -> list[int]:
    """The official MSR-VTT frame choice (depalm/data/data/video.py:27-52): min(n_frames, n_total) segments with
    bounds `linspace(0, n_total, k + 1).astype(int)`, segment i spanning [b_i, b_{i+1} - 1]; with `rng` (training)
    a frame drawn from range(b_i, b_{i+1} - 1) (its last frame excluded), or, when a segment leaves no choice, k
    distinct frames drawn at random and sorted; without (evaluation) the middle (b_i + b_{i+1} - 1) // 2. Padded
    with the last index to n_frames."""
    if n_total < 1:
        raise ValueError("video has no frames")
    k = min(n_frames, n_total)
    bounds = np.linspace(0, n_total, k + 1).astype(int)
    ranges = [(int(bounds[i]), int(bounds[i + 1]) - 1) for i in range(k)]
    if rng is None:
        idx = [(a + b) // 2 for a, b in ranges]
    elif all(b > a for a, b in ranges):
        idx = [rng.choice(range(a, b)) for a, b in ranges]
    else:
        idx = sorted(rng.sample(range(n_total), k))
    return idx + [idx[-1]] * (n_frames - k)


def frame_indices(n_total: int, n_frames: int, sampling: str, rng: random.Random | None = None) -> list[int]:
    if sampling == "centres":
        return sample_indices(n_total, n_frames)
    if sampling == "segments":
        return segment_indices(n_total, n_frames, rng)
    raise ValueError(f"unknown frame sampling {sampling!r}; expected one of {FRAME_SAMPLINGS}")


def load_video(path: Path, n_frames: int, sampling: str = "centres", rng: random.Random | None = None) -> list:
    """n_frames RGB PIL frames from a frame folder, an animated GIF or a video file (PyAV): segment centres
    (`centres`), or the official choice per segment (`segments`, random in training when `rng` is given)."""
    from PIL import Image

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
        if not files:
            raise FileNotFoundError(f"{path}: frame folder holds no {'/'.join(FRAME_SUFFIXES)} files")
        return [load_image(files[i]) for i in frame_indices(len(files), n_frames, sampling, rng)]
    if path.suffix.lower() == ".gif":
        with Image.open(path) as im:
            wanted = frame_indices(im.n_frames, n_frames, sampling, rng)  # type: ignore[attr-defined]  # GIF only
            frames = []
            for i in wanted:
                im.seek(i)
                frames.append(im.convert("RGB"))
            return frames
    try:
        import av
    except ImportError as e:
        raise RuntimeError(
            f"{path}: decoding {path.suffix} video needs PyAV (`pip install av`); or extract frames "
            f"to a folder <video_id>/ of .jpg files, which is read without it"
        ) from e
    with av.open(str(path)) as container:
        total = sum(1 for _ in container.decode(video=0))
    wanted = frame_indices(total, n_frames, sampling, rng)
    decoded = {}
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i in wanted:
                decoded[i] = frame.to_image().convert("RGB")
    return [decoded[i] for i in wanted]
