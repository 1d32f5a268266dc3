"""Deterministic input preprocessing (augmentation is the runner's job, on raw inputs).

Image: shorter side resized to `image_size` (bicubic) and center crop, or (`resize="squash"`, the official
loader's `Resize((224, 224))`, depalm/data/data/data_base.py:170) resized to a square without keeping the aspect
ratio and then passed through the encoder's own evaluation transform, as the official code does: a no-op for the
CLIP processor and DINOv2's transform, timm's resize to image_size / crop_pct and centre crop otherwise
(`crop_pct`, e.g. 0.9 for EVA-CLIP-L: 224 -> 248 -> 224); then normalize. Video: `frames` frames sampled
uniformly, each preprocessed as an image. Audio: Whisper's log-mel front end, in torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from .base import EncoderMeta

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZES = {"crop": "bicubic-shorter-side+center-crop", "squash": "bicubic-squash"}


def check_image_size(image_size: int, patch_size: int, encoder_id: str) -> int:
    if image_size < patch_size or image_size % patch_size:
        ok = max(patch_size, round(image_size / patch_size) * patch_size)
        raise ValueError(
            f"{encoder_id}: image_size={image_size} must be a positive multiple of the patch size "
            f"{patch_size} (e.g. {ok})"
        )
    return image_size


@dataclass(frozen=True)
class ImagePreprocess:
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    resize: str = "crop"  # a key of RESIZES
    crop_pct: float = 1.0  # the encoder's own eval transform after a squash (timm's crop_pct; 1: none)

    def __post_init__(self) -> None:
        if self.resize not in RESIZES:
            raise ValueError(f"resize must be one of {', '.join(RESIZES)}, got {self.resize!r}")
        if not 0 < self.crop_pct <= 1:
            raise ValueError(f"crop_pct must be in (0, 1], got {self.crop_pct}")

    @property
    def config(self) -> dict[str, Any]:
        return {**asdict(self), "resize": RESIZES[self.resize]}

    def configured(
        self,
        resize: str | None = None,
        frames: int | None = None,
        mean_std: tuple[Sequence[float], Sequence[float]] | None = None,
    ) -> ImagePreprocess:
        """A copy with another resize mode and/or pixel statistics."""
        if frames is not None:
            raise ValueError("an image encoder takes no frame count")
        mean, std = mean_std or (self.mean, self.std)
        return replace(self, resize=resize or self.resize, mean=tuple(mean), std=tuple(std))

    def meta(self, id: str, patch_size: int, d_feats: int, n_levels: int, final_norm: bool) -> EncoderMeta:
        """Metadata of a ViT with a CLS token fed by this preprocessing (square grid of patch tokens)."""
        from .base import EncoderMeta

        g = self.image_size // patch_size
        return EncoderMeta(id, "image", (g, g), True, d_feats, n_levels, self.config, final_norm)

    def __call__(self, image: Any) -> torch.Tensor:
        from PIL import Image

        if not isinstance(image, Image.Image):
            raise TypeError(f"image encoders take a PIL.Image, got {type(image).__name__}")
        img = image.convert("RGB")
        s = self.image_size
        if self.resize == "squash":
            img = img.resize((s, s), Image.Resampling.BICUBIC)
            if self.crop_pct < 1:  # timm's eval transform: Resize(floor(s / crop_pct)) + CenterCrop(s)
                big = math.floor(s / self.crop_pct)
                top = round((big - s) / 2.0)
                img = img.resize((big, big), Image.Resampling.BICUBIC).crop((top, top, top + s, top + s))
        else:
            w, h = img.size
            scale = s / min(w, h)
            nw, nh = max(s, round(w * scale)), max(s, round(h * scale))
            img = img.resize((nw, nh), Image.Resampling.BICUBIC)
            left, top = (nw - s) // 2, (nh - s) // 2
            img = img.crop((left, top, left + s, top + s))
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return (x - mean) / std


@dataclass(frozen=True)
class VideoPreprocess:
    frames: int
    image: ImagePreprocess

    @property
    def config(self) -> dict[str, Any]:
        return {**self.image.config, "frames": self.frames, "frame_sampling": "uniform"}

    def configured(
        self,
        resize: str | None = None,
        frames: int | None = None,
        mean_std: tuple[Sequence[float], Sequence[float]] | None = None,
    ) -> VideoPreprocess:
        """A copy with another frame count and/or per-frame settings."""
        return VideoPreprocess(frames or self.frames, self.image.configured(resize=resize, mean_std=mean_std))

    def __call__(self, frames: Sequence[Any]) -> torch.Tensor:
        if not len(frames):
            raise ValueError("video input has no frames")
        idx = np.linspace(0, len(frames) - 1, self.frames).round().astype(int)
        return torch.stack([self.image(frames[i]) for i in idx])


def hz_to_mel_slaney(f: float | np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above (librosa's default, htk=False)."""
    f = np.asarray(f, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = math.log(6.4) / 27.0
    lin = f / f_sp
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, lin)


