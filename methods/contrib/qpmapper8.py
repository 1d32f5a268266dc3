"""Worked plugin example: DePALM with a QPMapper of 8 query tokens instead of 32 (a new connector in one file).

    python run_matrix.py --plugin methods.contrib.qpmapper8 --methods depalm-qp8 --datasets syn-coco

A preset is a `MethodConfig`; registering one is enough for the runner, the report and `--describe-methods`.
A new block works the same way: subclass `methods.mapping.MappingBlock`, give it an `Options` dataclass and a
`describe` classmethod, decorate it with `@register_block("mapping", "my-block")`, and name it in a preset's
`BlockConfig("my-block", {...})`.
"""
from methods import MethodConfig, get_preset, register_preset


@register_preset
def depalm_qp8() -> MethodConfig:
    return get_preset("depalm").with_options(mapping={"n_queries": 8}, id="depalm-qp8",
                                             display_name="DePALM^{QP8}")
