"""Run profiles: `paper` (Appendix C.3 recipe), `cpu` (the whole study on a 2-core laptop in minutes) and `smoke`
(seconds per run, for tests and CI). The profile name and every setting it implies enter each run's config hash.
"""
from __future__ import annotations

from dataclasses import dataclass

from harness.config.run_config import REPORTED_SPLIT, EvalSettings, TrainSettings


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    lr: float
    grad_clip: float
    train: TrainSettings
    eval: EvalSettings
    # seconds per optimiser step assumed by --dry-run before any step time has been measured
    est_step_s: float
    est_eval_item_s: float
    # the official per-cell lr, clip and batch replace the profile's (the paper-scale profile); a CPU profile keeps
    # its own budget and lr (harness.config.recipes)
    official_budget: bool = False


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            name="paper",
            summary="Appendix C.3: effective batch 128, the benchmark's epochs, augmentation, beam 3, 50 new tokens",
            lr=8e-4,
            grad_clip=0.8,
            train=TrainSettings(),
            eval=EvalSettings(),
            est_step_s=2.0,
            est_eval_item_s=0.05,
            official_budget=True,
        ),
        Profile(
            name="cpu",
            summary="2-core CPU in minutes: frozen-feature cache, 96 px images, 24 steps of batch 8, "
            "greedy <= 16 new tokens on 48 items, captions scored with CIDEr + BLEU-4 only",
            lr=1e-3,
            grad_clip=0.8,
            train=TrainSettings(
                max_steps=24,
                batch_size=8,
                micro_batch_size=8,
                max_target_tokens=16,
                augment=False,
                train_size=192,
                image_size=96,
                checkpoint_every=8,
                log_every=4,
                feature_batch_size=32,
            ),
            eval=EvalSettings(num_beams=1, max_new_tokens=16, batch_size=24, splits=(REPORTED_SPLIT,), size=48,
                              metrics=("CIDEr", "BLEU_4")),
            est_step_s=1.5,
            est_eval_item_s=0.12,
        ),
        Profile(
            name="smoke",
            summary="seconds per run for tests/CI: 4 steps of batch 4 on 16 items, greedy 6 new tokens on 8 items",
            lr=1e-3,
            grad_clip=0.8,
            train=TrainSettings(
                max_steps=4,
                batch_size=4,
                micro_batch_size=2,
                max_target_tokens=12,
                augment=False,
                train_size=16,
                image_size=64,
                checkpoint_every=2,
                log_every=1,
                feature_batch_size=16,
            ),
            eval=EvalSettings(num_beams=1, max_new_tokens=6, batch_size=8, splits=(REPORTED_SPLIT,), size=8,
                              metrics=("CIDEr", "BLEU_4")),
            est_step_s=0.5,
            est_eval_item_s=0.05,
        ),
    )
}


def default_profile_name() -> str:
    """`paper` when a GPU is present, else `cpu`."""
    import torch

    return "paper" if torch.cuda.is_available() else "cpu"


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}") from None
