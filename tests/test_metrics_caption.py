"""Caption metrics equal pycocoevalcap's scorers called directly; optional metrics are skipped loudly."""

import shutil
import warnings

import pytest

from benchmarks.metrics import caption
from benchmarks.metrics.caption import python_ptb_tokenize, score_captions

REFS = {
    "1": [
        "A dog runs on the beach.",
        "a brown dog running on sand",
        "A dog at the seaside!",
        "dog running near water",
        "a puppy plays on a beach",
    ],
    "2": [
        "a red bus on a city street",
        "A double-decker bus in traffic.",
        "a bus driving down the road",
        "red bus parked by the curb",
        "a city bus",
    ],
    "3": [
        "two cats sleeping on a couch",
        "Two cats asleep on a sofa.",
        "a pair of cats napping",
        "cats on a couch",
        "two kittens lying on a red couch",
    ],
    "4": [
        "a man rides a bike",
        "a cyclist on a road",
        "A man riding his bicycle down the street.",
        "person on a bicycle",
        "a man cycling",
    ],
}
PREDS = {
    "1": "a dog running on the beach",
    "2": "a red bus driving on a street",
    "3": "a cat on a couch",
    "4": "a man that doesn't ride a horse",
}
needs_java = pytest.mark.skipif(shutil.which("java") is None, reason="pycocoevalcap's tokenizer and METEOR need Java")


def _direct_scores():
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in REFS.items()})
    res = tok.tokenize({k: [{"caption": v}] for k, v in PREDS.items()})
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out = {f"BLEU_{i + 1}": b for i, b in enumerate(bleu)}
    out["METEOR"] = Meteor().compute_score(gts, res)[0]
    out["ROUGE_L"] = Rouge().compute_score(gts, res)[0]
    out["CIDEr"] = Cider().compute_score(gts, res)[0]
    return out


@needs_java
@pytest.mark.slow
def test_scores_equal_pycocoevalcap_scorers():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = score_captions(PREDS, REFS)
    expected = _direct_scores()
    for name, value in expected.items():
        assert ours[name] == pytest.approx(100 * value, abs=1e-6), name
    assert 0 < ours["CIDEr"] < 1000 and ours["BLEU_1"] > ours["BLEU_4"]
    if caption.metric_status()["SPICE"]:
        assert "SPICE" not in ours and "SPIDEr" not in ours
        assert any("stanford-corenlp-3.6.0" in str(w.message) or "Java 8-15" in str(w.message) for w in caught)


@needs_java
def test_metric_subset_and_input_errors():
    out = score_captions(PREDS, REFS, metrics=("BLEU_4", "CIDEr"))
    assert set(out) == {"BLEU_4", "CIDEr"}
    with pytest.raises(ValueError, match="no prediction"):
        score_captions({"1": "x"}, REFS, metrics=("CIDEr",))
    with pytest.raises(ValueError, match="unknown caption metrics"):
        score_captions(PREDS, REFS, metrics=("CIDEr-X",))
    with pytest.raises(ValueError, match="no reference caption"):
        score_captions({"1": "x"}, {"1": []}, metrics=("CIDEr",))


def test_without_java_meteor_skipped_and_python_tokenizer_used(monkeypatch):
    monkeypatch.setattr(caption.shutil, "which", lambda name: None)
    with pytest.warns(UserWarning) as record:
        out = score_captions(PREDS, REFS)
    messages = " ".join(str(w.message) for w in record)
    assert "METEOR skipped" in messages and "Python stand-in" in messages
    assert "METEOR" not in out and out["CIDEr"] > 0


@needs_java
def test_python_tokenizer_matches_ptb_on_common_text():
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    sents = [c for v in REFS.values() for c in v] + list(PREDS.values()) + ["It's a man's hat, isn't it?"]
    ptb = PTBTokenizer().tokenize({i: [{"caption": s}] for i, s in enumerate(sents)})
    assert [python_ptb_tokenize(s) for s in sents] == [ptb[i][0] for i in range(len(sents))]
