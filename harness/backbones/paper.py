"""Paper backbones (Table 2, Table 5, Table S1) with their real loading code.

Each loader fetches a model (hub, torch.hub, local path) and hands it to a `*_encoder` wrapper that reads the
token layout from the module itself; tests call the same wrappers on tiny random modules of the same classes.
Offline, point loaders at local files (`path=`, `pretrained=`, `repo=`/`weights=`) or pre-filled hub caches.
Audio: MAViL has no public loader usable offline, so AST (transformers) is the documented stand-in.
`final_norm` of each registration: the official extractor puts every level through the encoder's final norm
(`feat_model.norm: auto`, depalm/models/extractors.py:44-45, 57-73; CLIP post_layernorm, DINOv2 and timm `norm`),
TimeSformer does it itself (depalm/models/perceptual/timesformermodel.py:301), EVA-CLIP-L and MAViL are configured
without (config/feat_model/eva-clip-L.yaml:6, mavil.yaml:6), and AST stands in for MAViL.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .base import EncoderMeta, LLMBackbone
from .causal_lm import load_causal_lm, offline_hint
from .encoders import ASTEncoder, DinoHubEncoder, IntermediatesEncoder, TimesformerEncoder
from .preprocess import (
    CLIP_MEAN,
    CLIP_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImagePreprocess,
    VideoPreprocess,
    check_image_size,
    mono_waveform,
)
from .registry import BackboneShape, encoder_final_norm, register_encoder, register_llm
from .weights_cache import BackboneNotAvailable

# The official code loads EVA-CLIP-L with timm (depalm/models/perceptual/vision.py:36-50), whose evaluation
# transform follows the squash to 224 (timm eva02 configs: crop_pct 0.9)
OFFICIAL_CROP_PCT = {"eva-clip-l": 0.9}
KINETICS_MEAN = (0.45, 0.45, 0.45)  # facebook/timesformer-base-finetuned-k400 preprocessor
KINETICS_STD = (0.225, 0.225, 0.225)


# ---------------------------------------------------------------- open_clip: CLIP ViT-B/16, ViT-L/14, EVA-CLIP-L


def open_clip_encoder(id: str, visual: nn.Module, image_size: int, weights_id: str) -> IntermediatesEncoder:
    """Wrap an open_clip visual tower (VisionTransformer or TimmModel)."""
    from open_clip.model import get_model_preprocess_cfg

    tower: Any = visual  # attributes differ between VisionTransformer and TimmModel
    trunk = getattr(visual, "trunk", None)
    if trunk is not None:
        patch, width, layers = trunk.patch_embed.patch_size[0], trunk.embed_dim, len(trunk.blocks)
        if tuple(trunk.patch_embed.img_size) != (image_size, image_size):
            tower.set_input_size(image_size)  # TimmModel builds its trunk at the default size; resamples positions
    else:
        patch, width, layers = tower.patch_size[0], tower.transformer.width, len(tower.transformer.resblocks)
    check_image_size(image_size, patch, id)
    cfg = get_model_preprocess_cfg(visual)
    prep = ImagePreprocess(
        image_size,
        tuple(cfg.get("mean", CLIP_MEAN)),
        tuple(cfg.get("std", CLIP_STD)),
        crop_pct=OFFICIAL_CROP_PCT.get(id, 1.0),
    )
    return IntermediatesEncoder(
        visual,
        prep.meta(id, patch, width, layers, encoder_final_norm(id)),
        weights_id,
        prep,
        timm_api=trunk is not None,
    )


def _open_clip_loader(id: str, arch: str, tag: str, description: str, final_norm: bool, shape: BackboneShape):
    @register_encoder(id, embedded=False, description=description, final_norm=final_norm, shape=shape)
    def load(image_size: int = 224, pretrained: str | None = tag, cache_dir: str | None = None):
        """`pretrained`: open_clip tag, or a local checkpoint file, or None for random init."""
        import open_clip

        try:
            model = open_clip.create_model(
                arch, pretrained=pretrained, force_image_size=image_size, cache_dir=cache_dir
            )
        except (OSError, RuntimeError, ValueError) as e:
            raise BackboneNotAvailable(
                f"{id}: {e}\n"
                + offline_hint(
                    f"open_clip {arch}/{tag}", f"the {arch} '{tag}' checkpoint (pass pretrained=/path/to/checkpoint)"
                )
            ) from e
        return open_clip_encoder(id, model.visual, image_size, f"open_clip:{arch}:{pretrained}")

    return load


def _vit(width: int, layers: int, patch: int, image_size: int = 224) -> BackboneShape:
    side = image_size // patch
    return BackboneShape(width, layers, (side, side), True, patch)


_open_clip_loader("clip-vit-b16", "ViT-B-16", "openai", "OpenAI CLIP ViT-B/16 (open_clip)", True, _vit(768, 12, 16))
_open_clip_loader("clip-vit-l14", "ViT-L-14", "openai", "OpenAI CLIP ViT-L/14 (open_clip)", True, _vit(1024, 24, 14))
_open_clip_loader(
    "eva-clip-l", "EVA02-L-14", "merged2b_s4b_b131k", "EVA02-CLIP-L/14 (open_clip + timm)", False, _vit(1024, 24, 14)
)


# ---------------------------------------------------------------- DINOv2 S/B/L/G via torch.hub

DINOV2_REPO = "facebookresearch/dinov2"


def dinov2_hub_encoder(id: str, model: nn.Module, image_size: int, weights_id: str) -> DinoHubEncoder:
    vit: Any = model  # the hub's DinoVisionTransformer, attributes untyped
    patch = vit.patch_size if isinstance(vit.patch_size, int) else vit.patch_size[0]
    check_image_size(image_size, patch, id)
    prep = ImagePreprocess(image_size, IMAGENET_MEAN, IMAGENET_STD)
    meta = prep.meta(id, patch, vit.embed_dim, vit.n_blocks, encoder_final_norm(id))
    return DinoHubEncoder(model, meta, weights_id, prep)


def load_dinov2_hub(name: str, repo: str | None = None, weights: str | None = None) -> tuple[nn.Module, str]:
    """`repo`: local clone of facebookresearch/dinov2 ($DEPALM_DINOV2_REPO), else GitHub through torch.hub;
    `weights`: local checkpoint (.pth), else the hub's pretrained download. Returns (model, weights id)."""
    repo = repo or os.environ.get("DEPALM_DINOV2_REPO")
    if repo is not None:
        if not (Path(repo) / "hubconf.py").is_file():
            raise BackboneNotAvailable(
                f"DINOv2 local repository {repo} not found (no hubconf.py there). Fix: on a machine with internet run "
                f"`git clone https://github.com/{DINOV2_REPO} {repo}` and copy it here, or set DEPALM_DINOV2_REPO / "
                f"repo= to an existing clone."
            )
        source, where = "local", str(repo)
    else:
        source, where = "github", DINOV2_REPO
    if weights is not None and not Path(weights).is_file():
        raise BackboneNotAvailable(
            f"DINOv2 weights file {weights} not found. Fix: download {name}_pretrain.pth from "
            f"https://dl.fbaipublicfiles.com/dinov2/{name}/ and pass its path as weights=."
        )
    try:
        model = torch.hub.load(where, name, source=source, pretrained=weights is None)
    except Exception as e:  # torch.hub raises plain Exceptions (URLError, RuntimeError, ...) offline
        raise BackboneNotAvailable(
            f"torch.hub.load({where!r}, {name!r}) failed: {e}\nFix: pass repo= a local clone "
            f"of {DINOV2_REPO} (or set DEPALM_DINOV2_REPO) and weights= a local "
            f"{name}_pretrain.pth."
        ) from e
    if weights is not None:
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model, f"dinov2-hub:{name}:{weights or 'pretrained'}"


