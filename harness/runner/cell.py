"""One matrix cell end to end (Figure 1): benchmark items -> frozen encoder or feature cache -> connector -> frozen
LLM -> training (Appendix C.3) -> generation -> metrics -> its run directory, its results parquet file and, beside
it, its per-item scores (harness/store/items.py).

The run directory (harness.runner.rundir) holds config.json, train_log.jsonl, checkpoint.safetensors (full state,
written every `checkpoint_every` steps, so calling `execute_cell` again after a kill resumes; removed once the run
succeeds unless `keep_checkpoint`), trainable.safetensors, predictions_<split>.jsonl, metrics.json and, when a tracker
is on, its files (harness.runner.tracking); the results row carries the training's energy (harness.runner.energy).
A failure of the cell's own code, a write error included (disk full, read-only directory), is recorded as the
cell's status and never raised, so the matrix goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import importlib
import json
import os
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import REPO_ROOT
from harness.config import RunConfig
from harness.runner.eta import hardware_label
from harness.runner.rundir import (
    CONFIG_NAME,
    FILES_FIELD,
    METRICS_NAME,
    WEIGHTS_NAME,
    manifest,
    sweep_temp_files,
    write_json,
)
from harness.store.atomic import write_text


@dataclass
class CellOutcome:
    run_id: str
    status: str  # ok | failed | unstable | cancelled | interrupted
    error: str | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)  # split -> metric -> value
    train_time_s: float = float("nan")
    mean_step_s: float = float("nan")
    config_hash: str = ""


def code_version() -> str:
    """Git commit of the code that produced a result (+'-dirty' with local edits), or the package version."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return "depalm-bench-" + version("depalm-bench")
        except PackageNotFoundError:
            return "unknown"


def _write_jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    write_text(path, "".join(json.dumps(r) + "\n" for r in records))


def import_plugins(plugins: Sequence[str]) -> None:
    for name in plugins:
        importlib.import_module(name)


class Backbones:
    """Frozen backbones loaded once per process and shared by the cells it runs (inline executor, DDP parent).

    An encoder whose biases get tuned is never shared: it is trained, so it is loaded fresh for its cell.
    """

    def __init__(self) -> None:
        self._llms: dict[tuple, Any] = {}
        self._encoders: dict[tuple, Any] = {}

    def llm(self, llm_id: str, device: Any, dtype: Any = None):
        """`dtype`: a torch dtype (None: the device's default, `harness.backbones.base.default_dtype`)."""
        from harness.backbones import load_llm

        key = (llm_id, str(device), str(dtype))
        if key not in self._llms:
            self._llms[key] = load_llm(llm_id, device=device, dtype=dtype)
        return self._llms[key]

    def encoder(
        self,
        encoder_id: str,
        device: Any,
        image_size: int | None,
        shared: bool = True,
        inputs: dict[str, Any] | None = None,
        dtype: Any = None,
    ):
        """`inputs`: `PerceptualEncoder.configure_input` settings (resize mode, frames, pixel statistics)."""
        from harness.backbones import load_encoder

        opts = {"image_size": image_size} if image_size else {}

        def load():
            enc = load_encoder(encoder_id, device=device, dtype=dtype, **opts)
            return enc.configure_input(**inputs) if inputs else enc

        if not shared:
            return load()
        key = (encoder_id, str(device), str(dtype), image_size, tuple(sorted((inputs or {}).items())))
        if key not in self._encoders:
            self._encoders[key] = load()
        return self._encoders[key]


def _row_base(cfg: RunConfig, outcome: CellOutcome, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "method": cfg.method,
        "dataset": cfg.dataset,
        "seed": cfg.seed,
        "lr": cfg.lr,
        "grad_clip": cfg.grad_clip,
        "llm": cfg.llm,
        "encoder": cfg.encoder,
        "profile": cfg.profile,
        "variant": cfg.variant,
        "train_fraction": float("nan") if cfg.train_fraction is None else cfg.train_fraction,
        "width": cfg.width,
        "std": float("nan"),
        "status": outcome.status,
        "error": outcome.error or "",
        "train_time_s": outcome.train_time_s,
        "config_hash": outcome.config_hash,
        "run_id": outcome.run_id,
        "code_version": code_version(),
        "source": "run",
        "num_beams": cfg.eval.num_beams,
        "max_new_tokens": cfg.eval.max_new_tokens,
        "mean_step_s": outcome.mean_step_s,
        "method_display": cfg.method_config.get("display_name", cfg.method),
        "control": cfg.method_config.get("control", "") or "",
        **extra,
    }


