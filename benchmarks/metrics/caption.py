"""Captioning metrics (Sec. 4.1, Appendix D): BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, SPICE, SPIDEr, all x100.

pycocoevalcap 1.2 scorers are called one by one on text tokenized ONCE by its PTB tokenizer (one Java call for
predictions and references together). `COCOEvalCap.evaluate()` is never used: it builds `Spice()` first, which
downloads CoreNLP. SPICE and SPIDEr (mean of CIDEr-D and SPICE) run when `spice_setup.probe()` finds the CoreNLP
3.6.0 jars and a Java 8-15 (the same probe `--doctor` reports); SPIDEr then comes from aac-metrics when it is usable
(its `spider` on the same PTB-tokenized texts: its CIDEr-D and one SPICE run, which also gives the SPICE value),
else from pycocoevalcap's CIDEr-D and one SPICE run. Otherwise they are skipped, with a warning and a reason
(`CaptionScores.skipped`) naming what is missing. Without Java at all, METEOR and SPICE are skipped and a
pure-Python stand-in of the PTB tokenizer is used (warned: scores can differ slightly from the Java tokenizer's).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.metrics import spice_setup

CAPTION_METRICS = ("BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE", "SPIDEr")
METRIC_DESCRIPTIONS = {
    "SPIDEr": "mean of CIDEr-D and SPICE, the audio-captioning metric the paper reports for AudioCaps (Table 4), "
    "computed by aac-metrics when it is installed (as the official DePALM code does), else from pycocoevalcap's "
    "CIDEr-D and SPICE; a cell without a value has a footnote saying what SPICE lacked",
    "SPICE": "F-score of semantic propositions (scene graphs parsed by CoreNLP 3.6.0), pycocoevalcap's spice-1.0.jar",
}
# Removed after tokenization, as pycocoevalcap's PTBTokenizer does.
_PTB_PUNCTUATION = {
    "''",
    "'",
    "``",
    "`",
    "-LRB-",
    "-RRB-",
    "-LCB-",
    "-RCB-",
    ".",
    "?",
    "!",
    ",",
    ":",
    "-",
    "--",
    "...",
    ";",
}


def metric_status() -> dict[str, str | None]:
    """Per optional metric: None if it can run, else why not and how to fix it (SPICE: `spice_setup.probe()`)."""
    status: dict[str, str | None] = {"METEOR": None, "SPICE": spice_setup.probe().spice_missing}
    if shutil.which("java") is None:
        status["METEOR"] = (
            "METEOR skipped: no `java` on PATH (METEOR and the PTB tokenizer run on Java); "
            "install one, e.g. `apt-get install openjdk-17-jre-headless`"
        )
    return status


def python_ptb_tokenize(text: str) -> str:
    """Pure-Python stand-in for the PTB tokenizer (used only without Java): lowercase, split clitics/punctuation."""
    text = text.replace("\n", " ").lower()
    text = re.sub(r"([a-z])n't\b", r"\1 n't", text)
    text = re.sub(r"'(s|re|ve|ll|d|m)\b", r" '\1", text)
    tokens = re.findall(r"n't|'[a-z]+|\.\.\.|--|[a-z0-9]+(?:-[a-z0-9]+)*(?:[.,][0-9]+)*|[^\sa-z0-9]", text)
    return " ".join(t for t in tokens if t not in _PTB_PUNCTUATION)


def _one_line(text: str) -> str:
    # The tokenizer writes one text per line and Java also ends lines at \r, \v, \f, U+2028 and U+2029: left in,
    # such a character would shift every later text onto the wrong key.
    return " ".join(text.splitlines())


def tokenize(captions: dict) -> dict:
    """PTB-tokenize {key: [caption, ...]} in one call -> {key: [tokenized, ...]}."""
    captions = {k: [_one_line(c) for c in v] for k, v in captions.items()}
    if shutil.which("java") is None:
        warnings.warn(
            "no `java` on PATH: using a Python stand-in for the PTB tokenizer; scores may differ slightly "
            "from pycocoevalcap's (install Java 17 for exact scores)",
            stacklevel=3,
        )
        return {k: [python_ptb_tokenize(c) for c in v] for k, v in captions.items()}
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    return PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})


def _run_spice(gts: dict, res: dict, java: str, home: Path) -> float:
    """SPICE F-score over all items, running spice-1.0.jar from `home` like pycocoevalcap's Spice, with the probed
    Java."""
    with tempfile.TemporaryDirectory(prefix="depalm-spice-") as tmp:
        inp, out = Path(tmp) / "in.json", Path(tmp) / "out.json"
        inp.write_text(json.dumps([{"image_id": str(k), "test": res[k][0], "refs": gts[k]} for k in gts]))
        cache = Path(tempfile.gettempdir()) / "depalm-spice-cache"
        cache.mkdir(exist_ok=True)
        subprocess.run(
            [
                java,
                "-jar",
                "-Xmx8G",
                "spice-1.0.jar",
                str(inp),
                "-cache",
                str(cache),
                "-out",
                str(out),
                "-subset",
                "-silent",
            ],
            cwd=home,
            check=True,
            capture_output=True,
        )
        scores = [item["scores"]["All"]["f"] for item in json.loads(out.read_text())]
    return float(sum(float(s) for s in scores) / len(scores))


def _spice_spider(gts: dict, res: dict, cider: float, status: spice_setup.SpiceStatus) -> tuple[float, float]:
    """(SPICE, SPIDEr) x100 from one SPICE run: aac-metrics' `spider` when the probe chose it (it needs two items
    at least), else spice-1.0.jar run here and SPIDEr = mean of `cider` (pycocoevalcap's CIDEr-D) and SPICE."""
    assert status.java is not None  # the probe found SPICE runnable
    with tempfile.TemporaryDirectory(prefix="depalm-spice-home-") as tmp:
        home = spice_setup.spice_home(status, Path(tmp))
        if status.uses_aac_metrics and len(gts) >= 2:
            from aac_metrics.functional.spider import spider

            corpus, _ = spider(
                candidates=[res[k][0] for k in gts],
                mult_references=[list(gts[k]) for k in gts],
                cache_path=tmp,
                java_path=status.java,
                tmp_path=tmp,
            )
            return 100.0 * float(corpus["spice"]), 100.0 * float(corpus["spider"])
        spice = 100.0 * _run_spice(gts, res, status.java, home)
    return spice, (cider + spice) / 2.0


@dataclass
class CaptionScores:
    """Caption metrics of one set of predictions: `corpus` (metric -> value x100), `items` (metric -> item id ->
    score, for CIDEr) and `skipped` (requested metric that could not run -> why, and how to make it run)."""

    corpus: dict[str, float]
    items: dict[str, dict[str, float]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def score_captions(
    predictions: dict[str, str], references: dict[str, list[str]], metrics: tuple[str, ...] = CAPTION_METRICS
) -> dict[str, float]:
    """Corpus-level caption metrics x100 for predictions (id -> caption) against references (id -> captions).

    Skipped metrics (missing Java / CoreNLP jars) are absent from the result and a warning says why.
    """
    return caption_scores(predictions, references, metrics).corpus


def score_captions_items(
    predictions: dict[str, str], references: dict[str, list[str]], metrics: tuple[str, ...] = CAPTION_METRICS
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """`score_captions` and, from the same scorer calls, the per-item scores of the metrics that decompose per item
    (CIDEr: pycocoevalcap's per-image CIDEr-D x100, whose mean is the corpus CIDEr; its IDF comes from the whole
    reference set): (metric -> corpus value, metric -> item id -> score)."""
    scores = caption_scores(predictions, references, metrics)
    return scores.corpus, scores.items


def caption_scores(
    predictions: dict[str, str], references: dict[str, list[str]], metrics: tuple[str, ...] = CAPTION_METRICS
) -> CaptionScores:
    """Corpus scores, per-item scores and skipped metrics with their reasons (each skip is also warned)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    unknown = set(metrics) - set(CAPTION_METRICS)
    if unknown:
        raise ValueError(f"unknown caption metrics {sorted(unknown)}; known: {', '.join(CAPTION_METRICS)}")
    ids = list(references)
    if not ids:
        raise ValueError("no references to score against")
    missing = [i for i in ids if i not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} items have no prediction (first: {missing[:5]})")
    empty = [i for i in ids if not references[i]]
    if empty:
        raise ValueError(f"{len(empty)} items have no reference caption (first: {empty[:5]})")
    tok = tokenize({**{("ref", i): list(references[i]) for i in ids}, **{("pred", i): [predictions[i]] for i in ids}})
    gts = {i: tok[("ref", i)] for i in ids}
    res = {i: tok[("pred", i)] for i in ids}

    out: dict[str, float] = {}
    per_item: dict[str, dict[str, float]] = {}
    skipped: dict[str, str] = {}
    if any(m.startswith("BLEU") for m in metrics):
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        out.update({f"BLEU_{n + 1}": 100.0 * float(b) for n, b in enumerate(bleu) if f"BLEU_{n + 1}" in metrics})
    if "METEOR" in metrics:
        why = metric_status()["METEOR"]
        if why:
            skipped["METEOR"] = why
        else:
            from pycocoevalcap.meteor.meteor import Meteor

            meteor = Meteor()
            try:
                out["METEOR"] = 100.0 * float(meteor.compute_score(gts, res)[0])
            finally:
                del meteor  # its __del__ stops the Java process (2 GB heap)
    if "ROUGE_L" in metrics:
        out["ROUGE_L"] = 100.0 * float(Rouge().compute_score(gts, res)[0])
    cider = float("nan")
    if {"CIDEr", "SPIDEr"} & set(metrics):
        corpus, per_image = Cider().compute_score(gts, res)  # per_image follows gts' key order
        cider = 100.0 * float(corpus)
        if "CIDEr" in metrics:
            out["CIDEr"] = cider
            per_item["CIDEr"] = {i: 100.0 * float(v) for i, v in zip(gts, per_image, strict=True)}
    wanted_spice = [m for m in ("SPICE", "SPIDEr") if m in metrics]
    if wanted_spice:
        status = spice_setup.probe()
        if status.spice_missing:
            skipped.update({m: f"{m} not computed: {status.spice_missing}" for m in wanted_spice})
        else:
            spice, spider = _spice_spider(gts, res, cider, status)
            out.update({m: v for m, v in (("SPICE", spice), ("SPIDEr", spider)) if m in metrics})
    for why in dict.fromkeys(skipped.values()):
        warnings.warn(why, stacklevel=3)
    return CaptionScores(out, per_item, skipped)
