"""One cell of the matrix as a typed, resolved configuration (Appendix C.3 recipe + evaluation settings).

A run is a pure function of its `RunConfig`; `config_hash()` keys the results cache, so every field that can change
a result is hashed, while locations and bookkeeping (data root, plugins to import) are not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

PAPER_LR_GRID = (1e-3, 8e-4, 4e-4)
REPORTED_SPLIT = "reported"

# Fields of RunConfig that locate inputs, load code or watch the run but do not change what a run computes.
_UNHASHED = ("data_root", "plugins", "recipe_source", "tracking", "energy")
# Fields of TrainSettings that only decide what is kept on disk (a resumed run computes the same numbers) or how the
# training inputs are loaded (the loader yields the same tensors whatever its workers, prefetch and memory).
_UNHASHED_TRAIN = ("checkpoint_every_s", "keep_checkpoint", "num_workers", "prefetch_factor", "pin_memory")
# How training augmentation draws its randomness (harness.runner.loader.draw_rng: one stream per seed, step and slot
# in the batch), hashed into augmented runs only: it replaced one sequential stream per run, whose results differ.
AUGMENT_STREAM = "per-draw"
# Sweep axes hashed only when set: a config without them hashes as it did before they existed.
_AXES = ("train_fraction", "width")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation recipe, Appendix C.3 (defaults are the paper's)."""

    epochs: int | None = None
    """training epochs (null: the benchmark's own count)"""
    max_steps: int | None = None
    """cap on optimiser steps (CPU profiles)"""
    batch_size: int = 128
    """effective batch, reached by gradient accumulation"""
    micro_batch_size: int = 16
    """largest per-device batch of one forward pass"""
    grad_sum_steps: int = 1
    """the step gradient is this many times the mean over the effective batch (the official code backpropagates
    each of its accumulate_steps losses undivided: a sum over accumulation steps of means over its 8 ranks)"""
    weight_decay: float = 0.1
    adam_eps: float = 1e-4
    adam_betas: tuple[float, float] = (0.9, 0.999)
    warmup_frac: float = 0.2
    """fraction of the steps spent in linear warmup"""
    min_lr_ratio: float = 1e-4
    """alpha_min = alpha_max * min_lr_ratio at the end of the cosine decay"""
    label_smoothing: float = 2e-3
    gate_lr_scale: float = 1.0
    """learning rate of the connector's shut-at-init scalar gates (DePALM^{c-attn}'s tanh gate) as a multiple of
    lr; 1: one lr for every weight, as the official code. Adam moves a scalar by about its lr per step, so at lr 1e-3
    a gate opens to tanh(h) ~ 0.01 in 24 steps; a short budget scales it (the cpu profile). Not hashed at 1"""
    max_target_tokens: int | None = None
    """answer tokens kept, EOS included (null: no cut, as the official code)"""
    augment: bool = True
    """the benchmark's training augmentation"""
    train_size: int | None = None
    """cap on training items (null: the whole split)"""
    subset_seed: int | None = None
    """seed of a low-data subset (null: each run draws it with its own seed, as the official code does)"""
    image_size: int | None = None
    """encoder input resolution override (null: the encoder's own)"""
    checkpoint_every: int = 200
    """optimiser steps between full-state checkpoints"""
    checkpoint_every_s: float = 0.0
    """... and at least this many seconds since the last one (a big connector is costly to rewrite); not hashed"""
    keep_checkpoint: bool = False
    """keep the full-state checkpoint once the run succeeded (its weights are kept anyway); not hashed"""
    log_every: int = 10
    """optimiser steps between train_log.jsonl records"""
    feature_batch_size: int = 32
    """items per encoder pass when the frozen features are cached"""
    num_workers: int | None = 0
    """DataLoader processes per rank that decode, augment and preprocess training inputs or read cached features
    (0: in the training process; null: the CPUs this process may use, less one, at most 8); not hashed"""
    prefetch_factor: int = 2
    """micro-batches each worker reads ahead; not hashed"""
    pin_memory: bool = True
    """page-locked host batches, copied to the GPU asynchronously (CUDA only); not hashed"""
    backbone_dtype: str = "auto"
    """dtype of the frozen LLM and encoder: float32 | bfloat16 | float16 | auto (float16 on a GPU, as the paper
    loads them; on a CPU bfloat16 where it is native (AVX512-BF16, AMX), else float32; resolved before hashing);
    the trainable weights stay float32"""


