"""Numeric precision of a cell (Appendix C.3: the frozen backbones in half precision, the trainable weights in fp32).

`TrainSettings.backbone_dtype` names the frozen backbones' dtype; the matrix resolves "auto" into a concrete one
before hashing (float16 where the cells run on a GPU, as the paper loads its models; on a CPU bfloat16 where it is
native, else float32), so the
config hash always records the dtype a result was computed in. Under a half-precision dtype the forward passes run
in autocast of that dtype, which keeps the fp32 trainable weights and casts the matmuls; float16 also scales the
loss (bfloat16 has fp32's range and needs no scaler).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # torch is imported where a cell runs: planning the matrix resolves names only
    import torch

BACKBONE_DTYPES = ("auto", "float32", "bfloat16", "float16")
HALF = ("bfloat16", "float16")


def resolve_backbone_dtype(name: str, on_gpu: bool) -> str:
    """The concrete dtype name of `name`. "auto": float16 on a GPU (paper C.3); on a CPU bfloat16 where the CPU
    computes it natively (about twice as fast as float32 there), else float32 (emulated bfloat16 is ~20x slower)."""
    if name not in BACKBONE_DTYPES:
        raise ValueError(f"backbone_dtype {name!r}: must be one of {', '.join(BACKBONE_DTYPES)}")
    if name == "auto":
        if on_gpu:
            return "float16"
        return "bfloat16" if cpu_has_native_bf16() else "float32"
    return name


def torch_dtype(name: str) -> torch.dtype:
    import torch

    if name not in BACKBONE_DTYPES[1:]:
        raise ValueError(f"backbone_dtype {name!r} is not resolved: must be one of {', '.join(BACKBONE_DTYPES[1:])}")
    return getattr(torch, name)


def autocast(device: torch.device, dtype_name: str) -> Any:
    """Autocast to the backbones' half dtype on `device`, or nothing under float32."""
    if dtype_name in HALF:
        import torch

        return torch.autocast(device.type, dtype=torch_dtype(dtype_name))
    return contextlib.nullcontext()


def needs_loss_scaling(device: torch.device, dtype_name: str) -> bool:
    return dtype_name == "float16" and device.type == "cuda"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 matmuls natively (AVX512-BF16 or AMX); elsewhere bfloat16 is emulated, and
    slower than float32."""
    try:
        flags = open("/proc/cpuinfo").read()  # noqa: SIM115 - one read of a small pseudo-file
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))
