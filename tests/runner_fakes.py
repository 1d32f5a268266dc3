"""Tiny stand-ins for the runner's pure-logic tests: a random 2-layer Llama, a character tokenizer, a prefix connector
with the `PerceptualLM` interface, and items with several targets."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


class CharTokenizer:
    """Characters -> ids (eos 1, pad 0, no BOS of its own: texts start with EOS); enough of the HF tokenizer API for
    the runner."""

    bos_token_id = None
    eos_token_id = 1
    pad_token_id = 0

    def __init__(self, alphabet: str = " abcdefghijklmnopqrstuvwxyz?:.") -> None:
        self.alphabet = alphabet
        self.vocab_size = len(alphabet) + 2

    def __call__(self, text: str, add_special_tokens: bool = False):
        @dataclass
        class Enc:
            input_ids: list[int] = field(default_factory=list)

        return Enc([self.alphabet.index(c) + 2 for c in text.lower() if c in self.alphabet])

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        return "".join(self.alphabet[i - 2] for i in ids if i >= 2)


def tiny_llm(vocab_size: int, hidden: int = 32, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    llm = LlamaForCausalLM(cfg).eval()
    llm.requires_grad_(False)
    return llm


class PrefixLM(nn.Module):
    """Linear mapping of all tokens of the last level, prepended to the text (LiMBeR-style), with dropout so that
    RNG state matters for resuming."""

    def __init__(self, llm, d_feats: int) -> None:
        super().__init__()
        self.llm = llm
        self.proj = nn.Linear(d_feats, llm.config.hidden_size)
        self.drop = nn.Dropout(0.1)
        self.n_injected_tokens = -1

    def trainable_parameters(self):
        return [p for p in self.parameters() if p.requires_grad]

    def trainable_state_dict(self):
        return {k: v.detach().clone() for k, v in self.proj.state_dict().items()}

    def load_trainable_state_dict(self, sd):
        self.proj.load_state_dict(sd)

    def _embed(self, features, input_ids, attention_mask):
        prefix = self.drop(self.proj(features[:, -1].float()))
        x = torch.cat([prefix, self.llm.get_input_embeddings()(input_ids)], 1)
        mask = torch.cat([torch.ones(prefix.shape[:2], dtype=attention_mask.dtype), attention_mask], 1)
        return x, mask, prefix.shape[1]

    def forward(self, features, input_ids, attention_mask, labels=None, label_smoothing=0.0):
        from transformers.modeling_outputs import CausalLMOutput

        x, mask, n = self._embed(features, input_ids, attention_mask)
        logits = self.llm(inputs_embeds=x, attention_mask=mask).logits[:, n:]
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.shape[-1]),
                labels[:, 1:].reshape(-1),
                ignore_index=-100,
                label_smoothing=label_smoothing,
            )
        return CausalLMOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(self, features, input_ids, attention_mask, max_new_tokens=50, num_beams=3, **kw):
        out = []
        ids, mask = input_ids, attention_mask
        for _ in range(max_new_tokens):
            x, m, _ = self._embed(features, ids, mask)
            nxt = self.llm(inputs_embeds=x, attention_mask=m).logits[:, -1].argmax(-1, keepdim=True)
            out.append(nxt)
            ids = torch.cat([ids, nxt], 1)
            mask = torch.cat([mask, torch.ones_like(nxt)], 1)
        return torch.cat(out, 1)


@dataclass
class FakeItem:
    id: str
    input_key: str
    prompt: str
    targets: list[str]


def fake_items(n: int, seed: int = 0) -> list[FakeItem]:
    colors = ["red", "blue", "green", "pink"]
    return [
        FakeItem(
            id=f"i{i}",
            input_key=f"k{i}",
            prompt="a photo of",
            targets=[f"a {colors[i % 4]} cube", f"one {colors[i % 4]} box"],
        )
        for i in range(n)
    ]


def fake_features(items, d_feats: int = 8, tokens: int = 3) -> dict[str, torch.Tensor]:
    """Deterministic features per input key: [1 level, tokens, d_feats]."""
    out = {}
    for it in items:
        g = torch.Generator().manual_seed(int(it.input_key[1:]))
        out[it.input_key] = torch.randn(1, tokens, d_feats, generator=g)
    return out


TOKENIZER_CORPUS = [
    "a man riding a blue bike",
    "what color is the bus?",
    "Answer: blue",
    "two red cubes on the left",
    "Question: how many dogs are there?",
    "A picture of a cat",
    "yes no green",
] * 20


def _trained_bpe(pre_tokenizer, specials: list[str], vocab_size: int) -> tuple[dict, list]:
    import json

    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizer
    alphabet = pre_tokenizers.ByteLevel.alphabet() if isinstance(pre_tokenizer, pre_tokenizers.ByteLevel) else []
    tok.train_from_iterator(
        TOKENIZER_CORPUS,
        trainers.BpeTrainer(
            vocab_size=vocab_size, special_tokens=specials, initial_alphabet=alphabet, show_progress=False
        ),
    )
    model = json.loads(tok.to_str())["model"]
    return model["vocab"], [tuple(m) for m in model["merges"]]


def tiny_llama_tokenizer():
    """A LlamaTokenizer on a tiny BPE vocabulary (SentencePiece-style '▁' words), adding <s> like LLaMA's."""
    from tokenizers import pre_tokenizers
    from transformers import LlamaTokenizer

    vocab, merges = _trained_bpe(
        pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=True), ["<unk>", "<s>", "</s>"], 120
    )
    return LlamaTokenizer(vocab=vocab, merges=merges, add_bos_token=True)


