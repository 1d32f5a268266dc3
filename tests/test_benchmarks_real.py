"""Real-dataset loaders on small committed fixtures in each dataset's published format (media made at test time)."""

import json
import random
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest

from benchmarks import DatasetNotFound, get_benchmark, list_benchmarks
from benchmarks.real.media import load_video, sample_indices, segment_indices

FIXTURES = Path(__file__).parent / "fixtures"
PAPER = ["coco", "coco-1pct", "textcaps", "vqav2", "vqav2-1pct", "textvqa", "okvqa", "aokvqa", "audiocaps", "msrvtt"]


def _make_media(path: Path, modality: str, n: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    if modality == "image":
        Image.new("RGB", (24, 16), (10 * n % 255, 80, 160)).save(path)
    elif modality == "audio":
        t = np.arange(16000) / 16000
        pcm = (0.5 * np.sin(2 * np.pi * (200 + 50 * n) * t) * 32767).astype(np.int16)
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000), w.writeframes(pcm.tobytes())
    elif n % 2:  # video as an animated GIF
        frames = [Image.new("RGB", (20, 20), (20 * i, 0, 0)) for i in range(12)]
        path = path.parent / (path.stem + ".gif")
        frames[0].save(path, save_all=True, append_images=frames[1:])
    else:  # video as a folder of extracted frames
        frames = path.parent.parent / "frames" / path.stem
        frames.mkdir(parents=True, exist_ok=True)
        for i in range(10):
            Image.new("RGB", (20, 20), (0, 20 * i, 0)).save(frames / f"{i:04d}.jpg")


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPALM_CACHE", str(tmp_path / "cache"))
    for var in ("DEPALM_DATA_ROOT", "DEPALM_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEPALM_CONFIG", str(tmp_path / "no-config.toml"))
    root = tmp_path / "data"
    shutil.copytree(FIXTURES, root)
    n = 0
    for bench_id in PAPER:
        bench = get_benchmark(bench_id)
        spec = bench.spec
        for split in {spec.splits.train, spec.splits.val, spec.splits.test} - {None}:
            for sample in bench.source.read(root / spec.data_key, split, spec):
                if not sample.media.exists():
                    _make_media(sample.media, spec.modality, n)
                    n += 1
    return root


def test_paper_benchmarks_registered_with_table2_and_c3_facts():
    assert list_benchmarks("paper") == PAPER
    spec = {b: get_benchmark(b).spec for b in PAPER}
    assert {b: s.epochs for b, s in spec.items()} == {
        "coco": 8,
        "coco-1pct": 30,
        "textcaps": 20,
        "vqav2": 8,
        "vqav2-1pct": 30,
        "textvqa": 20,
        "okvqa": 20,
        "aokvqa": 20,
        "audiocaps": 12,
        "msrvtt": 8,
    }
    assert (spec["coco"].default_llm, spec["coco"].default_encoder) == ("llama-7b", "eva-clip-l")
    assert (spec["vqav2"].default_llm, spec["vqav2"].default_encoder) == ("opt-6.7b", "clip-vit-l14")
    assert (spec["msrvtt"].default_llm, spec["msrvtt"].default_encoder) == ("llama-7b", "timesformer")
    assert spec["audiocaps"].primary_metric == "SPIDEr" and spec["coco"].primary_metric == "CIDEr"
    assert spec["okvqa"].primary_metric == "VQA_acc" and spec["okvqa"].splits.test is None


def test_coco_karpathy_split(data_root):
    bench = get_benchmark("coco")
    train = bench.load("train", data_root=data_root)
    # D1: Karpathy train only (82,783 images in the full split, as the official loader); restval 318219 is not used
    assert sorted(it.id for it in train) == ["184613", "397133", "554625"]
    assert [it.id for it in bench.load("train", data_root=data_root, variant="paper")] == [it.id for it in train]
    (test,) = bench.load("test", data_root=data_root)
    assert test.id == "391895" and len(test.targets) == 5
    assert test.targets[0] == "A man with a red helmet on a small moped on a dirt road."
    assert test.input_key == "coco/val2014/COCO_val2014_000000391895.jpg"
    assert test.prompt == "" and test.load_input().size == (24, 16)  # captioning: no instruction
    assert [it.id for it in bench.load("val", data_root=data_root)] == ["522418"]
    assert len(bench.load("train", data_root=data_root, size=2)) == 2


