"""PerceptualEncoder adapters: one per model-code family, each returning the last n transformer-layer outputs
(paper Appendix B.1) as `[B, n, T, d]` with the CLS token first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .base import EncoderMeta, PerceptualEncoder, freeze
from .whisper import WhisperAudioEncoder


class HiddenStatesEncoder(PerceptualEncoder):
    """transformers vision model (CLIPVisionModel[WithProjection], Dinov2Model, ViTModel): `hidden_states[1:]` are
    the layer outputs. `forward_kwargs` e.g. interpolate_pos_encoding=True for CLIP at a non-native size."""

    def __init__(
        self,
        model: nn.Module,
        meta: EncoderMeta,
        weights_id: str,
        preprocessor: Callable,
        forward_kwargs: dict[str, Any] | None = None,
    ):
        super().__init__(meta, weights_id, preprocessor)
        self.model = freeze(model)
        self.forward_kwargs = dict(forward_kwargs or {})

    def _hidden_levels(self, x: torch.Tensor, n_levels: int) -> torch.Tensor:
        out = self.model(pixel_values=x, output_hidden_states=True, **self.forward_kwargs)
        return torch.stack(out.hidden_states[-n_levels:], 1)

    def final_norm_module(self) -> nn.Module | None:
        """CLIP's post_layernorm (the official extractor's choice for transformers CLIP), else `layernorm`
        (Dinov2Model, TimesformerModel, ASTModel)."""
        vision = getattr(self.model, "vision_model", self.model)
        return getattr(vision, "post_layernorm", None) or getattr(vision, "layernorm", None)


class TimesformerEncoder(HiddenStatesEncoder):
    """transformers TimesformerModel. Its patch tokens are ordered (H, W, T); reordered here to the (T, H, W) grid.
    Input [B, F, 3, H, W]."""

    def _set_frames(self, frames: int) -> None:
        # its layers read the clip length from the config; the time embedding is interpolated (nearest) to it, as
        # the official TimeSformer does (depalm/models/perceptual/timesformermodel.py:285-289)
        config: Any = self.model.config  # a transformers config; nn.Module.__getattr__ types it Tensor | Module
        config.num_frames = frames

    def _hidden_levels(self, x: torch.Tensor, n_levels: int) -> torch.Tensor:
        h = super()._hidden_levels(x, n_levels)  # [B, n, 1 + HW*T, d]
        t, gh, gw = self.meta.grid
        patches = h[:, :, 1:].unflatten(2, (gh * gw, t)).transpose(2, 3).flatten(2, 3)
        return torch.cat([h[:, :, :1], patches], 2)


class ASTEncoder(HiddenStatesEncoder):
    """transformers ASTModel (audio stand-in for MAViL). Drops the distillation token (index 1) so the layout is
    CLS + patches; input is the contract's log-mel [B, n_mels, T], AST wants [B, T, n_mels]."""

    def _hidden_levels(self, x: torch.Tensor, n_levels: int) -> torch.Tensor:
        out = self.model(input_values=x.transpose(1, 2), output_hidden_states=True)
        h = torch.stack(out.hidden_states[-n_levels:], 1)
        return torch.cat([h[:, :, :1], h[:, :, 2:]], 2)


class IntermediatesEncoder(PerceptualEncoder):
    """open_clip visual towers (VisionTransformer, TimmModel e.g. EVA02) and timm ViTs via `forward_intermediates`,
    which returns block outputs without the final norm. `timm_api`: the model (or its `.trunk`, for open_clip's
    TimmModel) follows timm's signature rather than open_clip's VisionTransformer's."""

    def __init__(self, model: nn.Module, meta: EncoderMeta, weights_id: str, preprocessor: Callable, timm_api: bool):
        super().__init__(meta, weights_id, preprocessor)
        self.model = freeze(model)
        self.timm_api = timm_api

    def _hidden_levels(self, x: torch.Tensor, n_levels: int) -> torch.Tensor:
        model: Any = self.model  # forward_intermediates is the towers' own API, not nn.Module's
        if self.timm_api:
            trunk = getattr(model, "trunk", model)
            levels = trunk.forward_intermediates(
                x, indices=n_levels, output_fmt="NLC", intermediates_only=True, return_prefix_tokens=True
            )
            pairs = [(prefix[:, :1], spatial) for spatial, prefix in levels]  # CLS first, registers dropped
        else:
            out = model.forward_intermediates(
                x, indices=n_levels, output_fmt="NLC", intermediates_only=True, output_extra_tokens=True
            )
            pairs = list(zip(out["image_intermediates_prefix"], out["image_intermediates"]))
        return torch.stack([torch.cat(p, 1) for p in pairs], 1)

    def final_norm_module(self) -> nn.Module | None:
        """open_clip's ln_post, timm's norm."""
        if self.timm_api:
            return getattr(getattr(self.model, "trunk", self.model), "norm", None)
        return getattr(self.model, "ln_post", None)


class DinoHubEncoder(PerceptualEncoder):
    """DINOv2 from its torch.hub repository (`get_intermediate_layers`, un-normalized block outputs)."""

    def __init__(self, model: nn.Module, meta: EncoderMeta, weights_id: str, preprocessor: Callable):
        super().__init__(meta, weights_id, preprocessor)
        self.model = freeze(model)

    def _hidden_levels(self, x: torch.Tensor, n_levels: int) -> torch.Tensor:
        vit: Any = self.model  # the hub's DinoVisionTransformer, attributes untyped
        levels = vit.get_intermediate_layers(x, n=n_levels, return_class_token=True, norm=False)
        return torch.stack([torch.cat([cls[:, None], patches], 1) for patches, cls in levels], 1)

    def final_norm_module(self) -> nn.Module | None:
        return getattr(self.model, "norm", None)


class WhisperEncoder(PerceptualEncoder):
    """WhisperAudioEncoder (CTranslate2 weights). log-mel [B, 80, T] -> T/2 tokens, no CLS."""

    def __init__(self, model: WhisperAudioEncoder, meta: EncoderMeta, weights_id: str, preprocessor: Callable):
        super().__init__(meta, weights_id, preprocessor)
        self.model = freeze(model)

    def _hidden_levels(self, x: torch.Tensor, n_levels: int) -> torch.Tensor:
        return torch.stack(self.model(x)[-n_levels:], 1)

    def final_norm_module(self) -> nn.Module | None:
        return self.model.ln_post


class FrameEncoder(PerceptualEncoder):
    """Video as an image encoder applied per frame: tokens on a (T, H, W) grid; the CLS token is the mean of the
    per-frame CLS tokens. Input [B, F, 3, H, W]."""

    def __init__(self, image_encoder: PerceptualEncoder, meta: EncoderMeta, preprocessor: Callable):
        super().__init__(meta, image_encoder.weights_id, preprocessor)
        self.image_encoder = image_encoder

    def _hidden_levels(self, x: torch.Tensor, n_levels: int) -> torch.Tensor:
        b, f = x.shape[:2]
        h = self.image_encoder(x.flatten(0, 1), n_levels).unflatten(0, (b, f))  # [B, F, n, 1 + HW, d]
        cls = h[:, :, :, :1].mean(1)
        patches = h[:, :, :, 1:].transpose(1, 2).flatten(2, 3)  # [B, n, F*HW, d], frame-major
        return torch.cat([cls, patches], 2)

    def final_norm_module(self) -> nn.Module | None:
        return nn.Identity()  # the image encoder has applied its own to every frame
