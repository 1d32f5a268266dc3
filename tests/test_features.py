"""Frozen-feature cache: reuse, invalidation, corruption handling."""

import dataclasses
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch

from harness.backbones.base import EncoderMeta, PerceptualEncoder
from harness.runner.features import FeatureCache
from methods.extraction import FeatureRequest


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
        first = self.meta.n_levels - n_levels  # level i is the same whatever the number asked, as in a real encoder
        return torch.stack([tokens * (first + i + 1) for i in range(n_levels)], 1)

    def final_norm_module(self):
        return self.norm


def make_items(n, offset=0):
    return [(f"in{i}", (lambda i=i: [float(i), 1.0, 2.0, float(-i)])) for i in range(offset, offset + n)]


def test_second_pass_makes_no_encoder_calls(tmp_path):
    enc = CountingEncoder()
    cache = FeatureCache(tmp_path)
    first = cache.get_or_compute(enc, "syn-coco", "train", make_items(10), FeatureRequest(2), batch_size=4)
    assert enc.calls == 3 and enc.items_seen == 10
    enc.calls = 0
    second = cache.get_or_compute(enc, "syn-coco", "train", make_items(10), FeatureRequest(2), batch_size=4)
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
    cache.get_or_compute(enc, "d", "train", make_items(5), FeatureRequest(1))
    enc.items_seen = 0
    store = cache.get_or_compute(enc, "d", "train", make_items(8), FeatureRequest(1))
    assert enc.items_seen == 3 and len(store) == 8


@pytest.mark.parametrize("change", ["levels", "preprocess", "split", "dataset", "final_norm"])
def test_changes_invalidate(tmp_path, change):
    cache = FeatureCache(tmp_path)
    cache.get_or_compute(CountingEncoder(), "d", "train", make_items(4), FeatureRequest(2))
    enc = CountingEncoder(scale=0.5 if change == "preprocess" else 1.0, final_norm=change == "final_norm")
    dataset, split = ("d2" if change == "dataset" else "d"), ("val" if change == "split" else "train")
    n_levels = 3 if change == "levels" else 2
    store = cache.get_or_compute(enc, dataset, split, make_items(4), FeatureRequest(n_levels))
    assert enc.items_seen == 4
    assert store["in1"].shape[0] == n_levels


def test_truncated_shard_is_rebuilt_not_used(tmp_path):
    enc = CountingEncoder()
    cache = FeatureCache(tmp_path, shard_bytes=1)  # one shard per batch
    cache.get_or_compute(enc, "d", "train", make_items(6), FeatureRequest(2), batch_size=2)
    entry = cache.entry_dir(enc, "d", "train", 2)  # the last level
    shards = json.loads((entry / "manifest.json").read_text())["shards"]
    assert len(shards) == 3
    victim = entry / shards[1]["file"]
    victim.write_bytes(victim.read_bytes()[:-10])
    enc.items_seen = 0
    with pytest.warns(UserWarning, match="truncated or corrupt"):
        store = cache.get_or_compute(enc, "d", "train", make_items(6), FeatureRequest(2), batch_size=2)
    assert enc.items_seen == 2  # only the two items of the damaged shard
    with torch.no_grad():
        expected = enc(enc.preprocess([2.0, 1.0, 2.0, -2.0])[None], 2)[0].half()
    assert torch.equal(store["in2"], expected)
    enc.items_seen = 0
    cache.get_or_compute(enc, "d", "train", make_items(6), FeatureRequest(2), batch_size=2)
    assert enc.items_seen == 0


def test_corrupt_manifest_and_same_length_corruption(tmp_path):
    enc = CountingEncoder()
    cache = FeatureCache(tmp_path)
    cache.get_or_compute(enc, "d", "train", make_items(3), FeatureRequest(1))
    entry = cache.entry_dir(enc, "d", "train", 2)  # the last of 3 levels
    shard = next(entry.glob("shard-*.safetensors"))
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF  # same length, different bytes, in the sampled tail
    shard.write_bytes(bytes(data))
    enc.items_seen = 0
    with pytest.warns(UserWarning):
        cache.get_or_compute(enc, "d", "train", make_items(3), FeatureRequest(1))
    assert enc.items_seen == 3
    (entry / "manifest.json").write_text("{not json")
    enc.items_seen = 0
    with pytest.warns(UserWarning, match="manifest"):
        store = cache.get_or_compute(enc, "d", "train", make_items(3), FeatureRequest(1))
    assert enc.items_seen == 3 and len(store) == 3
    assert len(list(entry.glob("shard-*.safetensors"))) == 1  # orphans removed


def test_store_survives_pickling_and_rejects_unknown_keys(tmp_path):
    import pickle

    enc = CountingEncoder()
    store = FeatureCache(tmp_path).get_or_compute(enc, "d", "train", make_items(2), FeatureRequest(1))
    _ = store["in0"]
    clone = pickle.loads(pickle.dumps(store))
    assert torch.equal(clone["in1"], store["in1"])
    with pytest.raises(KeyError, match="not in the feature cache"):
        store["nope"]


