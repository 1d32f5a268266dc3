"""The connector (extraction -> mapping -> injection + prompt tuning, Figure 1) and `PerceptualLM`, which plugs it
into a frozen HF decoder-only LLM for training loss and generation. One forward pass serves all methods.

Sequence given to the LLM: [first-layer perceptual tokens, prompt-tuning tokens, text] (B.2, B.4); the text starts
with BOS (harness.runner.text). Position ids come from the attention mask (cumulative sum) and are passed explicitly,
in training and generation, so a sample's logits do not depend on the padding of its batch, in training (text
right-padded) or generation (prompt left-padded).

OPT under the official variant: the official code inserts first-layer tokens inside layer 0, after OPT has added its
learned positions to the input (`depalm/models/adapters/prefix_tokens.py:147`), so they carry no position embedding
and the positions of the prompt tokens and text are counted without them. Here they enter at the input like every
other token, minus the position embedding OPT is about to add to them (the same sum, OPT's code untouched), and the
position ids skip them.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, cast

import torch
import torch.nn.functional as F
from torch import nn

import methods.mapping  # noqa: F401  (registers the mapping blocks)
from methods.config import FeatureSpec, LLMDims, MethodConfig
from methods.extraction import extract, extracted_layout
from methods.finetune import PromptTuning
from methods.injection import InjectableLayer, InjectionBlock, LayerAction
from methods.llm_adapter import LLMAdapter
from methods.registry import block_options, get_block, validate_preset

if TYPE_CHECKING:  # transformers is imported lazily: --describe-methods must stay fast
    from transformers.modeling_outputs import CausalLMOutput


class Connector(nn.Module):
    """All trainable parts of a method, independent of the LLM's weights (so it can be built on the meta device to
    count parameters, `methods.describe`)."""

    def __init__(self, cfg: MethodConfig, spec: FeatureSpec, dims: LLMDims):
        super().__init__()
        validate_preset(cfg)
        self.cfg = cfg
        self.spec = spec
        self.dims = dims
        self.layout = extracted_layout(cfg.extraction, spec)
        inj_cls = cast("type[InjectionBlock]", get_block("injection", cfg.injection.name))  # registry: a bare type
        inj_opts = block_options("injection", cfg.injection)
        map_cls = get_block("mapping", cfg.mapping.name)
        self.mapping = map_cls(block_options("mapping", cfg.mapping), self.layout, inj_cls.target_dim(inj_opts, dims))
        self.injection = inj_cls(inj_opts, dims, cfg.extraction.n_levels, self.mapping.d_out)
        n_pt = cfg.finetune.n_prompt
        self.prompt = PromptTuning(n_pt, dims.d_input) if n_pt else None

    @property
    def n_injected_tokens(self) -> int:
        """Extra (non-text) sequence positions at the most loaded LLM layer, at evaluation: perceptual tokens in the
        sequence plus prompt tokens (0 perceptual tokens for cross-attention, which adds no positions)."""
        return self.injection.n_injected(self.mapping.n_out_tokens()) + self.cfg.finetune.n_prompt

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """[B, n, T, d_feats] encoder features -> mapped tokens [B, n_fl, N, d]."""
        param = next(self.mapping.parameters(), None)
        dtype = param.dtype if param is not None else torch.float32
        # cast before extracting: the feature cache holds fp16, and under a CPU bf16 autocast torch.cat of fp16
        # tensors fails ("Unexpected floating ScalarType")
        return self.mapping(extract(features.to(dtype), self.cfg.extraction, self.spec))


class PerceptualLM(nn.Module):
    """A frozen LLM augmented with a trainable connector. The LLM is frozen and always in eval mode (no dropout);
    only `trainable_parameters()` (the connector) get gradients."""

    def __init__(self, connector: Connector, llm: nn.Module, adapter: LLMAdapter):
        super().__init__()
        self.connector = connector
        self.llm = llm
        self.adapter = adapter
        # official variant on OPT: first-layer tokens without position embeddings (module docstring)
        config: Any = llm.config  # a transformers config; nn.Module.__getattr__ types it Tensor | Module
        self.unpositioned_first = connector.cfg.variant == "official" and config.model_type == "opt"
        llm.requires_grad_(False)
        llm.eval()
        plan = connector.injection.layer_plan()
        if plan:
            adapter.check_attention()
        self._accepts_logits_to_keep = "logits_to_keep" in inspect.signature(llm.forward).parameters
        self.injected_layers: dict[int, InjectableLayer] = {}
        for i in plan:
            layer = adapter.layers[i]
            if isinstance(layer, InjectableLayer):  # wrapped by another model built on the same LLM object
                layer = layer.layer
            self.injected_layers[i] = InjectableLayer(layer, i)
        self._install()

    def _install(self) -> None:
        """Put this model's wrappers into the LLM's layer list. Several models may share one LLM object (a runner
        caching backbones): each re-installs its own wrappers when it runs; others' idle wrappers pass through."""
        for i, wrapper in self.injected_layers.items():
            if self.adapter.layers[i] is not wrapper:
                self.adapter.layers[i] = wrapper

    @property
    def n_injected_tokens(self) -> int:
        return self.connector.n_injected_tokens

    def train(self, mode: bool = True) -> PerceptualLM:
        super().train(mode)
        self.llm.eval()
        return self

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.connector.parameters() if p.requires_grad]

    def gate_parameters(self) -> list[nn.Parameter]:
        """The injection's shut-at-init scalar gates (a subset of `trainable_parameters`)."""
        return self.connector.injection.gate_parameters()

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in self.connector.state_dict().items()}

    def load_trainable_state_dict(self, state_dict: dict[str, torch.Tensor]) -> None:
        self.connector.load_state_dict(state_dict, strict=True)

    def _llm_dtype(self) -> torch.dtype:
        return self.adapter.embed.weight.dtype

    def _prepare(
        self, features: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor, expand: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[int, LayerAction]]:
        """(inputs_embeds, 2D attention mask, position ids, layer actions) for the LLM; actions are expanded `expand`
        times per sample (beam search expands the inputs the same way)."""
        if features.shape[0] != input_ids.shape[0] or input_ids.shape != attention_mask.shape:
            raise ValueError(
                f"batch mismatch: features {tuple(features.shape)}, input_ids {tuple(input_ids.shape)}, "
                f"attention_mask {tuple(attention_mask.shape)}"
            )
        dtype = self._llm_dtype()
        mapped = self.connector(features)
        b = input_ids.shape[0]
        first = self.connector.injection.input_tokens(mapped)
        n_first = first.shape[1] if first is not None else 0
        n_prompt = self.connector.prompt.tokens.shape[0] if self.connector.prompt is not None else 0
        mask = torch.cat([attention_mask.new_ones(b, n_first + n_prompt), attention_mask], dim=1).to(torch.long)
        unpositioned = bool(n_first) and self.unpositioned_first
        counted = mask
        if unpositioned:
            if self.adapter.input_positions is None:
                raise ValueError(
                    "official variant: this OPT checkpoint projects its input embeddings (project_in), "
                    "so first-layer tokens cannot skip its position embeddings; use --variant paper"
                )
            counted = mask.clone()
            counted[:, :n_first] = 0
        position_ids = (counted.cumsum(-1) - 1).masked_fill(counted == 0, 0)
        # OPT adds these positions' embeddings at its input: taken off here, so they cancel
        if unpositioned and first is not None:  # (unpositioned implies first tokens)
            first = first.float() - self.adapter.input_position_embeds(position_ids[:, :n_first]).float()
        prefix = [first] if first is not None else []
        if self.connector.prompt is not None:
            prefix.append(self.connector.prompt(b) * self.adapter.dims.embed_scale)
        embeds = self.adapter.embed_ids(input_ids)
        if prefix:
            embeds = torch.cat([torch.cat(prefix, dim=1).to(dtype), embeds], dim=1)
        actions = self.connector.injection.layer_actions(
            mapped.repeat_interleave(expand, dim=0), mask.repeat_interleave(expand, dim=0), self.adapter.rope_for_layer
        )
        return embeds, mask, position_ids, actions

    @contextlib.contextmanager
    def _acting(self, actions: dict[int, LayerAction]) -> Iterator[None]:
        self._install()
        for i, action in actions.items():
            self.injected_layers[i].action = action
        try:
            yield
        finally:
            for i in actions:
                self.injected_layers[i].action = None

    def forward(
        self,
        features: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
    ) -> CausalLMOutput:
        """Teacher-forced pass over the text (prompt + answer + EOS, right-padded). `logits` cover the text positions;
        `loss` is the mean (label-smoothed) cross-entropy over tokens whose label is not -100."""
        from transformers.modeling_outputs import CausalLMOutput

        embeds, mask, position_ids, actions = self._prepare(features, input_ids, attention_mask)
        n_text = input_ids.shape[1]
        # the LM head only on text positions: with hundreds of perceptual tokens it is most of the output cost. As
        # indices, not a count: a count slices a strided view of the hidden states, and torch's matmul of a strided
        # input that requires grad by the [V, d] head copies the head once per batch row (2.3 s of a 4.5 s CPU step)
        total = embeds.shape[1]
        positions = torch.arange(total - n_text, total, device=embeds.device)
        keep = {"logits_to_keep": positions} if self._accepts_logits_to_keep else {}
        with self._acting(actions):
            out = self.llm(
                inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids, use_cache=False, **keep
            )
        logits = out.logits[:, -n_text:]
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits[:, :-1].flatten(0, 1).float(),
                labels[:, 1:].flatten(),
                ignore_index=-100,
                label_smoothing=label_smoothing,
            )
        return CausalLMOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(
        self,
        features: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        *,
        max_new_tokens: int,
        num_beams: int,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Beam search (no sampling unless `do_sample=True` is passed) through HF `generate` with `inputs_embeds`, the
        position ids of `_prepare` and the KV cache; `input_ids` is the left-padded prompt. Further HF generation
        arguments pass through (the runner passes every one, `harness.runner.generate.generation_kwargs`).
        Returns the new tokens only [B, <= max_new_tokens]."""
        if kwargs.get("use_cache") is False:
            raise ValueError(
                "generate needs the KV cache: with inputs_embeds and no cache, HF generation drops the "
                "perceptual prefix after the first step"
            )
        kwargs.setdefault("do_sample", False)
        kwargs.setdefault("num_return_sequences", 1)
        hf: Any = self.llm  # a transformers PreTrainedModel: generate is not nn.Module's
        if kwargs.get("pad_token_id") is None:
            gc = hf.generation_config
            kwargs["pad_token_id"] = gc.pad_token_id if gc.pad_token_id is not None else gc.eos_token_id
        expand = max(num_beams, kwargs["num_return_sequences"])  # as HF expands the inputs
        embeds, mask, position_ids, actions = self._prepare(features, input_ids, attention_mask, expand=expand)
        with self._acting(actions):
            return hf.generate(
                inputs_embeds=embeds,
                attention_mask=mask,
                position_ids=position_ids,
                max_new_tokens=max_new_tokens,
                num_beams=num_beams,
                use_cache=True,
                **kwargs,
            )


def build_connector(preset: MethodConfig, spec: FeatureSpec, dims: LLMDims) -> Connector:
    return Connector(preset, spec, dims)


def build_model(preset: MethodConfig, spec: FeatureSpec, llm: nn.Module) -> PerceptualLM:
    """A `PerceptualLM` for `preset` on encoder features `spec` and the frozen HF causal LM `llm` (its decoder layers
    targeted by the method get wrapped in place). The connector is created in float32 on the LLM's device; prompt
    tokens start as `preset.finetune.prompt_init` says (random vocabulary embeddings, or N(0, 1))."""
    adapter = LLMAdapter.of(llm)
    device = adapter.embed.weight.device
    connector = Connector(preset, spec, adapter.dims).to(device)
    if connector.prompt is not None and preset.finetune.prompt_init == "vocab":
        connector.prompt.init_from_vocabulary(adapter.embed.weight)
    return PerceptualLM(connector, llm, adapter)