def mel_to_hz_slaney(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filters(
    sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0, f_max: float | None = None
) -> np.ndarray:
    """[n_mels, 1 + n_fft // 2] triangular filters, Slaney scale and area normalization (librosa.filters.mel)."""
    f_max = sample_rate / 2 if f_max is None else f_max
    fft_freqs = np.linspace(0, sample_rate / 2, 1 + n_fft // 2)
    mel_f = mel_to_hz_slaney(np.linspace(hz_to_mel_slaney(f_min), hz_to_mel_slaney(f_max), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def resample(wave: torch.Tensor, orig_sr: int, target_sr: int) -> torch.Tensor:
    """Band-limited resampling by truncating / zero-padding the spectrum (like scipy.signal.resample)."""
    if orig_sr == target_sr:
        return wave
    n_out = max(1, round(wave.shape[-1] * target_sr / orig_sr))
    spec = torch.fft.rfft(wave.double())
    n_bins = n_out // 2 + 1
    spec = spec[..., :n_bins] if spec.shape[-1] >= n_bins else F.pad(spec, (0, n_bins - spec.shape[-1]))
    return (torch.fft.irfft(spec, n=n_out) * (n_out / wave.shape[-1])).to(wave.dtype)


def mono_waveform(raw: Any, sample_rate: int) -> torch.Tensor:
    """(waveform, sr) -> 1-D float32 tensor at `sample_rate` (channels averaged)."""
    if not (isinstance(raw, tuple) and len(raw) == 2):
        raise TypeError("audio encoders take (waveform: np.ndarray float32, sample_rate: int)")
    wave, sr = raw
    x = torch.as_tensor(np.asarray(wave, dtype=np.float32))
    if x.ndim == 2:  # (channels, samples) or (samples, channels): average the shorter axis
        x = x.mean(dim=int(x.shape[0] > x.shape[1]))
    if x.ndim != 1 or x.numel() == 0:
        raise ValueError(f"waveform must be non-empty 1-D (or 2-D multi-channel), got shape {tuple(x.shape)}")
    return resample(x, int(sr), sample_rate)


@dataclass(frozen=True)
class LogMelPreprocess:
    """Whisper's front end: 16 kHz mono, padded/trimmed to `max_seconds`, 25 ms Hann STFT every 10 ms, 80 Slaney mel
    bands up to 8 kHz, log10 clamped to (max - 8), scaled (x + 4) / 4. Output [n_mels, 100 * max_seconds]."""

    sample_rate: int = 16000
    n_mels: int = 80
    max_seconds: float = 10.0
    n_fft: int = 400
    hop_length: int = 160

    @property
    def config(self) -> dict[str, Any]:
        return {**asdict(self), "frontend": "whisper-log-mel"}

    @property
    def n_frames(self) -> int:
        return round(self.max_seconds * self.sample_rate) // self.hop_length

    def __call__(self, raw: Any) -> torch.Tensor:
        return self.log_mel(mono_waveform(raw, self.sample_rate))

    def log_mel(self, wave: torch.Tensor) -> torch.Tensor:
        n_samples = self.n_frames * self.hop_length
        wave = F.pad(wave[:n_samples], (0, max(0, n_samples - wave.shape[-1])))
        stft = torch.stft(wave, self.n_fft, self.hop_length, window=torch.hann_window(self.n_fft), return_complex=True)
        power = stft[..., :-1].abs() ** 2
        fb = torch.from_numpy(mel_filters(self.sample_rate, self.n_fft, self.n_mels, 0.0, 8000.0))
        log_spec = torch.clamp(fb @ power, min=1e-10).log10()
        log_spec = torch.maximum(log_spec, log_spec.max() - 8.0)
        return (log_spec + 4.0) / 4.0