def tiny_gpt2_tokenizer(**special_tokens):
    """A byte-level BPE GPT2Tokenizer on a tiny vocabulary; OPT's: `tiny_opt_tokenizer`."""
    from tokenizers import pre_tokenizers
    from transformers import GPT2Tokenizer

    vocab, merges = _trained_bpe(
        pre_tokenizers.ByteLevel(add_prefix_space=False),
        ["<s>", "<pad>", "</s>", "<unk>", "<|im_start|>", "<|im_end|>"],
        330,
    )
    return GPT2Tokenizer(vocab=vocab, merges=merges, **special_tokens)


def tiny_opt_tokenizer():
    """OPT's tokenizer conventions: GPT-2 BPE adding `</s>` (id 2) as BOS, `</s>` EOS, `<pad>` id 1."""
    return tiny_gpt2_tokenizer(
        bos_token="</s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", add_bos_token=True
    )


def tiny_smollm2_tokenizer():
    """SmolLM2-Instruct's conventions: GPT-2 BPE declaring BOS `<|im_start|>` but adding none by itself."""
    return tiny_gpt2_tokenizer(
        bos_token="<|im_start|>", eos_token="<|im_end|>", pad_token="<|im_end|>", unk_token="<unk>"
    )


def stand_in_training(cfg, run_dir, backbones, on_step, checkpoint_bytes: int = 64 * 2**10):
    """Replaces `harness.runner.cell._train_and_evaluate` where no model is needed: writes what a training writes
    (a checkpoint, the weights, predictions) and returns fixed metrics. With DEPALM_TEST_EVENTS set it appends
    "<pid> <run_id>" there on starting; with DEPALM_TEST_GATE set it waits for that file to exist first."""
    import json
    import os
    import time
    from pathlib import Path

    from harness.runner.checkpoint import CHECKPOINT_NAME, save_checkpoint
    from harness.runner.rundir import WEIGHTS_NAME
    from harness.store import atomic

    if os.environ.get("DEPALM_TEST_EVENTS"):
        with open(os.environ["DEPALM_TEST_EVENTS"], "a") as f:
            f.write(f"{os.getpid()} {cfg.run_id}\n")
    gate = os.environ.get("DEPALM_TEST_GATE")
    while gate and not Path(gate).exists():
        time.sleep(0.05)
    save_checkpoint({"step": 4, "total_steps": 4, "w": torch.zeros(checkpoint_bytes // 4)}, run_dir / CHECKPOINT_NAME)
    atomic.write_bytes(run_dir / WEIGHTS_NAME, b"w" * 1024)
    atomic.write_text(run_dir / "predictions_test.jsonl", json.dumps({"id": "a", "prediction": "x"}) + "\n")
    info = {
        "train_time_s": 1.0,
        "mean_step_s": 0.25,
        "steps": 4,
        "resumed_from": 0,
        "final_loss": 1.0,
        "trainable_params": 10,
        "n_injected_tokens": 4,
        "n_train": 16,
        "world_size": 1,
        "feature_cache": [],
        "primary": ("test", "CIDEr"),
    }
    return {"test": {"CIDEr": 40.0 + len(cfg.method)}}, info