def test_vqav2_on_karpathy_images_groups_training_duplicates(data_root):
    bench = get_benchmark("vqav2")
    train = bench.load("train", data_root=data_root)
    holding = [it for it in train if it.prompt == "What is the boy holding?\n\nAnswer:"]
    assert len(holding) == 1 and len(holding[0].targets) == 20 and holding[0].id == "1846130"
    assert len(train) == 5  # restval image 318219 (a val2014 image) is trained on
    (val,) = bench.load("val", data_root=data_root)
    assert val.id == "5224180" and val.targets.count("cake") == 9
    assert val.question_type == "what is the"  # the annotation's, for the blind prior (benchmarks.prior)
    (test,) = bench.load("test", data_root=data_root)
    assert test.id == "3918950" and test.input_key == "vqav2/val2014/COCO_val2014_000000391895.jpg"
    scores = bench.evaluate({"5224180": "Cake."}, [val])
    assert scores == {"VQA_acc": pytest.approx(100.0), "VQA_acc_depalm": pytest.approx(100.0)}


def test_okvqa_textvqa_aokvqa(data_root):
    ok = get_benchmark("okvqa")
    assert [it.id for it in ok.load("val", data_root=data_root)] == ["3918955", "5224185"]
    raw = json.loads((data_root / "okvqa" / "mscoco_val2014_annotations.json").read_text())["annotations"]
    by_id = {str(a["question_id"]): a for a in raw}
    for variant, field in (("official", "raw_answer"), ("paper", "answer")):  # D6: official reads raw_answer
        for it in ok.load("val", data_root=data_root, variant=variant):
            assert it.targets == [x[field] for x in by_id[it.id]["answers"]]
    with pytest.raises(ValueError, match="no test split"):
        ok.load("test", data_root=data_root)
    tv_train = get_benchmark("textvqa").load("train", data_root=data_root)
    assert len(tv_train) == 2 and sorted(len(it.targets) for it in tv_train) == [10, 20]
    assert {it.question_type for it in ok.load("val", data_root=data_root)} == {"eight"}  # knowledge category
    assert {it.question_type for it in tv_train} == {None}  # TextVQA has none: the prior uses the question prefix
    tv_val = get_benchmark("textvqa").load("val", data_root=data_root)
    assert tv_val[0].input_key == "textvqa/train_images/003a8ae2ef43b901.jpg"
    (ao,) = get_benchmark("aokvqa").load("val", data_root=data_root)
    assert ao.targets == ["cigarette"] * 10 and ao.input_key == "aokvqa/val2017/000000461751.jpg"
    assert ao.prompt == "What is in the motorcyclist's mouth?\n\nAnswer:"


def test_textcaps_groups_caption_rows_per_image(data_root):
    bench = get_benchmark("textcaps")
    train = bench.load("train", data_root=data_root)
    assert [len(it.targets) for it in train] == [3, 1]
    (val,) = bench.load("val", data_root=data_root)
    assert val.id == "003a8ae2ef43b901" and len(val.targets) == 5


def test_audiocaps_groups_captions_per_clip_and_reads_audio(data_root):
    bench = get_benchmark("audiocaps")
    train = bench.load("train", data_root=data_root)
    assert [it.id for it in train] == ["r1nicOVtvkQ", "UDGBjjwyaqE", "8eQ-I9yNaxk"]
    assert train[2].targets == ["A dog barks and a man speaks", "A dog barking then a man talking"]  # official
    paper = bench.load("train", data_root=data_root, variant="paper")
    assert paper[2].targets == ["A dog barks and a man speaks", "A dog barking, then a man talking"]
    wave_, sr = train[0].load_input()
    assert sr == 16000 and wave_.dtype == np.float32 and wave_.shape == (16000,) and 0.4 < np.abs(wave_).max() <= 0.5
    (test,) = bench.load("test", data_root=data_root)
    assert len(test.targets) == 5 and test.prompt == ""


