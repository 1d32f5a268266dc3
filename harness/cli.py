"""Command line of `run_matrix.py` and `depalm-bench`: the typed study (harness.config.study) parsed by jsonargparse,
then dispatched, importing heavy modules only when needed.

Every study field is a flag (`--train.max_steps 200`, `--slurm.partition gpu`) and a key of a YAML file read with
`--config FILE` (what comes later on the command line wins). The profile's values are the defaults of lr, grad_clip,
train and eval, so a first pass finds the profile (and imports the plugins, which may register one) and a second
parses on top of its values. `--print-config` prints the resolved study as YAML that `--config` reads back. The
flags of the first command line (`--num-beams`, `--report-only`, `--plugin`, ...) are `SHORTHANDS` for fields.
`--report-only` must stay torch-free so tables regenerate instantly from cached results.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import json
import re
import sys
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import REPO_ROOT
from harness.config.study import SHORTHANDS, StudyConfig, flag_names
from harness.errors import UsageError

if TYPE_CHECKING:
    from jsonargparse import ArgumentParser, Namespace

    from harness.config.profiles import Profile


def _prog() -> str:
    return "depalm-bench" if Path(sys.argv[0]).name == "depalm-bench" else "run_matrix.py"


def expand_shorthands(argv: Sequence[str]) -> list[str]:
    """`argv` with each shorthand written as the `--key=value` of its field (`=`: a value such as -1e-3 is not read
    as a flag); a repeatable one's values become one list at its first place."""
    out: list[str] = []
    lists: dict[str, tuple[int, list[str]]] = {}
    tokens = iter(argv)
    for token in tokens:
        flag, eq, inline = token.partition("=")
        short = SHORTHANDS.get(flag)
        if short is None:
            out.append(token)
        elif short.const is not None:
            if eq:
                raise UsageError(f"{flag} takes no value; drop '={inline}' (or set --{short.key} {inline})")
            out.append(f"--{short.key}={short.const}")
        else:
            value = inline if eq else next(tokens, None)
            if value is None:
                raise UsageError(f"{flag}: expected a value after it (see --help)")
            if not short.repeat:
                out.append(f"--{short.key}={value}")
            elif short.key in lists:
                lists[short.key][1].append(value)
            else:
                lists[short.key] = (len(out), [value])
                out.append("")
    for key, (at, values) in lists.items():
        out[at] = f"--{key}={json.dumps(values)}"
    return out


