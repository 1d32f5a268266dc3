"""Whisper audio encoder in torch, with a reader for CTranslate2 `model.bin` weights (embedded audio backbone).

Unlike transformers' WhisperEncoder it accepts log-mel inputs shorter than 30 s (fewer tokens on CPU).
"""

from __future__ import annotations

import struct
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_CT2_DTYPES: dict[int, type[np.generic] | str] = {
    0: np.float32,
    1: np.int8,
    2: np.int16,
    3: np.int32,
    4: np.float16,
    5: "bfloat16",
}


def read_ct2(path: str | Path) -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 model.bin (format: version, name, revision, typed arrays, aliases)."""
    buf = Path(path).read_bytes()
    pos = 0

    def unpack(fmt: str):
        nonlocal pos
        (value,) = struct.unpack_from(fmt, buf, pos)
        pos += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal pos
        n = unpack("H")
        s = buf[pos : pos + n - 1].decode()  # stored NUL-terminated
        pos += n
        return s

    unpack("I")  # binary version
    string()  # model name
    unpack("I")  # revision
    out: dict[str, np.ndarray] = {}
    for _ in range(unpack("I")):
        name = string()
        shape = [unpack("I") for _ in range(unpack("B"))]
        dtype = _CT2_DTYPES[unpack("B")]
        nbytes = unpack("I")
        raw = buf[pos : pos + nbytes]
        pos += nbytes
        if dtype == "bfloat16":
            arr = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype)
        out[name] = arr.reshape(shape)
    for _ in range(unpack("I")):
        alias, target = string(), string()
        out[alias] = out[target]
    return out


@dataclass(frozen=True)
class WhisperEncoderConfig:
    n_mels: int = 80
    d_model: int = 384
    n_heads: int = 6
    n_layers: int = 4
    max_positions: int = 1500


class WhisperBlock(nn.Module):
    def __init__(self, d: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.attn_ln = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)  # fused as in CTranslate2 (the key bias is zero)
        self.out = nn.Linear(d, d)
        self.mlp_ln = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.attn_ln(x)).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, t, d)
        x = x + self.out(a)
        return x + self.fc2(F.gelu(self.fc1(self.mlp_ln(x))))


class WhisperAudioEncoder(nn.Module):
    """Conv stem (stride 2) + sinusoidal positions + pre-LN transformer blocks. log-mel [B, n_mels, T] ->
    hidden states of every block, each [B, T/2, d]."""

    positions: torch.Tensor  # registered buffer

    def __init__(self, config: WhisperEncoderConfig):
        super().__init__()
        self.config = config
        d = config.d_model
        self.conv1 = nn.Conv1d(config.n_mels, d, 3, padding=1)
        self.conv2 = nn.Conv1d(d, d, 3, stride=2, padding=1)
        self.register_buffer("positions", torch.zeros(config.max_positions, d))
        self.blocks = nn.ModuleList(WhisperBlock(d, config.n_heads) for _ in range(config.n_layers))
        self.ln_post = nn.LayerNorm(d)  # kept for weight fidelity; levels are raw block outputs (paper B.1)

    def forward(self, mel: torch.Tensor) -> list[torch.Tensor]:
        x = F.gelu(self.conv2(F.gelu(self.conv1(mel)))).transpose(1, 2)
        if x.shape[1] > self.config.max_positions:
            raise ValueError(f"log-mel has {mel.shape[-1]} frames; at most {2 * self.config.max_positions} (30 s)")
        x = x + self.positions[: x.shape[1]]
        hidden = []
        for block in self.blocks:
            x = block(x)
            hidden.append(x)
        return hidden


def convert_ct2_encoder(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """CTranslate2 Whisper variables -> (state dict of WhisperAudioEncoder, config dict)."""
    w = read_ct2(path)
    layers = sorted({int(k.split("/")[1][6:]) for k in w if k.startswith("encoder/layer_") and k.count("/") > 2})
    config = WhisperEncoderConfig(
        n_mels=w["encoder/conv1/weight"].shape[1],
        d_model=w["encoder/conv1/weight"].shape[0],
        n_heads=int(w["encoder/num_heads"]),
        n_layers=len(layers),
        max_positions=w["encoder/position_encodings/encodings"].shape[0],
    )
    names = {
        "conv1.weight": "conv1/weight",
        "conv1.bias": "conv1/bias",
        "conv2.weight": "conv2/weight",
        "conv2.bias": "conv2/bias",
        "ln_post.weight": "layer_norm/gamma",
        "ln_post.bias": "layer_norm/beta",
        "positions": "position_encodings/encodings",
    }
    per_layer = {
        "attn_ln.weight": "self_attention/layer_norm/gamma",
        "attn_ln.bias": "self_attention/layer_norm/beta",
        "qkv.weight": "self_attention/linear_0/weight",
        "qkv.bias": "self_attention/linear_0/bias",
        "out.weight": "self_attention/linear_1/weight",
        "out.bias": "self_attention/linear_1/bias",
        "mlp_ln.weight": "ffn/layer_norm/gamma",
        "mlp_ln.bias": "ffn/layer_norm/beta",
        "fc1.weight": "ffn/linear_0/weight",
        "fc1.bias": "ffn/linear_0/bias",
        "fc2.weight": "ffn/linear_1/weight",
        "fc2.bias": "ffn/linear_1/bias",
    }
    for i in layers:
        names.update({f"blocks.{i}.{a}": f"layer_{i}/{b}" for a, b in per_layer.items()})
    state = {ours: torch.from_numpy(w["encoder/" + theirs].astype(np.float32)) for ours, theirs in names.items()}
    return state, asdict(config)
