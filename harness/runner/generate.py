"""Evaluation: batched generation (left padding, KV cache inside `PerceptualLM.generate`), beam search with the
configured beams and length (3 and 50 in the official code), task post-processing, predictions kept per item.
"""
from __future__ import annotations

import contextlib

from typing import Any, Callable, Sequence

import torch

from harness.config import EvalSettings
from harness.runner.train import FeaturesFn


def encode_prompts(tokenizer, prompts: Sequence[str], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Left-padded prompt ids so every row's last prompt token sits at the end (batched generation)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    seqs = [tokenizer(p, add_special_tokens=False).input_ids for p in prompts]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s):] = torch.tensor(s)
        mask[i, width - len(s):] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


def decode_new_tokens(tokenizer, new_tokens: torch.Tensor) -> list[str]:
    """Text of each row up to its first EOS."""
    eos = tokenizer.eos_token_id
    out = []
    for row in new_tokens.tolist():
        if eos in row:
            row = row[: row.index(eos)]
        out.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    return out


@torch.no_grad()
def generate_predictions(model, items: Sequence[Any], features_fn: FeaturesFn, tokenizer, settings: EvalSettings,
                         postprocess: Callable[[str], str], device: torch.device,
                         on_batch: Callable[[int], None] | None = None) -> list[dict[str, str]]:
    """One record per item: id, raw generation, post-processed prediction."""
    model.eval()
    records = []
    amp_ctx = torch.autocast("cuda", dtype=torch.float16) if device.type == "cuda" else contextlib.nullcontext()
    for start in range(0, len(items), settings.batch_size):
        batch = list(items[start: start + settings.batch_size])
        prompt = encode_prompts(tokenizer, [it.prompt for it in batch], device)
        with amp_ctx:
            new = model.generate(features_fn(batch), prompt["input_ids"], prompt["attention_mask"],
                                 max_new_tokens=settings.max_new_tokens, num_beams=settings.num_beams)
        for it, raw in zip(batch, decode_new_tokens(tokenizer, new)):
            records.append({"id": it.id, "raw": raw, "prediction": postprocess(raw)})
        if on_batch:
            on_batch(len(batch))
    return records