def test_bad_levels_rejected(tmp_path):
    with pytest.raises(ValueError, match="n_levels=4"):
        FeatureCache(tmp_path).get_or_compute(CountingEncoder(), "d", "train", make_items(1), FeatureRequest(4))


class WideEncoder(PerceptualEncoder):
    """Encoder with large outputs (`d` wide, `n_patches` + CLS tokens) and fast, deterministic features."""

    def __init__(self, d: int = 512, n_patches: int = 16, n_levels: int = 1):
        meta = EncoderMeta("wide", "audio", (n_patches,), True, d, n_levels, {}, False)
        super().__init__(meta, "wide-weights", lambda raw: torch.tensor([float(raw)]))
        self.scale = torch.nn.Parameter(torch.ones(()), requires_grad=False)  # gives the encoder a device and dtype
        self.items_seen = 0

    def _hidden_levels(self, x, n_levels):
        self.items_seen += x.shape[0]
        t, d = self.meta.n_tokens, self.meta.d_feats
        base = torch.arange(t * d, dtype=torch.float32).view(1, 1, t, d) % 251
        return (base + x.view(-1, 1, 1, 1)).expand(-1, n_levels, -1, -1) / 256


def wide_items(n):
    return [(f"in{i}", (lambda i=i: i)) for i in range(n)]


