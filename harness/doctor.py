"""`run_matrix.py --doctor`: one line per check of the environment, `ok` / `missing` with the fix.

Embedded backbones must load offline and be really pretrained, shown by a figure against a random-init copy of the
same architecture: LLM perplexity of English text; top-1 retrieval between two augmented views of a handful of
images (image, video) or synthesized sounds (audio), which a random encoder only does from low-level statistics.
"""

from __future__ import annotations

import math
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

RETRIEVAL_MARGIN = 0.2  # pretrained top-1 must beat the random-init copy by this much
PERPLEXITY_RATIO = 20.0  # random-init perplexity must exceed the pretrained one by this factor
VIEW_PAIRS = 2  # retrieval figures average this many independent pairs of views
DOCTOR_IMAGE_SIZE = 112  # small inputs keep the image checks to seconds on a laptop CPU
ENGLISH = (
    "The quick brown fox jumps over the lazy dog. A group of children are playing football in the park "
    "while their parents watch from a bench. The weather was sunny and warm, so we decided to have lunch "
    "outside on the terrace."
)


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # a missing optional item (SPICE jars, SLURM, GPUs, real datasets) does not fail

    def line(self) -> str:
        status = "ok" if self.ok else ("missing" if self.required else "missing (optional)")
        text = f"{status:<19} {self.name:<28} {self.detail}"
        return text + (f"  -> fix: {self.fix}" if not self.ok and self.fix else "")


# ---------------------------------------------------------------- Java, SPICE


def _java_version(java: str) -> tuple[int, str] | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stderr or out.stdout).strip()
    m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not m:
        return None
    major = int(m.group(2)) if m.group(1) == "1" else int(m.group(1))  # "1.8.0" means Java 8
    return major, text.splitlines()[0]


def check_java() -> CheckResult:
    java = shutil.which("java")
    found = _java_version(java) if java else None
    if found is None:
        return CheckResult(
            "java (PTB tokenizer, METEOR)",
            False,
            "no working `java` on PATH",
            "apt-get install openjdk-17-jre-headless (or any Java >= 8 on PATH); scripts/install.sh does this",
        )
    return CheckResult("java (PTB tokenizer, METEOR)", True, f"{found[1]} ({java})")


def check_spice() -> list[CheckResult]:
    """SPICE and SPIDEr as the caption scorer will see them: both ask `spice_setup.probe()`."""
    from benchmarks.metrics import spice_setup

    status = spice_setup.probe()
    name = "SPICE (CoreNLP 3.6.0 jars)"
    if not status.spice_ok:
        return [CheckResult(name, False, f"{status.missing} (SPICE/SPIDEr are skipped)", status.fix, required=False)]
    spice = CheckResult(name, True, f"jars in {status.jar_dir}, Java {status.java_major} ({status.java})")
    why = f" ({status.spider_why})" if status.spider_why else ""
    return [spice, CheckResult("SPIDEr", True, f"computed by {status.spider_by}{why}")]


# ---------------------------------------------------------------- pretrained-vs-random figures


def perplexity(llm: Any, text: str = ENGLISH) -> float:
    import torch

    ids = llm.tokenizer(text, return_tensors="pt").input_ids.to(llm.model.device)
    with torch.no_grad():
        loss = llm.model(input_ids=ids, labels=ids).loss
    return math.exp(loss.float().item())


def sample_images() -> list[Any]:
    """A handful of distinct real images available offline: matplotlib's sample photos and terrain maps, the
    easy-vqa shapes, plus scikit-image / scikit-learn sample photos when those are installed."""
    import matplotlib
    import numpy as np
    from PIL import Image

    data = Path(matplotlib.get_data_path()) / "sample_data"
    images = [
        Image.open(data / f).convert("RGB") for f in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png", "logo2.png")
    ]
    for file, key, cmap in (
        ("topobathy.npz", "topo", "terrain"),
        ("jacksboro_fault_dem.npz", "elevation", "gist_earth"),
    ):
        a = np.load(data / file)[key].astype(np.float64)
        a = (a - a.min()) / (a.max() - a.min())
        images.append(Image.fromarray((matplotlib.colormaps[cmap](a)[..., :3] * 255).astype(np.uint8)))
    try:
        from skimage import data as skdata

        images += [Image.fromarray(getattr(skdata, n)()).convert("RGB") for n in ("astronaut", "coffee", "chelsea")]
    except ImportError:
        pass
    try:
        from sklearn.datasets import load_sample_images

        images += [Image.fromarray(a) for a in load_sample_images().images]
    except ImportError:
        pass
    try:
        import easy_vqa

        folder = Path(easy_vqa.__file__).parent / "data" / "train" / "images"
        images += [Image.open(p).convert("RGB") for p in sorted(folder.glob("*.png"))[:3]]
    except ImportError:
        pass
    return images


