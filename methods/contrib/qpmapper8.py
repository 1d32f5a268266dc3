"""Worked plugin example: DePALM with a QPMapper of 8 query tokens instead of 32 (a new connector in one file).

    python run_matrix.py --plugin methods.contrib.qpmapper8 --methods depalm-qp8 --datasets syn-coco

A preset is a `MethodConfig`; registering one is enough for the runner, the report and `--describe-methods`. Taking
`variant` makes it follow DePALM in each recipe variant (official code / paper appendix).
A new block works the same way: subclass `methods.mapping.MappingBlock`, give it an `Options` dataclass and a
`describe` classmethod, decorate it with `@register_block("mapping", "my-block")`, and name it in a preset's
`BlockConfig("my-block", {...})`.
"""

from methods import MethodConfig, get_preset, register_preset


@register_preset
def depalm_qp8(variant: str) -> MethodConfig:
    return get_preset("depalm", variant).with_options(
        mapping={"n_queries": 8}, id="depalm-qp8", display_name="DePALM^{QP8}"
    )
