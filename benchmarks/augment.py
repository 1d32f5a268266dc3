"""Training-time data augmentation (Appendix C.3), one random modification each time a sample is used.

- images: random resized crop (scale [0.5, 1], ratio [3/4, 4/3]), horizontal flip p=0.5, then the modified
  RandAugment of ALBEF [45] (2 ops drawn from Identity, AutoContrast, Equalize, Brightness, Sharpness, ShearX/Y,
  TranslateX/Y, Rotate; each applied with p=0.5 at level 7 of 10);
- video: the same crop and flip drawn once per clip, then torchvision's default RandAugment (2 ops, magnitude 9
  of 31 bins, its 14 operations), the same ops for every frame of the clip;
- audio: one frequency mask of at most 24 bins and one time mask of at most 96 frames on the (normalized)
  spectrogram, after the encoder's preprocessing.
The runner applies `augment_input` to raw inputs and `augment_preprocessed` to the encoder-ready tensor; both
return their input unchanged when `AugmentConfig.enabled` is False (smoke profile). Pure PIL / array code: no torch.
The official code's crop outputs the encoder's 224 x 224 input, bicubic (`RandomResizedCrop(224, scale=(0.5, 1),
interpolation=BICUBIC)`, depalm/data/data/data_base.py:168, video.py:109): `output_size` and `resample="bicubic"`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

FILL = (128, 128, 128)


@dataclass(frozen=True)
class AugmentConfig:
    enabled: bool = True
    crop_scale: tuple[float, float] = (0.5, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    output_size: int | None = None  # side of the crop output; None keeps the input size (the encoder resizes)
    resample: str = "bilinear"  # crop resampling: "bilinear" | "bicubic"
    num_ops: int = 2
    image_level: int = 7  # ALBEF level, of 10
    video_magnitude: int = 9  # torchvision bin, of 31
    freq_mask: int = 24
    time_mask: int = 96


# ---- crop and flip (torchvision RandomResizedCrop.get_params, drawn from a given rng) ----
def crop_box(rng: random.Random, width: int, height: int, cfg: AugmentConfig) -> tuple[int, int, int, int]:
    area = width * height
    log_ratio = (math.log(cfg.crop_ratio[0]), math.log(cfg.crop_ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*cfg.crop_scale)
        ratio = math.exp(rng.uniform(*log_ratio))
        w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < w <= width and 0 < h <= height:
            left, top = rng.randint(0, width - w), rng.randint(0, height - h)
            return left, top, left + w, top + h
    w, h = width, height  # fallback: centre crop at the clamped aspect ratio
    if width / height < cfg.crop_ratio[0]:
        h = round(width / cfg.crop_ratio[0])
    elif width / height > cfg.crop_ratio[1]:
        w = round(height * cfg.crop_ratio[1])
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def _crop_flip(img, box, flip: bool, size: tuple[int, int], resample: str = "bilinear"):
    from PIL import Image

    modes = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
    out = img.resize(size, modes[resample], box=box)
    return out.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else out


# ---- RandAugment operations (PIL) ----
def _affine(img, coeffs):
    from PIL import Image

    return img.transform(img.size, Image.AFFINE, coeffs, resample=Image.NEAREST, fillcolor=FILL)


def _apply(img, op: str, v: float):
    from PIL import ImageEnhance, ImageOps

    if op == "Identity":
        return img
    if op == "AutoContrast":
        return ImageOps.autocontrast(img)
    if op == "Equalize":
        return ImageOps.equalize(img)
    if op == "Brightness":
        return ImageEnhance.Brightness(img).enhance(v)
    if op == "Color":
        return ImageEnhance.Color(img).enhance(v)
    if op == "Contrast":
        return ImageEnhance.Contrast(img).enhance(v)
    if op == "Sharpness":
        return ImageEnhance.Sharpness(img).enhance(v)
    if op == "Posterize":
        return ImageOps.posterize(img, int(v))
    if op == "Solarize":
        return ImageOps.solarize(img, v)  # type: ignore[arg-type]  # stub says int; a float threshold works
    if op == "ShearX":
        return _affine(img, (1, v, 0, 0, 1, 0))
    if op == "ShearY":
        return _affine(img, (1, 0, 0, v, 1, 0))
    if op == "TranslateX":
        return _affine(img, (1, 0, v, 0, 1, 0))
    if op == "TranslateY":
        return _affine(img, (1, 0, 0, 0, 1, v))
    if op == "Rotate":
        return img.rotate(v, fillcolor=FILL)
    raise ValueError(f"unknown augmentation op {op!r}")


ALBEF_OPS = (
    "Identity",
    "AutoContrast",
    "Equalize",
    "Brightness",
    "Sharpness",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Rotate",
)
TORCHVISION_OPS = (
    "Identity",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
    "Rotate",
    "Brightness",
    "Color",
    "Contrast",
    "Sharpness",
    "Posterize",
    "Solarize",
    "AutoContrast",
    "Equalize",
)


def albef_ops(rng: random.Random, cfg: AugmentConfig) -> list[tuple[str, float]]:
    """ALBEF's RandomAugment(2, 7): each drawn op kept with p=0.5; values from level/10 (translate: 10 px max)."""
    frac = cfg.image_level / 10
    ops = []
    for op in (rng.choice(ALBEF_OPS) for _ in range(cfg.num_ops)):
        if rng.random() > 0.5:
            continue
        sign = rng.choice((-1, 1))
        value = {
            "Brightness": frac * 1.8 + 0.1,
            "Sharpness": frac * 1.8 + 0.1,
            "ShearX": sign * frac * 0.3,
            "ShearY": sign * frac * 0.3,
            "TranslateX": sign * frac * 10,
            "TranslateY": sign * frac * 10,
            "Rotate": sign * frac * 30,
        }.get(op, 0.0)
        ops.append((op, value))
    return ops


