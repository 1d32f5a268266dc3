"""Encode throughput of each embedded encoder (harness/backbones, embedded default) at the settings the profiles use.

For every (encoder, input setting): cached load time, tokens per item, preprocessing rate (one raw input at a time,
as the feature cache does) and forward rate on a preprocessed batch (all levels returned), as items/s, plus the
forward rate relative to the first row. Rounds alternate the rows' order (ABBA); medians.

Usage: python -m bench.encoders [--image-sizes 224,112] [--frames 8] [--seconds 10] [--batch-size 8] [--rounds 3]
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import alternating, describe_machine, machine, median, parser, print_table, setup, write_json


def _raw_inputs(modality: str, n: int, frames: int, seconds: float) -> list[Any]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    image = lambda: Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))  # noqa: E731
    if modality == "image":
        return [image() for _ in range(n)]
    if modality == "video":
        return [[image() for _ in range(frames)] for _ in range(n)]
    return [((rng.standard_normal(int(16000 * seconds)) * 0.1).astype(np.float32), 16000) for _ in range(n)]


def main(argv: list[str] | None = None) -> int:
    p = parser("encoders", __doc__.split("\n")[0])
    p.add_argument("--image-sizes", default="224,112", help="comma list of px for the image encoders")
    p.add_argument("--frames", type=int, default=8, help="frames per clip for the video encoder")
    p.add_argument("--seconds", type=float, default=10.0, help="audio clip length (Whisper max_seconds)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args(argv)
    try:
        sizes = [int(s) for s in args.image_sizes.split(",") if s]
    except ValueError:
        p.error(f"--image-sizes {args.image_sizes!r}: expected a comma list of integers")
    if not sizes or min(sizes) < 1 or args.frames < 1 or args.batch_size < 1 or args.rounds < 1 or args.seconds <= 0:
        p.error("--image-sizes, --frames, --batch-size, --rounds and --seconds must be positive")
    setup(args.threads)
    import torch

    from harness.backbones import load_encoder

    info = machine(args.threads)
    settings = [(e, f"{s} px", {"image_size": s}) for e in ("clip-b16-embedded", "dinov2-s14-embedded") for s in sizes]
    settings = [(e, label, o) for e, label, o in settings if not (e.startswith("dinov2") and o["image_size"] % 14)]
    settings.append(
        (
            "video-clip-b16-embedded",
            f"{args.frames} frames @ {min(sizes)} px",
            {"frames": args.frames, "image_size": min(sizes)},
        )
    )
    settings.append(("whisper-tiny-embedded", f"{args.seconds:g} s audio", {"max_seconds": args.seconds}))

    rows: dict[str, dict[str, Any]] = {}
    batches: dict[str, tuple[Any, list[Any]]] = {}
    for enc_id, label, opts in settings:
        key = f"{enc_id} {label}"
        load_encoder(enc_id, **opts)  # first load converts once and fills the weights cache
        t0 = time.perf_counter()
        enc = load_encoder(enc_id, **opts)
        load_s = time.perf_counter() - t0
        batches[key] = (enc, _raw_inputs(enc.meta.modality, args.batch_size, args.frames, args.seconds))
        rows[key] = {
            "encoder": enc_id,
            "setting": label,
            "tokens": enc.meta.n_tokens,
            "levels": enc.meta.n_levels,
            "load_s": load_s,
            "preprocess_s": [],
            "forward_s": [],
        }
    with torch.no_grad():
        for enc, raws in batches.values():  # warm-up: first-call allocations and kernel selection
            enc(torch.stack([enc.preprocess(r) for r in raws]), enc.meta.n_levels)
        for _, key in alternating(args.rounds, list(batches)):
            enc, raws = batches[key]
            t0 = time.perf_counter()
            x = torch.stack([enc.preprocess(r) for r in raws])
            t1 = time.perf_counter()
            enc(x, enc.meta.n_levels)
            rows[key]["preprocess_s"].append(t1 - t0)
            rows[key]["forward_s"].append(time.perf_counter() - t1)
    first = next(iter(rows.values()))
    for r in rows.values():
        r["preprocess_items_s"] = args.batch_size / median(r["preprocess_s"])
        r["forward_items_s"] = args.batch_size / median(r["forward_s"])
        r["vs_first"] = r["forward_items_s"] / (args.batch_size / median(first["forward_s"]))

    print(describe_machine(info))
    print(
        f"batch {args.batch_size}, {args.rounds} rounds (medians); forward returns all levels; "
        f"'x first' = forward rate relative to {first['encoder']} {first['setting']}"
    )
    print_table(
        list(rows.values()),
        [
            ("encoder", "encoder", ""),
            ("setting", "input", ""),
            ("tokens", "tokens/item", "d"),
            ("load_s", "cached load s", ".2f"),
            ("preprocess_items_s", "preprocess items/s", ".1f"),
            ("forward_items_s", "forward items/s", ".2f"),
            ("vs_first", "x first", ".2f"),
        ],
    )
    write_json(args.out, {"machine": info, "args": vars(args), "rows": list(rows.values())})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
