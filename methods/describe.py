"""Table 1 regenerated from the presets: every registered method is instantiated on the meta device (no weights,
instant) for a given LLM / encoder geometry, and its blocks, injected tokens and trainable parameters are listed.
Defaults of the CLI (`run_matrix.py --describe-methods [--variant official|paper]`): LLaMA-7B (d=4096, 32 layers) +
CLIP-L (d=1024, 16x16 patches + CLS), the paper's setting. One table holds one recipe variant."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path
from typing import Any

import torch

from methods.config import BlockConfig, FeatureSpec, LLMDims, MethodConfig
from methods.extraction import describe_extraction
from methods.model import build_connector
from methods.registry import block_options, get_block, get_preset, list_presets
from methods.variants import DEFAULT_VARIANT, DESCRIPTIONS, check_variant

COLUMNS = ["method", "extraction", "mapping", "injection", "finetuning", "injected_tokens", "trainable_params"]
CSV_COLUMNS = ["variant", *COLUMNS]


def describe_finetuning(cfg: MethodConfig) -> str:
    parts = []
    if cfg.finetune.n_prompt:
        parts.append(f"prompt tuning (n_pt={cfg.finetune.n_prompt})")
    if cfg.finetune.encoder_bias:
        parts.append("encoder bias tuning")
    return ", ".join(parts) or "-"


def token_grid(n_tokens: int) -> tuple[int, ...]:
    """A square 2D grid when n_tokens is a square (images), else a 1D sequence."""
    side = math.isqrt(n_tokens)
    return (side, side) if side * side == n_tokens else (n_tokens,)


def _describe_block(kind: str, block: BlockConfig) -> str:
    cls: Any = get_block(kind, block.name)  # the registry returns a bare `type`
    return cls.describe(block_options(kind, block))


def describe_row(cfg: MethodConfig, spec: FeatureSpec, dims: LLMDims) -> dict[str, object]:
    """One Table 1 row; a method that cannot be built for this geometry gets its error in place of the counts."""
    row: dict[str, object] = {
        "variant": cfg.variant,
        "method": cfg.display_name,
        "extraction": describe_extraction(cfg.extraction),
        "mapping": _describe_block("mapping", cfg.mapping),
        "injection": _describe_block("injection", cfg.injection),
        "finetuning": describe_finetuning(cfg),
    }
    try:
        with torch.device("meta"):
            connector = build_connector(cfg, spec, dims)
    except ValueError as e:
        print(f"describe-methods: {cfg.id}: {e}", file=sys.stderr)
        return {**row, "injected_tokens": "", "trainable_params": ""}
    n_params = sum(p.numel() for p in connector.parameters() if p.requires_grad)
    return {**row, "injected_tokens": connector.n_injected_tokens, "trainable_params": n_params}


def _count(n: object) -> str:
    return f"{n:,} ({n / 1e6:.1f}M)" if isinstance(n, int) else "n/a"


def describe_methods(
    d_llm: int, d_feats: int, llm_layers: int, n_tokens: int, out_dir: Path, variant: str = DEFAULT_VARIANT
) -> list[Path]:
    """Write table1.md and table1.csv into `out_dir` for every registered method in `variant`; returns their
    paths."""
    if min(d_llm, d_feats, llm_layers, n_tokens) < 1:
        raise ValueError(
            f"describe-methods: sizes must be positive (d_llm={d_llm}, d_feats={d_feats}, "
            f"llm_layers={llm_layers}, n_tokens={n_tokens})"
        )
    check_variant(variant)
    presets = [p for p in (get_preset(m, variant) for m in list_presets()) if not p.control]  # connectors only
    n_levels = max(p.extraction.n_levels for p in presets)
    spec = FeatureSpec(d_feats=d_feats, grid=token_grid(n_tokens), has_cls=True, n_levels=n_levels)
    dims = LLMDims(d_input=d_llm, d_hidden=d_llm, n_layers=llm_layers)
    rows = [describe_row(p, spec, dims) for p in presets]

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / "table1.csv", out_dir / "table1.md"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    grid = "x".join(map(str, spec.grid))
    lines = [
        f"# Table 1: adaptation mechanisms ({variant} variant)",
        "",
        f"Variant {variant}: {DESCRIPTIONS[variant]}.",
        "",
        f"LLM d={d_llm}, {llm_layers} layers; encoder d={d_feats}, {grid} patches + CLS. "
        "Injected tokens: extra sequence positions at the most loaded LLM layer (evaluation). "
        "Trainable parameters: connector and prompt tokens (the LLM and encoder stay frozen).",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in rows:
        cells = [str(row[c]) for c in COLUMNS[:-1]] + [_count(row["trainable_params"])]
        lines.append("| " + " | ".join(cells) + " |")
    md_path.write_text("\n".join(lines) + "\n")
    return [md_path, csv_path]
