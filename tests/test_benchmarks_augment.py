"""Appendix C.3 augmentations: crop/flip ranges, RandAugment ops, spectrogram masks, switchable, deterministic."""

import random

import numpy as np
import pytest
from PIL import Image

from benchmarks.augment import (
    AugmentConfig,
    augment_input,
    augment_preprocessed,
    augment_spectrogram,
    crop_box,
    torchvision_ops,
)


def _img(w=64, h=48):
    arr = np.arange(w * h * 3, dtype=np.uint8).reshape(h, w, 3)
    return Image.fromarray(arr)


def test_crop_box_respects_scale_and_ratio():
    cfg = AugmentConfig()
    rng = random.Random(0)
    for _ in range(200):
        left, top, right, bottom = crop_box(rng, 200, 150, cfg)
        w, h = right - left, bottom - top
        assert left >= 0 and top >= 0 and right <= 200 and bottom <= 150
        assert 0.5 * 0.95 <= w * h / (200 * 150) <= 1.0
        assert 3 / 4 * 0.95 <= w / h <= 4 / 3 * 1.05


def test_image_augmentation_deterministic_per_rng_and_switchable():
    img = _img()
    a = augment_input(img, "image", random.Random(1))
    b = augment_input(img, "image", random.Random(1))
    c = augment_input(img, "image", random.Random(2))
    assert a.size == img.size and a.tobytes() == b.tobytes() and a.tobytes() != c.tobytes()
    assert augment_input(img, "image", random.Random(1), AugmentConfig(enabled=False)) is img
    assert augment_input(img, "image", random.Random(1), AugmentConfig(output_size=32)).size == (32, 32)


def test_video_frames_share_one_crop_flip_and_ops():
    frame = _img()
    frames = augment_input([frame, frame.copy(), frame.copy()], "video", random.Random(3))
    assert len(frames) == 3 and frames[0].tobytes() == frames[1].tobytes() == frames[2].tobytes()
    assert frames[0].tobytes() != frame.tobytes()


def test_torchvision_magnitudes():
    ops = dict(torchvision_ops(random.Random(0), AugmentConfig(num_ops=400), (331, 331)))
    assert abs(ops["Rotate"]) == pytest.approx(9.0) and abs(ops["TranslateX"]) == pytest.approx(45.0)
    assert ops["Posterize"] == 7 and ops["Solarize"] == pytest.approx(178.5)


def test_spectrogram_masks_bounded_and_input_untouched():
    spec = np.ones((80, 500), dtype=np.float32)
    for seed in range(50):
        out = augment_spectrogram(spec, random.Random(seed))
        masked_rows = np.where((out == 0).all(axis=1))[0]
        masked_cols = np.where((out == 0).all(axis=0))[0]
        assert len(masked_rows) <= 24 and len(masked_cols) <= 96
    assert (spec == 1).all()
    assert augment_preprocessed(spec, "audio", random.Random(0), AugmentConfig(enabled=False)) is spec
    assert augment_preprocessed(spec, "image", random.Random(0)) is spec
    wave = (np.zeros(10, np.float32), 16000)
    assert augment_input(wave, "audio", random.Random(0)) is wave
    with pytest.raises(ValueError, match="unknown modality"):
        augment_input(_img(), "smell", random.Random(0))


def test_get_augmenter_matches_runner_protocol():
    from benchmarks.augment import get_augmenter

    audio = get_augmenter("audio", seed=0)
    batch = np.ones((3, 80, 200), dtype=np.float32)
    out = audio.tensor(batch)
    assert out.shape == batch.shape and (batch == 1).all() and (out == 0).any()
    assert not np.array_equal(out[0] == 0, out[1] == 0)  # masks drawn per sample
    img = _img()
    a, b = get_augmenter("image", seed=5), get_augmenter("image", seed=5)
    assert a.raw(img).tobytes() == b.raw(img).tobytes() and a.tensor(batch) is batch
    random.seed(11)
    c = get_augmenter("image").raw(img)
    random.seed(11)
    assert get_augmenter("image").raw(img).tobytes() == c.tobytes()
    off = get_augmenter("audio", AugmentConfig(enabled=False))
    assert off.tensor(batch) is batch and off.raw(img) is img
    with pytest.raises(ValueError, match="unknown modality"):
        get_augmenter("text")


def test_official_crop_outputs_the_encoder_size_bicubic():
    """F5: RandomResizedCrop(224, scale=(0.5, 1.0), interpolation=BICUBIC) (depalm/data/data/data_base.py:168)."""
    img = _img(80, 60)
    cfg = AugmentConfig(output_size=32, resample="bicubic", num_ops=0)
    out = augment_input(img, "image", random.Random(4), cfg)
    rng = random.Random(4)
    box = crop_box(rng, 80, 60, cfg)
    flip = rng.random() < cfg.flip_p
    expected = img.resize((32, 32), Image.BICUBIC, box=box)
    expected = expected.transpose(Image.FLIP_LEFT_RIGHT) if flip else expected
    assert out.size == (32, 32) and out.tobytes() == expected.tobytes()
    bilinear = augment_input(img, "image", random.Random(4), AugmentConfig(output_size=32, num_ops=0))
    assert bilinear.tobytes() != out.tobytes()
