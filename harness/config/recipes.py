"""Per-cell recipe (Appendix C.3 "further adapt[ed] for each experiment"): the learning rate, gradient clipping,
batch and per-cell method overrides of one (method, benchmark) cell in its recipe variant.

`official`: the values of the official script for that cell (`official_cells.json`, one entry per
`experiments/**/*.sh` script, with its path:line). Under a profile with `official_budget` (the `paper` profile) the
script's lr and clip apply, and its batch: per-rank batch x 8 ranks x accumulation steps, micro-batches of the
per-rank batch, and the gradient summed over the accumulation steps as the official loop does. A CPU profile keeps
its own budget (steps, batch) and lr; only the method's own clipping (`MethodConfig.recipe`, e.g. c-attn's 0.05)
applies there, since clipping is not a matter of budget. Cell overrides of the method itself (the 1% R-QPMapper's
extra QPMapper, MSRVTT's time averaging, AudioCaps' patch-mean CLS) apply under every profile.
`paper`: the profile's lr and clip for every cell (Appendix C.3's alpha_max 8e-4 and g_clip 0.8 under `paper`), and
the one per-cell rule the text states (C.3: time averaging for LiMBeR^(1) and R-rand on MSRVTT).
An lr, clip or batch the user sets (flags or --config; one equal to the profile's counts as the profile's) wins;
`recipe_source` records where each value came from.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from harness.config.profiles import Profile
from harness.config.run_config import TrainSettings

OFFICIAL_CELLS = Path(__file__).with_name("official_cells.json")
# C.3: "when training LiMBeR^(1) and DePALM^{R-rand,L0} on MSRVTT, we average the patch tokens along the time
# dimension" (the official scripts average for LiMBeR^(all) instead; official_cells.json)
PAPER_CELL_EXTRACTION = {
    ("limber-1", "msrvtt"): {"time_pool": "mean"},
    ("depalm-r-rand", "msrvtt"): {"time_pool": "mean"},
}


@dataclass(frozen=True)
class OfficialCell:
    """One official script's settings for a (method, benchmark[, encoder]) cell."""

    method: str
    benchmark: str
    lr: float
    grad_clip: float
    per_rank_batch: int
    accumulate_steps: int
    script: str | None  # path:line in the official repository; None for a cell inferred without a script
    encoder: str | None = None  # None: the benchmark's own encoder
    mapping: dict[str, Any] = dataclasses.field(default_factory=dict)
    extraction: dict[str, Any] = dataclasses.field(default_factory=dict)
    inferred: str = ""  # why settings were inferred for a cell that has no script

    @property
    def source(self) -> str:
        return f"official:{self.script}" if self.script else f"inferred:{self.inferred}"


@dataclass(frozen=True)
class OfficialCells:
    ranks: int
    defaults: dict[str, Any]
    cells: dict[tuple[str, str, str | None], OfficialCell]

    def lookup(self, method: str, benchmark: str, encoder: str) -> OfficialCell | None:
        """The script of this cell: the one for this encoder if there is one, else the benchmark's own."""
        return self.cells.get((method, benchmark, encoder)) or self.cells.get((method, benchmark, None))


@lru_cache(maxsize=1)
def official_cells(path: Path = OFFICIAL_CELLS) -> OfficialCells:
    data = json.loads(path.read_text())
    cells: dict[tuple[str, str, str | None], OfficialCell] = {}
    for entry in data["cells"]:
        cell = OfficialCell(**entry)
        key = (cell.method, cell.benchmark, cell.encoder)
        if key in cells:
            raise ValueError(f"{path}: two entries for cell {key}")
        cells[key] = cell
    return OfficialCells(ranks=int(data["ranks"]), defaults=data["defaults"], cells=cells)


@dataclass(frozen=True)
class CellRecipe:
    lr: float
    grad_clip: float
    train: TrainSettings
    method_config: Any  # methods.MethodConfig with the cell's overrides
    source: dict[str, str]


def resolve_recipe(
    method_config: Any,
    dataset: str,
    encoder: str,
    profile: Profile,
    train: TrainSettings,
    lr: float | None = None,
    grad_clip: float | None = None,
    user_batch: bool = False,
) -> CellRecipe:
    """The recipe of one cell in the variant of `method_config` (a `methods.MethodConfig`). `train` holds the
    study's settings for this dataset; `lr` / `grad_clip` are the user's explicit values (None: not given);
    `user_batch`: the batch in `train` is the user's, not the profile's."""
    variant = method_config.variant
    own_clip = method_config.recipe.grad_clip
    cell_lr, cell_clip = profile.lr, own_clip or profile.grad_clip
    src = {
        "lr": f"profile:{profile.name}",
        "grad_clip": f"method:{method_config.id}" if own_clip else f"profile:{profile.name}",
        "batch": f"profile:{profile.name}",
    }
    extraction: dict[str, Any] = {}
    mapping: dict[str, Any] = {}
    base_id = method_config.id
    if variant == "official":
        table = official_cells()
        # a bias-tuned method without a script of its own takes the method's script
        cell = table.lookup(base_id, dataset, encoder) or table.lookup(base_id.split("+")[0], dataset, encoder)
        if cell is not None:
            mapping, extraction = cell.mapping, cell.extraction
            src["cell"] = cell.source
        if profile.official_budget and not user_batch:
            d = table.defaults
            accum = cell.accumulate_steps if cell else method_config.recipe.grad_accum or d["accumulate_steps"]
            bs = cell.per_rank_batch if cell else d["per_rank_batch"]
            train = dataclasses.replace(
                train, batch_size=bs * table.ranks * accum, micro_batch_size=bs, grad_sum_steps=accum
            )
            src["batch"] = cell.source if cell else f"no official script: defaults ({d['source']})"
        if profile.official_budget:
            d = table.defaults
            cell_lr = cell.lr if cell else d["lr"]
            cell_clip = cell.grad_clip if cell else own_clip or d["grad_clip"]
            where = cell.source if cell else f"no official script: defaults ({d['source']}) and method {base_id}"
            src.update(lr=where, grad_clip=where)
    else:
        extraction = PAPER_CELL_EXTRACTION.get((base_id.split("+")[0], dataset), {})
    if user_batch:
        src["batch"] = "user"
    if lr is not None:
        cell_lr, src["lr"] = lr, "user"
    if grad_clip is not None:
        cell_clip, src["grad_clip"] = grad_clip, "user"
    if mapping or extraction:
        method_config = method_config.with_options(
            mapping=mapping, extraction=dataclasses.replace(method_config.extraction, **extraction)
        )
    return CellRecipe(lr=cell_lr, grad_clip=cell_clip, train=train, method_config=method_config, source=src)
