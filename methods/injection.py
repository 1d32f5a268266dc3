"""Feature injection, Section 3.2 and Appendix B.2: first-layer prepend, inner-layer prepend-and-drop, and gated
cross-attention (DePALM^{c-attn}, C.2).

Inner-layer and cross-attention injection act on the LLM's own decoder layers through `InjectableLayer`, a wrapper
put around each targeted layer (as open_flamingo does); transformers internals are never patched. While a
`PerceptualLM` call runs, each wrapper holds a `LayerAction` carrying this batch's tokens.

Layer plan (B.2): with L LLM layers, tokens go into layers i = L - n_LLM - n_left, ..., L - n_left - 1, and layer i
receives level floor(r * n_fl / n_LLM) of the n_fl extracted levels (0 = the shallowest), r = i - (L - n_LLM - n_left)
its rank in the range: Section 3.2's "level i into blocks floor(i n/k) .. floor((i+1) n/k) - 1". B.2 writes the
level as floor((i - L) n_fl / n_LLM), a negative index counted from the last level; it agrees with this for
n_left = 0 and indexes past the first level otherwise (eP-ALM: i = 19, L = 32 gives -7 of 6 levels), so we take the
relative rank.

Positions: prepended inner tokens take positions -k..-1, i.e. right before the sequence's first real token (whose
position is 0, positions coming from the attention mask), exactly where first-layer tokens would sit in a rotary
model; absolute-position models (OPT, GPT-2) add positions at the input only, so nothing changes for them.

KV cache: all three modes generate with the cache. An inner layer keeps its injected keys in its own cache entry
(prepended once, at the prefill step; later steps only extend the mask by those k keys); layer 0 is never an inner
layer, so the cache length that transformers reads (layer 0's) stays the text length. Cross-attention changes no
sequence length. Gemma-3's sliding-window layers get a full causal mask when injected into: identical while the
sequence is shorter than the window (512+ tokens), which holds for these tasks. Beam search: tokens and memories are
expanded like the text (`repeat_interleave(num_beams)`), and since beams of one sample share their features, HF's
beam reordering keeps them valid.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from methods.config import LLMDims
from methods.modules import CrossAttention, ScaleBias, rms_norm
from methods.registry import register_block

Rope = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def inner_layer_plan(n_layers: int, n_llm: int, n_left: int, n_levels: int) -> dict[int, int]:
    """{LLM layer index: extracted level index} for inner-layer and cross-attention injection (B.2)."""
    first = n_layers - n_llm - n_left
    if n_llm < 1 or n_left < 0 or first < 1:
        raise ValueError(
            f"injection into n_llm={n_llm} layers leaving n_left={n_left} needs an LLM with at least "
            f"{n_llm + n_left + 1} layers (layer 0 stays text-only); this LLM has {n_layers}. "
            f"Use a deeper LLM or lower n_llm/n_left in the method's injection options"
        )
    return {first + r: math.floor(r * n_levels / n_llm) for r in range(n_llm)}


class LayerCall:
    """The arguments of one decoder-layer call, bound to its signature so they can be read and replaced by name
    whether the model passed them by position (GPT-2) or by keyword (OPT, Llama)."""

    def __init__(self, signature: inspect.Signature, args: tuple, kwargs: dict):
        self.bound = signature.bind(*args, **kwargs)
        params = signature.parameters
        self.hidden_name = next(iter(params))
        self.var_kw = next((n for n, p in params.items() if p.kind is inspect.Parameter.VAR_KEYWORD), None)

    def get(self, name: str) -> Any:
        if name in self.bound.arguments and name != self.var_kw:
            return self.bound.arguments[name]
        return self.bound.arguments.get(self.var_kw, {}).get(name) if self.var_kw else None

    def set(self, name: str, value: Any) -> None:
        if name in self.bound.signature.parameters and name != self.var_kw:
            self.bound.arguments[name] = value
        elif self.var_kw:
            self.bound.arguments.setdefault(self.var_kw, {})[name] = value
        else:
            raise TypeError(f"decoder layer takes no argument {name!r}")

    @property
    def hidden_states(self) -> torch.Tensor:
        return self.bound.arguments[self.hidden_name]

    @hidden_states.setter
    def hidden_states(self, value: torch.Tensor) -> None:
        self.bound.arguments[self.hidden_name] = value

    def run(self, layer: nn.Module) -> Any:
        return layer(*self.bound.args, **self.bound.kwargs)


def _check_batch(kind: str, tokens: torch.Tensor, hidden: torch.Tensor) -> None:
    if tokens.shape[0] != hidden.shape[0]:
        raise RuntimeError(
            f"{kind}: {tokens.shape[0]} feature rows for a batch of {hidden.shape[0]} sequences; "
            f"features must be expanded like the text (e.g. by num_beams for beam search)"
        )


def prefix_attention_mask(
    seq_mask: torch.Tensor, k: int, q: int, prefix_queries: bool, dtype: torch.dtype
) -> torch.Tensor:
    """Additive [B, 1, Q, k + S] mask for k prepended tokens before a sequence whose keys have validity `seq_mask`
    [B, S] and whose last q positions are the queries: causal among the text, every text query sees all prepended
    tokens, prepended queries (prefill only) see each other causally and no text."""
    b, total = seq_mask.shape
    device = seq_mask.device
    q_pos = torch.arange(total - q, total, device=device)
    causal = torch.arange(total, device=device)[None, :] <= q_pos[:, None]
    text_rows = causal[None] & seq_mask[:, None, :]
    rows = torch.cat([torch.ones(b, q, k, dtype=torch.bool, device=device), text_rows], dim=-1)
    if prefix_queries:
        prefix_rows = torch.cat(
            [
                torch.ones(k, k, dtype=torch.bool, device=device).tril(),
                torch.zeros(k, total, dtype=torch.bool, device=device),
            ],
            dim=-1,
        )
        rows = torch.cat([prefix_rows.expand(b, -1, -1), rows], dim=1)
    mask = torch.zeros(rows.shape, dtype=dtype, device=device).masked_fill(~rows, torch.finfo(dtype).min)
    return mask[:, None]


@dataclass
class PrependTokens:
    """Inner-layer injection at one layer (B.2): prepend `tokens` [B, k, d] to the layer input, drop them from its
    output. `seq_mask` [B, S0] is the 2D mask of the sequence given to the LLM; generated tokens extend it."""

    tokens: torch.Tensor
    seq_mask: torch.Tensor
    rope: Rope | None

    def run(self, layer: nn.Module, layer_idx: int, call: LayerCall) -> Any:
        h = call.hidden_states
        _check_batch("inner-layer injection", self.tokens, h)
        b, q = h.shape[:2]
        k = self.tokens.shape[1]
        cache = call.get("cache")
        cached = cache.get_seq_length(layer_idx) if cache is not None else 0
        prefill = cached == 0
        total = (cached - k if cached else 0) + q
        seq_mask = self.seq_mask.bool()
        if total > seq_mask.shape[1]:
            seq_mask = torch.cat([seq_mask, seq_mask.new_ones(b, total - seq_mask.shape[1])], dim=1)
        call.set("attention_mask", prefix_attention_mask(seq_mask[:, :total], k, q, prefill, h.dtype))
        if prefill:
            call.hidden_states = torch.cat([self.tokens.to(h.dtype), h], dim=1)
            prefix_pos = torch.arange(-k, 0, device=h.device).expand(b, k)
            pe = call.get("position_embeddings")
            if pe is not None:
                if self.rope is None:
                    raise RuntimeError(
                        "this LLM passes rotary position embeddings to its layers but the adapter "
                        "found no rotary module to compute them for injected tokens"
                    )
                cos, sin = self.rope(h, prefix_pos)
                call.set(
                    "position_embeddings",
                    (
                        torch.cat([cos, pe[0].expand(b, -1, -1)], dim=1),
                        torch.cat([sin, pe[1].expand(b, -1, -1)], dim=1),
                    ),
                )
            pos = call.get("position_ids")
            if isinstance(pos, torch.Tensor) and pos.shape[-1] == q:
                call.set("position_ids", torch.cat([prefix_pos, pos.expand(b, -1)], dim=-1))
        out = call.run(layer)
        if not prefill:
            return out
        if isinstance(out, tuple):
            return (out[0][:, k:], *out[1:])
        return out[:, k:]


@dataclass
class CrossAttend:
    """Gated cross-attention before one layer (C.2): hidden <- hidden + tanh(h_k) * xattn(hidden, memory)."""

    fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]
    memory: torch.Tensor
    gate: int

    def run(self, layer: nn.Module, layer_idx: int, call: LayerCall) -> Any:
        _check_batch("cross-attention injection", self.memory, call.hidden_states)
        call.hidden_states = self.fn(call.hidden_states, self.memory, self.gate)
        return call.run(layer)


LayerAction = PrependTokens | CrossAttend


class InjectableLayer(nn.Module):
    """Wraps one LLM decoder layer; runs it unchanged unless a connector set an `action` for the current call."""

    def __init__(self, layer: nn.Module, layer_idx: int):
        super().__init__()
        self.layer = layer
        self.layer_idx = layer_idx
        self.action: LayerAction | None = None
        self._signature = inspect.signature(layer.forward)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        if self.action is None:
            return self.layer(*args, **kwargs)
        return self.action.run(self.layer, self.layer_idx, LayerCall(self._signature, args, kwargs))


class InjectionBlock(nn.Module):
    """Interface: where the mapped tokens [B, L, N, d] go. `input_tokens` are prepended to the LLM input (before the
    prompt-tuning tokens); `layer_actions` act inside decoder layers (`layer_plan`: layer -> level)."""

    Options: ClassVar[type]
    # scalar gates that start shut (tanh(0)): Adam moves a scalar by about its learning rate per step, so a short
    # budget may give them their own (`TrainSettings.gate_lr_scale`)
    GATES: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: Any, dims: LLMDims, n_levels: int, d_mem: int):
        super().__init__()
        self.options = options
        self.dims = dims
        self.n_levels = n_levels

    @classmethod
    def target_dim(cls, options: Any, dims: LLMDims) -> int:
        """Width the mapping block must output."""
        return dims.d_input

    def gate_parameters(self) -> list[nn.Parameter]:
        return [getattr(self, name) for name in self.GATES]

    def layer_plan(self) -> dict[int, int]:
        return {}

    def input_tokens(self, mapped: torch.Tensor) -> torch.Tensor | None:
        return None

    def layer_actions(
        self, mapped: torch.Tensor, seq_mask: torch.Tensor, rope: Callable[[int], Rope | None]
    ) -> dict[int, LayerAction]:
        return {}

    def n_injected(self, n_mapped: int) -> int:
        """Extra sequence positions (besides text and prompt tokens) at the most loaded LLM layer."""
        raise NotImplementedError

    @classmethod
    def describe(cls, options: Any) -> str:
        raise NotImplementedError


@register_block("injection", "first-layer")
class FirstLayerInjection(InjectionBlock):
    """Prepend the mapped tokens to the text embeddings (B.2; all levels' tokens in order if n_fl > 1); they go
    through every layer under the causal mask and are removed from the output."""

    @dataclass
    class Options:
        pass

    def input_tokens(self, mapped: torch.Tensor) -> torch.Tensor:
        return mapped.flatten(1, 2) * self.dims.embed_scale

    def n_injected(self, n_mapped: int) -> int:
        return self.n_levels * n_mapped

    @classmethod
    def describe(cls, options: Options) -> str:
        return "1st layer token injection"


@dataclass
class InnerOptions:
    n_llm: int = 12
    n_left: int = 1


@register_block("injection", "inner-layers")
class InnerLayerInjection(InjectionBlock):
    """Prepend one level's tokens to the input of each planned layer and drop them from its output (B.2). Each
    planned layer may first pass its tokens through its own RMSNorm (`token_norm`) and its own scale and bias
    (`bias_tuning`), as the official eP-ALM and DePALM^{QP,inner} configs do."""

    @dataclass
    class Options(InnerOptions):
        token_norm: bool = False
        bias_tuning: bool = False
        norm_eps: float = 1e-6

    def __init__(self, options: Options, dims: LLMDims, n_levels: int, d_mem: int):
        super().__init__(options, dims, n_levels, d_mem)
        self.plan = inner_layer_plan(dims.n_layers, options.n_llm, options.n_left, n_levels)
        self.tuners = nn.ModuleList()
        if options.token_norm or options.bias_tuning:
            d = dims.d_hidden
            self.tuners.extend(
                nn.Sequential(
                    rms_norm(d, options.norm_eps) if options.token_norm else nn.Identity(),
                    ScaleBias(d) if options.bias_tuning else nn.Identity(),
                )
                for _ in self.plan
            )

    @classmethod
    def target_dim(cls, options: Options, dims: LLMDims) -> int:
        return dims.d_hidden

    def layer_plan(self) -> dict[int, int]:
        return dict(self.plan)

    def layer_actions(
        self, mapped: torch.Tensor, seq_mask: torch.Tensor, rope: Callable[[int], Rope | None]
    ) -> dict[int, LayerAction]:
        actions: dict[int, LayerAction] = {}
        for rank, (i, lvl) in enumerate(self.plan.items()):
            tokens = self.tuners[rank](mapped[:, lvl]) if self.tuners else mapped[:, lvl]
            actions[i] = PrependTokens(tokens * self.dims.embed_scale, seq_mask, rope(i))
        return actions

    def n_injected(self, n_mapped: int) -> int:
        return n_mapped

    @classmethod
    def describe(cls, options: Options) -> str:
        tuned = [name for name, on in (("RMSNorm", options.token_norm), ("scale + bias", options.bias_tuning)) if on]
        return (
            f"Token injection in {options.n_llm} inner layers (last {options.n_left} left out)"
            f"{', per-layer ' + ' + '.join(tuned) if tuned else ''}"
        )


NORM_PLACES = ("output", "attention")


@register_block("injection", "gated-cross-attention")
class GatedCrossAttention(InjectionBlock):
    """DePALM^{c-attn}'s cross-attention (C.2, Figure S1), one block shared by the planned layers and applied before
    each: text tokens through an FFN (d_LLM -> d_embed -> d_embed, GELU) + RMSNorm as queries, the layer's memory
    level as keys/values, a projection to d_LLM, added through tanh(h_k), h_k = 0 at init so the model starts as the
    frozen LLM. `norm="output"`: RMSNorm on the projected output (C.2); `"attention"`: RMSNorm on the attention output,
    before the projection (the official code). `attn_out_proj`: a standard multi-head attention with its output
    projection (C.2); without it, query/key/value projections only (the official code). `shared_gate`: one h for all
    layers (the official code) instead of one h^{(k)} per layer. `dropout`: attention dropout, in training only."""

    GATES = ("gates",)

    @dataclass
    class Options(InnerOptions):
        n_left: int = 3
        d_embed: int = 1024
        n_heads: int = 8
        dropout: float = 0.1
        attn_out_proj: bool = True
        norm: str = "output"
        shared_gate: bool = False
        norm_eps: float = 1e-6

        def __post_init__(self) -> None:
            if self.norm not in NORM_PLACES:
                raise ValueError(f"norm must be one of {NORM_PLACES}, got {self.norm!r}")

    def __init__(self, options: Options, dims: LLMDims, n_levels: int, d_mem: int):
        super().__init__(options, dims, n_levels, d_mem)
        self.plan = inner_layer_plan(dims.n_layers, options.n_llm, options.n_left, n_levels)
        d = options.d_embed
        self.text_ffn = nn.Sequential(nn.Linear(dims.d_hidden, d), nn.GELU(), nn.Linear(d, d))
        self.text_norm = rms_norm(d, options.norm_eps)
        self.attn: nn.MultiheadAttention | CrossAttention
        if options.attn_out_proj:
            self.attn = nn.MultiheadAttention(
                d, options.n_heads, dropout=options.dropout, kdim=d_mem, vdim=d_mem, batch_first=True
            )
        else:
            self.attn = CrossAttention(d, d_mem, options.n_heads, options.dropout)
        self.proj_out = nn.Linear(d, dims.d_hidden)
        self.norm = rms_norm(dims.d_hidden if options.norm == "output" else d, options.norm_eps)
        self.gates = nn.Parameter(torch.zeros(1 if options.shared_gate else options.n_llm))

    @classmethod
    def target_dim(cls, options: Options, dims: LLMDims) -> int:
        return dims.d_hidden

    def layer_plan(self) -> dict[int, int]:
        return dict(self.plan)

    def cross_attend(self, hidden: torch.Tensor, memory: torch.Tensor, gate: int) -> torch.Tensor:
        x = hidden.to(self.gates.dtype)
        query = self.text_norm(self.text_ffn(x))
        if isinstance(self.attn, nn.MultiheadAttention):
            y, _ = self.attn(query, memory, memory, need_weights=False)
        else:
            y = self.attn(query, memory)
        y = self.norm(self.proj_out(y)) if self.options.norm == "output" else self.proj_out(self.norm(y))
        h = self.gates[0 if self.options.shared_gate else gate]
        return hidden + (torch.tanh(h) * y).to(hidden.dtype)

    def layer_actions(
        self, mapped: torch.Tensor, seq_mask: torch.Tensor, rope: Callable[[int], Rope | None]
    ) -> dict[int, LayerAction]:
        return {
            i: CrossAttend(self.cross_attend, mapped[:, lvl], rank) for rank, (i, lvl) in enumerate(self.plan.items())
        }

    def n_injected(self, n_mapped: int) -> int:
        return 0

    @classmethod
    def describe(cls, options: Options) -> str:
        gate = "one shared gate" if options.shared_gate else "one gate per layer"
        return f"Gated cross-attention in {options.n_llm} inner layers (last {options.n_left} left out, {gate})"
