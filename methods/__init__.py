"""Connector methods: extraction, mapping, injection and fine-tuning blocks (Figure 1) and the presets built from them,
in two recipe variants (`methods.variants`: "official", the default, and "paper").

    from methods import get_preset, build_model, FeatureSpec
    model = build_model(get_preset("depalm", "official"),
                        FeatureSpec(d_feats=768, grid=(14, 14), has_cls=True, n_levels=12), llm)
"""

from methods import controls as _controls  # noqa: F401  (registers the blind controls, after the 11)
from methods import injection as _injection  # noqa: F401  (registers the injection blocks)
from methods import mapping as _mapping  # noqa: F401  (registers the mapping blocks)
from methods import presets as _presets  # noqa: F401  (registers the 11 paper methods)
from methods.config import BlockConfig, ExtractionConfig, FeatureSpec, FinetuneConfig, MethodConfig, RecipeOverrides
from methods.model import Connector, PerceptualLM, build_connector, build_model
from methods.registry import (
    UnknownMethodError,
    get_preset,
    has_gates,
    list_presets,
    register_block,
    register_preset,
)
from methods.variants import DEFAULT_VARIANT, VARIANTS

__all__ = [
    "DEFAULT_VARIANT",
    "VARIANTS",
    "BlockConfig",
    "Connector",
    "ExtractionConfig",
    "FeatureSpec",
    "FinetuneConfig",
    "MethodConfig",
    "PerceptualLM",
    "RecipeOverrides",
    "UnknownMethodError",
    "build_connector",
    "build_model",
    "get_preset",
    "has_gates",
    "list_presets",
    "register_block",
    "register_preset",
]
