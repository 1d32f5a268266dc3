"""Feature extraction, Appendix B.1: the last n_fl encoder levels, all tokens or the CLS token only.

Encoders without a CLS token (e.g. MAViL, Whisper) get the mean of the patch tokens of the same level in its place,
but only when the patch tokens themselves are dropped (B.1).
"""
from __future__ import annotations

import torch

from methods.config import ExtractionConfig, FeatureSpec, TokenLayout


def extracted_layout(cfg: ExtractionConfig, spec: FeatureSpec) -> TokenLayout:
    """The tokens a mapping block receives, per level."""
    if cfg.n_levels > spec.n_levels:
        raise ValueError(f"the method extracts {cfg.n_levels} encoder levels but the encoder has only {spec.n_levels}; "
                         f"pick an encoder with more layers or a method with fewer levels")
    if cfg.tokens == "cls":
        return TokenLayout(d=spec.d_feats, grid=(), has_cls=True)
    return spec.layout


def extract(features: torch.Tensor, cfg: ExtractionConfig, spec: FeatureSpec) -> torch.Tensor:
    """[B, n, T, d_feats] encoder features (n >= n_fl levels, CLS first if any) -> [B, n_fl, T', d_feats]."""
    if features.ndim != 4 or features.shape[2] != spec.n_tokens or features.shape[3] != spec.d_feats:
        raise ValueError(f"features must be [B, n_levels, {spec.n_tokens}, {spec.d_feats}] for {spec}, "
                         f"got {tuple(features.shape)}")
    if features.shape[1] < cfg.n_levels:
        raise ValueError(f"the method needs the last {cfg.n_levels} encoder levels, features hold {features.shape[1]}")
    x = features[:, features.shape[1] - cfg.n_levels:]
    if cfg.tokens == "all":
        return x
    if spec.has_cls:
        return x[:, :, :1]
    return x.mean(dim=2, keepdim=True)


def describe_extraction(cfg: ExtractionConfig) -> str:
    which = "CLS token" if cfg.tokens == "cls" else "Tokens"
    where = "last layer" if cfg.n_levels == 1 else f"{cfg.n_levels} last layers"
    return f"{which} from {where}"