def _dinov2_loader(id: str, name: str, shape: BackboneShape):
    @register_encoder(
        id, embedded=False, description=f"DINOv2 {name} (torch.hub {DINOV2_REPO})", final_norm=True, shape=shape
    )
    def load(image_size: int = 224, repo: str | None = None, weights: str | None = None):
        model, weights_id = load_dinov2_hub(name, repo, weights)
        return dinov2_hub_encoder(id, model, image_size, weights_id)

    return load


for _id, _name, _shape in [
    ("dinov2-s", "dinov2_vits14", _vit(384, 12, 14)),
    ("dinov2-b", "dinov2_vitb14", _vit(768, 12, 14)),
    ("dinov2-l", "dinov2_vitl14", _vit(1024, 24, 14)),
    ("dinov2-g", "dinov2_vitg14", _vit(1536, 40, 14)),
]:
    _dinov2_loader(_id, _name, _shape)


# ---------------------------------------------------------------- ViT-L (timm; Steiner et al. AugReg weights)


def timm_vit_encoder(id: str, model: nn.Module, weights_id: str) -> IntermediatesEncoder:
    vit: Any = model  # timm VisionTransformer, attributes untyped
    image_size = vit.patch_embed.img_size[0]
    patch = vit.patch_embed.patch_size[0]
    cfg = vit.pretrained_cfg
    prep = ImagePreprocess(
        image_size,
        tuple(cfg.get("mean", IMAGENET_MEAN)),
        tuple(cfg.get("std", IMAGENET_STD)),
        crop_pct=cfg.get("crop_pct", 1.0),
    )  # timm's eval transform, as the official loads it
    meta = prep.meta(id, patch, vit.embed_dim, len(vit.blocks), encoder_final_norm(id))
    return IntermediatesEncoder(model, meta, weights_id, prep, timm_api=True)


