"""R-rand, Section 3.2 and Appendix C.2 (DePALM^{R-rand,L0}): a random subset of the patch tokens during training.

Training: keep the CLS token and n(f) uniformly drawn patch tokens (in grid order), with f = f_max with probability
1/10, else f ~ N(f_mean, f_std) clipped to [f_min, f_max]; one f per batch so sequences stay aligned. n(f) is
floor(f * n_tk) (C.2) or, with `rounding="round"`, Python's round (the official code). `subset`: one subset per
sample, or one shared by the whole batch (the official code). Evaluation: f = `eval_fraction`, f_max when None (C.2;
Section 3.2 says "we keep all tokens" instead, and so does the official code: `eval_fraction=1.0`), taking evenly
spaced patch tokens so evaluation is deterministic.
Then linear d_feats -> d_LLM, RMSNorm, linear d_LLM -> d_LLM (C.2); without `input_projection` (the official code,
whose embedding width is d_feats): RMSNorm on d_feats, then linear d_feats -> d_LLM. The draws use torch's global
generator, so the run seed fixes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from methods.config import TokenLayout
from methods.mapping.base import MappingBlock
from methods.modules import rms_norm
from methods.registry import register_block

SUBSETS = ("per-sample", "per-batch")
ROUNDINGS = ("floor", "round")


@register_block("mapping", "rrand")
class RandomTokenSubset(MappingBlock):
    @dataclass
    class Options:
        f_min: float = 1 / 16
        f_max: float = 1 / 2
        f_mean: float = 1 / 4
        f_std: float = 0.2
        p_max: float = 0.1
        eval_fraction: float | None = None  # None: f_max
        subset: str = "per-sample"
        rounding: str = "floor"
        input_projection: bool = True
        norm_eps: float = 1e-6

        def __post_init__(self) -> None:
            if not 0 < self.f_min <= self.f_max <= 1:
                raise ValueError(f"need 0 < f_min <= f_max <= 1, got {self.f_min}, {self.f_max}")
            if self.eval_fraction is not None and not 0 < self.eval_fraction <= 1:
                raise ValueError(f"eval_fraction must be in (0, 1], got {self.eval_fraction}")
            if self.subset not in SUBSETS:
                raise ValueError(f"subset must be one of {SUBSETS}, got {self.subset!r}")
            if self.rounding not in ROUNDINGS:
                raise ValueError(f"rounding must be one of {ROUNDINGS}, got {self.rounding!r}")

    def __init__(self, options: Options, layout: TokenLayout, d_target: int):
        super().__init__(options, layout, d_target)
        if not layout.grid:
            raise ValueError("R-rand needs patch tokens; it cannot follow CLS-only extraction")
        d = d_target if options.input_projection else layout.d
        self.proj_in = nn.Linear(layout.d, d) if options.input_projection else nn.Identity()
        self.norm = rms_norm(d, options.norm_eps)
        self.proj_out = nn.Linear(d, d_target)

    def fraction(self) -> float:
        """Training draw of f (C.2)."""
        o = self.options
        if torch.rand(()).item() < o.p_max:
            return o.f_max
        return min(max(o.f_mean + o.f_std * torch.randn(()).item(), o.f_min), o.f_max)

    def eval_fraction(self) -> float:
        return self.options.eval_fraction if self.options.eval_fraction is not None else self.options.f_max

    def n_kept(self, f: float) -> int:
        n = f * self.layout.n_patches
        return min(self.layout.n_patches, max(1, math.floor(n) if self.options.rounding == "floor" else round(n)))

    def map_tokens(self, x: torch.Tensor) -> torch.Tensor:
        n_cls = int(self.layout.has_cls)
        patches = x[:, n_cls:]
        b, n = patches.shape[:2]
        k = self.n_kept(self.fraction() if self.training else self.eval_fraction())
        if k < n:
            if not self.training:
                idx = ((torch.arange(k, device=x.device) * n) // k).expand(b, -1)
            else:
                rows = 1 if self.options.subset == "per-batch" else b
                idx = torch.rand(rows, n, device=x.device).topk(k, dim=1).indices.sort(dim=1).values.expand(b, -1)
            patches = patches.gather(1, idx.unsqueeze(-1).expand(-1, -1, patches.shape[-1]))
        x = torch.cat([x[:, :n_cls], patches], dim=1)
        return self.proj_out(self.norm(self.proj_in(x)))

    def n_out_tokens(self) -> int:
        return int(self.layout.has_cls) + self.n_kept(self.eval_fraction())

    @classmethod
    def describe(cls, options: Options) -> str:
        f_eval = options.eval_fraction if options.eval_fraction is not None else options.f_max
        proj = "linear + RMSNorm + linear" if options.input_projection else "RMSNorm + linear"
        return (
            f"Random token subset (train f in [{options.f_min:g}, {options.f_max:g}], {options.subset}, "
            f"eval f={f_eval:g}) + {proj}"
        )
