"""The mapping-width axis of Figure 3 (left, Sec. 4.3 "Parameter and data efficiency"): one number that sets the
trainable size of a method's mapping block.

For a QPMapper (MAPL, DePALM, DePALM^{QP,inner}) it is the internal width `d_embed`; for a linear projection
(LiMBeR, eP-ALM) the projection becomes a two-layer MLP_2 with a bottleneck of that many hidden units (an MLP
mapping keeps its kind and takes the new width). The official variant's MLP_2 has no activation between its layers,
as the official LiMBeR and eP-ALM configs set for two layers (`methods.mapping.linear.MLPMapping`); the paper variant
uses GELU. Other mapping blocks have no such width: asking for one is a `WidthError`.
"""

from __future__ import annotations

import dataclasses

from methods.config import BlockConfig, MethodConfig
from methods.registry import block_options

# mapping block -> how a width enters its options
WIDTH_OPTION = {"qpmapper": "d_embed", "mlp": "hidden"}
# the linear projection is widened by replacing it with an MLP_2
WIDENED = {"linear": "mlp"}
MLP2_ACTIVATION = {"official": "identity", "paper": "gelu"}


class WidthError(ValueError):
    """A width was asked of a method whose mapping block has none."""


def has_width(config: MethodConfig) -> bool:
    return config.mapping.name in WIDTH_OPTION or config.mapping.name in WIDENED


def with_width(config: MethodConfig, width: int) -> MethodConfig:
    """`config` with its mapping block set to `width` (see the module docstring); the new block options are
    validated (e.g. a QPMapper's d_embed must be a multiple of its heads)."""
    if width < 1:
        raise WidthError(f"width must be >= 1, got {width}")
    name = config.mapping.name
    if name in WIDENED:
        mlp = BlockConfig(WIDENED[name], {"hidden": width, "activation": MLP2_ACTIVATION[config.variant]})
        widened = dataclasses.replace(config.with_options(), mapping=mlp)
    elif name in WIDTH_OPTION:
        widened = config.with_options(mapping={WIDTH_OPTION[name]: width})
    else:
        raise WidthError(
            f"method {config.id!r} maps with a {name!r} block, which has no width: a width applies to a QPMapper "
            f"(its d_embed), a linear projection (widened into an MLP_2) or an MLP (its hidden units)"
        )
    try:
        block_options("mapping", widened.mapping)
    except ValueError as e:
        raise WidthError(f"method {config.id!r}, width {width}: {e}") from None
    return widened
