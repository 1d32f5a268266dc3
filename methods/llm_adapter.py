"""One small adapter for any HF decoder-only LLM: where the token embeddings and the decoder layers are, the
embedding scale, the rotary position module (for tokens injected inside the model, B.2), and OPT's learned
position embedding (added at the input; its perceptual tokens skip it under the official variant, `PerceptualLM`).

Known layouts (decoder-layer name map, as in open_flamingo): OPT `model.decoder.layers`; LLaMA / Llama-2 / Vicuna /
SmolLM2 / Mistral / Qwen2 / Gemma-3 `model.layers`; GPT-2 / GPT-J `transformer.h`; GPT-NeoX `gpt_neox.layers`.
Anything else: the one `nn.ModuleList` with `num_hidden_layers` entries. Gemma-3 scales its embeddings by
sqrt(d_model) inside the embedding module; soft tokens (perceptual, prompt) are multiplied by the same
`embed_scale`, so that they live in the same space as `embed(ids)`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from methods.config import LLMDims

LAYER_PATHS = {
    "opt": "model.decoder.layers",
    "llama": "model.layers",
    "mistral": "model.layers",
    "qwen2": "model.layers",
    "gemma3_text": "model.layers",
    "gemma2": "model.layers",
    "gemma": "model.layers",
    "gpt2": "transformer.h",
    "gptj": "transformer.h",
    "gpt_neox": "gpt_neox.layers",
}


def _get(root: nn.Module, path: str) -> nn.Module | None:
    obj: Any = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def find_layers(llm: nn.Module) -> tuple[str, nn.ModuleList]:
    config: Any = llm.config  # a transformers config; nn.Module.__getattr__ types it Tensor | Module
    path = LAYER_PATHS.get(config.model_type)
    layers = _get(llm, path) if path else None
    if path and isinstance(layers, nn.ModuleList):
        return path, layers
    n = getattr(config, "num_hidden_layers", None)
    found = [(name, m) for name, m in llm.named_modules() if isinstance(m, nn.ModuleList) and len(m) == n]
    if len(found) != 1:
        raise ValueError(
            f"cannot locate the decoder layers of model_type {config.model_type!r} "
            f"({len(found)} ModuleLists of {n} layers); add it to methods.llm_adapter.LAYER_PATHS"
        )
    return found[0]


@dataclass
class LLMAdapter:
    llm: nn.Module
    layers_path: str
    layers: nn.ModuleList
    embed: nn.Embedding  # what get_input_embeddings returns for decoder-only HF models
    dims: LLMDims
    rotary: nn.Module | None
    # OPT: the learned absolute positions its decoder adds to the input embeddings (None for other models, and for
    # OPT checkpoints that project the input embeddings first, where an input token cannot cancel them)
    input_positions: nn.Module | None = None

    @classmethod
    def of(cls, llm: nn.Module) -> LLMAdapter:
        if getattr(llm.config, "is_encoder_decoder", False):
            raise ValueError(
                f"{type(llm).__name__} is an encoder-decoder model; the connectors need a decoder-only LLM"
            )
        hf: Any = llm  # a transformers PreTrainedModel; nn.Module types its attributes Tensor | Module
        embed = hf.get_input_embeddings()
        path, layers = find_layers(llm)
        scale = getattr(embed, "embed_scale", 1.0)
        scale = float(scale.item() if isinstance(scale, torch.Tensor) else scale)
        d_hidden = hf.config.hidden_size
        dims = LLMDims(d_input=embed.weight.shape[1], d_hidden=d_hidden, n_layers=len(layers), embed_scale=scale)
        rotary = getattr(getattr(llm, "base_model", llm), "rotary_emb", None)
        positions = None
        if hf.config.model_type == "opt":
            decoder = hf.base_model.decoder
            positions = decoder.embed_positions if decoder.project_in is None else None
        return cls(
            llm=llm, layers_path=path, layers=layers, embed=embed, dims=dims, rotary=rotary, input_positions=positions
        )

    def embed_ids(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Token embeddings exactly as the model computes them (scale included)."""
        return self.embed(input_ids)

    def input_position_embeds(self, position_ids: torch.Tensor) -> torch.Tensor:
        """OPT's learned position embeddings for `position_ids` [B, S], exactly as its decoder adds them."""
        if self.input_positions is None:
            raise ValueError(f"{type(self.llm).__name__} adds no learned positions to its input embeddings")
        return self.input_positions(torch.ones_like(position_ids), 0, position_ids=position_ids)

    def rope_for_layer(self, layer_idx: int) -> Callable[[torch.Tensor, torch.Tensor], tuple] | None:
        """(x, position_ids) -> (cos, sin) for `layer_idx`, or None for models without rotary embeddings."""
        rotary = self.rotary
        if rotary is None:
            return None
        layer_types = getattr(self.llm.config, "layer_types", None)
        if layer_types and "layer_type" in inspect.signature(rotary.forward).parameters:
            layer_type = layer_types[layer_idx]
            return lambda x, pos: rotary(x, pos, layer_type)
        return rotary

    def check_attention(self) -> None:
        impl = getattr(self.llm.config, "_attn_implementation", None) or "eager"
        if impl not in ("eager", "sdpa"):
            raise ValueError(
                f"inner-layer injection builds 4D attention masks, which attn_implementation={impl!r} "
                f"does not take; load the LLM with attn_implementation='sdpa' or 'eager'"
            )
