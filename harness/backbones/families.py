"""The text conventions of each LLM family, as the official code configures them (`config/llm/*.yaml` @d532fe1):
the answer prompt that stands in for a blank benchmark prompt and the special answer token closing every prompt.

`harness.runner.text.llm_prompt` applies them to a benchmark's prompt; `add_answer_token` registers the token with a
tokenizer the way `depalm/models/llm.py:46-47` does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AnswerMarker:
    """`prompt`: `special_answer_prompt`, appended when the benchmark's prompt is blank; `token`:
    `special_answer_token`, a special token appended to every prompt (None: the config sets neither)."""

    prompt: str | None = None
    token: str | None = None


LLM_FAMILIES: dict[str, AnswerMarker] = {
    "opt": AnswerMarker(prompt="Answer: ", token="</a>"),  # config/llm/opt.yaml:4-5
    "llama": AnswerMarker(),  # config/llm/llama.yaml (LLaMA-1): neither set
    "llama-2": AnswerMarker(prompt="Answer: "),  # config/llm/llama2.yaml:6, llama2-chat.yaml:6
    "vicuna": AnswerMarker(prompt="Answer: "),  # config/llm/vicuna.yaml:4
}


def check_family(family: str) -> str:
    if family not in LLM_FAMILIES:
        raise ValueError(f"unknown LLM family {family!r}; known: {', '.join(LLM_FAMILIES)}")
    return family


def family_of_model_type(model_type: str) -> str:
    """Family of a checkpoint loaded by hub id or folder: OPT's rule for OPT, else LLaMA-1's (no marker)."""
    return "opt" if model_type == "opt" else "llama"


def add_answer_token(tokenizer: Any, token: str, embedding_rows: int) -> int:
    """Register `token` as a special token (skipped when decoding) and return its id. Whitespace on both sides of it
    is dropped when tokenizing, as transformers 4.30's slow tokenizers (the official environment) drop it around a
    special token given as a string: 'Answer: </a>' ends in the ids of 'Answer:' and '</a>'. The LLM's embedding is
    not resized (the official code never resizes it), so the token must get a row the embedding already has (OPT:
    id 50265 of 50272 rows; a frozen row, never trained)."""
    from tokenizers import AddedToken

    if token not in tokenizer.get_vocab():
        tokenizer.add_tokens(
            AddedToken(token, lstrip=True, rstrip=True, special=True, normalized=False), special_tokens=True
        )
    token_id = tokenizer.convert_tokens_to_ids(token)
    if token_id >= embedding_rows:
        raise ValueError(
            f"the answer token {token!r} gets id {token_id}, but the LLM's embedding has only "
            f"{embedding_rows} rows; this family's marker needs a checkpoint with spare embedding rows"
        )
    return token_id
