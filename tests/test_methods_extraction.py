"""Feature extraction options (Appendix B.1, C.3): time averaging of video tokens, the patch-mean CLS token."""

from __future__ import annotations

import pytest
import torch

from methods.config import ExtractionConfig, FeatureSpec
from methods.extraction import extract, extracted_layout

T, H, W, D = 4, 2, 3, 5
VIDEO = FeatureSpec(d_feats=D, grid=(T, H, W), has_cls=True, n_levels=2)


def _features(b=2):
    return torch.randn(b, 2, 1 + T * H * W, D)


def test_true_time_mean_averages_each_position_over_time():
    x = _features()
    out = extract(x, ExtractionConfig(n_levels=1, time_pool="mean"), VIDEO)
    assert out.shape == (2, 1, 1 + H * W, D)
    patches = x[:, -1:, 1:].reshape(2, 1, T, H * W, D)
    assert torch.allclose(out[:, :, 1:], patches.mean(2)) and torch.equal(out[:, :, :1], x[:, -1:, :1])
    layout = extracted_layout(ExtractionConfig(time_pool="mean"), VIDEO)
    assert (layout.grid, layout.n_tokens) == ((H, W), 1 + H * W)


def test_official_time_pool_is_the_official_reshape_on_timesformers_own_order():
    """depalm/models/perceptual/video.py:41-42: tokens ordered (h w t), reshape(B, -1, H*W, d).mean(1)."""
    x = _features()
    ours = x[:, -1, 1:]  # (T, H, W) order
    official_order = ours.reshape(2, T, H * W, D).transpose(1, 2).reshape(2, H * W * T, D)  # (h w t)
    expected = official_order.reshape(2, -1, H * W, D).mean(1)
    out = extract(x, ExtractionConfig(n_levels=1, time_pool="official"), VIDEO)
    assert torch.allclose(out[:, 0, 1:], expected, atol=1e-6)
    assert not torch.allclose(out[:, 0, 1:], ours.reshape(2, T, H * W, D).mean(1))  # it mixes positions


def test_time_pool_needs_a_video_grid_and_patch_mean_replaces_the_cls_token():
    image = FeatureSpec(d_feats=D, grid=(H, W), has_cls=True, n_levels=1)
    with pytest.raises(ValueError, match=r"\(T, H, W\) grid"):
        extracted_layout(ExtractionConfig(time_pool="mean"), image)
    x = torch.randn(2, 1, 1 + H * W, D)
    out = extract(x, ExtractionConfig(tokens="cls", cls_token="patch-mean"), image)
    assert torch.allclose(out[:, :, 0], x[:, :, 1:].mean(2))
    assert torch.equal(extract(x, ExtractionConfig(tokens="cls"), image), x[:, :, :1])
    with pytest.raises(ValueError, match="time_pool"):
        ExtractionConfig(time_pool="max")


def test_feature_requests_of_the_presets():
    """What each method reads of the encoder: eP-ALM the CLS token of 6 levels (epalm-opt.yaml:31-36), LiMBeR^(1)
    one CLS token, DePALM every token of the last level; the patch mean in place of a missing CLS token."""
    from methods import get_preset
    from methods.extraction import FeatureRequest, feature_request

    image = FeatureSpec(d_feats=D, grid=(H, W), has_cls=True, n_levels=12)
    audio = FeatureSpec(d_feats=D, grid=(6,), has_cls=False, n_levels=12)
    for variant in ("official", "paper"):
        assert feature_request(get_preset("epalm", variant).extraction, image) == FeatureRequest(6, "cls")
        assert feature_request(get_preset("limber-1", variant).extraction, image) == FeatureRequest(1, "cls")
        assert feature_request(get_preset("depalm", variant).extraction, image) == FeatureRequest(1, "all")
        assert feature_request(get_preset("depalm-qp-inner", variant).extraction, image) == FeatureRequest(4, "all")
        assert feature_request(get_preset("epalm", variant).extraction, audio) == FeatureRequest(6, "patch-mean")
    mean_cls = ExtractionConfig(n_levels=2, tokens="cls", cls_token="patch-mean")
    assert feature_request(mean_cls, image) == FeatureRequest(2, "patch-mean")


@pytest.mark.parametrize(
    "cfg",
    [
        ExtractionConfig(n_levels=2, tokens="cls"),
        ExtractionConfig(n_levels=1, tokens="cls", cls_token="patch-mean", time_pool="mean"),
        ExtractionConfig(n_levels=2, tokens="cls", cls_token="patch-mean", time_pool="official"),
    ],
)
def test_extract_takes_the_selected_tokens_as_the_full_output(cfg):
    from methods.extraction import feature_request, select_tokens

    x = torch.randn(2, 2, VIDEO.n_tokens, D, dtype=torch.float64)
    selected = select_tokens(x, feature_request(cfg, VIDEO).tokens, VIDEO.has_cls)
    assert selected.shape == (2, 2, 1, D)
    assert torch.allclose(extract(selected, cfg, VIDEO), extract(x, cfg, VIDEO))
    with pytest.raises(ValueError, match=r"or \[B, n_levels, 1, 5\]"):
        extract(x[:, :, :2], cfg, VIDEO)
    with pytest.raises(ValueError, match=r"features must be \[B, n_levels, 25, 5\] for .*\), got \(2, 2, 1, 5\)"):
        extract(selected, ExtractionConfig(n_levels=1), VIDEO)  # every token asked, one given
