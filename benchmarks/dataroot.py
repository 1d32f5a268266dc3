"""Where a real dataset lives: CLI flag > DEPALM_DATA_<KEY> > DEPALM_DATA_ROOT > config file (Sec. 4.1 datasets).

Config file: $DEPALM_CONFIG, else ~/.config/depalm-bench/config.toml, with
    [data]
    root = "/datasets"             # <root>/<key>/ per dataset
    [data.paths]
    coco = "/elsewhere/coco"       # one dataset's folder
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

CONFIG_ENV = "DEPALM_CONFIG"
ROOT_ENV = "DEPALM_DATA_ROOT"
DEFAULT_CONFIG = Path("~/.config/depalm-bench/config.toml")


def dataset_env_var(key: str) -> str:
    return "DEPALM_DATA_" + key.upper().replace("-", "_")


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV, str(DEFAULT_CONFIG))).expanduser()


def _read_config() -> dict:
    path = config_path()
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f).get("data", {})
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"config file {path}: not valid TOML ({e}); fix it or point {CONFIG_ENV} elsewhere") from e


def resolve_dataset_dir(key: str, data_root: str | os.PathLike | None = None) -> tuple[Path | None, str]:
    """Return (folder of dataset `key`, how it was chosen); folder is None when nothing names it."""
    if data_root is not None:
        return Path(data_root).expanduser() / key, "--data-root"
    env = dataset_env_var(key)
    if os.environ.get(env):
        return Path(os.environ[env]).expanduser(), env
    if os.environ.get(ROOT_ENV):
        return Path(os.environ[ROOT_ENV]).expanduser() / key, ROOT_ENV
    cfg = _read_config()
    if key in cfg.get("paths", {}):
        return Path(cfg["paths"][key]).expanduser(), f"{config_path()} [data.paths] {key}"
    if "root" in cfg:
        return Path(cfg["root"]).expanduser() / key, f"{config_path()} [data] root"
    return None, "nothing"


def cache_dir() -> Path:
    """Writable cache for derived files (1% subsets): $DEPALM_CACHE, else $XDG_CACHE_HOME/depalm-bench, else
    ~/.cache/depalm-bench (the same root as the converted backbones and the feature cache)."""
    if os.environ.get("DEPALM_CACHE"):
        return Path(os.environ["DEPALM_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "depalm-bench"