def test_cls_and_patch_mean_requests_store_one_token_per_level(tmp_path):
    enc = CountingEncoder(n_levels=3)
    cache = FeatureCache(tmp_path)
    cls = cache.get_or_compute(enc, "d", "train", make_items(4), FeatureRequest(2, "cls"))
    mean = cache.get_or_compute(enc, "d", "train", make_items(4), FeatureRequest(2, "patch-mean"))
    with torch.no_grad():
        full = enc(enc.preprocess([1.0, 1.0, 2.0, -1.0])[None], 2)[0]
    assert cls["in1"].shape == (2, 1, 8) and torch.equal(cls["in1"], full[:, :1].half())
    assert torch.equal(mean["in1"], full[:, 1:].mean(1, keepdim=True).half())
    everything = cache.get_or_compute(enc, "d", "train", make_items(4), FeatureRequest(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        set(cls.entry_names + mean.entry_names + everything.entry_names)
    )
    assert len(set(cls.entry_names + mean.entry_names + everything.entry_names)) == 7  # 2 + 2 + 3, none shared
    enc.meta = dataclasses.replace(enc.meta, has_cls=False)
    with pytest.raises(ValueError, match="no CLS token"):
        cache.get_or_compute(enc, "d", "train", make_items(4), FeatureRequest(1, "cls"))


def test_levels_are_shared_between_requests(tmp_path):
    """A 1-level request and a 3-level one share the last level's entry; the second computes only what is new."""
    enc = CountingEncoder(n_levels=3)
    cache = FeatureCache(tmp_path)
    one = cache.get_or_compute(enc, "d", "train", make_items(4), FeatureRequest(1))
    three = cache.get_or_compute(enc, "d", "train", make_items(4), FeatureRequest(3))
    assert three.entry_names[-1] == one.entry_names[0] and len(list(tmp_path.iterdir())) == 3
    manifest = json.loads((tmp_path / one.entry_names[0] / "manifest.json").read_text())
    assert len(manifest["shards"]) == 1  # the shared level was not written again
    assert torch.equal(three["in2"][-1:], one["in2"])
    with torch.no_grad():
        assert torch.equal(three["in2"], enc(enc.preprocess([2.0, 1.0, 2.0, -2.0])[None], 3)[0].half())


def _rchar() -> int:
    with open("/proc/self/io") as f:
        return int(next(line for line in f if line.startswith("rchar:")).split()[1])


@pytest.mark.skipif(not os.path.exists("/proc/self/io"), reason="needs Linux's /proc/self/io")
def test_opening_a_warm_large_entry_reads_a_sample_not_the_whole(tmp_path):
    from harness.runner.features import _sample_spans

    enc = WideEncoder(d=1024, n_patches=256)  # 257 tokens x 1024 x fp16 = 526 KB an item
    cache = FeatureCache(tmp_path, shard_bytes=16 * 2**20)
    items = wide_items(128)  # 64 MiB in 4 shards
    cache.get_or_compute(enc, "d", "train", items, FeatureRequest(1), batch_size=32)
    size = sum(p.stat().st_size for p in tmp_path.glob("*/shard-*"))
    assert size > 64 * 2**20
    enc.items_seen = 0
    before = _rchar()
    store = cache.get_or_compute(enc, "d", "train", items, FeatureRequest(1))
    x = store["in77"]
    read = _rchar() - before
    assert enc.items_seen == 0
    shards = list(tmp_path.glob("*/shard-*"))
    sampled = sum(n for p in shards for _, n in _sample_spans(p.stat().st_size))
    manifests = sum(p.stat().st_size for p in tmp_path.glob("*/manifest.json"))
    assert read <= sampled + manifests + 2**16, f"opening read {read} bytes of a {size}-byte entry"
    assert read < size / 20
    with torch.no_grad():
        assert torch.equal(x, enc(enc.preprocess(77)[None], 1)[0].half())


def test_verify_cache_finds_a_flipped_byte_the_sampled_check_misses(tmp_path):
    from harness.runner.features import _sample_spans, verify_cache

    enc = WideEncoder()  # 17 tokens x 512 x fp16 = 17 KiB an item
    cache = FeatureCache(tmp_path)
    cache.get_or_compute(enc, "d", "train", wide_items(64), FeatureRequest(1))
    (shard,) = tmp_path.glob("*/shard-*.safetensors")
    data = bytearray(shard.read_bytes())
    covered = {o for start, n in _sample_spans(len(data)) for o in range(start, start + n)}
    offset = next(o for o in range(len(data) // 2, len(data)) if o not in covered)
    data[offset] ^= 0x40
    shard.write_bytes(bytes(data))
    enc.items_seen = 0
    store = cache.get_or_compute(enc, "d", "train", wide_items(64), FeatureRequest(1))
    assert enc.items_seen == 0  # the cheap check cannot see it
    report = verify_cache(tmp_path)
    assert report.shards == 1 and report.bad == [(shard.parent.name, shard.name)] and not shard.exists()
    assert "1 did not match" in report.summary()
    store = cache.get_or_compute(enc, "d", "train", wide_items(64), FeatureRequest(1))
    assert enc.items_seen == 64
    with torch.no_grad():
        assert all(
            torch.equal(store[k], enc(enc.preprocess(i)[None], 1)[0].half()) for i, (k, _) in enumerate(wide_items(64))
        )
    assert verify_cache(tmp_path).bad == []


@pytest.mark.parametrize("damage", ["truncate", "zero-tail", "header", "delete"])
def test_cheap_check_rejects_damage_it_can_see(tmp_path, damage):
    enc = WideEncoder()
    cache = FeatureCache(tmp_path)
    cache.get_or_compute(enc, "d", "train", wide_items(64), FeatureRequest(1))
    (shard,) = tmp_path.glob("*/shard-*.safetensors")
    data = bytearray(shard.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "zero-tail":  # an interrupted copy: right size, the end never written
        data[-4096:] = bytes(4096)
    elif damage == "header":
        data[10] ^= 0x01
    if damage == "delete":
        shard.unlink()
    else:
        shard.write_bytes(bytes(data))
    enc.items_seen = 0
    with pytest.warns(UserWarning, match="missing, truncated or corrupt"):
        store = cache.get_or_compute(enc, "d", "train", wide_items(64), FeatureRequest(1))
    assert enc.items_seen == 64
    with torch.no_grad():
        assert torch.equal(store["in5"], enc(enc.preprocess(5)[None], 1)[0].half())


def test_entries_of_the_previous_format_are_never_read(tmp_path):
    from harness.runner.features import verify_cache

    enc = CountingEncoder()
    cache = FeatureCache(tmp_path)
    entry = cache.entry_dir(enc, "d", "train", 2)
    entry.mkdir(parents=True)
    (entry / "manifest.json").write_text(json.dumps({"format": 1, "shards": []}))
    with pytest.warns(UserWarning, match="corrupt"):
        store = cache.get_or_compute(enc, "d", "train", make_items(2), FeatureRequest(1))
    assert enc.items_seen == 2 and len(store) == 2
    old = tmp_path / "0123456789abcdef01234567"  # a format-1 entry at its own key
    old.mkdir()
    (old / "manifest.json").write_text(json.dumps({"format": 1, "shards": [{"file": "x", "bytes": 1, "sha256": ""}]}))
    assert verify_cache(tmp_path).other_format == [old.name]


def test_home_cache_warning_on_a_cluster(tmp_path, monkeypatch):
    from harness.runner.features import home_cache_warning

    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("SLURM_JOB_ID", "SLURM_CLUSTER_NAME"):
        monkeypatch.delenv(var, raising=False)
    under_home = tmp_path / ".cache" / "depalm-bench" / "features"
    assert home_cache_warning(under_home) is None  # not on a cluster
    assert home_cache_warning(tmp_path.parent / "scratch", on_cluster=True) is None
    assert "DEPALM_CACHE" in (home_cache_warning(under_home, on_cluster=True) or "")
    monkeypatch.setenv("SLURM_JOB_ID", "42")
    with pytest.warns(UserWarning, match="under the home directory .* set DEPALM_CACHE"):
        FeatureCache(under_home)
