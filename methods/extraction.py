"""Feature extraction, Appendix B.1: the last n_fl encoder levels, all tokens or the CLS token only.

Encoders without a CLS token (e.g. MAViL, Whisper) get the mean of the patch tokens of the same level in its place,
but only when the patch tokens themselves are dropped (B.1); `cls_token="patch-mean"` does the same for an encoder
that has one. Video tokens can first be averaged over time (C.3, `time_pool`).
"""

from __future__ import annotations

import torch

from methods.config import ExtractionConfig, FeatureSpec, TokenLayout


def extracted_layout(cfg: ExtractionConfig, spec: FeatureSpec) -> TokenLayout:
    """The tokens a mapping block receives, per level."""
    if cfg.n_levels > spec.n_levels:
        raise ValueError(
            f"the method extracts {cfg.n_levels} encoder levels but the encoder has only {spec.n_levels}; "
            f"pick an encoder with more layers or a method with fewer levels"
        )
    grid = spec.grid
    if cfg.time_pool != "none":
        if len(grid) != 3:
            raise ValueError(
                f"extraction.time_pool={cfg.time_pool!r} needs video features on a (T, H, W) grid, the "
                f"encoder's grid is {grid}"
            )
        grid = grid[1:]
    if cfg.tokens == "cls":
        return TokenLayout(d=spec.d_feats, grid=(), has_cls=True)
    return TokenLayout(d=spec.d_feats, grid=grid, has_cls=spec.has_cls)


def pool_time(patches: torch.Tensor, grid: tuple[int, ...], how: str) -> torch.Tensor:
    """[..., T*H*W, d] patch tokens in (T, H, W) order -> [..., H*W, d].

    "mean": position p averages its T time steps. "official": the official extractor's
    `patch_tokens.reshape(B, -1, H*W, d).mean(1)` on TimeSformer's own order (j = p*T + t, time fastest): output p
    averages tokens j = k*H*W + p for k < T, i.e. positions (k*H*W + p) // T at times (k*H*W + p) % T."""
    t, h, w = grid
    hw = h * w
    if how == "mean":
        return patches.unflatten(-2, (t, hw)).mean(-3)
    j = torch.arange(t * hw, device=patches.device).view(t, hw)  # official order index of (k, p)
    ours = (j % t) * hw + j // t  # the same token in (T, H, W) order
    return patches[..., ours.flatten(), :].unflatten(-2, (t, hw)).mean(-3)


def extract(features: torch.Tensor, cfg: ExtractionConfig, spec: FeatureSpec) -> torch.Tensor:
    """[B, n, T, d_feats] encoder features (n >= n_fl levels, CLS first if any) -> [B, n_fl, T', d_feats]."""
    if features.ndim != 4 or features.shape[2] != spec.n_tokens or features.shape[3] != spec.d_feats:
        raise ValueError(
            f"features must be [B, n_levels, {spec.n_tokens}, {spec.d_feats}] for {spec}, got {tuple(features.shape)}"
        )
    if features.shape[1] < cfg.n_levels:
        raise ValueError(f"the method needs the last {cfg.n_levels} encoder levels, features hold {features.shape[1]}")
    x = features[:, features.shape[1] - cfg.n_levels :]
    n_cls = int(spec.has_cls)
    cls, patches = x[:, :, :n_cls], x[:, :, n_cls:]
    if cfg.time_pool != "none":
        extracted_layout(cfg, spec)  # validates the grid
        patches = pool_time(patches, spec.grid, cfg.time_pool)
    if cfg.tokens == "all":
        return torch.cat([cls, patches], 2)
    if spec.has_cls and cfg.cls_token == "encoder":
        return cls
    return patches.mean(dim=2, keepdim=True)


def describe_extraction(cfg: ExtractionConfig) -> str:
    which = "CLS token" if cfg.tokens == "cls" else "Tokens"
    where = "last layer" if cfg.n_levels == 1 else f"{cfg.n_levels} last layers"
    return f"{which} from {where}"
