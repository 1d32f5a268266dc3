"""Metrics on the paper's scale (x100): captioning (pycocoevalcap) and VQA accuracy (official evaluator, DePALM's).

METRIC_DESCRIPTIONS: metric name -> one line saying what the metric computes, for reports to print under a table
(importing it loads no torch).
"""

from benchmarks.metrics.caption import METRIC_DESCRIPTIONS as _CAPTION_DESCRIPTIONS
from benchmarks.metrics.vqa import METRIC_DESCRIPTIONS as _VQA_DESCRIPTIONS

METRIC_DESCRIPTIONS = {**_CAPTION_DESCRIPTIONS, **_VQA_DESCRIPTIONS}

__all__ = ["METRIC_DESCRIPTIONS"]
