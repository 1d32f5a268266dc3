"""Does training data loading keep up with the step (Appendix C.3 augmentation, `harness.runner.loader`)?

Items/s of the training DataLoader with 0, 1, 2... workers on real-format inputs (JPEGs written to a temp dir,
decoded, augmented and preprocessed at the encoder's input size, 224 and 384 px by default; and the frozen-feature
cache path, fp16 features of a ViT-L read from safetensors), set against the items/s one rank's training step
consumes: from given step times (default: Table 4's 1.09 s/step for DePALM and 3.8 s/step for LiMBeR(all), batch
128 over 8 GPUs) and, with `--measure-step`, from the embedded model's step on this machine (its compute only: step
time less the time it waited for data). A ratio >= 1 keeps the step fed.

    python -m bench.data_loader [--sizes 224,384] [--workers 0,1,2] [--items 96] [--rounds 3] [--measure-step]
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import (
    alternating,
    cell_config,
    describe_machine,
    machine,
    median,
    parser,
    print_table,
    setup,
    write_json,
)

PAPER_STEPS = {"DePALM": 1.09, "LiMBeR(all)": 3.8}  # s/step on AudioCaps, Table 4 (8 GPUs, batch 128)
PAPER_BATCH, PAPER_RANKS = 128, 8
SOURCE_SIZE = (640, 480)  # a COCO-sized photograph


@dataclass
class FileItem:
    id: str
    input_key: str
    load_input: Callable[[], Any]
    load_train_input: Callable[[Any], Any] | None = None


def _open_rgb(path: Path):
    from PIL import Image

    with Image.open(path) as img:
        return img.convert("RGB")


def write_jpegs(directory: Path, n: int) -> list[FileItem]:
    """`n` photograph-like JPEGs (smooth colour fields plus noise, quality 90) and items that decode them."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    w, h = SOURCE_SIZE
    yy, xx = np.mgrid[0:h, 0:w]
    items = []
    for i in range(n):
        base = np.stack([np.sin(xx / rng.uniform(20, 90) + c) * np.cos(yy / rng.uniform(20, 90)) for c in range(3)])
        pixels = (127 + 90 * base.transpose(1, 2, 0) + rng.normal(0, 12, (h, w, 3))).clip(0, 255).astype(np.uint8)
        path = directory / f"{i:05d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        items.append(FileItem(f"i{i}", path.name, partial(_open_rgb, path)))
    return items


