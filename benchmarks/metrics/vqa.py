"""VQAv2 accuracy (Sec. 4.1: "the official VQAv2 accuracy metric") and exact match for multiple choice.

Follows the Python 3 evaluator of GT-Vision-Lab/VQA as released in 2017 (PythonEvaluationTools/vqaEvaluation/
vqaEval.py): the prediction is ALWAYS normalized (newlines/tabs -> spaces, strip, punctuation, then lowercase,
number words -> digits, articles dropped, contractions restored). Current master normalizes the prediction only when
the 10 answers are not all identical (so "Two" vs ten "2" scores 0 there, 1 here).
Per question: mean over the 10 leave-one-annotator-out subsets of min(1, #matches among the other 9 / 3).
One deliberate extension, `normalize_targets=True` (default): target answers get the same full normalization. The
official files already store normalized answers, on which this is a no-op; the offline suite stores human-style
answers ("three"). `normalize_targets=False` reproduces the official evaluator exactly (targets: punctuation only,
and only when they differ).
"""
from __future__ import annotations

import re

_CONTRACTIONS = {  # official table, verbatim (mixes straight and curly apostrophes)
    'aint': "ain't", 'arent': "aren't", 'cant': "can't", 'couldve': "could've", 'couldnt': "couldn't",
    "couldn'tve": 'couldn’t’ve', 'couldnt’ve': 'couldn’t’ve', 'didnt': 'didn’t', 'doesnt': 'doesn’t',
    'dont': 'don’t', 'hadnt': 'hadn’t', 'hadnt’ve': 'hadn’t’ve', "hadn'tve": 'hadn’t’ve', 'hasnt': 'hasn’t',
    'havent': 'haven’t', 'hed': 'he’d', 'hed’ve': 'he’d’ve', 'he’dve': 'he’d’ve', 'hes': 'he’s', 'howd': 'how’d',
    'howll': 'how’ll', 'hows': 'how’s', 'Id’ve': 'I’d’ve', 'I’dve': 'I’d’ve', 'Im': 'I’m', 'Ive': 'I’ve',
    'isnt': 'isn’t', 'itd': 'it’d', 'itd’ve': 'it’d’ve', 'it’dve': 'it’d’ve', 'itll': 'it’ll', 'let’s': 'let’s',
    'maam': 'ma’am', 'mightnt': 'mightn’t', 'mightnt’ve': 'mightn’t’ve', 'mightn’tve': 'mightn’t’ve',
    'mightve': 'might’ve', 'mustnt': 'mustn’t', 'mustve': 'must’ve', 'neednt': 'needn’t', 'notve': 'not’ve',
    'oclock': 'o’clock', 'oughtnt': 'oughtn’t', 'ow’s’at': '’ow’s’at', '’ows’at': '’ow’s’at', '’ow’sat': '’ow’s’at',
    'shant': 'shan’t', 'shed’ve': 'she’d’ve', 'she’dve': 'she’d’ve', 'she’s': 'she’s', 'shouldve': 'should’ve',
    'shouldnt': 'shouldn’t', 'shouldnt’ve': 'shouldn’t’ve', 'shouldn’tve': 'shouldn’t’ve', 'somebody’d': 'somebodyd',
    'somebodyd’ve': 'somebody’d’ve', 'somebody’dve': 'somebody’d’ve', 'somebodyll': 'somebody’ll',
    'somebodys': 'somebody’s', 'someoned': 'someone’d', 'someoned’ve': 'someone’d’ve', 'someone’dve': 'someone’d’ve',
    'someonell': 'someone’ll', 'someones': 'someone’s', 'somethingd': 'something’d',
    'somethingd’ve': 'something’d’ve', 'something’dve': 'something’d’ve', 'somethingll': 'something’ll',
    'thats': 'that’s', 'thered': 'there’d', 'thered’ve': 'there’d’ve', 'there’dve': 'there’d’ve',
    'therere': 'there’re', 'theres': 'there’s', 'theyd': 'they’d', 'theyd’ve': 'they’d’ve', 'they’dve': 'they’d’ve',
    'theyll': 'they’ll', 'theyre': 'they’re', 'theyve': 'they’ve', 'twas': '’twas', 'wasnt': 'wasn’t',
    'wed’ve': 'we’d’ve', 'we’dve': 'we’d’ve', 'weve': "we've", 'werent': 'weren’t', 'whatll': 'what’ll',
    'whatre': 'what’re', 'whats': 'what’s', 'whatve': 'what’ve', 'whens': 'when’s', 'whered': 'where’d',
    'wheres': "where's", 'whereve': 'where’ve', 'whod': 'who’d', 'whod’ve': 'who’d’ve', 'who’dve': 'who’d’ve',
    'wholl': 'who’ll', 'whos': 'who’s', 'whove': "who've", 'whyll': 'why’ll', 'whyre': 'why’re', 'whys': 'why’s',
    'wont': 'won’t', 'wouldve': 'would’ve', 'wouldnt': 'wouldn’t', 'wouldnt’ve': 'wouldn’t’ve',
    'wouldn’tve': 'wouldn’t’ve', 'yall': 'y’all', 'yall’ll': 'y’all’ll', 'y’allll': 'y’all’ll',
    'yall’d’ve': 'y’all’d’ve', 'y’alld’ve': 'y’all’d’ve', 'y’all’dve': 'y’all’d’ve', 'youd': 'you’d',
    'youd’ve': 'you’d’ve', 'you’dve': 'you’d’ve', 'youll': 'you’ll', 'youre': 'you’re', 'youve': 'you’ve',
}
_NUMBER_WORDS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
                 "six": "6", "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_ARTICLES = {"a", "an", "the"}
