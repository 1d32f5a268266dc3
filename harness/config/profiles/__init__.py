"""Run profiles, one named YAML file each beside this module: `paper` (Appendix C.3 recipe), `cpu` (the laptop study:
every method x 3 seeds on one offline benchmark in about 30 min on 2 cores), `quick` (a first look in under 5 min,
which cannot rank) and `smoke` (seconds per run, for tests and CI).

A profile's lr, grad_clip, train and eval values are the defaults of a study (harness.config.study), which the
command line and `--config` files override; the profile name and every resolved setting enter each run's config
hash. A file's `train` / `eval` list what differs from the TrainSettings / EvalSettings defaults (the paper's).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from importlib.resources import files
from typing import Any

import yaml

from harness.config.run_config import EvalSettings, TrainSettings, field_values


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    lr: float
    grad_clip: float
    train: TrainSettings
    eval: EvalSettings
    # seconds per optimiser step assumed by --dry-run before any step time has been measured
    est_step_s: float
    est_eval_item_s: float
    # the official per-cell lr, clip and batch replace the profile's (the paper-scale profile); a CPU profile keeps
    # its own budget and lr (harness.config.recipes)
    official_budget: bool = False


def parse_profile(name: str, text: str) -> Profile:
    """A profile from its YAML text; a ValueError names an unknown, missing or mistyped key."""
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"profile {name}: expected a mapping of {', '.join(_keys(Profile))}")
    data = dict(data)
    settings: dict[str, Any] = {}
    for key, cls in (("train", TrainSettings), ("eval", EvalSettings)):
        values = data.pop(key, None) or {}
        unknown = sorted(set(values) - set(_keys(cls)))
        if unknown:
            raise ValueError(
                f"profile {name}: unknown {key} setting(s) {', '.join(unknown)}; valid: {', '.join(_keys(cls))}"
            )
        settings[key] = cls(**field_values(values, cls))
    expected = [k for k in _keys(Profile) if k not in ("name", "train", "eval")]
    optional = {f.name for f in fields(Profile) if f.default is not MISSING}
    missing = [k for k in expected if k not in data and k not in optional]
    unknown = sorted(set(data) - set(expected))
    if missing or unknown:
        raise ValueError(
            f"profile {name}: missing key(s) {', '.join(missing) or '-'}, unknown key(s) "
            f"{', '.join(unknown) or '-'}; a profile has {', '.join(expected)}, train and eval"
        )
    kinds = {"summary": ((str,), "string"), "official_budget": ((bool,), "boolean")}
    for key in (k for k in expected if k in data):
        types, label = kinds.get(key, ((int, float), "number"))
        if type(data[key]) not in types:
            raise ValueError(f"profile {name}: {key} {data[key]!r} is not a {label}")
    return Profile(name=name, **field_values(data, Profile), **settings)


def _keys(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def _shipped() -> dict[str, Profile]:
    found = sorted((p for p in files(__name__).iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)
    return {
        p.name.removesuffix(".yaml"): parse_profile(p.name.removesuffix(".yaml"), p.read_text(encoding="utf-8"))
        for p in found
    }


# the registry: the shipped files; a plugin may add a Profile
PROFILES: dict[str, Profile] = _shipped()


def default_profile_name() -> str:
    """`paper` when a GPU is present, else `cpu`."""
    import torch

    return "paper" if torch.cuda.is_available() else "cpu"


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}") from None
