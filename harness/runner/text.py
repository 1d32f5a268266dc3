"""The text side of a cell, in one place: the prompt the LLM sees (the benchmark's prompt + its family's answer
marker), the BOS token, the token ids of training and generation, and the post-processing of a generation.

Token ids follow the official code (`depalm/depalmodel.py:94-130`), which tokenizes `prompt + answer + EOS` with
the tokenizer's BOS in front and masks the loss over the prompt's tokens:
- BOS: every text starts with the tokenizer's BOS token, as the official LLaMA (`<s>`) and OPT (`</s>`) tokenizers
  add it. A tokenizer that adds none by itself (SmolLM2) still gets its declared BOS token (else its EOS, GPT-2's
  and OPT's convention): the official code never ran without one, and without it an empty captioning prompt would
  leave the first caption token nothing to be predicted from.
- The prompt and the answer are tokenized apart, the prompt's trailing whitespace going to the answer: 'Answer: '
  + 'blue' gives the ids of 'Answer:' then ' blue', the ids the official joint tokenization gives. Every Table 4
  prompt ends in the answer token or is empty, where this changes nothing; where a prompt ends in text (LLaMA-family
  VQA, LLaMA-2 captioning, the offline VQA mirrors) the official code masks the merged first answer token out of the
  loss and generates after a lone space token its training never showed; here the loss covers the whole answer and
  generation starts from the same ids as training (deliberate deviation, docs/FIDELITY.md T7).
- EOS is appended as the tokenizer's EOS id; the loss covers the answer tokens and EOS.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch

from harness.backbones.families import AnswerMarker


def llm_prompt(prompt: str, marker: AnswerMarker) -> str:
    """The benchmark's prompt with the LLM family's marker, by the official rule (`depalm/depalmodel.py:97-106`):
    a blank prompt gets the answer prompt; a non-empty one not ending in a space or newline gets a space; the answer
    token closes it."""
    if marker.prompt is not None and not prompt.strip():
        prompt += marker.prompt
    if prompt and prompt[-1] not in (" ", "\n"):
        prompt += " "
    if marker.token is not None:
        prompt += marker.token
    return prompt


def with_llm_prompts(items: Sequence[Any], marker: AnswerMarker) -> list[Any]:
    """The items with their prompt as the LLM sees it (`llm_prompt`)."""
    return [dataclasses.replace(it, prompt=llm_prompt(it.prompt, marker)) for it in items]


def bos_id(tokenizer) -> int:
    """The token every text starts with: the tokenizer's BOS, else its EOS."""
    token_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if token_id is None:
        raise ValueError(
            f"{type(tokenizer).__name__} declares neither a BOS nor an EOS token; the text pipeline "
            f"needs one to start every sequence"
        )
    return token_id


def _split_prompt(prompt: str) -> tuple[str, str]:
    """(prompt without its trailing whitespace, that whitespace)."""
    body = prompt.rstrip()
    return body, prompt[len(body) :]


def prompt_ids(tokenizer, prompt: str) -> list[int]:
    """[BOS] + the prompt's ids (its trailing whitespace belongs to the answer)."""
    return [bos_id(tokenizer)] + tokenizer(_split_prompt(prompt)[0], add_special_tokens=False).input_ids


def encode_for_training(
    tokenizer,
    prompts: Sequence[str],
    answers: Sequence[str],
    max_target_tokens: int | None,
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    """Right-padded [BOS] prompt answer EOS; labels are -100 everywhere but on the answer tokens and EOS.
    max_target_tokens: answer tokens kept, EOS included (None: no cut, as the official code)."""
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    seqs, labs = [], []
    for prompt, answer in zip(prompts, answers):
        p = prompt_ids(tokenizer, prompt)
        a = tokenizer(_split_prompt(prompt)[1] + answer.strip(), add_special_tokens=False).input_ids
        if max_target_tokens is not None:
            a = a[: max_target_tokens - 1]
        a = a + [eos]
        seqs.append(p + a)
        labs.append([-100] * len(p) + a)
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (s, lab) in enumerate(zip(seqs, labs)):
        ids[i, : len(s)] = torch.tensor(s)
        labels[i, : len(s)] = torch.tensor(lab)
        mask[i, : len(s)] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def encode_prompts(tokenizer, prompts: Sequence[str], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Left-padded [BOS] prompt ids, so every row's last prompt token sits at the end (batched generation)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    seqs = [prompt_ids(tokenizer, p) for p in prompts]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, width - len(s) :] = torch.tensor(s)
        mask[i, width - len(s) :] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


def decode_new_tokens(tokenizer, new_tokens: torch.Tensor) -> list[str]:
    """Text of each row up to its first EOS, special tokens skipped, stripped (`depalm/depalmodel.py:309-310`)."""
    eos = tokenizer.eos_token_id
    out = []
    for row in new_tokens.tolist():
        if eos in row:
            row = row[: row.index(eos)]
        out.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    return out


def postprocessor(variant: str, task_postprocess: Callable[[str], str]) -> Callable[[str], str]:
    """What is scored: under `official` the stripped decode as it is (the official code scores it unchanged); under
    `paper` the benchmark's task post-processing (first non-empty line; VQA drops an echoed 'Answer:')."""
    return task_postprocess if variant == "paper" else str.strip
