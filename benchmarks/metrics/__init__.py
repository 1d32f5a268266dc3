"""Metrics on the paper's scale (x100): captioning (pycocoevalcap) and VQA accuracy (official VQAv2 rules)."""
