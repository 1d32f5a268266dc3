"""Typed configuration of a connector method: the four blocks of Figure 1 (Section 3.2, Appendix B-C).

A `MethodConfig` is declarative and JSON-able (`dataclasses.asdict`): the runner hashes it into the run config.
Mapping and injection blocks are pluggable, so their configs carry the registered block name plus the block's own
options; each block validates them against its typed `Options` dataclass when the preset is registered or built.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from methods.variants import DEFAULT_VARIANT, check_variant


@dataclass(frozen=True)
class FeatureSpec:
    """What the perceptual encoder provides: width, patch grid ((N,) audio, (H, W) image, (T, H, W) video),
    whether a CLS token comes first, and how many levels (layers) the encoder has."""

    d_feats: int
    grid: tuple[int, ...]
    has_cls: bool
    n_levels: int

    def __post_init__(self) -> None:
        if self.d_feats <= 0 or self.n_levels <= 0:
            raise ValueError(f"FeatureSpec: d_feats and n_levels must be positive, got {self.d_feats}, {self.n_levels}")
        if not 1 <= len(self.grid) <= 3 or any(g <= 0 for g in self.grid):
            raise ValueError(
                f"FeatureSpec: grid must be (N,), (H, W) or (T, H, W) with positive sizes, got {self.grid}"
            )
        object.__setattr__(self, "grid", tuple(int(g) for g in self.grid))

    @property
    def layout(self) -> TokenLayout:
        return TokenLayout(d=self.d_feats, grid=self.grid, has_cls=self.has_cls)

    @property
    def n_tokens(self) -> int:
        """T: tokens per level in the features tensor (CLS first when present)."""
        return self.layout.n_tokens


@dataclass(frozen=True)
class TokenLayout:
    """Tokens after extraction, as a mapping block sees them: width, patch grid (() when only CLS is kept) and CLS."""

    d: int
    grid: tuple[int, ...]
    has_cls: bool

    @property
    def n_patches(self) -> int:
        return math.prod(self.grid) if self.grid else 0

    @property
    def n_tokens(self) -> int:
        return self.n_patches + int(self.has_cls)


@dataclass(frozen=True)
class LLMDims:
    """What a connector needs to know of the LLM: input-embedding width, hidden width, depth, embedding scale."""

    d_input: int
    d_hidden: int
    n_layers: int
    embed_scale: float = 1.0


TIME_POOLS = ("none", "mean", "official")
CONTROL_KINDS = ("", "blind", "prior")
CLS_TOKENS = ("encoder", "patch-mean")


@dataclass
class ExtractionConfig:
    """Feature extraction (B.1): the last `n_levels` encoder levels (n_fl); all tokens or the CLS token only.

    `time_pool` (video, C.3 "average the patch tokens along the time dimension"): "mean" averages each spatial
    position over time; "official" reproduces the official code's reshape, which averages groups of tokens that mix
    time steps and positions (its tokens are ordered space-major, time fastest). `cls_token`: "patch-mean" takes the
    mean of the patch tokens in place of the encoder's CLS token (B.1, MAViL's global pooling)."""

    n_levels: int = 1
    tokens: str = "all"  # "all" | "cls"
    time_pool: str = "none"
    cls_token: str = "encoder"

    def __post_init__(self) -> None:
        if self.n_levels < 1:
            raise ValueError(f"extraction.n_levels must be >= 1, got {self.n_levels}")
        if self.tokens not in ("all", "cls"):
            raise ValueError(f"extraction.tokens must be 'all' or 'cls', got {self.tokens!r}")
        if self.time_pool not in TIME_POOLS:
            raise ValueError(f"extraction.time_pool must be one of {TIME_POOLS}, got {self.time_pool!r}")
        if self.cls_token not in CLS_TOKENS:
            raise ValueError(f"extraction.cls_token must be one of {CLS_TOKENS}, got {self.cls_token!r}")


@dataclass
class BlockConfig:
    """A registered block (`methods.registry.register_block`) by name, with its options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


PROMPT_INITS = ("vocab", "normal")


@dataclass
class FinetuneConfig:
    """Fine-tuning mechanisms (B.4): `n_prompt` prompt-tuning tokens (n_pt); bias tuning of the encoder (Table S6).
    `prompt_init`: "vocab" starts the prompt tokens from random rows of the LLM's embedding table, "normal" from
    N(0, 1) (the official code)."""

    n_prompt: int = 0
    encoder_bias: bool = False
    prompt_init: str = "vocab"

    def __post_init__(self) -> None:
        if self.n_prompt < 0:
            raise ValueError(f"finetune.n_prompt must be >= 0, got {self.n_prompt}")
        if self.prompt_init not in PROMPT_INITS:
            raise ValueError(f"finetune.prompt_init must be one of {PROMPT_INITS}, got {self.prompt_init!r}")


@dataclass
class RecipeOverrides:
    """Training-recipe settings that come with a method (e.g. the official DePALM^{c-attn} config clips gradients at
    0.05 and accumulates 2 batches); None leaves the harness's recipe as it is."""

    grad_clip: float | None = None
    grad_accum: int | None = None

    def __post_init__(self) -> None:
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"recipe.grad_clip must be > 0, got {self.grad_clip}")
        if self.grad_accum is not None and self.grad_accum < 1:
            raise ValueError(f"recipe.grad_accum must be >= 1, got {self.grad_accum}")


@dataclass
class MethodConfig:
    """One connector method: extraction -> mapping -> injection, plus fine-tuning (Figure 1, Table 1), in one recipe
    variant (`methods.variants`), with the recipe settings the method brings (`recipe`)."""

    id: str
    display_name: str
    extraction: ExtractionConfig
    mapping: BlockConfig
    injection: BlockConfig
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    variant: str = DEFAULT_VARIANT
    recipe: RecipeOverrides = field(default_factory=RecipeOverrides)
    control: str = ""
    """"" for a connector; a blind control's kind (`methods.controls`): "blind" (trained, no perceptual input) or
    "prior" (no model); controls are reference rows of the tables, never ranked"""

    def __post_init__(self) -> None:
        check_variant(self.variant)
        if self.control not in CONTROL_KINDS:
            raise ValueError(f"control must be one of {CONTROL_KINDS}, got {self.control!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MethodConfig:
        """Inverse of `dataclasses.asdict` (e.g. to rebuild a method from a stored run config). A config stored before
        variants existed is the `paper` one (the appendix presets were the only ones)."""
        return cls(
            id=d["id"],
            display_name=d["display_name"],
            extraction=ExtractionConfig(**d["extraction"]),
            mapping=BlockConfig(**copy.deepcopy(d["mapping"])),
            injection=BlockConfig(**copy.deepcopy(d["injection"])),
            finetune=FinetuneConfig(**d.get("finetune", {})),
            variant=d.get("variant", "paper"),
            recipe=RecipeOverrides(**d.get("recipe", {})),
            control=d.get("control", ""),
        )

    def with_options(
        self, *, mapping: dict[str, Any] | None = None, injection: dict[str, Any] | None = None, **fields: Any
    ) -> MethodConfig:
        """A copy with some block options and/or top-level fields replaced (e.g. a smaller d_embed for a sweep, or
        `finetune=FinetuneConfig(...)`)."""
        new = copy.deepcopy(self)
        if mapping:
            new.mapping.options.update(mapping)
        if injection:
            new.injection.options.update(injection)
        return dataclasses.replace(new, **fields)
