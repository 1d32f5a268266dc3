"""Explicit registries of blocks (mapping, injection) and of method presets; the plugin entry points.

A plugin module (loaded with `run_matrix.py --plugin MODULE`) adds a block with `@register_block("mapping", name)`
on an `nn.Module` subclass, and/or a method with `@register_preset` on a function returning a `MethodConfig`. Every
method exists in every recipe variant (`methods.variants`): a function taking the variant returns its config for
that variant; a `MethodConfig` or a zero-argument function is the same method in all of them.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import re
from collections.abc import Callable
from typing import Any, TypeVar

from methods.config import BlockConfig, MethodConfig
from methods.variants import DEFAULT_VARIANT, VARIANTS, check_variant

BLOCK_KINDS = ("mapping", "injection")
_METHOD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")  # path-safe: no separator, no control character
BIAS_FT_SUFFIX = "+bias-ft"  # Table S6: any method + bias tuning of the perceptual encoder, e.g. "depalm+bias-ft"

_BLOCKS: dict[str, dict[str, type]] = {kind: {} for kind in BLOCK_KINDS}
_PRESETS: dict[str, dict[str, MethodConfig]] = {}  # method id -> {variant: config}

T = TypeVar("T", bound=type)


class UnknownMethodError(KeyError):
    """A method id that no preset registers."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


def register_block(kind: str, name: str) -> Callable[[T], T]:
    """Class decorator: register a block under (kind, name). The class must define an `Options` dataclass (its
    config, filled from `BlockConfig.options`) and a `describe(options) -> str` classmethod (Table 1 wording)."""
    if kind not in BLOCK_KINDS:
        raise ValueError(f"register_block: kind must be one of {BLOCK_KINDS}, got {kind!r}")

    def decorator(cls: T) -> T:
        options = getattr(cls, "Options", None)
        if options is None or not dataclasses.is_dataclass(options):
            raise TypeError(f"register_block({kind!r}, {name!r}): {cls.__name__} needs an `Options` dataclass")
        if not callable(getattr(cls, "describe", None)):
            raise TypeError(
                f"register_block({kind!r}, {name!r}): {cls.__name__} needs a `describe(options)` classmethod"
            )
        existing = _BLOCKS[kind].get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise ValueError(
                f"register_block: {kind} block {name!r} is already registered by {existing.__module__}."
                f"{existing.__qualname__}; pick another name"
            )
        _BLOCKS[kind][name] = cls
        return cls

    return decorator


def get_block(kind: str, name: str) -> type:
    if kind not in BLOCK_KINDS:
        raise ValueError(f"unknown block kind {kind!r}; kinds: {', '.join(BLOCK_KINDS)}")
    try:
        return _BLOCKS[kind][name]
    except KeyError:
        raise ValueError(
            f"unknown {kind} block {name!r}; registered: {', '.join(sorted(_BLOCKS[kind]))} "
            f"(a plugin block must be imported first: --plugin MODULE)"
        ) from None


def has_gates(cfg: MethodConfig) -> bool:
    """Whether the method's injection has shut-at-init scalar gates (`InjectionBlock.GATES`, c-attn's tanh gate)."""
    return bool(getattr(get_block("injection", cfg.injection.name), "GATES", ()))


def list_blocks(kind: str) -> list[str]:
    return list(_BLOCKS[kind])


def block_options(kind: str, block: BlockConfig) -> Any:
    """The typed options of a block config; unknown or ill-typed options raise a ValueError naming them."""
    cls: Any = get_block(kind, block.name)  # a registered block class: it has an Options dataclass
    fields = {f.name for f in dataclasses.fields(cls.Options)}
    unknown = sorted(set(block.options) - fields)
    if unknown:
        raise ValueError(f"{kind} block {block.name!r}: unknown option(s) {unknown}; valid: {sorted(fields)}")
    try:
        return cls.Options(**block.options)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{kind} block {block.name!r}: bad options {block.options}: {e}") from e


