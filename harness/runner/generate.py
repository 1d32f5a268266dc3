"""Evaluation: batched generation (left padding, KV cache inside `PerceptualLM.generate`), beam search with every
setting passed explicitly from `EvalSettings` (nothing taken from the checkpoint's generation config), post-processing,
predictions kept per item with their prompt and raw text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from harness.backbones.precision import autocast, resolve_backbone_dtype
from harness.config import EvalSettings
from harness.runner.text import decode_new_tokens, encode_prompts
from harness.runner.train import FeaturesFn


def generation_kwargs(settings: EvalSettings, tokenizer) -> dict[str, Any]:
    """Every argument of the search, so that a checkpoint's `generation_config.json` (sampling, repetition
    penalties, n-gram bans, a minimum length) cannot change it: beam search without sampling or logits processors
    (`config/run.yaml:200-205`), stopped at the tokenizer's EOS."""
    eos = tokenizer.eos_token_id
    return {
        "num_beams": settings.num_beams,
        "max_new_tokens": settings.max_new_tokens,
        "length_penalty": settings.length_penalty,
        "early_stopping": settings.early_stopping,
        "do_sample": False,
        "num_return_sequences": 1,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "min_new_tokens": 0,
        "eos_token_id": eos,
        "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos,
    }


@torch.no_grad()
def generate_predictions(
    model,
    items: Sequence[Any],
    features_fn: FeaturesFn,
    tokenizer,
    settings: EvalSettings,
    postprocess: Callable[[str], str],
    device: torch.device,
    on_batch: Callable[[int], None] | None = None,
    dtype_name: str = "auto",
) -> list[dict[str, str]]:
    """One record per item: id, the prompt as given to the LLM, raw generation (stripped decode), scored prediction.
    `dtype_name`: the frozen backbones' dtype, autocast to when half (`harness.backbones.precision`)."""
    model.eval()
    records = []
    dtype_name = resolve_backbone_dtype(dtype_name, device.type == "cuda")
    search = generation_kwargs(settings, tokenizer)
    for start in range(0, len(items), settings.batch_size):
        batch = list(items[start : start + settings.batch_size])
        prompt = encode_prompts(tokenizer, [it.prompt for it in batch], device)
        feats = features_fn(batch)  # outside autocast, as in training: autocast covers the model's compute only
        with autocast(device, dtype_name):
            new = model.generate(feats, prompt["input_ids"], prompt["attention_mask"], **search)
        for it, raw in zip(batch, decode_new_tokens(tokenizer, new)):
            records.append({"id": it.id, "prompt": it.prompt, "raw": raw, "prediction": postprocess(raw)})
        if on_batch:
            on_batch(len(batch))
    return records
