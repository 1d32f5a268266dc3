"""Frozen backbones behind one registry: paper encoders/LLMs and the embedded offline default."""

from . import embedded, paper  # noqa: F401  (populate the registries)
from .base import EncoderMeta, LLMBackbone, PerceptualEncoder
from .registry import encoder_entry, list_encoders, list_llms, llm_entry, load_encoder, load_llm
from .weights_cache import BackboneNotAvailable, cache_root

__all__ = [
    "BackboneNotAvailable",
    "EncoderMeta",
    "LLMBackbone",
    "PerceptualEncoder",
    "cache_root",
    "encoder_entry",
    "list_encoders",
    "list_llms",
    "llm_entry",
    "load_encoder",
    "load_llm",
]
