"""Any transformers causal LM as a frozen `LLMBackbone`, from a hub id or a local folder (the paper LLMs of Table 5
and an unregistered `--llm` id), with the one-line offline fix a failed load prints."""

from __future__ import annotations

import torch

from .base import LLMBackbone, freeze, prepare_tokenizer
from .weights_cache import BackboneNotAvailable


def offline_hint(what: str, where: str) -> str:
    return (
        f"{what} could not be loaded (no network, or not in the local cache). Fix: on a machine with internet, "
        f"download {where} and copy it here, then pass its local path (see the loader options in "
        f"harness/backbones/paper.py), or pre-fill the hub cache (HF_HOME / TORCH_HOME)."
    )


def load_causal_lm(id: str, source: str, dtype: torch.dtype = torch.float32) -> LLMBackbone:
    """`source`: HF hub id or local directory holding a transformers checkpoint + tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        tok = AutoTokenizer.from_pretrained(source)
    except OSError as e:
        raise BackboneNotAvailable(
            f"{id}: {e}\n" + offline_hint(f"LLM {source}", f"the {source} folder (pass path=)")
        ) from e
    return LLMBackbone(freeze(model), prepare_tokenizer(tok), id)