_PUNCT = [";", ":", "/", "'", "[", "]", '"', "(", ")", "=", "+", "\\", "_", ">", "<", "@", "`", ",", "?"]
# The official pattern is literally "(?!<=\d)" (a typo for a lookbehind), so a period before a non-digit is always
# dropped, even after a digit ("5." -> "5"); kept as is to match official scores.
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")


def process_punctuation(text: str) -> str:
    out = text
    for p in _PUNCT:
        # Official rule: a mark next to a space (or any digit,digit comma in the text) is deleted, else it splits words.
        if (p + " " in text or " " + p in text) or _COMMA_STRIP.search(text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out)


def process_digit_article(text: str) -> str:
    words = [_NUMBER_WORDS.get(w, w) for w in text.lower().split()]
    words = [w for w in words if w not in _ARTICLES]
    return " ".join(_CONTRACTIONS.get(w, w) for w in words)


def _clean(text: str) -> str:
    return text.replace("\n", " ").replace("\t", " ").strip()


def normalize_answer(text: str) -> str:
    """Full official normalization of one answer."""
    return process_digit_article(process_punctuation(_clean(text)))


def answer_accuracy(prediction: str, answers: list[str], normalize_targets: bool = True) -> float:
    """Accuracy in [0, 1] of one prediction against its human answers (usually 10)."""
    if not answers:
        raise ValueError("VQA accuracy needs at least one human answer per question")
    pred = normalize_answer(prediction)
    gts = [_clean(a) for a in answers]
    if normalize_targets:
        gts = [normalize_answer(a) for a in gts]
    elif len(set(gts)) > 1:
        gts = [process_punctuation(a) for a in gts]
    matches = sum(g == pred for g in gts)
    # Leaving annotator i out removes one match exactly when annotator i matched.
    return sum(min(1.0, (matches - (g == pred)) / 3.0) for g in gts) / len(gts)


def vqa_accuracy(predictions: dict[str, str], answers: dict[str, list[str]], normalize_targets: bool = True) -> float:
    """Mean VQA accuracy x100 over the questions in `answers`; every question needs a prediction."""
    missing = [q for q in answers if q not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} questions have no prediction (first: {missing[:5]})")
    if not answers:
        raise ValueError("no questions to score")
    return 100.0 * sum(answer_accuracy(predictions[q], a, normalize_targets) for q, a in answers.items()) / len(answers)


def multiple_choice_accuracy(predictions: dict[str, str], correct: dict[str, str]) -> float:
    """Exact-match accuracy x100 for multiple choice (A-OKVQA MC): the prediction must equal the correct choice."""
    missing = [q for q in correct if q not in predictions]
    if missing:
        raise ValueError(f"{len(missing)} questions have no prediction (first: {missing[:5]})")
    if not correct:
        raise ValueError("no questions to score")
    return 100.0 * sum(predictions[q].strip() == c.strip() for q, c in correct.items()) / len(correct)
