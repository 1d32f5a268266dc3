"""Typed run configuration: `RunConfig` (one cell, hashed) with its `TrainSettings` / `EvalSettings`, the named
profiles (`paper`, `cpu`, `smoke`: files in `profiles/`) that fill them, and the study config the command line parses
(`harness.config.study`)."""

from harness.config.profiles import PROFILES, Profile, default_profile_name, get_profile
from harness.config.run_config import (
    PAPER_LR_GRID,
    REPORTED_SPLIT,
    EnergySettings,
    EvalSettings,
    RunConfig,
    TrackingSettings,
    TrainSettings,
)

__all__ = [
    "PAPER_LR_GRID",
    "PROFILES",
    "REPORTED_SPLIT",
    "EnergySettings",
    "EvalSettings",
    "Profile",
    "RunConfig",
    "TrackingSettings",
    "TrainSettings",
    "default_profile_name",
    "get_profile",
]
