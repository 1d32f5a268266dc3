"""Frozen backbones behind one registry: paper encoders/LLMs and the embedded offline default."""
from .base import EncoderMeta, LLMBackbone, PerceptualEncoder
from .registry import encoder_entry, list_encoders, list_llms, llm_entry, load_encoder, load_llm
from .weights_cache import BackboneNotAvailable, cache_root
from . import embedded, paper  # noqa: E402,F401  (populate the registries)

__all__ = ["EncoderMeta", "LLMBackbone", "PerceptualEncoder", "BackboneNotAvailable", "cache_root", "encoder_entry",
           "list_encoders", "list_llms", "llm_entry", "load_encoder", "load_llm"]