@dataclass(frozen=True)
class EvalSettings:
    """Generation and scoring settings. Defaults: the official code's beam search (`config/run.yaml:200-205`: no
    sampling, 3 beams, 50 new tokens; transformers' defaults for the rest: length penalty 1, no early stopping)."""

    num_beams: int = 3
    """beams of the beam search (1: greedy)"""
    max_new_tokens: int = 50
    """generated tokens at most"""
    length_penalty: float = 1.0
    """beam scores divided by length ** length_penalty"""
    early_stopping: bool = False
    """stop a beam search as soon as num_beams hypotheses are finished"""
    batch_size: int = 32
    """items per generation batch"""
    splits: tuple[str, ...] = ("val", "test")
    """split roles to evaluate (train | val | test); `reported` stands for the split the benchmark's Table 4 column
    reports. The matrix resolves it (and drops roles the benchmark lacks), so a RunConfig holds concrete roles."""
    size: int | None = None
    """cap on evaluated items per split (null: the whole split)"""
    metrics: tuple[str, ...] | None = None
    """caption metrics to compute (null: all; METEOR costs ~20 s of Java)"""


@dataclass(frozen=True)
class TrackingSettings:
    """Live tracking of each run's training and final metrics (harness.runner.tracking; not hashed)"""

    tracker: Literal["none", "tensorboard", "wandb"] = "none"
    """none | tensorboard (event files, extra `track`) | wandb (offline by default, extra `track`)"""
    dir: str | None = None
    """where trackers write (null: each run directory); a run writes under <dir>/<run id>"""
    wandb_project: str = "depalm-bench"
    """W&B project name"""
    wandb_mode: Literal["offline", "online"] = "offline"
    """offline writes a local run `wandb sync` can upload later; online needs the network and a login"""


@dataclass(frozen=True)
class EnergySettings:
    """Energy and CO2 of each run's training, Table S7 (harness.runner.energy; not hashed)"""

    meter: Literal["auto", "codecarbon", "counters", "off"] = "auto"
    """auto (codecarbon when installed, else counters) | codecarbon (offline tracker, extra `energy`) | counters
    (RAPL and NVML energy counters where readable, else the TDP estimate below) | off"""
    co2_kg_per_kwh: float = 0.385
    """carbon intensity of the electricity (the paper's Appendix E factor: 0.385 kg CO2 per kWh)"""
    pue: float = 1.1
    """power usage effectiveness of the data centre, multiplying the measured energy (the paper's: 1.1)"""
    cpu_tdp_w: float = 85.0
    """CPU power at full load when no counter is readable: energy = TDP x the run's share of the CPU cores (85 W:
    codecarbon's default for a CPU missing from its TDP table)"""


