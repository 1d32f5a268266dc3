"""The study: one typed configuration of a `run_matrix.py` invocation, the command line and its YAML form alike.

It holds the method x dataset x seed (x lr) matrix and where its results go, the training and evaluation settings
of its cells (a profile's values unless overridden; they are fields of every `RunConfig`, so each override enters
the config hash), the executor options and the mode. `harness.cli` parses it (jsonargparse: every field is a flag
such as `--train.max_steps 200` and a key of a `--config` file) and `harness.runner.matrix.plan` resolves it into
`RunConfig` cells. The attribute docstrings are the `--help` text; `SHORTHANDS` keep the flags of the first
command line (`--num-beams`, `--report-only`, `--plugin`, ...) working.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from harness.config.run_config import EnergySettings, EvalSettings, TrackingSettings, TrainSettings, _jsonable

Mode = Literal["run", "report-only", "describe-methods", "doctor", "gc"]


@dataclass(frozen=True)
class LocalOptions:
    """Local executor (--executor local)"""

    max_parallel: int = 1
    """cells run at once, each in its own process with its share of the CPU threads"""


@dataclass(frozen=True)
class SlurmOptions:
    """SLURM executor (--executor slurm): what every job asks SLURM for"""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str = "24:00:00"
    """job time limit: minutes or a SLURM time (MM:SS, HH:MM:SS, D-HH, D-HH:MM:SS); quote it in YAML"""
    constraint: str | None = None
    gpus_per_node: int = 8
    """GPUs per job (the paper's 8xV100 nodes), one task (a DDP rank) per GPU; 0 on a cluster without GPUs"""
    tasks_per_node: int | None = None
    """ranks per job (null: one per GPU, one without GPUs)"""
    cpus_per_task: int | None = None
    mem_gb: int | None = None
    array_parallelism: int = 32
    """running jobs of the whole study at once, across all its arrays and waves (the arrays' throttles share it)"""
    sbatch_args: tuple[str, ...] = ()
    """extra sbatch options, KEY=VALUE or a bare KEY (e.g. mail-type=END, exclusive)"""
    detach: bool = False
    """submit the waves that fit now and return; the same command, run again, collects the jobs and submits more"""


@dataclass(frozen=True)
class DescribeOptions:
    """--mode describe-methods: the backbone dimensions Table 1 is counted for"""

    d_llm: int = 4096
    """LLM hidden size (LLaMA-7B)"""
    d_feats: int = 1024
    """encoder width (CLIP-L)"""
    llm_layers: int = 32
    """LLM depth (LLaMA-7B)"""
    n_tokens: int = 256
    """encoder patch tokens, CLS excluded (16x16)"""


@dataclass(frozen=True)
class StudyConfig:
    """Study: the method x dataset x seed (x lr) matrix and its sweep axes (backbones, train fraction, mapping width),
    where it runs and where its results go"""

    mode: Mode = "run"
    """run the matrix | render every table from cached results | write Table 1 | check the environment | list
    (with --yes remove) run directories and feature-cache entries no current result refers to"""
    yes: bool = False
    """with --mode gc: remove what it lists (else a dry run)"""
    methods: str | tuple[str, ...] = "all"
    """method ids (a list or comma separated) or 'all'"""
    controls: bool = True
    """add the blind controls to the methods (methods.controls: `prior`, the training answers' prior, and `blind`,
    prompt tuning without perceptual input): reference rows of every table, never ranked"""
    datasets: str | tuple[str, ...] = "offline"
    """dataset ids (a list or comma separated) or all | paper | offline"""
    seeds: int | str | tuple[int, ...] = 1
    """a count N (seeds 0..N-1) or a list of seeds (comma separated or a list)"""
    variants: str | tuple[str, ...] | None = None
    """recipe variant(s): official (as the official code ran it; the default) | paper (as the appendix writes it)"""
    profile: str | None = None
    """smoke | quick | cpu | paper (default: paper with a GPU, else cpu); its values are the defaults of lr, grad_clip,
    train and eval"""
    lr: float | None = None
    """peak learning rate (default: the profile's; 8e-4 in the paper)"""
    lr_grid: bool = False
    """sweep lr over {1e-3, 8e-4, 4e-4} and pick it on validation"""
    grad_clip: float | None = None
    """gradient clipping value (default: the profile's)"""
    llm: str | tuple[str, ...] | None = None
    """LLM backbone id(s) (or local Hugging Face model directories) overriding each benchmark's default; several (a
    list or comma separated) sweep the LLM axis (Table 5, right)"""
    encoder: str | tuple[str, ...] | None = None
    """perceptual encoder id(s) overriding each benchmark's default; several sweep the encoder axis (Table 5, left)"""
    train_fraction: str | float | tuple[float, ...] | None = None
    """fractions in (0, 1] of each benchmark's whole train split to train on (Figure 3, right), a list or comma
    separated, or `paper` (0.0012,0.01,0.1,1); nested seeded subsets: for one seed a larger fraction contains a
    smaller one (null: the benchmark's own train split, e.g. 1% for a 1% column)"""
    width: str | int | tuple[int, ...] | None = None
    """mapping widths (Figure 3, left), a list or comma separated: a QPMapper's d_embed (MAPL, DePALM), the hidden
    units of an MLP_2 replacing a linear projection (LiMBeR, eP-ALM); the controls run once, without it"""
    data_root: str | None = None
    """root directory of the real datasets (default: $DEPALM_DATA_ROOT)"""
    plugins: tuple[str, ...] = ()
    """modules imported first (they register blocks, presets or benchmarks)"""
    results: tuple[str, ...] = ()
    """results directory (default: results/); several only with --mode report-only"""
    runs_dir: str | None = None
    """where run directories go (default: <results>/runs)"""
    out: str | None = None
    """report output directory (default: reports/)"""
    dry_run: bool = False
    """list the cells to run with an ETA; run nothing"""
    retry_failed: bool = False
    """re-run cells whose stored status is failed or unstable"""
    verify_cache: bool = False
    """before running, re-hash every shard of the feature cache (opening an entry only checks sizes and samples)
    and delete those that do not match; the cells that need them recompute their items"""
    executor: str = "local"
    """inline | local | slurm"""
    train: TrainSettings = field(default_factory=TrainSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    energy: EnergySettings = field(default_factory=EnergySettings)
    local: LocalOptions = field(default_factory=LocalOptions)
    slurm: SlurmOptions = field(default_factory=SlurmOptions)
    describe: DescribeOptions = field(default_factory=DescribeOptions)

    @property
    def executor_options(self) -> Any:
        """The options of the chosen executor: the field named like it (None for one without options)."""
        options = getattr(self, self.executor, None)
        return options if isinstance(options, (LocalOptions, SlurmOptions)) else None

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


# ---- the flags of the first command line, kept as shorthands for fields ---------------------------------------


@dataclass(frozen=True)
class Shorthand:
    """A flag that sets one study field: to `const` when given bare, else to its value; the values of a repeatable
    flag form one list (which replaces a list set by a `--config` file)."""

    key: str
    const: str | None = None
    repeat: bool = False


_SLURM_FLAGS = (
    "partition",
    "account",
    "qos",
    "time",
    "constraint",
    "gpus_per_node",
    "cpus_per_task",
    "mem_gb",
    "array_parallelism",
)
_DESCRIBE_FLAGS = ("d_llm", "d_feats", "llm_layers", "n_tokens")

SHORTHANDS: dict[str, Shorthand] = {
    "--report-only": Shorthand("mode", "report-only"),
    "--describe-methods": Shorthand("mode", "describe-methods"),
    "--doctor": Shorthand("mode", "doctor"),
    "--gc": Shorthand("mode", "gc"),
    "--yes": Shorthand("yes", "true"),
    "--no-controls": Shorthand("controls", "false"),
    "--keep-checkpoints": Shorthand("train.keep_checkpoint", "true"),
    "--variant": Shorthand("variants"),
    "--lr-grid": Shorthand("lr_grid", "true"),
    "--train-fraction": Shorthand("train_fraction"),
    "--grad-clip": Shorthand("grad_clip"),
    "--data-root": Shorthand("data_root"),
    "--plugin": Shorthand("plugins", repeat=True),
    "--results": Shorthand("results", repeat=True),
    "--runs-dir": Shorthand("runs_dir"),
    "--dry-run": Shorthand("dry_run", "true"),
    "--retry-failed": Shorthand("retry_failed", "true"),
    "--verify-cache": Shorthand("verify_cache", "true"),
    "--num-beams": Shorthand("eval.num_beams"),
    "--max-new-tokens": Shorthand("eval.max_new_tokens"),
    "--max-parallel": Shorthand("local.max_parallel"),
    "--tracker": Shorthand("tracking.tracker"),
    **{"--" + k.replace("_", "-"): Shorthand(f"slurm.{k}") for k in _SLURM_FLAGS},
    "--sbatch-arg": Shorthand("slurm.sbatch_args", repeat=True),
    "--detach": Shorthand("slurm.detach", "true"),
    **{"--" + k.replace("_", "-"): Shorthand(f"describe.{k}") for k in _DESCRIBE_FLAGS},
}


def flag_names(key: str) -> str:
    """How a field is spelt on the command line, e.g. `--eval.num_beams (--num-beams)`, for messages."""
    return f"--{key}" + "".join(f" ({flag})" for flag, s in SHORTHANDS.items() if s.key == key and s.const is None)
