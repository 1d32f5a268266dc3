"""Input preprocessing: Whisper log-mel front end against transformers' reference, image and video transforms."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from PIL import Image

from harness.backbones.preprocess import (
    CLIP_MEAN,
    CLIP_STD,
    ImagePreprocess,
    LogMelPreprocess,
    VideoPreprocess,
    mel_filters,
    resample,
)


def test_mel_filters_match_transformers_slaney():
    from transformers.audio_utils import mel_filter_bank

    ref = mel_filter_bank(
        num_frequency_bins=201,
        num_mel_filters=80,
        min_frequency=0.0,
        max_frequency=8000.0,
        sampling_rate=16000,
        norm="slaney",
        mel_scale="slaney",
    )
    np.testing.assert_allclose(mel_filters(16000, 400, 80, 0.0, 8000.0), ref.T, atol=1e-7)


def test_log_mel_matches_whisper_feature_extractor():
    from transformers import WhisperFeatureExtractor

    t = np.arange(16000 * 2) / 16000
    wave = (
        0.3 * np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 3 * t)
        + 0.05 * np.random.default_rng(0).standard_normal(len(t))
    ).astype(np.float32)
    ref = WhisperFeatureExtractor(feature_size=80)(wave, sampling_rate=16000, return_tensors="np").input_features[0]
    ours = LogMelPreprocess(max_seconds=30)((wave, 16000))
    assert ours.shape == (80, 3000)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-4)
    assert LogMelPreprocess(max_seconds=2.5)((wave, 16000)).shape == (80, 250)


def test_resample_keeps_a_tone():
    x = torch.sin(torch.arange(44100) / 44100 * 2 * np.pi * 440)
    y = resample(x, 44100, 16000)
    assert y.shape == (16000,)
    torch.testing.assert_close(y, torch.sin(torch.arange(16000) / 16000 * 2 * np.pi * 440), atol=1e-3, rtol=0)


def test_audio_input_errors():
    prep = LogMelPreprocess(max_seconds=1)
    with pytest.raises(TypeError, match="sample_rate"):
        prep(np.zeros(100, np.float32))
    with pytest.raises(ValueError, match="non-empty"):
        prep((np.zeros(0, np.float32), 16000))


def test_image_resize_crop_normalize():
    img = Image.new("RGB", (300, 150), (255, 0, 0))
    x = ImagePreprocess(64, CLIP_MEAN, CLIP_STD)(img.convert("L").convert("RGBA"))
    assert x.shape == (3, 64, 64)
    gray = 0.299 * 255 // 1 / 255  # PIL's luma of pure red
    expected = (torch.full((3,), gray) - torch.tensor(CLIP_MEAN)) / torch.tensor(CLIP_STD)
    torch.testing.assert_close(x.mean((1, 2)), expected, atol=0.01, rtol=0)
    with pytest.raises(TypeError, match="PIL.Image"):
        ImagePreprocess(64, CLIP_MEAN, CLIP_STD)(np.zeros((8, 8, 3)))


def test_video_uniform_frame_sampling():
    frames = [Image.new("RGB", (20, 20), (i * 20, 0, 0)) for i in range(10)]
    x = VideoPreprocess(4, ImagePreprocess(16, (0, 0, 0), (1, 1, 1)))(frames)
    assert x.shape == (4, 3, 16, 16)
    assert [round(v * 255 / 20) for v in x[:, 0, 0, 0].tolist()] == [0, 3, 6, 9]
    short = VideoPreprocess(4, ImagePreprocess(16, (0, 0, 0), (1, 1, 1)))(frames[:2])
    assert short.shape == (4, 3, 16, 16)  # fewer frames than asked: repeated
    with pytest.raises(ValueError, match="no frames"):
        VideoPreprocess(4, ImagePreprocess(16, (0, 0, 0), (1, 1, 1)))([])


def test_official_squash_resize_keeps_the_whole_image():
    """F4: the official evaluation transform is Resize((224, 224)) bicubic, aspect ratio not kept
    (depalm/data/data/data_base.py:170); the encoder's own resize + centre crop is then a no-op."""
    arr = np.random.default_rng(0).integers(0, 255, (40, 100, 3), dtype=np.uint8)
    img = Image.fromarray(arr)
    prep = ImagePreprocess(32, (0, 0, 0), (1, 1, 1), resize="squash")
    squashed = np.asarray(img.resize((32, 32), Image.BICUBIC), dtype=np.float32) / 255
    expected = torch.from_numpy(squashed).permute(2, 0, 1)
    torch.testing.assert_close(prep(img), expected)
    crop = ImagePreprocess(32, (0, 0, 0), (1, 1, 1))
    assert not torch.allclose(crop(img), expected)
    assert prep.config["resize"] == "bicubic-squash" != crop.config["resize"]
    with pytest.raises(ValueError, match="squash"):
        ImagePreprocess(32, (0, 0, 0), (1, 1, 1), resize="pad")
    # then the encoder's own eval transform: timm's Resize(floor(32 / 0.9) = 35) + CenterCrop(32), as for EVA-CLIP-L
    timm_like = ImagePreprocess(32, (0, 0, 0), (1, 1, 1), resize="squash", crop_pct=0.9)
    zoomed = img.resize((32, 32), Image.BICUBIC).resize((35, 35), Image.BICUBIC).crop((2, 2, 34, 34))
    expected = torch.from_numpy(np.asarray(zoomed, dtype=np.float32) / 255).permute(2, 0, 1)
    torch.testing.assert_close(timm_like(img), expected)