def build_parser(defaults: dict[str, Any] | None = None) -> ArgumentParser:
    """The study's parser; `defaults` (dotted keys, e.g. a profile's values) replace the dataclass defaults."""
    from jsonargparse import ActionConfigFile, ArgumentParser, DefaultHelpFormatter, set_parsing_settings

    class Formatter(DefaultHelpFormatter, argparse.RawDescriptionHelpFormatter):
        """Keeps the line breaks of the description and the shorthand table."""

    # the fields' docstrings are their help (docstring-parser, jsonargparse's `signatures` extra); without it
    # --help lists each option's type and default only
    with contextlib.suppress(ImportError):
        set_parsing_settings(docstring_parse_attribute_docstrings=True)
    shorthands = [
        (f"{flag}{'' if s.const else ' X'}", f"--{s.key} {s.const or ('[X, ...]' if s.repeat else 'X')}")
        for flag, s in SHORTHANDS.items()
    ]
    width = max(len(a) for a, _ in shorthands) + 2
    parser = ArgumentParser(
        prog=_prog(),
        exit_on_error=False,
        print_config=None,
        env_prefix=False,
        default_env=False,
        formatter_class=Formatter,
        description="Train and evaluate connector methods over benchmarks and seeds; render the paper's tables.\n"
        "Every option is also a key of a --config YAML file (a dotted one nested: train: {max_steps: 3}).\n"
        "The defaults shown are the resolved profile's (--profile NAME --help shows another's).",
        epilog="shorthands (repeat --plugin, --results, --sbatch-arg for several values):\n"
        + "\n".join(f"  {a:<{width}}{b}" for a, b in shorthands),
    )
    parser.add_argument(
        "--config",
        action=ActionConfigFile,
        help="a study as YAML (e.g. what --print-config wrote); options after it override it",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved study as YAML and exit")
    parser.add_class_arguments(StudyConfig, None)
    for key, group in (parser.groups or {}).items():
        if key != StudyConfig.__name__:
            group.title = f"--{key}.*: {group.title}"
    if defaults:
        parser.set_defaults(defaults)
    return parser


def profile_defaults(profile: Profile, lr_grid: bool) -> dict[str, Any]:
    """The study defaults a profile sets (lr stays unset under --lr-grid, which sweeps it)."""
    values: dict[str, Any] = {"profile": profile.name, "grad_clip": profile.grad_clip}
    if not lr_grid:
        values["lr"] = profile.lr
    for key in ("train", "eval"):
        values.update({f"{key}.{k}": v for k, v in dataclasses.asdict(getattr(profile, key)).items()})
    return values


def parse_study(argv: Sequence[str] | None = None) -> StudyConfig:
    """The resolved study of a command line (a UsageError names what is wrong)."""
    return _parse(argv)[0]


def _parse(argv: Sequence[str] | None) -> tuple[StudyConfig, bool]:
    """(study, --print-config given)."""
    args = expand_shorthands(sys.argv[1:] if argv is None else argv)
    first = _namespace(build_parser(), [a for a in args if a not in ("-h", "--help")])
    if first.mode != "doctor":
        _load_plugins(first.plugins)  # a plugin's presets, benchmarks or profiles are valid from here on
    defaults = None
    if first.mode == "run":
        from harness.runner.matrix import resolve_profile

        defaults = profile_defaults(resolve_profile(first.profile), first.lr_grid)
    parser = build_parser(defaults)
    ns = _namespace(parser, args)
    init = parser.instantiate(ns)
    return StudyConfig(**{f.name: init[f.name] for f in dataclasses.fields(StudyConfig)}), bool(ns.print_config)


def _namespace(parser: ArgumentParser, args: list[str]) -> Namespace:
    try:
        return parser.parse_args(args)
    except argparse.ArgumentError as e:
        raise UsageError(_explain(str(e))) from None


def _explain(message: str) -> str:
    """jsonargparse's (multi-line) error as one line naming the option, what it expects and the way out."""
    text = message.strip()
    if text.startswith("unrecognized arguments:"):
        return f"{text} (--help lists every option)"
    key = re.match(r'Parser key "([^"]+)":\s*(.*)', text, re.S)
    if key is None:
        return f"{' '.join(text.split())} (--help lists every option)"
    name, detail = key.groups()
    hint = _field_type(name)
    if hint is None:
        return f"--{name}: {' '.join(detail.split())}"
    given = re.search(r"(?:Given value|Got value): (.*)", text)
    value = given.group(1).strip() if given else ""
    quote = (
        " (in a YAML file, quote a time such as '12:00:00', which unquoted reads as a number)"
        if (value.isdigit() and str in typing.get_args(hint) + (hint,))
        else ""
    )
    return (
        f"{flag_names(name)} {value}: expected {_type_name(hint)}{quote} (--help lists each option's type and default)"
    )


def _field_type(key: str) -> Any:
    """The type hint of a dotted study field, None for another key."""
    owner: Any = StudyConfig
    hint = None
    for part in key.split("."):
        hints = typing.get_type_hints(owner) if dataclasses.is_dataclass(owner) else {}
        if part not in hints:
            return None
        hint = owner = hints[part]
    return hint


def _type_name(hint: Any) -> str:
    """`int | None` -> "an int or null", Literal -> "one of a, b"."""
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(hint))
    if isinstance(hint, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if isinstance(hint, type):
        return {"int": "an int", "float": "a number", "str": "a string", "bool": "true or false"}.get(
            hint.__name__, hint.__name__
        )
    return f"a list ({hint})" if typing.get_origin(hint) is tuple else str(hint)


def _load_plugins(modules: Sequence[str]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise UsageError(
                f"--plugin {name}: cannot import it ({e}); pass an importable module path "
                f"(e.g. methods.contrib.my_connector) or add its folder to PYTHONPATH"
            ) from e
        except Exception as e:  # a plugin that raises on import is bad input, not a crash
            raise UsageError(
                f"--plugin {name}: importing it raised {type(e).__name__}: {e}; fix the plugin "
                f"(python -c 'import {name}' shows the traceback)"
            ) from e


def _dispatch(study: StudyConfig) -> int:
    out = Path(study.out) if study.out else REPO_ROOT / "reports"
    if study.mode == "report-only":
        from harness.report import render_reports

        dirs = [Path(r) for r in (study.results or [REPO_ROOT / "results"])]
        for path in dirs:
            if not path.exists():
                raise UsageError(f"--results {path}: no such directory")
        for path in render_reports(dirs, out):
            print(path)
        return 0
    if study.mode == "describe-methods":
        from methods.describe import describe_methods
        from methods.variants import DEFAULT_VARIANT, check_variant

        variant = ",".join(study.variants) if isinstance(study.variants, tuple) else study.variants
        try:
            check_variant(variant or DEFAULT_VARIANT)
        except ValueError as e:
            raise UsageError(f"--variant: {e} (--mode describe-methods takes one)") from None
        d = study.describe
        paths = describe_methods(d.d_llm, d.d_feats, d.llm_layers, d.n_tokens, out, variant or DEFAULT_VARIANT)
        print(next(p for p in paths if p.suffix == ".md").read_text(encoding="utf-8"))
        for path in paths:
            print(path)
        return 0
    if study.mode == "doctor":
        from harness.doctor import run_doctor

        return run_doctor()
    if study.mode == "gc":
        from harness.runner.gc import main as gc_main

        return gc_main(study)
    from harness.runner.matrix import main as matrix_main

    return matrix_main(study)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        study, print_config = _parse(argv)
        if print_config:
            sys.stdout.write(f"# the resolved study; `{_prog()} --config FILE` reads it back\n{study.to_yaml()}")
            return 0
        return _dispatch(study)
    except UsageError as e:
        print(f"{_prog()}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{_prog()}: interrupted; finished cells are kept, run the same command again to resume", file=sys.stderr)
        return 130
