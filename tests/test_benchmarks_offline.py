"""Offline suite: registry contents, determinism per seed, grounding of captions/answers, subsets, evaluate."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

import benchmarks
from benchmarks import get_benchmark, list_benchmarks
from benchmarks.synthetic.scenes import BACKGROUNDS, CAPTION_COLOR_WORDS, CAPTION_COLORS

OFFLINE = [
    "syn-coco",
    "syn-coco-1pct",
    "syn-textcaps",
    "syn-vqav2",
    "syn-vqav2-1pct",
    "syn-textvqa",
    "syn-okvqa",
    "syn-aokvqa",
    "syn-audiocaps",
    "syn-msrvtt",
]
PAPER_ORDER = [
    "coco",
    "coco-1pct",
    "textcaps",
    "vqav2",
    "vqav2-1pct",
    "textvqa",
    "okvqa",
    "aokvqa",
    "audiocaps",
    "msrvtt",
]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPALM_CACHE", str(tmp_path / "cache"))


def _raw_bytes(raw) -> bytes:
    if isinstance(raw, tuple):
        return raw[0].tobytes() + str(raw[1]).encode()
    if isinstance(raw, list):
        return b"".join(f.tobytes() for f in raw)
    return raw.tobytes()


def _fingerprint(items, n_inputs=5):
    return (
        [(it.id, it.input_key, it.prompt, tuple(it.targets)) for it in items],
        [_raw_bytes(it.load_input()) for it in items[:n_inputs]],
    )


def test_registry_mirrors_table4_columns_in_order():
    assert list_benchmarks("offline") == OFFLINE
    assert [get_benchmark(b).spec.paper_column for b in OFFLINE] == PAPER_ORDER
    assert list_benchmarks("external") == ["easy-vqa"]
    assert benchmarks.select_benchmarks("offline") == OFFLINE + ["easy-vqa"]
    with pytest.raises(benchmarks.UnknownBenchmark, match="syn-coco"):
        get_benchmark("syn-nope")


def test_epochs_follow_appendix_c3():
    epochs = {b: get_benchmark(b).spec.epochs for b in OFFLINE}
    assert epochs == {
        "syn-coco": 8,
        "syn-coco-1pct": 30,
        "syn-textcaps": 20,
        "syn-vqav2": 8,
        "syn-vqav2-1pct": 30,
        "syn-textvqa": 20,
        "syn-okvqa": 20,
        "syn-aokvqa": 20,
        "syn-audiocaps": 12,
        "syn-msrvtt": 8,
    }


def test_import_is_torch_free():
    code = "import sys, benchmarks; benchmarks.get_benchmark('syn-coco').spec; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("bench_id", OFFLINE)
def test_deterministic_per_seed_and_differs_across_seeds(bench_id):
    bench = get_benchmark(bench_id)
    a = _fingerprint(bench.load("train", seed=0))
    b = _fingerprint(bench.load("train", seed=0))
    c = _fingerprint(bench.load("train", seed=1))
    assert a == b
    assert a[0] != c[0] and a[1] != c[1]


@pytest.mark.parametrize("bench_id", OFFLINE + ["easy-vqa"])
def test_items_well_formed_at_default_size(bench_id):
    bench = get_benchmark(bench_id)
    spec = bench.spec
    for split in ("train", "val", "test"):
        items = bench.load(split)
        assert len({it.id for it in items}) == len(items)
        assert len(items) == spec.default_sizes[split]
        for it in items[:20]:
            assert it.targets and all(isinstance(t, str) and t for t in it.targets)
            if spec.task == "vqa":  # the template around a non-empty question
                before, after = spec.format_prompt("\0").split("\0")
                assert len(it.targets) >= 10 and it.prompt.startswith(before) and it.prompt.endswith(after)
                assert it.prompt[len(before) : len(it.prompt) - len(after)].strip()
            else:
                assert len(set(it.targets)) >= 3 and it.prompt == spec.format_prompt()
    raw = bench.load("val", size=2)[0].load_input()
    if spec.modality == "image":
        assert raw.mode == "RGB" and 64 <= raw.size[0] <= 224
    elif spec.modality == "audio":
        wave, sr = raw
        assert wave.dtype == np.float32 and sr == 16000 and np.abs(wave).max() <= 1.0 and wave.std() > 0.01
    else:
        assert len(raw) == spec.options["n_frames"] and raw[0] is not raw[-1]
        assert raw[0].tobytes() != raw[-1].tobytes()


def test_sizes_are_configurable():
    assert len(get_benchmark("syn-coco").load("train", size=7)) == 7
    assert len(get_benchmark("syn-vqav2").load("val", size=10)) == 10
    with pytest.raises(ValueError, match="positive"):
        get_benchmark("syn-coco").load("train", size=0)
    with pytest.raises(ValueError, match="unknown split"):
        get_benchmark("syn-coco").load("dev")


def test_train_and_eval_splits_differ():
    bench = get_benchmark("syn-coco")
    train = {it.input_key for it in bench.load("train")}
    val = {it.input_key for it in bench.load("val")}
    assert not train & val


def test_low_data_subset_is_one_percent_of_pool_with_own_seed(tmp_path):
    full, low = get_benchmark("syn-coco"), get_benchmark("syn-coco-1pct")
    sub = low.load("train")
    assert len(sub) == round(low.spec.subset.pool_size * low.spec.subset.fraction) == low.spec.default_sizes["train"]
    assert [it.id for it in sub] == [it.id for it in low.load("train")]
    other = low.load("train", subset_seed=1)
    assert [it.id for it in other] != [it.id for it in sub]
    # the pool is the full benchmark's generator: a subset item equals the full item of the same index
    index = int(sub[-1].id.split("-")[1])
    assert full.load("train", size=index + 1)[-1].targets == sub[-1].targets
    # evaluation splits are shared with the full benchmark
    assert [it.targets for it in low.load("val")] == [it.targets for it in full.load("val")]
    files = sorted((tmp_path / "cache" / "subsets").glob("syn-coco-1pct*"))
    assert [f.name for f in files] == [
        "syn-coco-1pct_gen0_shuffle_seed0_n64.json",
        "syn-coco-1pct_gen0_shuffle_seed1_n64.json",
    ]
    record = json.loads(files[0].read_text())
    assert record["subset_seed"] == 0 and record["size"] == 64 and record["pool_size"] == 6400
    assert record["ids"] == [it.id for it in sub]


def _colors_in(img) -> set[tuple[int, int, int]]:
    return {c for _, c in img.getcolors(maxcolors=1 << 16)}


def test_shape_captions_are_grounded_in_pixels():
    for it in get_benchmark("syn-coco").load("val", size=40):
        present = _colors_in(it.load_input())
        for ref in it.targets:
            for color, rgb in CAPTION_COLORS.items():
                for name in CAPTION_COLOR_WORDS.get(color, (color,)):
                    named_background = f"{name} background" in ref or ("background is" in ref and ref.endswith(name))
                    if f" {name} " in f" {ref} " and not named_background:
                        assert rgb in present, (ref, name)
        words = " ".join(it.targets)
        bg = [
            b
            for b in BACKGROUNDS
            if any(
                f"{w} background" in words or f"background is {w}" in words for w in CAPTION_COLOR_WORDS.get(b, (b,))
            )
        ]
        assert all(BACKGROUNDS[b] in present for b in bg)


def test_vqa_answers_have_a_clear_majority_and_human_variants():
    from benchmarks.metrics.vqa import normalize_answer

    items = get_benchmark("syn-vqav2").load("train", size=150)
    for it in items:
        majority = max(set(it.targets), key=it.targets.count)
        assert it.targets.count(majority) >= 6
        if "how many" in it.prompt:
            assert normalize_answer(majority).isdigit()
    assert any(len(set(it.targets)) > 1 for it in items)
    counts = [it for it in items if "how many" in it.prompt]
    assert any(any(not t.isdigit() for t in it.targets) for it in counts)  # number words appear


def _truth(scene, qtype: str, question: str) -> str:
    """The answer of a shapes question read off the scene, independently of the generator."""
    from benchmarks.synthetic import shape_tasks as st
    from benchmarks.synthetic.language import article, plural

    shapes = scene.shapes
    named = [s for s in shapes if f"the {s.shape}?" in question]
    if qtype in (st.COLOR_OF, st.WHERE):
        assert len(named) == 1, (question, scene)  # the shape asked about is unique
        return named[0].color if qtype == st.COLOR_OF else named[0].position
    if qtype == st.SHAPE_OF:
        colored = [s for s in shapes if question == f"what shape is the {s.color} object?"]
        assert len({s.shape for s in colored}) == 1, (question, scene)
        return colored[0].shape
    if qtype == st.COUNT:
        return str(sum(question == f"how many {plural(s.shape)} are there?" for s in shapes))
    if qtype == st.BACKGROUND:
        return scene.background
    if qtype == st.IS_THERE:
        return "yes" if any(question == f"is there {article(s.color + ' ' + s.shape)}?" for s in shapes) else "no"
    assert qtype == st.ALL_SAME and len(shapes) >= 2
    return "yes" if len({s.color for s in shapes}) == 1 else "no"


def test_shape_vqa_answers_are_true_of_the_scene():
    import random

    from benchmarks.synthetic.scenes import object_colors
    from benchmarks.synthetic.shape_tasks import ANSWERS, shape_vqa

    seen: set[str] = set()
    for i in range(1500):
        scene, questions = shape_vqa(random.Random(f"truth/{i}"), 3)
        assert len({t for _, _, t in questions}) == 3 and scene.shapes
        assert all(s.color in object_colors(scene.background) for s in scene.shapes)
        assert len({(s.row, s.col) for s in scene.shapes}) == len(scene.shapes)
        for question, answers, qtype in questions:
            majority = max(set(answers), key=answers.count)
            assert majority == _truth(scene, qtype, question), (question, answers, scene)
            seen.add(qtype)
    assert seen == set(ANSWERS)


def test_sign_letter_colors_are_true_of_the_sign():
    import random

    from benchmarks.synthetic.text_scenes import LETTERS, letter_color, text_vqa

    asked = 0
    for i in range(300):
        sign, questions = text_vqa(random.Random(i), 3)
        for _, answers, qtype in questions:
            if qtype == LETTERS:
                asked += 1
                assert max(set(answers), key=answers.count) == sign.text_color == letter_color(sign.sign_color)
    assert asked > 100


def _names(table: dict, key: str) -> tuple[str, ...]:
    return table.get(key, (key,))


def test_shape_captions_name_every_drawn_shape_its_colour_and_the_count():
    import random

    from benchmarks.synthetic.language import NUMBER_WORDS
    from benchmarks.synthetic.scenes import CAPTION_SHAPE_WORDS, sample_scene

    for it in get_benchmark("syn-coco").load("val"):
        scene = sample_scene(random.Random(it.input_key))  # the scene the item was drawn from
        for ref in it.targets:
            for s in scene.shapes:
                assert any(c in ref for c in _names(CAPTION_COLOR_WORDS, s.color)), (ref, s)
                assert any(w in ref for w in _names(CAPTION_SHAPE_WORDS, s.shape)), (ref, s)
            if scene.kind == "group":
                n = len(scene.shapes)
                assert f"{n} " in ref or f"{NUMBER_WORDS[n]} " in ref, (ref, n)


def test_sign_captions_read_the_word_and_name_the_sign_colour():
    import random

    from benchmarks.synthetic.text_scenes import sample_caption_sign

    for it in get_benchmark("syn-textcaps").load("val"):
        sign = sample_caption_sign(random.Random(it.input_key))
        assert CAPTION_COLORS[sign.sign_color] in _colors_in(it.load_input())
        for ref in it.targets:
            assert f" {sign.word}" in f" {ref}", (ref, sign)
            assert any(f"{c} " in ref for c in _names(CAPTION_COLOR_WORDS, sign.sign_color)), (ref, sign)


def test_clip_captions_name_every_mover_and_its_motion():
    import random

    from benchmarks.synthetic.scenes import CAPTION_SHAPE_WORDS
    from benchmarks.synthetic.video import _VERBS, sample_clip

    phrases = [p for verbs in _VERBS.values() for p in verbs]
    assert len(phrases) == len(set(phrases))  # no wording names two motions
    for it in get_benchmark("syn-msrvtt").load("val"):
        clip = sample_clip(random.Random(it.input_key))
        for ref in it.targets:
            for m in clip.movers:
                assert any(f"{c} " in ref for c in _names(CAPTION_COLOR_WORDS, m.color)), (ref, m)
                assert any(w in ref for w in _names(CAPTION_SHAPE_WORDS, m.shape)), (ref, m)
                assert any(v in ref for v in _VERBS[m.motion]), (ref, m)


def test_sound_captions_name_every_event_in_order():
    import random

    from benchmarks.synthetic.audio import _phrases, sample_events

    for it in get_benchmark("syn-audiocaps").load("val"):
        events = sample_events(random.Random(it.input_key))
        # every wording of each event (counts are written as digits or words: both are drawn over the seeds)
        wordings = [{p for seed in range(20) for p in _phrases(random.Random(seed), e)} for e in events]
        for ref in it.targets:
            where = [max((ref.find(p) for p in ws), default=-1) for ws in wordings]
            assert all(i >= 0 for i in where), (ref, events)
            assert where == sorted(where), (ref, events)  # heard first, named first


def test_sounds_are_what_their_captions_say():
    from benchmarks.synthetic.audio import Event, synthesize

    sr = 16000

    def peak_hz(x: np.ndarray) -> float:
        return float(np.argmax(np.abs(np.fft.rfft(x))) * sr / len(x))

    for pitch, hz in (("low", 220), ("medium", 440), ("high", 880)):
        assert abs(peak_hz(synthesize((Event("tone", pitch),), sr, 2.0, 0)) - hz) < 5
    for kind in ("chirp", "scale"):
        for way in ("rising", "falling"):
            w = synthesize((Event(kind, way),), sr, 2.0, 0)[: int(1.6 * sr * 0.8)]
            first, last = peak_hz(w[: len(w) // 4]), peak_hz(w[-len(w) // 4 :])
            assert (last > first) == (way == "rising"), (kind, way, first, last)
    for kind, n in (("beeps", 4), ("bell", 3), ("thumps", 5)):
        loud = np.abs(synthesize((Event(kind, n),), sr, 4.0, 0)) > 0.05
        onsets = np.flatnonzero(loud[1:] & ~loud[:-1])
        assert len(np.flatnonzero(np.diff(onsets) > 0.2 * sr)) + 1 == n, kind  # hits at least 0.2 s apart


def test_text_benchmarks_mention_the_written_word():
    from benchmarks.synthetic.text_scenes import CAPTION_WORDS, WORDS

    for it in get_benchmark("syn-textcaps").load("val", size=20):
        words = [w for w in CAPTION_WORDS if all(f" {w}" in f" {ref}" for ref in it.targets)]
        assert words, it.targets
    reading = [it for it in get_benchmark("syn-textvqa").load("val") if "written" in it.prompt or "say" in it.prompt]
    assert reading and all(max(set(it.targets), key=it.targets.count) in WORDS for it in reading)


def test_knowledge_questions_held_out_from_training():
    import random

    from benchmarks.synthetic.knowledge import sample_question

    for family in ("flags", "objects"):
        pairs = {
            role: {
                (scene.subject, q)
                for scene, q, _ in (sample_question(random.Random(f"{role}{i}"), family, role) for i in range(400))
            }
            for role in ("train", "val")
        }
        assert pairs["val"] and not pairs["val"] & pairs["train"]
        # every evaluated subject is seen in training, under other questions
        assert {s for s, _ in pairs["val"]} <= {s for s, _ in pairs["train"]}


def test_evaluate_rewards_grounded_predictions():
    bench = get_benchmark("syn-vqav2")
    items = bench.load("val", size=30)
    perfect = {it.id: max(set(it.targets), key=it.targets.count) for it in items}
    assert bench.evaluate(perfect, items)["VQA_acc"] > 90
    blind = {it.id: "yes" for it in items}
    assert bench.evaluate(blind, items)["VQA_acc"] < 50
    with pytest.raises(ValueError, match="no prediction"):
        bench.evaluate({}, items)


def test_caption_evaluate_metric_choice_keeps_primary():
    bench = get_benchmark("syn-coco")
    items = bench.load("val", size=6)
    scores = bench.evaluate({it.id: "a red circle" for it in items}, items, metrics=("BLEU_4",))
    assert set(scores) == {"BLEU_4", "CIDEr"}


def test_skipped_primary_metric_is_nan_not_zero(monkeypatch, tmp_path):
    import math

    from benchmarks.metrics.spice_setup import CORENLP_DIR_ENV

    monkeypatch.setenv(CORENLP_DIR_ENV, str(tmp_path))  # no jars there: SPICE, and so SPIDEr, cannot run
    spec = get_benchmark("syn-coco").spec
    bench = benchmarks.Benchmark(dataclasses.replace(spec, primary_metric="SPIDEr"), get_benchmark("syn-coco").source)
    items = bench.load("val", size=4)
    with pytest.warns(UserWarning, match="SPIDEr not computed: .*install-corenlp"):
        scores = bench.evaluate({it.id: it.targets[0] for it in items}, items, metrics=("CIDEr", "SPIDEr"))
    assert math.isnan(scores["SPIDEr"]) and scores["CIDEr"] > 0


@pytest.mark.slow
def test_caption_evaluate_prefers_matching_captions():
    bench = get_benchmark("syn-coco")
    items = bench.load("val", size=20)
    good = {it.id: it.targets[0] for it in items}
    shifted = {it.id: items[(i + 1) % len(items)].targets[0] for i, it in enumerate(items)}
    g, s = bench.evaluate(good, items), bench.evaluate(shifted, items)
    assert "CIDEr" in g and "BLEU_4" in g and g["CIDEr"] > s["CIDEr"] + 50


def test_postprocess():
    assert get_benchmark("syn-vqav2").postprocess("\n Answer: two\nQuestion: next") == "two"
    assert get_benchmark("syn-coco").postprocess("a red circle on the left\nA picture of") == "a red circle on the left"


def test_readme_table_matches_registry():
    from pathlib import Path

    readme = (Path(benchmarks.__file__).parent / "README.md").read_text()
    for b in list_benchmarks():
        s = get_benchmark(b).spec
        sizes = "/".join(str(s.default_sizes[r]) for r in ("train", "val", "test")) if s.default_sizes else "dataset"
        prompt = json.dumps(s.format_prompt("{question}" if s.task == "vqa" else None))
        row = (
            f"| {s.id} | {s.paper_column or '-'} | {s.modality} | {s.task} | {sizes} | {s.epochs} | `{prompt}` | "
            f"{s.primary_metric} ({s.eval_split}) |"
        )
        assert row in readme, row