def result_rows(
    cfg: RunConfig,
    outcome: CellOutcome,
    extra: dict[str, Any],
    primary: tuple[str, str],
    notes: dict[str, dict[str, str]] | None = None,
) -> list[dict[str, Any]]:
    """Long-format rows, one per (split, metric), each with its `notes` entry (split -> metric -> why the value is
    NaN) as its note; a run without metrics gets one NaN row for its primary metric."""
    base = _row_base(cfg, outcome, extra)
    notes = notes or {}
    rows = [
        dict(base, split=split, metric=metric, value=float(value), note=notes.get(split, {}).get(metric, ""))
        for split, metrics in outcome.metrics.items()
        for metric, value in metrics.items()
    ]
    return rows or [dict(base, split=primary[0], metric=primary[1], value=float("nan"))]


class TrainableState:
    """The trainable weights of a cell: the connector model's, plus the encoder's biases under bias tuning."""

    def __init__(self, model, encoder=None) -> None:
        self.model, self.encoder = model, encoder

    def parameters(self) -> list:
        params = list(self.model.trainable_parameters())
        if self.encoder is not None:
            params += [p for p in self.encoder.parameters() if p.requires_grad]
        return params

    def trainable_state_dict(self) -> dict:
        sd = {f"model.{k}": v for k, v in self.model.trainable_state_dict().items()}
        if self.encoder is not None:
            sd.update({f"encoder.{n}": p.detach() for n, p in self.encoder.named_parameters() if p.requires_grad})
        return sd

    def load_trainable_state_dict(self, sd: dict) -> None:
        self.model.load_trainable_state_dict({k[6:]: v for k, v in sd.items() if k.startswith("model.")})
        if self.encoder is not None:
            params = dict(self.encoder.named_parameters())
            for k, v in sd.items():
                if k.startswith("encoder."):
                    params[k[8:]].data.copy_(v)


def load_items(cfg: RunConfig, bench: Any, role: str) -> list[Any]:
    """The items of a cell's split: train (a `train_fraction` of it when swept) capped at `train.train_size`, the
    others at `eval.size`."""
    size = cfg.train.train_size if role == "train" else cfg.eval.size
    # the offline generator's seed stays fixed (every method and seed sees the same items); a low-data subset is
    # drawn with the run seed, as the official code does, unless the settings fix its seed
    subset_seed = cfg.seed if cfg.train.subset_seed is None else cfg.train.subset_seed
    return bench.load(
        role,
        data_root=cfg.data_root,
        size=size,
        seed=0,
        subset_seed=subset_seed,
        variant=cfg.variant,
        train_fraction=cfg.train_fraction,
    )


def eval_roles(cfg: RunConfig, bench: Any) -> list[str]:
    """The configured evaluation splits the benchmark has."""
    return [r for r in cfg.eval.splits if getattr(bench.spec.splits, r, None) is not None]


