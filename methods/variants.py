"""Recipe variants of the method presets (torch-free).

`official`: each method as the official code configures it (facebookresearch/DePALM at commit d532fe1), which
produced the paper's tables. `paper`: as the appendix writes it (Appendix B, C.1, C.2). A variant selects a preset
(`methods.get_preset(method_id, variant)`) and is recorded in it, so it enters the run config hash.
"""

from __future__ import annotations

DESCRIPTIONS = {
    "official": "each method as the official code configures it (facebookresearch/DePALM, commit d532fe1)",
    "paper": "each method as the paper's appendix writes it (Appendix B, C.1, C.2)",
}
VARIANTS = tuple(DESCRIPTIONS)
DEFAULT_VARIANT = "official"


def check_variant(variant: str) -> str:
    """`variant` itself if it is one of VARIANTS, else a ValueError naming them."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; valid: {', '.join(VARIANTS)}")
    return variant