@register_encoder(
    "vit-l",
    embedded=False,
    description="ViT-L/16 AugReg IN21k->IN1k (timm)",
    final_norm=True,
    shape=_vit(1024, 24, 16),
)
def load_vit_l(
    image_size: int = 224, weights: str | None = None, name: str = "vit_large_patch16_224.augreg_in21k_ft_in1k"
):
    """`weights`: local checkpoint file (.safetensors/.bin/.pth) instead of the HF hub download."""
    import timm

    check_image_size(image_size, 16, "vit-l")
    overlay = {"file": weights} if weights else None
    try:
        model = timm.create_model(
            name, pretrained=True, num_classes=0, img_size=image_size, pretrained_cfg_overlay=overlay
        )
    except Exception as e:  # timm surfaces hub errors as various exception types
        raise BackboneNotAvailable(
            f"vit-l: {e}\n" + offline_hint(f"timm {name}", f"timm/{name} (pass weights=)")
        ) from e
    return timm_vit_encoder("vit-l", model, f"timm:{name}:{weights or 'hub'}")


# ---------------------------------------------------------------- TimeSformer and AST (transformers)


def _from_pretrained(cls: Any, source: str, id: str) -> Any:
    try:
        return cls.from_pretrained(source)
    except OSError as e:
        raise BackboneNotAvailable(
            f"{id}: {e}\n" + offline_hint(f"{cls.__name__} {source}", f"the {source} folder (pass path=)")
        ) from e


def timesformer_encoder(id: str, model: nn.Module, weights_id: str) -> TimesformerEncoder:
    c: Any = model.config  # a transformers config; nn.Module.__getattr__ types it Tensor | Module
    prep = VideoPreprocess(c.num_frames, ImagePreprocess(c.image_size, KINETICS_MEAN, KINETICS_STD))
    g = c.image_size // c.patch_size
    meta = EncoderMeta(
        id, "video", (c.num_frames, g, g), True, c.hidden_size, c.num_hidden_layers, prep.config, encoder_final_norm(id)
    )
    return TimesformerEncoder(model, meta, weights_id, prep)


@register_encoder(
    "timesformer",
    embedded=False,
    description="TimeSformer-base, Kinetics-400 (transformers)",
    final_norm=True,
    shape=BackboneShape(768, 12, (8, 14, 14), True),  # 8 frames of 224 px, 16 px patches
)
def load_timesformer(path: str = "facebook/timesformer-base-finetuned-k400"):
    from transformers import TimesformerModel

    return timesformer_encoder("timesformer", _from_pretrained(TimesformerModel, path, "timesformer"), f"hf:{path}")