def validate_preset(cfg: MethodConfig) -> None:
    if not isinstance(cfg, MethodConfig):
        raise TypeError(f"a preset must be a MethodConfig, got {type(cfg).__name__}")
    if (
        not isinstance(cfg.id, str)
        or not _METHOD_ID.fullmatch(cfg.id)
        or ".." in cfg.id
        or cfg.id.endswith(BIAS_FT_SUFFIX)
    ):
        raise ValueError(
            f"method id {cfg.id!r}: must be non-empty and path-safe (letters, digits and . _ + - only, "
            f"starting with a letter or digit, no '..': it names run directories), and not end with "
            f"{BIAS_FT_SUFFIX!r} (that variant exists for every method)"
        )
    block_options("mapping", cfg.mapping)
    block_options("injection", cfg.injection)


def _configs_by_variant(arg: MethodConfig | Callable[..., MethodConfig]) -> dict[str, MethodConfig]:
    if isinstance(arg, MethodConfig):
        return {v: dataclasses.replace(copy.deepcopy(arg), variant=v) for v in VARIANTS}
    if not callable(arg):
        raise TypeError(f"register_preset takes a MethodConfig or a function returning one, got {type(arg).__name__}")
    if not inspect.signature(arg).parameters:
        return _configs_by_variant(arg())
    configs = {v: arg(v) for v in VARIANTS}
    for v, cfg in configs.items():
        if isinstance(cfg, MethodConfig) and cfg.variant != v:
            raise ValueError(
                f"register_preset({getattr(arg, '__name__', arg)!r}): asked for variant {v!r}, it "
                f"returned a config of variant {cfg.variant!r} (build it from get_preset(id, variant))"
            )
    return configs


def register_preset(arg: MethodConfig | Callable[..., MethodConfig]) -> Any:
    """Register a method in every variant. Use as a decorator on a function `f(variant) -> MethodConfig` (or a
    zero-argument one: the same config in every variant), or call it with a `MethodConfig` (same in every variant).
    Re-registering identical configs is a no-op (a module imported twice); different configs under an existing id
    are an error."""
    configs = _configs_by_variant(arg)
    for cfg in configs.values():
        validate_preset(cfg)
    ids = {cfg.id for cfg in configs.values()}
    if len(ids) != 1:
        raise ValueError(f"register_preset: one method must keep one id in every variant, got {sorted(ids)}")
    method_id = ids.pop()
    existing = _PRESETS.get(method_id)
    if existing is not None and any(
        dataclasses.asdict(existing[v]) != dataclasses.asdict(cfg) for v, cfg in configs.items()
    ):
        raise ValueError(f"method id {method_id!r} is already registered with a different config; pick another id")
    _PRESETS[method_id] = copy.deepcopy(configs)
    return arg


def get_preset(method_id: str, variant: str = DEFAULT_VARIANT) -> MethodConfig:
    """A fresh copy of the registered preset in `variant` (callers may modify it freely). `<id>+bias-ft` is the
    registered method `<id>` with bias tuning of the encoder (Table S6); such variants are not listed by
    `list_presets`. An unknown variant is a ValueError naming the valid ones."""
    check_variant(variant)
    base_id = method_id.removesuffix(BIAS_FT_SUFFIX)
    if base_id not in _PRESETS:
        raise UnknownMethodError(
            f"unknown method {method_id!r}; known: {', '.join(_PRESETS)}, each also as "
            f"<id>{BIAS_FT_SUFFIX} (a plugin method must be imported first: --plugin MODULE)"
        )
    cfg = copy.deepcopy(_PRESETS[base_id][variant])
    if base_id == method_id:
        return cfg
    cfg.finetune.encoder_bias = True
    return dataclasses.replace(cfg, id=method_id, display_name=f"{cfg.display_name} + bias-FT")


def list_presets() -> list[str]:
    """Method ids in registration order (the paper's 11 first, then plugins); every id exists in every variant."""
    return list(_PRESETS)
