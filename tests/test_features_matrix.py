"""The feature cache of a matrix stores what each method reads: DePALM one level with every token, eP-ALM the CLS
token of its 6 levels; and `--verify-cache` re-hashes the cache before the cells run."""

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch

from harness.backbones.base import EncoderMeta, PerceptualEncoder

D, GRID, LEVELS = 32, (4, 4), 8


class TinyImageEncoder(PerceptualEncoder):
    """A 16-patch, 8-level image encoder small enough for a unit test, its levels fixed whatever the number asked."""

    def __init__(self):
        meta = EncoderMeta("tiny-image", "image", GRID, True, D, LEVELS, {"image_size": 16}, False)
        super().__init__(meta, "tiny-image-weights", self._pixels)
        torch.manual_seed(0)
        self.patch = torch.nn.Linear(48, D)
        self.blocks = torch.nn.ModuleList(torch.nn.Linear(D, D) for _ in range(LEVELS))

    @staticmethod
    def _pixels(image):
        x = np.asarray(image.convert("RGB").resize((16, 16)), dtype=np.float32) / 255
        return torch.from_numpy(x).permute(2, 0, 1)

    def _hidden_levels(self, x, n_levels):
        patches = x.unfold(2, 4, 4).unfold(3, 4, 4).permute(0, 2, 3, 1, 4, 5).flatten(3).flatten(1, 2)  # [B, 16, 48]
        h = self.patch(patches)
        h = torch.cat([h.mean(1, keepdim=True), h], 1)
        out = []
        for block in self.blocks:
            h = torch.tanh(block(h))
            out.append(h)
        return torch.stack(out[-n_levels:], 1)


@pytest.fixture
def cells(tmp_path, monkeypatch):
    from harness.cli import parse_study
    from harness.runner.cell import Backbones, CellRun
    from harness.runner.matrix import plan

    monkeypatch.setenv("DEPALM_CACHE", str(tmp_path / "cache"))
    study = parse_study(
        ["--methods", "epalm,depalm", "--no-controls", "--datasets", "syn-coco", "--profile", "smoke",
         "--results", str(tmp_path / "results")]
    )  # fmt: skip
    return {c.method: CellRun(c, tmp_path / "runs" / c.run_id, Backbones()) for c in plan(study).cells}


def _entries(root):
    out = {}
    for manifest in root.glob("*/manifest.json"):
        m = json.loads(manifest.read_text())
        out[(m["fields"]["level"], m["fields"]["tokens"])] = (manifest.parent, m)
    return out


def test_a_matrix_caches_what_each_method_reads(cells, tmp_path):
    from safetensors import safe_open

    from methods.extraction import extract

    enc = TinyImageEncoder()
    reads = {m: cell.features_fn(enc, "train", True) for m, cell in cells.items()}
    root = tmp_path / "cache" / "features"
    entries = _entries(root)
    assert set(entries) == {(LEVELS - 1, "all")} | {(lv, "cls") for lv in range(LEVELS - 6, LEVELS)}
    n_items = len(cells["depalm"].items("train"))
    t = 1 + GRID[0] * GRID[1]
    for (_, tokens), (directory, m) in entries.items():
        (shard,) = m["shards"]
        with safe_open(str(directory / shard["file"]), "pt") as f:
            assert f.get_slice("features").get_shape() == [n_items, t if tokens == "all" else 1, D]
    size = sum(p.stat().st_size for p in root.glob("*/shard-*.safetensors"))
    payload = n_items * D * 2 * (t + 6)  # fp16: DePALM's 17 tokens of one level + eP-ALM's CLS of 6 levels
    assert payload <= size < payload + 7 * 4096  # plus a small safetensors header per shard
    assert size < n_items * D * 2 * t * 6 / 4  # what one 6-level, every-token entry for both took before

    items = cells["epalm"].items("train")[:3]
    spec = cells["epalm"].feature_spec(enc)
    with torch.no_grad():
        live = enc(torch.stack([enc.preprocess(it.load_input()) for it in items]), 6)
    for method, cell in cells.items():
        cached = reads[method](items)
        assert cached.dtype == torch.float16
        expected = extract(live.half(), cell.preset.extraction, spec)
        assert torch.equal(extract(cached, cell.preset.extraction, spec), expected), method
    assert reads["epalm"](items).shape == (3, 6, 1, D) and reads["depalm"](items).shape == (3, 1, t, D)
    assert cells["epalm"].feature_entries.isdisjoint(cells["depalm"].feature_entries)
    assert len(cells["epalm"].feature_entries) == 6 and len(cells["depalm"].feature_entries) == 1


def test_verify_cache_flag_rehashes_before_the_cells(cells, tmp_path, capsys):
    from harness.cli import parse_study
    from harness.runner.matrix import _check_feature_cache

    cells["depalm"].features_fn(TinyImageEncoder(), "train", True)
    (shard,) = (tmp_path / "cache" / "features").glob("*/shard-*.safetensors")
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0x10  # (tests/test_features.py flips one the sampled check misses)
    shard.write_bytes(bytes(data))
    _check_feature_cache(parse_study(["--datasets", "syn-coco", "--profile", "smoke"]))
    assert shard.exists() and "verified" not in capsys.readouterr().out
    _check_feature_cache(parse_study(["--datasets", "syn-coco", "--profile", "smoke", "--verify-cache"]))
    out = capsys.readouterr()
    assert "1 shards" in out.out and "1 did not match" in out.out and shard.name in out.err
    assert not shard.exists()