def write_features(directory: Path, n: int, tokens: int, d_feats: int) -> Any:
    """A feature store of `n` items as the cache keeps them (fp16 [1, tokens, d_feats], safetensors shards)."""
    import torch
    from safetensors.torch import save

    from harness.runner.features import TENSOR, FeatureStore

    per_shard = max(1, (256 * 2**20) // (tokens * d_feats * 2))
    shards = []
    g = torch.Generator().manual_seed(0)
    for start in range(0, n, per_shard):
        keys = [f"{i:05d}.jpg" for i in range(start, min(n, start + per_shard))]
        name = f"shard-{start:05d}.safetensors"
        (directory / name).write_bytes(save({TENSOR: torch.randn(len(keys), tokens, d_feats, generator=g).half()}))
        shards.append({"file": name, "keys": keys})
    return FeatureStore([directory], [shards])  # one level's entry


def loader_rate(inputs: Any, n_items: int, micro: int, workers: int, seed: int = 0) -> dict[str, float]:
    """Steady items/s of one pass over `n_items` draws in micro-batches (after the first batch, which pays for
    starting the workers), and the seconds to that first batch."""
    import torch

    from harness.runner.loader import Draw, make_loader

    draws = [Draw(i // (micro * 4), i % (micro * 4), i) for i in range(n_items)]  # 4 micro-batches a step
    batches = [draws[i : i + micro] for i in range(0, n_items, micro)]
    loader = make_loader(
        inputs,
        batches,
        num_workers=workers,
        prefetch_factor=2,
        pin_memory=True,
        device=torch.device("cuda" if torch.cuda.is_available() else "cpu"),
        seed=seed,
    )
    t0 = time.perf_counter()
    it = iter(loader)
    next(it)
    t1 = time.perf_counter()
    rest = sum(len(b) for b in it)
    t2 = time.perf_counter()
    del it
    return {"items_s": rest / (t2 - t1), "first_s": t1 - t0}


def measured_consumption(size: int, micro: int) -> dict[str, Any]:
    """Items/s the embedded model's training step consumes on this machine at `size` px, augmentation on, loaded
    in the training process: micro-batch items over the step's compute (step_s - data_s), median of its steps."""
    from harness.runner.cell import Backbones, CellRun

    records: list[dict[str, Any]] = []
    cfg = cell_config(
        "limber-1",
        profile="smoke",
        augment=True,
        image_size=size,
        max_steps=3,
        batch_size=micro,
        micro_batch_size=micro,
        train_size=micro * 3,
        checkpoint_every=10**9,
    )
    run_dir = Path(tempfile.mkdtemp(prefix="depalm-loader-step-"))
    try:
        cell = CellRun(cfg, run_dir / "run", Backbones(), device="cpu", on_step=records.append)
        encoder = cell.encoder()
        llm, model, state = cell.build(encoder)
        cell.train(encoder, llm, model, state)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    compute = median([r["step_s"] - r["data_s"] for r in records[1:] or records])
    return {"name": f"{cfg.encoder}+{cfg.llm} here", "items_s": micro / compute, "step_s": compute}


def main(argv: list[str] | None = None) -> int:
    p = parser("data_loader", __doc__.splitlines()[0])
    p.add_argument("--sizes", default="224,384", help="encoder input sizes, px (default: %(default)s)")
    p.add_argument("--workers", default="0,1,2", help="DataLoader worker counts (default: %(default)s)")
    p.add_argument("--items", type=int, default=96, help="items read per measurement (default: %(default)s)")
    p.add_argument("--micro", type=int, default=16, help="micro-batch size (default: %(default)s, the paper's)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (default: %(default)s)")
    p.add_argument(
        "--step-s",
        default=",".join(f"{k}={v}" for k, v in PAPER_STEPS.items()),
        help="name=seconds per step of --batch items over --ranks ranks (default: %(default)s)",
    )
    p.add_argument("--batch", type=int, default=PAPER_BATCH, help="global batch of --step-s (default: %(default)s)")
    p.add_argument("--ranks", type=int, default=PAPER_RANKS, help="ranks of --step-s (default: %(default)s)")
    p.add_argument("--measure-step", action="store_true", help="also time the embedded model's step here")
    args = p.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
        workers = [int(w) for w in args.workers.split(",")]
        given = {k: float(v) for k, v in (kv.split("=", 1) for kv in args.step_s.split(",") if kv)}
    except ValueError:
        p.error("--sizes and --workers take comma-separated integers, --step-s name=seconds pairs")
    if min(workers) < 0 or min(sizes) < 16 or args.items < 2 * args.micro or args.rounds < 1:
        p.error("--workers >= 0, --sizes >= 16, --items >= 2 micro-batches, --rounds >= 1")
    setup(args.threads)
    info = machine(args.threads)

    from benchmarks.augment import AugmentConfig
    from harness.backbones.preprocess import CLIP_MEAN, CLIP_STD, ImagePreprocess
    from harness.runner.loader import CachedInputs, LiveInputs, TrainInputs

    consumers = [
        {"name": f"{k} (paper)", "items_s": args.batch / args.ranks / s, "step_s": s} for k, s in given.items()
    ]
    tmp = Path(tempfile.mkdtemp(prefix="depalm-loader-"))
    try:
        items = write_jpegs(tmp, args.items)
        contenders: dict[str, tuple[Any, int]] = {}
        for size in sizes:
            # the official variant's augmentation: the crop outputs the encoder's input, bicubic
            aug = AugmentConfig(output_size=size, resample="bicubic")
            live = LiveInputs(items, ImagePreprocess(size, CLIP_MEAN, CLIP_STD, resize="squash"), "image", aug)
            for w in workers:
                contenders[f"jpeg {size}px augmented, {w} workers"] = (TrainInputs(live, lambda x: x), w)
        (tmp / "features").mkdir()
        store = write_features(tmp / "features", args.items, tokens=257, d_feats=1024)
        cached = TrainInputs(CachedInputs(items, store, 1), lambda x: x)
        for w in workers:
            contenders[f"feature cache 257x1024 fp16, {w} workers"] = (cached, w)
        rates: dict[str, list[dict[str, float]]] = {k: [] for k in contenders}
        for _, name in alternating(args.rounds, list(contenders)):
            inputs, w = contenders[name]
            rates[name].append(loader_rate(inputs, args.items, args.micro, w))
        if args.measure_step:
            consumers += [measured_consumption(size, args.micro) for size in sizes]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    for name, rs in rates.items():
        row: dict[str, Any] = {
            "loader": name,
            "items_s": median([r["items_s"] for r in rs]),
            "first_s": median([r["first_s"] for r in rs]),
        }
        for c in consumers:
            row[f"x {c['name']}"] = row["items_s"] / c["items_s"]
        rows.append(row)
    print(describe_machine(info))
    print("step consumption per rank: " + "; ".join(f"{c['name']}: {c['items_s']:.1f} items/s" for c in consumers))
    columns = [("loader", "loader", ""), ("items_s", "items/s", ".1f"), ("first_s", "first batch s", ".2f")]
    columns += [(f"x {c['name']}", f"x {c['name']}", ".2f") for c in consumers]
    print_table(rows, columns)
    print("x: loader items/s over the step's; >= 1 keeps the step fed")
    write_json(
        args.out,
        {
            "machine": info,
            "args": {k: str(v) for k, v in vars(args).items()},
            "consumers": consumers,
            "rows": rows,
            "rounds": rates,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
