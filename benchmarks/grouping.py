"""Duplicate inputs (Appendix C.3): samples with the same input and prompt become one Item holding every target."""

from __future__ import annotations

import dataclasses

from benchmarks.spec import Item


def group_duplicates(samples: list[Item]) -> list[Item]:
    """Merge samples sharing (input_key, prompt), keeping first-seen order, id and loader; targets concatenated."""
    merged: dict[tuple[str, str], Item] = {}
    for s in samples:
        key = (s.input_key, s.prompt)
        first = merged.get(key)
        if first is None:
            merged[key] = dataclasses.replace(s, targets=list(s.targets))
        else:
            first.targets.extend(s.targets)
    return list(merged.values())
