"""Test-wide settings: offline hubs (a hub call fails fast instead of retrying) and a fixed CPU thread count."""

import os
import sys

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


PLUGIN = "methods.contrib.qpmapper8"  # the README's one-file connector


@pytest.fixture
def isolated_registry(monkeypatch):
    """Registrations made by the test (plugins, README examples) vanish afterwards: other tests see the 11 methods."""
    from methods import registry

    monkeypatch.setattr(registry, "_PRESETS", dict(registry._PRESETS))
    monkeypatch.setattr(registry, "_BLOCKS", {kind: dict(blocks) for kind, blocks in registry._BLOCKS.items()})
    plugin = sys.modules.pop(PLUGIN, None)
    yield
    sys.modules.pop(PLUGIN, None)
    if plugin is not None:
        sys.modules[PLUGIN] = plugin
