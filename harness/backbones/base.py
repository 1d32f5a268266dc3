"""Backbone interfaces: frozen perceptual encoder (feature extraction, paper Appendix B.1) and frozen LLM.

An encoder returns the tokens of its last `n_levels` transformer layers, `[B, n_levels, T, d_feats]`, with the CLS
token first when it has one (T = 1 + N), N patch tokens laid out on `meta.grid` in row-major order. With
`meta.final_norm` every level goes through the encoder's final norm, as the official extractor does (its
`feat_model.norm: auto`, depalm/models/extractors.py:44-45, 57-73): a fact of each registered encoder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from torch import nn

from .families import LLM_FAMILIES, AnswerMarker

FINGERPRINT_VERSION = 2  # bump when a change of extraction code changes features for the same weights


@dataclass(frozen=True)
class EncoderMeta:
    """What the runner needs to know about an encoder's tokens and inputs."""

    id: str
    modality: str  # "image" | "audio" | "video"
    grid: tuple[int, ...]  # (N,) audio, (H, W) image, (T, H, W) video
    has_cls: bool
    d_feats: int
    n_levels: int  # transformer layers whose outputs can be requested
    preprocess: dict[str, Any] = field(default_factory=dict)
    final_norm: bool = False  # every level through the encoder's final norm (the registered encoder's fact)

    @property
    def n_tokens(self) -> int:
        """Tokens per level: patch tokens plus the CLS token when present."""
        n = 1
        for g in self.grid:
            n *= g
        return n + int(self.has_cls)


def default_dtype(device: str | torch.device) -> torch.dtype:
    """Half precision on GPU (paper C.3: pre-trained models loaded in float16), fp32 on CPU."""
    return torch.float16 if torch.device(device).type == "cuda" else torch.float32


ModuleT = TypeVar("ModuleT", bound=nn.Module)


def freeze(module: ModuleT) -> ModuleT:
    module.requires_grad_(False)
    return module.eval()


class PerceptualEncoder(nn.Module):
    """Frozen encoder + its deterministic preprocessing. Subclasses implement `_hidden_levels`.

    Stays in eval mode even when a parent module calls `.train()`: the encoder is frozen (paper C.3); bias
    tuning only flips `requires_grad` on bias tensors, which needs no dropout.
    """

    def __init__(self, meta: EncoderMeta, weights_id: str, preprocessor: Callable[[Any], torch.Tensor]):
        super().__init__()
        self.meta = meta
        self.weights_id = weights_id
        self.preprocessor = preprocessor

    def preprocess(self, raw: Any) -> torch.Tensor:
        """One raw input (PIL image | (waveform, sample_rate) | list of PIL frames) -> model-ready tensor."""
        return self.preprocessor(raw)

    def forward(self, x: torch.Tensor, n_levels: int) -> torch.Tensor:
        if not 1 <= n_levels <= self.meta.n_levels:
            raise ValueError(
                f"{self.meta.id}: n_levels={n_levels} but the encoder has {self.meta.n_levels} levels; "
                f"ask for 1..{self.meta.n_levels}"
            )
        x = x.to(device=self.device, dtype=self.dtype)
        out = self._hidden_levels(x, n_levels)
        if self.meta.final_norm:
            norm = self.final_norm_module()
            if norm is None:
                raise RuntimeError(f"{self.meta.id}: registered with final_norm but {type(self).__name__} has none")
            out = norm(out)
        expected = (x.shape[0], n_levels, self.meta.n_tokens, self.meta.d_feats)
        if tuple(out.shape) != expected:
            raise RuntimeError(
                f"{self.meta.id}: produced features {tuple(out.shape)}, expected {expected} "
                f"(input {tuple(x.shape)}; meta.preprocess={self.meta.preprocess})"
            )
        return out

    def _hidden_levels(self, x: torch.Tensor, n_levels: int) -> torch.Tensor:
        raise NotImplementedError

    def final_norm_module(self) -> nn.Module | None:
        """The norm the encoder applies after its last block (per token), if it has one."""
        return None

    def configure_input(
        self,
        resize: str | None = None,
        frames: int | None = None,
        mean_std: tuple[tuple[float, ...], tuple[float, ...]] | None = None,
    ) -> PerceptualEncoder:
        """Change the deterministic preprocessing of an image or video encoder (resize mode, frame count, pixel
        statistics); `meta` follows, so the fingerprint and the feature-cache key do too. Returns self."""
        configured = getattr(self.preprocessor, "configured", None)  # ImagePreprocess, VideoPreprocess
        if configured is None:
            raise ValueError(f"{self.meta.id}: only image and video encoders take input settings")
        try:
            new = configured(resize=resize, frames=frames, mean_std=mean_std)
        except ValueError as e:
            raise ValueError(f"{self.meta.id}: {e}") from None
        grid = self.meta.grid
        if "frames" in new.config:
            self._set_frames(new.config["frames"])
            grid = (new.config["frames"], *grid[1:])
        self.preprocessor = new
        self.meta = dataclasses.replace(self.meta, grid=grid, preprocess=new.config)
        return self

    def _set_frames(self, frames: int) -> None:
        """Video encoders whose model needs to know the clip length override this."""

    def train(self, mode: bool = True) -> PerceptualEncoder:
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def fingerprint(self) -> str:
        """Hash of weights identity + extraction code version + token layout + preprocessing (feature-cache key)."""
        payload = {
            "class": type(self).__name__,
            "weights": self.weights_id,
            "version": FINGERPRINT_VERSION,
            "meta": dataclasses.asdict(self.meta),
            "dtype": str(self.dtype),
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:20]


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Batched training and generation need a pad token; LLaMA-family tokenizers ship none (EOS is reused)."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


@dataclass
class LLMBackbone:
    """A frozen decoder-only LLM with its tokenizer and its family (`families.LLM_FAMILIES`: the answer marker its
    prompts get)."""

    model: Any  # transformers PreTrainedModel (causal LM)
    tokenizer: Any
    id: str
    family: str = "llama"

    @property
    def answer_marker(self) -> AnswerMarker:
        return LLM_FAMILIES[self.family]

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    @property
    def dtype(self) -> torch.dtype:
        return self.model.dtype

    @property
    def embeddings(self) -> nn.Embedding:
        return self.model.get_input_embeddings()

    @property
    def layers(self) -> nn.ModuleList:
        """Decoder layers (LLaMA-style `model.layers`, OPT-style `model.decoder.layers`)."""
        base = self.model.base_model
        for path in ("layers", "decoder.layers"):
            obj = base
            for part in path.split("."):
                obj = getattr(obj, part, None)
            if isinstance(obj, nn.ModuleList):
                return obj
        raise AttributeError(f"{self.id}: cannot find the decoder layers of {type(self.model).__name__}")

    @property
    def n_layers(self) -> int:
        return len(self.layers)
