"""Frozen-feature cache: reuse, invalidation, corruption handling."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from harness.backbones.base import EncoderMeta, PerceptualEncoder
from harness.runner.features import FeatureCache


class CountingEncoder(PerceptualEncoder):
    """Tiny encoder: raw = list of 4 floats; `scale` is a preprocessing setting recorded in meta.preprocess."""

    def __init__(self, scale: float = 1.0, n_levels: int = 3, final_norm: bool = False):
        meta = EncoderMeta("counting", "audio", (4,), True, 8, n_levels, {"scale": scale}, final_norm)
        super().__init__(meta, "counting-weights", lambda raw: torch.tensor(raw, dtype=torch.float32) * scale)
        self.proj = torch.nn.Linear(1, 8)
        self.norm = torch.nn.LayerNorm(8)
        self.calls = 0
        self.items_seen = 0

    def _hidden_levels(self, x, n_levels):
        self.calls += 1
        self.items_seen += x.shape[0]
        tokens = self.proj(x[..., None])  # [B, 4, 8]
        tokens = torch.cat([tokens.mean(1, keepdim=True), tokens], 1)
        return torch.stack([tokens * (i + 1) for i in range(n_levels)], 1)

    def final_norm_module(self):
        return self.norm


def make_items(n, offset=0):
    return [(f"in{i}", (lambda i=i: [float(i), 1.0, 2.0, float(-i)])) for i in range(offset, offset + n)]


def test_second_pass_makes_no_encoder_calls(tmp_path):
    enc = CountingEncoder()
    cache = FeatureCache(tmp_path)
    first = cache.get_or_compute(enc, "syn-coco", "train", make_items(10), n_levels=2, batch_size=4)
    assert enc.calls == 3 and enc.items_seen == 10
    enc.calls = 0
    second = cache.get_or_compute(enc, "syn-coco", "train", make_items(10), n_levels=2, batch_size=4)
    assert enc.calls == 0
    assert set(second) == {f"in{i}" for i in range(10)}
    x = second["in3"]
    assert x.dtype == torch.float16 and x.shape == (2, 5, 8)
    with torch.no_grad():
        expected = enc(enc.preprocess([3.0, 1.0, 2.0, -3.0])[None], 2)[0].half()
    assert torch.equal(x, expected) and torch.equal(first["in3"], x)


def test_new_items_only_are_computed(tmp_path):
    enc = CountingEncoder()
    cache = FeatureCache(tmp_path)
    cache.get_or_compute(enc, "d", "train", make_items(5), n_levels=1)
    enc.items_seen = 0
    store = cache.get_or_compute(enc, "d", "train", make_items(8), n_levels=1)
    assert enc.items_seen == 3 and len(store) == 8


@pytest.mark.parametrize("change", ["levels", "preprocess", "split", "dataset", "final_norm"])
def test_changes_invalidate(tmp_path, change):
    cache = FeatureCache(tmp_path)
    cache.get_or_compute(CountingEncoder(), "d", "train", make_items(4), n_levels=2)
    enc = CountingEncoder(scale=0.5 if change == "preprocess" else 1.0, final_norm=change == "final_norm")
    dataset, split = ("d2" if change == "dataset" else "d"), ("val" if change == "split" else "train")
    n_levels = 3 if change == "levels" else 2
    store = cache.get_or_compute(enc, dataset, split, make_items(4), n_levels)
    assert enc.items_seen == 4
    assert store["in1"].shape[0] == n_levels


def test_truncated_shard_is_rebuilt_not_used(tmp_path):
    enc = CountingEncoder()
    cache = FeatureCache(tmp_path, shard_bytes=1)  # one shard per batch
    cache.get_or_compute(enc, "d", "train", make_items(6), n_levels=2, batch_size=2)
    entry = cache.entry_dir(enc, "d", "train", 2)
    shards = json.loads((entry / "manifest.json").read_text())["shards"]
    assert len(shards) == 3
    victim = entry / shards[1]["file"]
    victim.write_bytes(victim.read_bytes()[:-10])
    enc.items_seen = 0
    with pytest.warns(UserWarning, match="truncated or corrupt"):
        store = cache.get_or_compute(enc, "d", "train", make_items(6), n_levels=2, batch_size=2)
    assert enc.items_seen == 2  # only the two items of the damaged shard
    with torch.no_grad():
        expected = enc(enc.preprocess([2.0, 1.0, 2.0, -2.0])[None], 2)[0].half()
    assert torch.equal(store["in2"], expected)
    enc.items_seen = 0
    cache.get_or_compute(enc, "d", "train", make_items(6), n_levels=2, batch_size=2)
    assert enc.items_seen == 0


def test_corrupt_manifest_and_same_length_corruption(tmp_path):
    enc = CountingEncoder()
    cache = FeatureCache(tmp_path)
    cache.get_or_compute(enc, "d", "train", make_items(3), n_levels=1)
    entry = cache.entry_dir(enc, "d", "train", 1)
    shard = next(entry.glob("shard-*.safetensors"))
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF  # same length, different bytes: caught by the checksum
    shard.write_bytes(bytes(data))
    enc.items_seen = 0
    with pytest.warns(UserWarning):
        cache.get_or_compute(enc, "d", "train", make_items(3), n_levels=1)
    assert enc.items_seen == 3
    (entry / "manifest.json").write_text("{not json")
    enc.items_seen = 0
    with pytest.warns(UserWarning, match="manifest"):
        store = cache.get_or_compute(enc, "d", "train", make_items(3), n_levels=1)
    assert enc.items_seen == 3 and len(store) == 3
    assert len(list(entry.glob("shard-*.safetensors"))) == 1  # orphans removed


def test_store_survives_pickling_and_rejects_unknown_keys(tmp_path):
    import pickle

    enc = CountingEncoder()
    store = FeatureCache(tmp_path).get_or_compute(enc, "d", "train", make_items(2), n_levels=1)
    _ = store["in0"]
    clone = pickle.loads(pickle.dumps(store))
    assert torch.equal(clone["in1"], store["in1"])
    with pytest.raises(KeyError, match="not in the feature cache"):
        store["nope"]


def test_bad_levels_rejected(tmp_path):
    with pytest.raises(ValueError, match="n_levels=4"):
        FeatureCache(tmp_path).get_or_compute(CountingEncoder(), "d", "train", make_items(1), n_levels=4)