@dataclass(frozen=True)
class RunConfig:
    """A method x dataset x seed x lr cell with its backbones, profile and fully resolved settings."""

    method: str
    dataset: str
    seed: int
    lr: float
    grad_clip: float
    llm: str
    encoder: str
    profile: str
    # recipe variant (methods.variants): `official` as the official code ran it, `paper` as the appendix writes it
    variant: str = "official"
    method_config: dict[str, Any] = field(default_factory=dict)  # dataclasses.asdict(preset)
    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    data_root: str | None = None
    plugins: tuple[str, ...] = ()
    # where lr, grad_clip and the batch came from (an official script, the profile, the command line): provenance,
    # written to config.json, not hashed (the values themselves are)
    recipe_source: dict[str, str] = field(default_factory=dict)
    # how the run is watched (trackers) and measured (energy): not hashed, a cached result stays valid
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    energy: EnergySettings = field(default_factory=EnergySettings)
    # sweep axes of Figure 3 (harness.runner.sweeps), None when not swept (then left out of the hash, so the cells of
    # a study without them keep their cached results): the fraction of the benchmark's whole train split trained on
    # (a nested seeded subset, benchmarks.subsets) and the mapping width written into `method_config`
    # (methods.width)
    train_fraction: float | None = None
    width: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.lr) and self.lr > 0):
            problems.append(f"lr must be a positive number, got {self.lr}")
        if not (math.isfinite(self.grad_clip) and self.grad_clip > 0):
            problems.append(f"grad_clip must be a positive number, got {self.grad_clip}")
        if not 0 <= self.seed < 2**32:
            problems.append(f"seed must be in [0, 2**32), got {self.seed}")
        if self.train.batch_size < 1 or self.train.micro_batch_size < 1 or self.train.grad_sum_steps < 1:
            problems.append("batch sizes and grad_sum_steps must be >= 1")
        if self.eval.num_beams < 1 or self.eval.max_new_tokens < 1:
            problems.append("num_beams and max_new_tokens must be >= 1")
        if self.train_fraction is not None and not 0 < self.train_fraction <= 1:
            problems.append(f"train_fraction must be in (0, 1], got {self.train_fraction}")
        if self.width is not None and self.width < 1:
            problems.append(f"width must be >= 1, got {self.width}")
        if (self.train.num_workers is not None and self.train.num_workers < 0) or self.train.prefetch_factor < 1:
            problems.append("num_workers must be >= 0 or None (one per CPU), prefetch_factor >= 1")
        if self.train.max_target_tokens is not None and self.train.max_target_tokens < 2:
            problems.append("max_target_tokens must be >= 2 (an answer token and EOS) or None (no cut)")
        if problems:
            raise ValueError("invalid run config: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        d = dict(d)
        train = TrainSettings(**field_values(d.pop("train", {}), TrainSettings))
        ev = EvalSettings(**field_values(d.pop("eval", {}), EvalSettings))
        d["tracking"] = TrackingSettings(**d.get("tracking", {}))
        d["energy"] = EnergySettings(**d.get("energy", {}))
        d["plugins"] = tuple(d.get("plugins", ()))
        d.setdefault("variant", "paper")  # run configs written before the variant axis ran the appendix's presets
        d.pop("feature_levels", None)  # an unhashed hint of the feature cache before it stored levels apart
        return cls(train=train, eval=ev, **d)

    def hashed_dict(self) -> dict[str, Any]:
        d = self.to_dict()
        for k in _UNHASHED:
            d.pop(k, None)
        for k in _UNHASHED_TRAIN:
            d["train"].pop(k, None)
        if self.train.gate_lr_scale == 1.0:  # configs from before the setting hash as they did
            d["train"].pop("gate_lr_scale")
        for k in _AXES:
            if d.get(k) is None:
                d.pop(k, None)
        if self.train.augment:
            d["train"]["augment_stream"] = AUGMENT_STREAM
        return d

    def config_hash(self) -> str:
        # computed once per (frozen) config: planning a large matrix asks each cell for it several times
        cached = self.__dict__.get("_config_hash")
        if cached is None:
            blob = json.dumps(self.hashed_dict(), sort_keys=True, separators=(",", ":"))
            cached = hashlib.sha256(blob.encode()).hexdigest()
            object.__setattr__(self, "_config_hash", cached)
        return cached

    @property
    def run_id(self) -> str:
        axes = "".join(
            f"__{tag}{value:g}" for tag, value in (("f", self.train_fraction), ("w", self.width)) if value is not None
        )
        return f"{self.method}__{self.dataset}__s{self.seed}__lr{self.lr:g}{axes}__{self.config_hash()[:10]}"


_SCALARS = frozenset((str, int, float, bool, type(None)))


def _jsonable(x: Any) -> Any:
    """`dataclasses.asdict` then JSON's shapes (str keys, lists), in one walk without asdict's deep copies (a
    matrix of 18,000 cells spent seconds copying their method configs to hash them)."""
    if type(x) in _SCALARS:
        return x
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {f.name: _jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def field_values(d: dict[str, Any], cls: type) -> dict[str, Any]:
    """Values read from JSON or YAML in the types of `cls`'s fields: tuples (JSON turns them into lists) and floats
    (YAML reads `50` as an int, whose hash would differ from 50.0's)."""
    fields = {f.name: str(f.type) for f in dataclasses.fields(cls)}

    def typed(k: str, v: Any) -> Any:
        kind = fields.get(k, "")
        if "tuple" in kind and isinstance(v, list):
            return tuple(v)
        if kind.split(" | ")[0] == "float" and isinstance(v, int) and not isinstance(v, bool):
            return float(v)
        return v

    return {k: typed(k, v) for k, v in d.items()}
