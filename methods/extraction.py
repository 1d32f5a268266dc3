"""Feature extraction, Appendix B.1: the last n_fl encoder levels, all tokens or the CLS token only.

Encoders without a CLS token (e.g. MAViL, Whisper) get the mean of the patch tokens of the same level in its place,
but only when the patch tokens themselves are dropped (B.1); `cls_token="patch-mean"` does the same for an encoder
that has one. Video tokens can first be averaged over time (C.3, `time_pool`).

`feature_request` says which encoder outputs a method reads (levels, and every token or one), so a feature cache
stores only those; `extract` takes either the encoder's full output or that selection.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from methods.config import ExtractionConfig, FeatureSpec, TokenLayout

TOKEN_SELECTIONS = ("all", "cls", "patch-mean")


@dataclass(frozen=True)
class FeatureRequest:
    """The encoder outputs a method reads: its last `n_levels` levels, each with every token ("all"), the CLS token
    ("cls") or the mean of the patch tokens ("patch-mean", what replaces a missing or unwanted CLS token)."""

    n_levels: int
    tokens: str = "all"

    def __post_init__(self) -> None:
        if self.n_levels < 1:
            raise ValueError(f"FeatureRequest: n_levels must be >= 1, got {self.n_levels}")
        if self.tokens not in TOKEN_SELECTIONS:
            raise ValueError(f"FeatureRequest: tokens must be one of {TOKEN_SELECTIONS}, got {self.tokens!r}")


def feature_request(cfg: ExtractionConfig, spec: FeatureSpec) -> FeatureRequest:
    """What `extract(features, cfg, spec)` reads of the encoder's output. The mean of the patch tokens does not
    depend on time pooling (every patch token counts once either way), so one selection serves all `time_pool`s."""
    if cfg.tokens == "all":
        return FeatureRequest(cfg.n_levels, "all")
    return FeatureRequest(cfg.n_levels, "cls" if spec.has_cls and cfg.cls_token == "encoder" else "patch-mean")


def select_tokens(features: torch.Tensor, tokens: str, has_cls: bool) -> torch.Tensor:
    """[..., T, d] tokens of each level (CLS first when `has_cls`) -> the `FeatureRequest.tokens` selection of
    them: [..., T, d] for "all", [..., 1, d] otherwise."""
    if tokens == "all":
        return features
    if tokens == "cls":
        if not has_cls:
            raise ValueError("select_tokens: 'cls' asked of features without a CLS token")
        return features[..., :1, :]
    return features[..., int(has_cls) :, :].mean(dim=-2, keepdim=True)


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
    """[B, n, T, d_feats] encoder features (n >= n_fl levels, CLS first if any), or the one token per level that
    `feature_request` selects of them (T = 1, as a feature cache stores it) -> [B, n_fl, T', d_feats]."""
    request = feature_request(cfg, spec)
    shapes = {spec.n_tokens} | ({1} if request.tokens != "all" else set())
    if features.ndim != 4 or features.shape[2] not in shapes or features.shape[3] != spec.d_feats:
        raise ValueError(
            f"features must be [B, n_levels, {spec.n_tokens}, {spec.d_feats}] for {spec}"
            + (f" (or [B, n_levels, 1, {spec.d_feats}]: {request.tokens} selected)" if request.tokens != "all" else "")
            + f", got {tuple(features.shape)}"
        )
    if features.shape[1] < cfg.n_levels:
        raise ValueError(f"the method needs the last {cfg.n_levels} encoder levels, features hold {features.shape[1]}")
    x = features[:, features.shape[1] - cfg.n_levels :]
    if cfg.time_pool != "none":
        extracted_layout(cfg, spec)  # validates the grid
    if request.tokens != "all":  # one token per level; without a CLS token and one patch, both shapes are 1
        return select_tokens(x, request.tokens, spec.has_cls) if x.shape[2] == spec.n_tokens else x
    n_cls = int(spec.has_cls)
    cls, patches = x[:, :, :n_cls], x[:, :, n_cls:]
    if cfg.time_pool != "none":
        patches = pool_time(patches, spec.grid, cfg.time_pool)
    return torch.cat([cls, patches], 2)


def describe_extraction(cfg: ExtractionConfig) -> str:
    which = "CLS token" if cfg.tokens == "cls" else "Tokens"
    where = "last layer" if cfg.n_levels == 1 else f"{cfg.n_levels} last layers"
    return f"{which} from {where}"