def test_audiocaps_official_text_loses_commas_and_quotes(data_root):
    """D10: the official loader's normalize_text (depalm/data/data/audiocaps.py:99-100), targets and references."""
    csv = data_root / "audiocaps" / "test.csv"
    csv.write_text(
        csv.read_text() + "x," + csv.read_text().splitlines()[1].split(",")[1] + ',0,"A ""loud"" dog, barking"\n'
    )
    bench = get_benchmark("audiocaps")
    (test,) = bench.load("test", data_root=data_root)
    assert test.targets[-1] == "A loud dog barking" and not any("," in t or '"' in t for t in test.targets)
    (paper,) = bench.load("test", data_root=data_root, variant="paper")
    assert paper.targets[-1] == 'A "loud" dog, barking'


def test_audiocaps_skips_missing_clips_and_fails_when_none(data_root):
    bench = get_benchmark("audiocaps")
    (data_root / "audiocaps" / "audio" / "train" / "UDGBjjwyaqE.wav").unlink()
    with pytest.warns(UserWarning, match="1 of 4 train samples skipped"):
        assert len(bench.load("train", data_root=data_root)) == 2
    shutil.rmtree(data_root / "audiocaps" / "audio" / "val")
    with pytest.raises(DatasetNotFound, match="none of the 5 media files"):
        bench.load("val", data_root=data_root)


def test_msrvtt_frames_folder_gif_and_sampling(data_root):
    bench = get_benchmark("msrvtt")
    train = bench.load("train", data_root=data_root, variant="paper")
    assert [it.id for it in train] == ["video0", "video1"] and len(train[0].targets) == 2
    for it in train:
        frames = it.load_input()
        assert len(frames) == 8 and frames[0].mode == "RGB" and frames[0].tobytes() != frames[-1].tobytes()
        assert it.load_train_input is None
    assert {it.input_key.split("/")[1] for it in train} == {"frames", "videos"}
    assert [it.id for it in bench.load("val", data_root=data_root, variant="paper")] == ["video6513"]
    assert [it.id for it in bench.load("test", data_root=data_root)] == ["video7010"]
    assert sample_indices(10, 4) == [1, 3, 6, 8] and sample_indices(3, 5) == [0, 0, 1, 2, 2]


def test_msrvtt_official_frames_and_splits(data_root):
    """F6, D11: 16 frames, a random one per segment in training and the middle ones otherwise; train + validate
    ("train7k"); validation on the test videos (depalm/data/data/video.py:27-52, 99-103, 122-125)."""
    bench = get_benchmark("msrvtt")
    train = bench.load("train", data_root=data_root)
    assert [it.id for it in train] == ["video0", "video1", "video6513"]
    assert [it.id for it in bench.load("val", data_root=data_root)] == ["video7010"]
    # bounds linspace(0, 10, 5).astype(int) = [0, 2, 5, 7, 10]: segments [0, 1], [2, 4], [5, 6], [7, 9]
    assert segment_indices(10, 4) == [0, 3, 5, 8]
    draws = {tuple(segment_indices(10, 4, random.Random(s))) for s in range(50)}
    assert all(d[0] == 0 and d[1] in (2, 3) and d[2] == 5 and d[3] in (7, 8) for d in draws) and len(draws) == 4
    assert segment_indices(3, 5) == [0, 1, 2, 2, 2] and segment_indices(3, 5, random.Random(0)) == [0, 1, 2, 2, 2]
    item = next(it for it in train if it.input_key.split("/")[1] == "frames")  # 10 frames: all, padded
    assert len(item.load_input()) == 16 and item.load_train_input is not None
    from PIL import Image

    clip = data_root / "clip40"
    clip.mkdir()
    for i in range(40):
        Image.new("RGB", (8, 8), (i, 0, 0)).save(clip / f"{i:04d}.png")
    middle = [f.getpixel((0, 0))[0] for f in load_video(clip, 16, "segments")]
    assert middle == segment_indices(40, 16)
    rng = random.Random(0)
    drawn = {tuple(f.getpixel((0, 0))[0] for f in load_video(clip, 16, "segments", rng)) for _ in range(8)}
    assert len(drawn) > 1 and all(list(d) != middle for d in drawn)  # a new draw per use


def test_mp4_without_pyav_names_the_fix(tmp_path):
    pytest.importorskip("PIL")
    try:
        import av  # noqa: F401

        pytest.skip("PyAV installed")
    except ImportError:
        pass
    clip = tmp_path / "video9.mp4"
    clip.write_bytes(b"\x00")
    with pytest.raises(RuntimeError, match="PyAV"):
        load_video(clip, 8)