def image_views(images: list[Any], seed: int) -> list[Any]:
    """One augmented view per image: random resized crop, flip, colour jitter, sometimes grayscale."""
    import torch
    from torchvision import transforms as T

    aug = T.Compose(
        [
            T.RandomResizedCrop(224, scale=(0.3, 0.7)),
            T.RandomHorizontalFlip(),
            T.ColorJitter(0.4, 0.4, 0.4, 0.1),
            T.RandomGrayscale(0.2),
        ]
    )
    torch.manual_seed(seed)
    random.seed(seed)
    return [aug(im) for im in images]


def synth_sounds(sr: int = 16000, seconds: float = 2.0) -> list[Any]:
    """Distinct synthetic sounds: vowel-like harmonics, chirps, chords, click train, AM/FM tones, noises."""
    import numpy as np

    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(0)

    def harmonics(f0, n=12, decay=0.7):
        return sum(decay**k * np.sin(2 * np.pi * f0 * (k + 1) * t) for k in range(n))

    sounds = [
        harmonics(120),
        harmonics(220, 6, 0.4),
        np.sin(2 * np.pi * (200 + 1500 * t / seconds) * t),
        np.sin(2 * np.pi * (2500 - 1100 * t / seconds) * t),
        sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0)),
        (np.arange(len(t)) % (sr // 8) < 40).astype(float),
        np.sin(2 * np.pi * 800 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)),
        np.sin(2 * np.pi * 600 * t + 8 * np.sin(2 * np.pi * 6 * t)),
        np.convolve(rng.standard_normal(len(t)), np.ones(30) / 30, "same"),
        np.sign(np.sin(2 * np.pi * np.repeat([330, 440, 550, 660], len(t) // 4 + 1)[: len(t)] * t)),
    ]
    return [(s / (np.abs(s).max() + 1e-9)).astype(np.float32) for s in sounds]


def sound_views(sounds: list[Any], seed: int, sr: int = 16000) -> list[Any]:
    """One perturbed view per sound: gain, delay (up to 0.25 s), additive noise at 10-20 dB SNR."""
    import numpy as np

    rng = np.random.default_rng(seed)
    views = []
    for s in sounds:
        x = np.roll(s, int(rng.integers(0, sr // 4))) * rng.uniform(0.3, 1.0)
        snr = rng.uniform(10, 20)
        noise = rng.standard_normal(len(x)) * np.sqrt(np.mean(x**2) / 10 ** (snr / 10))
        views.append(((x + noise).astype(np.float32), sr))
    return views


def mean_retrieval(encoder: Any, make_views: Callable[[int], list[Any]], pairs: int = VIEW_PAIRS) -> float:
    """`retrieval_top1` averaged over several pairs of views (views from seeds 2k and 2k+1)."""
    return sum(retrieval_top1(encoder, make_views(2 * k), make_views(2 * k + 1)) for k in range(pairs)) / pairs


def retrieval_top1(encoder: Any, views_a: list[Any], views_b: list[Any], n_levels: int = 4) -> float:
    """Top-1 accuracy of matching view a_i to b_i (both directions) with cosine similarity of the mean-pooled
    tokens of the last levels (each layer-normalized: raw residual streams have a few huge channels)."""
    import torch
    import torch.nn.functional as F

    n_levels = min(n_levels, encoder.meta.n_levels)

    def embed(views):
        x = torch.stack([encoder.preprocess(v) for v in views])
        with torch.no_grad():
            h = encoder(x, n_levels).float()
        h = F.layer_norm(h, h.shape[-1:]).mean(2).flatten(1)
        return F.normalize(h, dim=-1)

    sim = embed(views_a) @ embed(views_b).T
    target = torch.arange(len(views_a))
    return ((sim.argmax(1) == target).float().mean() + (sim.argmax(0) == target).float().mean()).item() / 2


# ---------------------------------------------------------------- embedded backbones


def _compare(
    name: str, measure: Callable[[bool], float], label: str, better: Callable[[float, float], bool], criterion: str
) -> CheckResult:
    """Load + measure pretrained and random-init copies; ok when `better(pretrained, random)`."""
    from harness.backbones import BackboneNotAvailable

    try:
        t0 = time.perf_counter()
        pre = measure(True)
        seconds = time.perf_counter() - t0
        rand = measure(False)
    except BackboneNotAvailable as e:
        return CheckResult(name, False, str(e).splitlines()[0], "run scripts/install.sh")
    except Exception as e:  # noqa: BLE001  (a broken conversion or package must show up under the backbone's own name)
        return CheckResult(
            name,
            False,
            f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
            "reinstall with scripts/install.sh and delete the converted weights cache (DEPALM_CACHE)",
        )
    ok = better(pre, rand)
    detail = (
        f"loaded offline ({seconds:.1f} s incl. measuring); {label} {pre:.{_digits(pre)}f} pretrained vs "
        f"{rand:.{_digits(rand)}f} random-init ({criterion})"
    )
    return CheckResult(
        name,
        ok,
        detail,
        ""
        if ok
        else "reinstall with scripts/install.sh and delete the converted "
        "weights cache (DEPALM_CACHE) so they are converted again",
    )


def _digits(x: float) -> int:
    return 2 if x < 10 else 0


def check_llm(llm_id: str = "smollm2-135m") -> CheckResult:
    from harness.backbones import load_llm

    def measure(pretrained: bool) -> float:
        import torch

        torch.manual_seed(0)
        return perplexity(load_llm(llm_id, pretrained=pretrained))

    return _compare(llm_id, measure, "perplexity", lambda p, r: p * PERPLEXITY_RATIO < r, "English text")


def check_image_encoder(encoder_id: str) -> CheckResult:
    from harness.backbones import load_encoder

    images = sample_images()

    def measure(pretrained: bool) -> float:
        import torch

        torch.manual_seed(0)
        enc = load_encoder(encoder_id, image_size=DOCTOR_IMAGE_SIZE, pretrained=pretrained)
        return mean_retrieval(enc, lambda seed: image_views(images, seed))

    return _compare(
        encoder_id, measure, "view retrieval top-1", lambda p, r: p >= r + RETRIEVAL_MARGIN, f"{len(images)} images"
    )


def check_video_encoder(encoder_id: str = "video-clip-b16-embedded") -> CheckResult:
    """Clips = one image repeated over 2 frames; views as for images."""
    from harness.backbones import load_encoder

    images = sample_images()

    def measure(pretrained: bool) -> float:
        import torch

        torch.manual_seed(0)
        enc = load_encoder(encoder_id, frames=2, image_size=DOCTOR_IMAGE_SIZE, pretrained=pretrained)
        return mean_retrieval(enc, lambda seed: [[v, v] for v in image_views(images, seed)])

    return _compare(
        encoder_id,
        measure,
        "view retrieval top-1",
        lambda p, r: p >= r + RETRIEVAL_MARGIN,
        f"{len(images)} 2-frame clips",
    )


def check_audio_encoder(encoder_id: str = "whisper-tiny-embedded") -> CheckResult:
    from harness.backbones import load_encoder

    sounds = synth_sounds()

    def measure(pretrained: bool) -> float:
        import torch

        torch.manual_seed(0)
        enc = load_encoder(encoder_id, max_seconds=2.0, pretrained=pretrained)
        return mean_retrieval(enc, lambda seed: sound_views(sounds, seed))

    return _compare(
        encoder_id,
        measure,
        "view retrieval top-1",
        lambda p, r: p >= r + RETRIEVAL_MARGIN,
        f"{len(sounds)} synthesized sounds",
    )


# ---------------------------------------------------------------- data, SLURM, GPUs


def check_datasets() -> list[CheckResult]:
    try:
        from benchmarks import get_benchmark, list_benchmarks
    except ImportError as e:
        return [CheckResult("datasets", False, f"benchmarks registry unavailable ({e})", required=False)]
    root = os.environ.get("DEPALM_DATA_ROOT")
    results = [
        CheckResult(
            "DEPALM_DATA_ROOT",
            bool(root),
            root or "not set (the offline suite needs no data)",
            "export DEPALM_DATA_ROOT=/path/with/<dataset>/folders (or --data-root, or DEPALM_DATA_<ID>)",
            required=False,
        )
    ]
    for bench_id in list_benchmarks("paper"):
        try:
            reason = get_benchmark(bench_id).availability()
        except Exception as e:  # noqa: BLE001  (a broken loader must not stop the other checks)
            reason = f"availability check failed: {e}"
        lines = [ln.strip() for ln in (reason or "").splitlines() if ln.strip()]
        hints = [ln for ln in lines if ln.startswith(("get it from", "point to it with"))]
        results.append(
            CheckResult(
                f"dataset {bench_id}",
                reason is None,
                "found" if reason is None else lines[0],
                "; ".join(hints) or " ".join(lines[1:]),
                required=False,
            )
        )
    return results


def check_slurm() -> CheckResult:
    sinfo = shutil.which("sinfo")
    if sinfo is None:
        return CheckResult(
            "SLURM (sinfo)",
            False,
            "sinfo not on PATH (local executors still work)",
            "run on a SLURM login node, or scripts/slurm-local.sh install && start",
            required=False,
        )
    try:
        out = subprocess.run([sinfo, "-h", "-o", "%P %a %D"], capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return CheckResult("SLURM (sinfo)", False, "sinfo timed out", "check slurmctld", required=False)
    if out.returncode != 0:
        return CheckResult(
            "SLURM (sinfo)",
            False,
            (out.stderr.strip() or "sinfo failed").splitlines()[0],
            "start the controller (scripts/slurm-local.sh start) or check SLURM_CONF",
            required=False,
        )
    parts = [" ".join(line.split()) for line in out.stdout.strip().splitlines()]
    return CheckResult("SLURM (sinfo)", True, "partitions: " + ("; ".join(parts) or "none"))


def check_gpus() -> CheckResult:
    import torch

    if not torch.cuda.is_available():
        return CheckResult(
            "GPUs",
            False,
            "none visible to torch (CPU profile)",
            "only needed for the paper profile: install a CUDA build of torch on a GPU machine",
            required=False,
        )
    names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return CheckResult("GPUs", True, f"{len(names)}: " + ", ".join(names))


def check_cpu_bf16() -> CheckResult:
    """What `--train.backbone_dtype auto` (the cpu profile's) resolves to on this CPU."""
    from harness.backbones.precision import cpu_has_native_bf16

    if cpu_has_native_bf16():
        return CheckResult("CPU bfloat16", True, "native (AVX512-BF16/AMX): auto runs CPU backbones in bfloat16")
    return CheckResult(
        "CPU bfloat16",
        False,
        "not native (no AVX512-BF16/AMX): auto runs CPU backbones in float32 (emulated bfloat16 is ~20x slower)",
        "nothing to fix; a CPU with AVX512-BF16 or AMX roughly halves the cpu profile's step time",
        required=False,
    )


def default_checks() -> list[Callable[[], CheckResult | list[CheckResult]]]:
    return [
        check_java,
        check_spice,
        check_llm,
        lambda: check_image_encoder("clip-b16-embedded"),
        lambda: check_image_encoder("dinov2-s14-embedded"),
        check_video_encoder,
        check_audio_encoder,
        check_datasets,
        check_slurm,
        check_gpus,
        check_cpu_bf16,
    ]


def run_doctor(
    checks: list[Callable[[], CheckResult | list[CheckResult]]] | None = None, out: TextIO | None = None
) -> int:
    """Print one line per check; exit code 1 when a required check fails, else 0."""
    out = out or sys.stdout
    if checks is None:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # keep the report to one line per check
        checks = default_checks()
    failed = False
    for check in checks:
        try:
            results = check()
        except Exception as e:  # noqa: BLE001  (report and go on: the doctor must survive a broken environment)
            name = getattr(check, "__name__", "check").removeprefix("check_")
            results = CheckResult(name, False, f"check crashed: {type(e).__name__}: {e}")
        for r in results if isinstance(results, list) else [results]:
            print(r.line(), file=out, flush=True)
            failed |= r.required and not r.ok
    return 1 if failed else 0