def torchvision_ops(rng: random.Random, cfg: AugmentConfig, size: tuple[int, int]) -> list[tuple[str, float]]:
    """torchvision RandAugment(num_ops=2, magnitude=9, num_bins=31) operations and values."""
    m = cfg.video_magnitude / 30
    w, h = size
    ops = []
    for op in (rng.choice(TORCHVISION_OPS) for _ in range(cfg.num_ops)):
        sign = rng.choice((-1, 1))
        if op in ("ShearX", "ShearY"):
            value = sign * 0.3 * m
        elif op in ("TranslateX", "TranslateY"):
            value = sign * 150 / 331 * (w if op == "TranslateX" else h) * m
        elif op == "Rotate":
            value = sign * 30 * m
        elif op in ("Brightness", "Color", "Contrast", "Sharpness"):
            value = 1 + sign * 0.9 * m
        elif op == "Posterize":
            value = 8 - round(cfg.video_magnitude / (30 / 4))
        elif op == "Solarize":
            value = 255 * (1 - m)
        else:
            value = 0.0
        ops.append((op, value))
    return ops


def _run(img, ops):
    for op, v in ops:
        img = _apply(img, op, v)
    return img


def augment_image(img, rng: random.Random, cfg: AugmentConfig = AugmentConfig()):
    size = (cfg.output_size, cfg.output_size) if cfg.output_size else img.size
    img = _crop_flip(img, crop_box(rng, img.size[0], img.size[1], cfg), rng.random() < cfg.flip_p, size, cfg.resample)
    return _run(img, albef_ops(rng, cfg))


def augment_video(frames: list, rng: random.Random, cfg: AugmentConfig = AugmentConfig()) -> list:
    width, height = frames[0].size
    size = (cfg.output_size, cfg.output_size) if cfg.output_size else (width, height)
    box, flip = crop_box(rng, width, height, cfg), rng.random() < cfg.flip_p
    ops = torchvision_ops(rng, cfg, size)
    return [_run(_crop_flip(f, box, flip, size, cfg.resample), ops) for f in frames]


def augment_spectrogram(spec: Any, rng: random.Random, cfg: AugmentConfig = AugmentConfig(), fill: float = 0.0):
    """Copy of a [..., n_mels, T] spectrogram (numpy array or torch tensor) with one frequency and one time mask."""
    out = spec.clone() if hasattr(spec, "clone") else spec.copy()
    n_mels, n_time = out.shape[-2], out.shape[-1]
    f = rng.randint(0, min(cfg.freq_mask, n_mels))
    f0 = rng.randint(0, n_mels - f)
    t = rng.randint(0, min(cfg.time_mask, n_time))
    t0 = rng.randint(0, n_time - t)
    out[..., f0 : f0 + f, :] = fill
    out[..., :, t0 : t0 + t] = fill
    return out


def augment_input(raw: Any, modality: str, rng: random.Random, cfg: AugmentConfig = AugmentConfig()) -> Any:
    """Augment a raw input (PIL image / frame list); audio waveforms pass through (masked after preprocessing)."""
    if not cfg.enabled or modality == "audio":
        return raw
    if modality == "image":
        return augment_image(raw, rng, cfg)
    if modality == "video":
        return augment_video(raw, rng, cfg)
    raise ValueError(f"unknown modality {modality!r}; expected image, audio or video")


def augment_preprocessed(x: Any, modality: str, rng: random.Random, cfg: AugmentConfig = AugmentConfig()) -> Any:
    """Augment the encoder-ready tensor: spectrogram masks for audio, nothing for image/video."""
    if not cfg.enabled or modality != "audio":
        return x
    return augment_spectrogram(x, rng, cfg)


@dataclass
class Augmenter:
    """Per-modality augmentation with its own random stream: `raw` on raw inputs, `tensor` on a preprocessed batch."""

    modality: str
    config: AugmentConfig = AugmentConfig()
    rng: random.Random = field(default_factory=random.Random)

    def raw(self, raw: Any) -> Any:
        return augment_input(raw, self.modality, self.rng, self.config)

    def tensor(self, batch: Any) -> Any:
        """Independent masks per sample of a [B, n_mels, T] audio batch; other modalities unchanged."""
        if not self.config.enabled or self.modality != "audio":
            return batch
        out = batch.clone() if hasattr(batch, "clone") else batch.copy()
        for i in range(out.shape[0]):
            out[i] = augment_spectrogram(out[i], self.rng, self.config)
        return out


def get_augmenter(modality: str, config: AugmentConfig = AugmentConfig(), seed: int | None = None) -> Augmenter:
    """An Augmenter; without `seed` its stream is drawn from Python's `random`, so a seeded run is reproducible."""
    if modality not in ("image", "audio", "video"):
        raise ValueError(f"unknown modality {modality!r}; expected image, audio or video")
    return Augmenter(modality, config, random.Random(random.getrandbits(64) if seed is None else seed))