class CellRun:
    """The stages of one cell; `execute_cell` drives them and turns exceptions into statuses."""

    def __init__(
        self,
        cfg: RunConfig,
        run_dir: Path,
        backbones: Backbones,
        device: Any = None,
        on_step: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        import torch

        from benchmarks import get_benchmark
        from methods import MethodConfig

        import_plugins(cfg.plugins)  # registers the blocks a plugin method is built from
        self.cfg, self.run_dir, self.backbones, self.on_step = cfg, run_dir, backbones, on_step
        self.bench = get_benchmark(cfg.dataset)
        self.spec = self.bench.spec.for_variant(cfg.variant)  # the variant's data rules
        if not cfg.method_config:
            raise ValueError(
                f"run {cfg.run_id}: the config holds no method_config; cells are resolved by the matrix "
                f"(harness.runner.matrix.build_cells), which stores the method's preset in it"
            )
        # the method is the one the config (and so its hash) holds, never re-read from the preset registry
        self.preset = MethodConfig.from_dict(cfg.method_config)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        from harness.backbones.precision import resolve_backbone_dtype, torch_dtype

        # a config from before the dtype was resolved by the matrix ("auto") runs as it then did
        self.dtype_name = resolve_backbone_dtype(cfg.train.backbone_dtype, self.device.type == "cuda")
        self.backbone_dtype = torch_dtype(self.dtype_name)
        self.n_levels = self.preset.extraction.n_levels
        self.tune_encoder = bool(getattr(self.preset.finetune, "encoder_bias", False))
        self._items: dict[str, list[Any]] = {}
        self.feature_entries: set[str] = set()  # feature-cache entries this cell read (for --gc)
        self.item_scores: dict[str, dict[str, dict[str, float]]] = {}  # split -> metric -> item id -> score
        self.metric_notes: dict[str, dict[str, str]] = {}  # split -> metric -> why its value is NaN
        self.augmenter = None
        if cfg.train.augment:
            from benchmarks.augment import AugmentConfig, get_augmenter

            # official: the crop outputs the encoder's input size, bicubic (set once the encoder is loaded)
            aug = AugmentConfig(resample="bicubic") if cfg.variant == "official" else AugmentConfig()
            self.augmenter = get_augmenter(self.spec.modality, aug, seed=cfg.seed)

    def items(self, role: str) -> list[Any]:
        if role not in self._items:
            self._items[role] = load_items(self.cfg, self.bench, role)
        return self._items[role]

    def encoder_inputs(self) -> dict[str, Any]:
        """Preprocessing the variant's data rules set: official images and frames squashed to the encoder's square
        input (data_base.py:170, video.py:117); the benchmark's frame count and pixel statistics for video."""
        from harness.backbones.preprocess import CLIP_MEAN, CLIP_STD

        inputs: dict[str, Any] = {}
        if self.spec.modality in ("image", "video") and self.cfg.variant == "official":
            inputs["resize"] = "squash"
        if self.spec.modality == "video" and "n_frames" in self.spec.options:
            inputs["frames"] = self.spec.options["n_frames"]
        if self.spec.options.get("pixel_stats") == "clip":
            inputs["mean_std"] = (CLIP_MEAN, CLIP_STD)
        return inputs

    def eval_roles(self) -> list[str]:
        return eval_roles(self.cfg, self.bench)

    def encoder(self):
        enc = self.backbones.encoder(
            self.cfg.encoder,
            self.device,
            self.cfg.train.image_size,
            shared=not self.tune_encoder,
            inputs=self.encoder_inputs(),
            dtype=self.backbone_dtype,
        )
        if self.augmenter is not None and self.cfg.variant == "official" and "image_size" in enc.meta.preprocess:
            self.augmenter.config = dataclasses.replace(
                self.augmenter.config, output_size=enc.meta.preprocess["image_size"]
            )
        if self.tune_encoder:
            from methods.finetune import enable_bias_tuning

            enable_bias_tuning(enc)
        return enc

    def uses_cache(self, train: bool) -> bool:
        """Frozen encoder and unaugmented inputs: features can be computed once and cached."""
        return not self.tune_encoder and not (train and self.cfg.train.augment)

    def features_fn(self, encoder, role: str, train: bool) -> Callable[[Sequence[Any]], Any]:
        """items -> [B, n_fl, T, d] on the device: the feature cache when the encoder is frozen and inputs are not
        augmented (the levels and tokens the method reads, each computed once per dataset split and shared by the
        methods that read it; T = 1 for a CLS-only method), else the live encoder."""
        import torch

        n = self.n_levels
        if self.uses_cache(train):
            from harness.runner.features import FeatureCache, features_root
            from harness.runner.loader import CachedFeatures
            from methods.extraction import feature_request

            items = self.items(role)
            store = FeatureCache(features_root()).get_or_compute(
                encoder,
                f"{self.cfg.dataset}-{_items_digest(items)}",
                role,
                [(it.input_key, it.load_input) for it in items],
                feature_request(self.preset.extraction, self.feature_spec(encoder)),  # only what the method reads
                self.cfg.train.feature_batch_size,
            )
            self.feature_entries.update(store.entry_names)
            return CachedFeatures(store, n, self.device)
        encode = self.encode_fn(encoder, train)
        return lambda batch: encode(torch.stack([encoder.preprocess(it.load_input()) for it in batch]))

    def encode_fn(self, encoder, train: bool) -> Callable[[Any], Any]:
        """Preprocessed inputs [B, ...] -> features [B, n_fl, T, d] on the device (gradients for tuned biases)."""
        import torch

        from harness.runner.loader import to_device

        def encode(x: torch.Tensor) -> torch.Tensor:
            with torch.set_grad_enabled(train and self.tune_encoder):
                return encoder(to_device(x, self.device), self.n_levels)

        return encode

    def train_inputs(self, encoder, items: Sequence[Any]) -> Any:
        """What the training DataLoader reads (`harness.runner.loader.TrainInputs`): the feature cache, or inputs
        decoded, augmented and preprocessed by the encoder's preprocessing in its workers."""
        from harness.runner.loader import CachedFeatures, LiveInputs, TrainInputs

        if self.uses_cache(train=True):
            cached = self.features_fn(encoder, "train", True)
            assert isinstance(cached, CachedFeatures)  # a cell that uses the cache reads its features from it
            return cached.train_inputs(items)
        aug = self.augmenter
        dataset = LiveInputs(
            items,
            encoder.preprocessor,  # the preprocessing alone: the workers never touch the encoder's weights
            aug.modality if aug else None,
            aug.config if aug else None,
            self.cfg.seed,
        )
        return TrainInputs(dataset, self.encode_fn(encoder, True))

    @staticmethod
    def feature_spec(encoder) -> Any:
        """The encoder's features as methods see them (`methods.FeatureSpec`)."""
        from methods import FeatureSpec

        m = encoder.meta
        return FeatureSpec(d_feats=m.d_feats, grid=tuple(m.grid), has_cls=m.has_cls, n_levels=m.n_levels)

    def build(self, encoder):
        import random

        import numpy as np
        import torch

        from methods import build_model

        llm = self.backbones.llm(self.cfg.llm, self.device, self.backbone_dtype)
        spec = self.feature_spec(encoder)
        torch.manual_seed(self.cfg.seed)
        random.seed(self.cfg.seed)
        np.random.seed(self.cfg.seed)
        model = build_model(self.preset, spec, llm.model).to(self.device)
        state = TrainableState(model, encoder if self.tune_encoder else None)
        for p in state.parameters():
            p.data = p.data.float()  # trainable weights in fp32; frozen backbones stay in half precision on GPU
        return llm, model, state

    def train(self, encoder, llm, model, state: TrainableState, rank: int = 0, world_size: int = 1):
        from harness.runner.train import Trainer

        ddp_model = model
        if world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ddp_model = DistributedDataParallel(
                model,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )
        items = self.llm_items("train", llm)
        trainer = Trainer(
            ddp_model,
            state.parameters(),
            items,
            self.train_inputs(encoder, items),
            llm.tokenizer,
            self.cfg.train,
            self.cfg.lr,
            self.cfg.grad_clip,
            self.cfg.seed,
            self.run_dir,
            self.device,
            state,
            rank=rank,
            world_size=world_size,
            on_step=self.on_step,
            dtype_name=self.dtype_name,
            gates=model.gate_parameters(),
        )
        return trainer.train()

    def llm_items(self, role: str, llm) -> list[Any]:
        """The split's items with their prompt as this LLM sees it (its family's answer marker added)."""
        from harness.runner.text import with_llm_prompts

        return with_llm_prompts(self.items(role), llm.answer_marker)

    def evaluate(self, encoder, llm, model) -> dict[str, dict[str, float]]:
        from harness.runner.generate import generate_predictions
        from harness.runner.text import postprocessor

        metrics = {}
        postprocess = postprocessor(self.cfg.variant, self.bench.postprocess)
        for role in self.eval_roles():
            items = self.llm_items(role, llm)
            records = generate_predictions(
                model,
                items,
                self.features_fn(encoder, role, False),
                llm.tokenizer,
                self.cfg.eval,
                postprocess,
                self.device,
                dtype_name=self.dtype_name,
            )
            _write_jsonl(self.run_dir / f"predictions_{role}.jsonl", records)
            # DePALM's own VQA accuracy scores the stripped decode, whatever the variant's post-processing
            scores = self.bench.score(
                {r["id"]: r["prediction"] for r in records},
                items,
                metrics=self.cfg.eval.metrics,
                raw={r["id"]: r["raw"] for r in records},
            )
            metrics[role] = scores.corpus
            if scores.items:
                self.item_scores[role] = scores.items  # execute_cell stores them beside the results file
            if scores.notes:
                self.metric_notes[role] = scores.notes
        return metrics


def _ddp_backend(device: Any) -> str:
    return "nccl" if str(device).startswith("cuda") else "gloo"


def _spawned_rank(rank: int, world_size: int, port: int, cfg_dict: dict, run_dir: str) -> None:
    """Entry of a GPU worker started by `torch.multiprocessing.spawn` (one node, no torchrun needed)."""
    import signal

    import torch
    import torch.distributed as dist

    # SLURM sends its pre-timeout USR2 to every process of the step: only the parent's submitit handler may act on it
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("nccl", rank=rank, world_size=world_size)
    torch.cuda.set_device(rank)
    try:
        cell = CellRun(RunConfig.from_dict(cfg_dict), Path(run_dir), Backbones(), device=f"cuda:{rank}")
        encoder = cell.encoder()
        llm, model, state = cell.build(encoder)
        cell.train(encoder, llm, model, state, rank=rank, world_size=world_size)
    finally:
        dist.destroy_process_group()


def launched_rank() -> tuple[int, int] | None:
    """(rank, world_size) when a launcher (torchrun, srun with one task per GPU) started this process as one of
    several ranks, with MASTER_ADDR/MASTER_PORT in the environment; None otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and "RANK" in os.environ:
        return int(os.environ["RANK"]), world
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _train(cfg: RunConfig, run_dir: Path, cell: CellRun, encoder) -> tuple[Any, Any, Any, Any, int]:
    """Train (data parallel over the node's GPUs when there are several, or over launcher-started ranks), then
    return (llm, model, state, TrainResult, world_size) with the trained weights loaded in this process."""
    import torch
    import torch.distributed as dist

    launched = launched_rank()
    world = launched[1] if launched else (torch.cuda.device_count() if cell.device.type == "cuda" else 1)
    if world > 1 and cell.uses_cache(train=True) and (not launched or launched[0] == 0):
        cell.features_fn(encoder, "train", True)  # fill the feature cache once, before the ranks read it
    if launched:
        if not dist.is_initialized():
            dist.init_process_group(_ddp_backend(cell.device))
        dist.barrier()
        llm, model, state = cell.build(encoder)
        result = cell.train(encoder, llm, model, state, rank=launched[0], world_size=world)
        dist.barrier()
        return llm, model, state, result, world
    if world > 1:
        torch.multiprocessing.spawn(
            _spawned_rank, args=(world, _free_port(), cfg.to_dict(), str(run_dir)), nprocs=world, join=True
        )
    llm, model, state = cell.build(encoder)
    result = cell.train(encoder, llm, model, state)  # after spawned training: loads the final checkpoint
    return llm, model, state, result, world


def _evaluate_prior(cfg: RunConfig, run_dir: Path) -> tuple[dict, dict]:
    """The `prior` control: predictions from the training split alone (`benchmarks.prior`), no model, no torch; its
    predictions and metrics are written like a trained cell's."""
    from benchmarks import get_benchmark
    from benchmarks.prior import prior_predictions

    bench = get_benchmark(cfg.dataset)
    train = load_items(cfg, bench, "train")
    metrics, item_scores, notes = {}, {}, {}
    for role in eval_roles(cfg, bench):
        items = load_items(cfg, bench, role)
        predictions = prior_predictions(bench, train, items)
        _write_jsonl(
            run_dir / f"predictions_{role}.jsonl",
            [
                {"id": it.id, "prompt": it.prompt, "raw": predictions[it.id], "prediction": predictions[it.id]}
                for it in items
            ],
        )
        scores = bench.score(predictions, items, metrics=cfg.eval.metrics)
        metrics[role] = scores.corpus
        if scores.items:
            item_scores[role] = scores.items
        if scores.notes:
            notes[role] = scores.notes
    info = {
        "train_time_s": 0.0,
        "mean_step_s": float("nan"),
        "steps": 0,
        "trainable_params": 0,
        "n_injected_tokens": 0,
        "n_train": len(train),
        "primary": (bench.spec.eval_split, bench.spec.primary_metric),
        "item_scores": item_scores,
        "metric_notes": notes,
    }
    return metrics, info


def _train_and_evaluate(
    cfg: RunConfig, run_dir: Path, backbones: Backbones, on_step: Callable[[dict[str, Any]], None] | None
) -> tuple[dict, dict]:
    from harness.runner.checkpoint import save_tensors
    from harness.runner.energy import OFF, TrainingEnergy
    from harness.runner.train import TRAIN_LOG_NAME

    if cfg.method_config.get("control") == "prior":
        return _evaluate_prior(cfg, run_dir)

    launched = launched_rank()
    device = None
    if launched:
        import torch

        local = int(os.environ.get("LOCAL_RANK", "0"))
        device = f"cuda:{local}" if torch.cuda.is_available() else "cpu"
    cell = CellRun(cfg, run_dir, backbones, device=device, on_step=on_step)
    encoder = cell.encoder()
    # Table S7 measures the training (the feature cache it fills included); rank 0 measures the node
    energy = TrainingEnergy(cfg.energy if not launched or launched[0] == 0 else OFF, cell.device.type == "cuda")
    energy.start()
    try:
        llm, model, state, result, world = _train(cfg, run_dir, cell, encoder)
    except BaseException:
        energy.abandon()  # a failed training has no energy row; its meter's thread must not outlive it
        raise
    info = {
        "energy": energy.stop(result.steps, result.resumed_from),
        "train_time_s": result.train_time_s,
        "mean_step_s": result.mean_step_s,
        "steps": result.steps,
        "resumed_from": result.resumed_from,
        "first_loss": _first_logged_loss(run_dir / TRAIN_LOG_NAME),
        "final_loss": result.final_loss,
        "trainable_params": sum(p.numel() for p in state.parameters()),
        "n_injected_tokens": int(getattr(model, "n_injected_tokens", -1)),
        "n_train": len(cell.items("train")),
        "world_size": world,
        "hardware": hardware_label(cell.device, world),
        "feature_cache": sorted(cell.feature_entries),
        "primary": (cell.bench.spec.eval_split, cell.bench.spec.primary_metric),
    }
    if launched and launched[0] != 0:
        return {}, info  # rank 0 evaluates and writes
    save_tensors(
        {k: v.detach().cpu().contiguous() for k, v in state.trainable_state_dict().items()}, run_dir / WEIGHTS_NAME
    )
    metrics = cell.evaluate(encoder, llm, model)
    info["item_scores"] = cell.item_scores
    info["metric_notes"] = cell.metric_notes
    return metrics, info


def _first_logged_loss(log: Path) -> float:
    """The loss of the first optimiser step (the train log always records it; a resume keeps it)."""
    try:
        with log.open() as f:
            return float(json.loads(f.readline())["loss"])
    except (OSError, ValueError, KeyError, TypeError):
        return float("nan")


def primary_of(cfg: RunConfig) -> tuple[str, str]:
    from benchmarks import get_benchmark

    try:
        spec = get_benchmark(cfg.dataset).spec
        return spec.eval_split, spec.primary_metric
    except Exception:  # noqa: BLE001 - a failed row must still be written when the registry itself is broken
        return "val", "unknown"


def execute_cell(
    cfg: RunConfig,
    runs_dir: Path,
    results_dir: Path,
    backbones: Backbones | None = None,
    on_step: Callable[[dict[str, Any]], None] | None = None,
) -> CellOutcome:
    """Run one cell (resuming from its checkpoint), write its run directory and results file; never raises for a
    failure of the run itself, a write error included (status failed/unstable is recorded where it can be)."""
    import torch

    from harness.runner.checkpoint import CHECKPOINT_NAME
    from harness.runner.tracking import Tracker, finish_tracking, open_tracker
    from harness.runner.train import TRAIN_LOG_NAME, UnstableTraining
    from harness.store.items import items_path, write_item_scores
    from harness.store.results import write_result

    runs_dir, results_dir = Path(runs_dir), Path(results_dir)
    run_dir = runs_dir / cfg.run_id
    chash = cfg.config_hash()
    launched = launched_rank()
    writes = not launched or launched[0] == 0  # rank 0 writes the run directory and the results row
    outcome = CellOutcome(run_id=cfg.run_id, status="ok", config_hash=chash)
    info: dict[str, Any] = {}
    tracker = Tracker()
    t0 = time.perf_counter()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if writes:
            sweep_temp_files(run_dir)  # this process owns the cell: temp files here are a killed writer's
            tracker = open_tracker(cfg, run_dir)
            write_json(
                run_dir / CONFIG_NAME,
                {
                    "config": cfg.to_dict(),
                    "config_hash": chash,
                    "run_id": cfg.run_id,
                    "code_version": code_version(),
                    "host": socket.gethostname(),
                },
            )
        outcome.metrics, info = _train_and_evaluate(cfg, run_dir, backbones or Backbones(), tracker.chain(on_step))
        outcome.train_time_s, outcome.mean_step_s = info["train_time_s"], info["mean_step_s"]
    except UnstableTraining as e:
        outcome.status, outcome.error = "unstable", str(e)
    except Exception as e:  # noqa: BLE001 - any failure of a cell is recorded as its result, the matrix goes on
        outcome.status, outcome.error = "failed", traceback.format_exc() + _write_error_hint(e, run_dir)
    if not writes:
        return outcome
    primary = info.pop("primary", None) or primary_of(cfg)
    item_scores = info.pop("item_scores", None) if outcome.status == "ok" else None
    notes = info.get("metric_notes") if outcome.status == "ok" else None
    extra = {k: info.get(k) for k in ("trainable_params", "n_injected_tokens", "n_train", "first_loss", "final_loss")}
    extra["hardware"] = info.get("hardware", "")  # keys the measured step times of later estimates
    extra["torch_threads"] = torch.get_num_threads()  # the numbers may depend on it (CPU reductions)
    extra.update(info.get("energy") or {})
    finish_tracking(tracker, outcome.metrics, {"train_time_s": outcome.train_time_s, **extra})
    try:
        files = manifest(
            run_dir,
            [CONFIG_NAME, TRAIN_LOG_NAME, WEIGHTS_NAME, *sorted(p.name for p in run_dir.glob("predictions_*.jsonl"))],
        )
        write_json(
            run_dir / METRICS_NAME,
            {
                "status": outcome.status,
                "error": outcome.error,
                "config_hash": chash,
                "metrics": outcome.metrics,
                "info": info,
                FILES_FIELD: files,
                "wall_s": time.perf_counter() - t0,
            },
        )
        items_file = items_path(results_dir, cfg.run_id)
        if item_scores:  # written first: a results row never points at per-item scores of an earlier attempt
            write_item_scores(item_scores, results_dir, cfg.run_id)
        else:
            items_file.unlink(missing_ok=True)
        write_result(result_rows(cfg, outcome, extra, primary, notes), results_dir, cfg.run_id)
    except OSError as e:
        outcome.status = "failed"
        outcome.error = f"could not write the results of {cfg.run_id}: {e}" + _write_error_hint(e, results_dir)
        # the disk may still be full: then the missing row makes the next run retry the cell
        with contextlib.suppress(OSError):
            write_result(result_rows(cfg, outcome, extra, primary), results_dir, cfg.run_id)
        return outcome
    if outcome.status == "ok" and not cfg.train.keep_checkpoint:
        (run_dir / CHECKPOINT_NAME).unlink(missing_ok=True)  # the trained weights stay in trainable.safetensors
    return outcome


def _write_error_hint(e: BaseException, where: Path) -> str:
    """The last line of a failed cell's error when the disk refused a write (the matrix prints that line)."""
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
        return (
            f"\nwrite error ({e.strerror}) under {where}: free space or make it writable, then run the same "
            f"command with --retry-failed (the cell resumes from its checkpoint)"
        )
    return ""


def _items_digest(items: Sequence[Any]) -> str:
    import hashlib

    return hashlib.sha256("\n".join(it.input_key for it in items).encode()).hexdigest()[:12]


def record_status(cfg: RunConfig, results_dir: Path, status: str, error: str) -> CellOutcome:
    """Write the results row of a cell whose worker could not (killed, cancelled, lost job): used by executors. A
    write error is said on stderr, not raised: the row is then missing and the next run retries the cell."""
    from harness.store.results import write_result

    outcome = CellOutcome(run_id=cfg.run_id, status=status, error=error, config_hash=cfg.config_hash())
    try:
        Path(results_dir).mkdir(parents=True, exist_ok=True)
        write_result(result_rows(cfg, outcome, {}, primary_of(cfg)), Path(results_dir), cfg.run_id)
    except OSError as e:
        print(f"could not record {cfg.run_id} as {status} in {results_dir}: {e}", file=sys.stderr)
    return outcome
