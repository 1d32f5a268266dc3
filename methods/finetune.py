"""Fine-tuning mechanisms, Appendix B.4 and Table S6: prompt tuning of the LLM input, bias tuning of the encoder.
The LLM itself always stays frozen."""

from __future__ import annotations

import torch
from torch import nn


class PromptTuning(nn.Module):
    """n_pt learned embedding vectors, prepended after the perceptual tokens and before the text (B.4). Drawn from
    N(0, 1) (the official code); `init_from_vocabulary` restarts them from randomly drawn rows of the LLM's embedding
    table, at the scale of real token embeddings (`FinetuneConfig.prompt_init`)."""

    def __init__(self, n_tokens: int, d: int):
        super().__init__()
        self.tokens = nn.Parameter(torch.empty(n_tokens, d))
        if not self.tokens.is_meta:  # a meta tensor has no values to draw, and drawing on it imports torch._dynamo
            nn.init.normal_(self.tokens)

    @torch.no_grad()
    def init_from_vocabulary(self, embedding_weight: torch.Tensor) -> None:
        rows = torch.randint(0, embedding_weight.shape[0], (self.tokens.shape[0],))
        self.tokens.copy_(embedding_weight[rows.to(embedding_weight.device)].to(self.tokens))

    def forward(self, batch_size: int) -> torch.Tensor:
        return self.tokens.expand(batch_size, -1, -1)


def enable_bias_tuning(encoder: nn.Module) -> list[nn.Parameter]:
    """Bias tuning of the perceptual encoder (Table S6): every bias becomes trainable, every other weight frozen.
    Returns the trainable parameters (for the optimizer). The caller must then run the encoder inside the training
    graph (no feature cache)."""
    trainable = []
    for name, param in encoder.named_parameters():
        is_bias = name == "bias" or name.endswith(".bias") or name.endswith("_bias")
        param.requires_grad_(is_bias)
        if is_bias:
            trainable.append(param)
    if not trainable:
        raise ValueError(f"bias tuning: {type(encoder).__name__} has no bias parameters")
    return trainable