def _official_subset(rows: list[str], n_test: int, seed: int) -> list[str]:
    """The official loader's draw, written as it runs (depalm/main.py:151; data_base.py:114-116, 204-213): the
    global generator seeded with the seed, the test split shuffled first, then the train rows; round(1%) kept."""
    random.seed(seed)
    test_rows = list(range(n_test))
    random.shuffle(test_rows)
    rows = list(rows)
    random.shuffle(rows)
    return rows[: max(1, round(0.01 * len(rows)))]


@pytest.mark.parametrize("bench_id", ["coco-1pct", "vqav2-1pct"])
def test_one_percent_subset_deterministic_and_saved(data_root, bench_id):
    bench = get_benchmark(bench_id)
    spec = bench.spec
    rows = [s.id for s in bench.source.read(data_root / spec.data_key, "train", spec)]
    n_test = len(bench.source.read(data_root / spec.data_key, "test", spec))
    a = bench.load("train", data_root=data_root)
    assert len(a) == 1 and [it.id for it in bench.load("train", data_root=data_root)] == [it.id for it in a]
    path = data_root.parent / "cache" / "subsets" / f"{bench_id}_shuffle_seed0_n1.json"
    record = json.loads(path.read_text())
    assert record["subset_seed"] == 0 and record["size"] == 1 and record["ids"] == [a[0].id]
    assert record["shuffled_before"] == [n_test] and record["pool_size"] == len(rows)
    for s in range(8):  # D4: exactly the official draw for each seed
        assert [it.id for it in bench.load("train", data_root=data_root, subset_seed=s)] == _official_subset(
            rows, n_test, s
        )
    draws = {bench.load("train", data_root=data_root, subset_seed=s)[0].id for s in range(8)}
    assert len(draws) > 1
    full_val = get_benchmark(bench_id.replace("-1pct", "")).load("val", data_root=data_root)
    assert [it.id for it in bench.load("val", data_root=data_root)] == [it.id for it in full_val]


def test_missing_data_errors_name_dataset_path_layout_and_source(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPALM_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.delenv("DEPALM_DATA_ROOT", raising=False)
    monkeypatch.delenv("DEPALM_DATA_COCO", raising=False)
    bench = get_benchmark("coco")
    with pytest.raises(DatasetNotFound) as e:
        bench.load("train")
    msg = str(e.value)
    assert "[coco]" in msg and "no location given" in msg and "DEPALM_DATA_COCO" in msg and "cocodataset.org" in msg
    with pytest.raises(DatasetNotFound, match=f"folder {tmp_path / 'coco'} does not exist"):
        bench.load("train", data_root=tmp_path)
    (tmp_path / "coco").mkdir()
    with pytest.raises(DatasetNotFound) as e:
        bench.load("train", data_root=tmp_path)
    assert "missing dataset_coco.json" in str(e.value) and "coco/train2014/COCO_train2014_<id:012d>.jpg" in str(e.value)
    assert "missing dataset_coco.json" in get_benchmark("coco").availability(tmp_path)


def test_data_root_from_env_and_config(data_root, tmp_path, monkeypatch):
    bench = get_benchmark("okvqa")
    monkeypatch.setenv("DEPALM_DATA_OKVQA", str(data_root / "okvqa"))
    assert bench.availability() is None and len(bench.load("val")) == 2
    monkeypatch.delenv("DEPALM_DATA_OKVQA")
    monkeypatch.setenv("DEPALM_DATA_ROOT", str(data_root))
    assert bench.availability() is None
    monkeypatch.delenv("DEPALM_DATA_ROOT")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[data]\nroot = "{tmp_path / "nowhere"}"\n[data.paths]\nokvqa = "{data_root / "okvqa"}"\n')
    monkeypatch.setenv("DEPALM_CONFIG", str(cfg))
    assert bench.availability() is None
    assert "nowhere/textvqa" in get_benchmark("textvqa").availability()
    cfg.write_text("[data\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        bench.availability()


def test_every_paper_benchmark_loads_every_split(data_root):
    for bench_id in PAPER:
        bench = get_benchmark(bench_id)
        assert bench.availability(data_root) is None, bench_id
        for role in ("train", "val", "test"):
            if getattr(bench.spec.splits, role) is None:
                continue
            items = bench.load(role, data_root=data_root)
            assert items and all(it.targets for it in items), (bench_id, role)
            assert items[0].load_input() is not None