class ASTPreprocess:
    """(waveform, sr) -> AST's Kaldi-style fbank, normalized with AudioSet statistics, as [n_mels, T]."""

    def __init__(self, num_mel_bins: int, max_length: int, sample_rate: int = 16000):
        from transformers import ASTFeatureExtractor

        self.extractor = ASTFeatureExtractor(
            num_mel_bins=num_mel_bins, max_length=max_length, sampling_rate=sample_rate
        )
        self.config = {
            "sample_rate": sample_rate,
            "n_mels": num_mel_bins,
            "max_seconds": max_length / 100,
            "frontend": "ast-kaldi-fbank",
            "mean": self.extractor.mean,
            "std": self.extractor.std,
        }

    def __call__(self, raw: Any) -> torch.Tensor:
        x = mono_waveform(raw, self.config["sample_rate"]).numpy()
        feats = self.extractor(x, sampling_rate=self.config["sample_rate"], return_tensors="pt").input_values[0]
        return feats.T.contiguous()


def ast_encoder(id: str, model: nn.Module, weights_id: str) -> ASTEncoder:
    c: Any = model.config  # a transformers config; nn.Module.__getattr__ types it Tensor | Module
    f_out = (c.num_mel_bins - c.patch_size) // c.frequency_stride + 1
    t_out = (c.max_length - c.patch_size) // c.time_stride + 1
    prep = ASTPreprocess(c.num_mel_bins, c.max_length)
    meta = EncoderMeta(
        id, "audio", (f_out * t_out,), True, c.hidden_size, c.num_hidden_layers, prep.config, encoder_final_norm(id)
    )
    return ASTEncoder(model, meta, weights_id, prep)


@register_encoder(
    "ast",
    embedded=False,
    description="AST AudioSet (transformers); stand-in for MAViL",
    shape=BackboneShape(768, 12, (12 * 101,), True),  # 128 mel bins x 1024 frames, 16x16 patches at stride 10
)
def load_ast(path: str = "MIT/ast-finetuned-audioset-10-10-0.4593"):
    from transformers import ASTModel

    return ast_encoder("ast", _from_pretrained(ASTModel, path, "ast"), f"hf:{path}")


# ---------------------------------------------------------------- LLMs (transformers causal LMs)

# id: (hub repo, family: the official config/llm/*.yaml whose prompt conventions apply, (hidden width, layers))
PAPER_LLMS = {
    "opt-125m": ("facebook/opt-125m", "opt", (768, 12)),
    "opt-1.3b": ("facebook/opt-1.3b", "opt", (2048, 24)),
    "opt-2.7b": ("facebook/opt-2.7b", "opt", (2560, 32)),
    "opt-6.7b": ("facebook/opt-6.7b", "opt", (4096, 32)),
    "llama-7b": ("huggyllama/llama-7b", "llama", (4096, 32)),  # LLaMA-1 converted to the transformers format
    "llama-2-7b": ("meta-llama/Llama-2-7b-hf", "llama-2", (4096, 32)),
    "llama-2-7b-chat": ("meta-llama/Llama-2-7b-chat-hf", "llama-2", (4096, 32)),
    "vicuna-7b": ("lmsys/vicuna-7b-v1.5", "vicuna", (4096, 32)),  # LLaMA-2 based, the official config/llm/vicuna.yaml:1
}


def _llm_loader(id: str, repo: str, family: str, shape: BackboneShape):
    @register_llm(id, embedded=False, description=f"{repo} (transformers)", family=family, shape=shape)
    def load(dtype: torch.dtype = torch.float32, path: str | None = None) -> LLMBackbone:
        return load_causal_lm(id, path or repo, dtype)

    return load


for _id, (_repo, _family, (_width, _layers)) in PAPER_LLMS.items():
    _llm_loader(_id, _repo, _family, BackboneShape(_width, _layers))
