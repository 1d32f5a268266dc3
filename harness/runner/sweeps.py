"""The study's sweep axes beyond method x dataset x seed (x lr): backbone lists (Table 5: encoders with a fixed LLM,
LLMs with a fixed encoder), training-set fractions (Figure 3 right) and mapping widths (Figure 3 left).

Each value of an axis is a field of every `RunConfig` it makes (`llm`, `encoder`, `train_fraction`, `width`), so
it enters the config hash, the results row and the report's sections. A train fraction is of the benchmark's whole
train split, drawn as the official low-data subsets are (benchmarks.subsets: one seeded shuffle, its head), so for
one seed a larger fraction contains every smaller one. A width is written into the method's mapping block
(methods.width); the blind controls have no mapping to widen and run once, without it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.errors import UsageError

# Figure 3 (right) spans 0.12% to 100% of COCO's training set (Sec. 4.3); the text names the ends, the 1% setting
# of the left panel and "training only on 10% of data"; the plot's other points are not given in the text.
FIGURE3_FRACTIONS = (0.0012, 0.01, 0.1, 1.0)


def _parts(value: str | float | Sequence[Any]) -> list[str]:
    if isinstance(value, str):
        parts = value.split(",")
    else:
        parts = [str(v) for v in value] if isinstance(value, Sequence) else [str(value)]
    return [p.strip() for p in parts if p.strip()]


def resolve_backbones(kind: str, value: str | Sequence[str] | None) -> list[str | None]:
    """The backbone ids of the `--llm` / `--encoder` axis ([None]: each benchmark's default), each checked."""
    from harness.backbones import list_encoders, list_llms

    if value is None:
        return [None]
    ids = list(dict.fromkeys(_parts(value)))
    if not ids:
        raise UsageError(f"--{kind}: an empty list; pass one id or several separated by commas")
    valid = list_llms() if kind == "llm" else list_encoders()
    for v in ids:
        if v not in valid and not (kind == "llm" and Path(v).is_dir()):
            extra = " or a local Hugging Face model directory" if kind == "llm" else ""
            raise UsageError(f"--{kind} {v!r}: unknown {kind} id; valid: {', '.join(valid)}{extra}")
    return list(ids)


def resolve_fractions(value: str | float | Sequence[float] | None) -> list[float | None]:
    """The `--train_fraction` axis ([None]: each benchmark's own train split), ascending."""
    if value is None:
        return [None]
    if isinstance(value, str) and value.strip() == "paper":
        return list(FIGURE3_FRACTIONS)
    return _sorted_axis(
        value,
        float,
        lambda f: math.isfinite(f) and 0 < f <= 1,
        f"--train_fraction {value!r}: pass fractions in (0, 1] separated by commas (e.g. 0.01,0.1,1) or "
        f"'paper' for Figure 3's {','.join(f'{f:g}' for f in FIGURE3_FRACTIONS)}",
    )


def resolve_widths(value: str | int | Sequence[int] | None) -> list[int | None]:
    """The `--width` axis ([None]: each method's own mapping), ascending."""
    if value is None:
        return [None]
    return _sorted_axis(
        value,
        int,
        lambda w: w >= 1,
        f"--width {value!r}: pass integer widths >= 1 separated by commas (e.g. 64,256,1024: a QPMapper's "
        f"d_embed, an MLP_2's hidden units)",
    )


def _sorted_axis(value: Any, convert: Any, valid: Any, usage: str) -> list[Any]:
    """The distinct values of a numeric sweep axis, ascending; `usage` is the error when one is not `valid`."""
    try:
        values = [convert(p) for p in _parts(value)]
        if not values or not all(valid(v) for v in values):
            raise ValueError
    except ValueError:
        raise UsageError(usage) from None
    return sorted(set(values))


def widened(preset: Any, width: int | None) -> Any:
    """`preset` (a methods.MethodConfig) at `width` (None: as it is); a method without a mapping width is a usage
    error naming the methods that have one."""
    if width is None:
        return preset
    from methods.width import WidthError, with_width

    try:
        return with_width(preset, width)
    except WidthError as e:
        raise UsageError(
            f"--width {width}: {e}; sweep it over methods that have one (e.g. --methods limber-all,epalm,mapl,depalm)"
        ) from None


def check_widths(presets: dict[tuple[str, str], Any], widths: list[int | None]) -> None:
    """Every swept method can take every width (before anything is created)."""
    for preset in presets.values():
        if not preset.control:
            for w in widths:
                widened(preset, w)


def check_train_size(train_size: int | None, profile_size: int | None, fractions: list[float | None]) -> None:
    """A train fraction sets the training-set size, so the profile's `train_size` cap does not apply to its cells;
    a cap the user set beside a fraction is a contradiction."""
    if fractions != [None] and train_size is not None and train_size != profile_size:
        raise UsageError(
            f"--train.train_size {train_size} with --train_fraction: a fraction sets the training-set size; "
            f"drop one of them"
        )


def check_fractions(bench: Any, fractions: list[float | None]) -> None:
    """The benchmark (a benchmarks.Benchmark) can draw each train fraction."""
    for f in fractions:
        if f is not None:
            try:
                bench.fraction_subset(f)
            except ValueError as e:
                raise UsageError(f"--train_fraction {f:g}: {e}; leave this benchmark out of the sweep") from None
