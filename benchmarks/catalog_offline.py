"""The offline suite's registrations: ten mirrors of Table 4's columns (same order) plus the external easy-vqa.

Epochs and prompt templates are those of the column each mirrors (Appendix C.3; the official dataset configs);
sizes are small so a CPU profile trains in minutes. Every mirror reports its test split (its generator has test
answers, where VQAv2, TextVQA and the OK-VQAs publish none), leaving val to selection.
"""

from __future__ import annotations

from benchmarks.benchmark import Benchmark
from benchmarks.catalog_paper import PAPER
from benchmarks.registry import register_benchmark
from benchmarks.spec import BenchmarkSpec, Splits, SubsetSpec
from benchmarks.synthetic import audio, image_items, video
from benchmarks.synthetic.source import GeneratedSource

PAPER_SPEC = {spec.paper_column: spec for spec, _ in PAPER}  # a mirror reports and shows what its column does
LLM = "smollm2-135m"
IMAGE_ENCODER = "clip-b16-embedded"
SPLITS = Splits("train", "val", "test")
CAPTION_SIZES = {"train": 256, "val": 64, "test": 64}
VQA_SIZES = {"train": 384, "val": 96, "test": 96}  # 3 questions per image: 128 / 32 / 32 images
SUBSET = SubsetSpec(fraction=0.01, seed=0, pool_size=6400)  # 1% of a 6,400-item pool = 64 training items
LOW_CAPTION_SIZES = {**CAPTION_SIZES, "train": 64}
LOW_VQA_SIZES = {**VQA_SIZES, "train": 64}


def _image(namespace: str, **extra) -> dict:
    return {"namespace": namespace, "image_size": 128, **extra}


def _spec(
    id_, title, column, task, epochs, sizes, options, modality="image", encoder=IMAGE_ENCODER, subset=None
) -> BenchmarkSpec:
    paper = PAPER_SPEC[column]
    return BenchmarkSpec(
        id=id_,
        title=title,
        group="offline",
        paper_column=column,
        modality=modality,
        task=task,
        default_llm=LLM,
        default_encoder=encoder,
        epochs=epochs,
        prompt=paper.prompt,
        primary_metric="CIDEr" if task == "caption" else "VQA_acc",
        splits=SPLITS,
        eval_split="test",  # generated test answers exist: val selects (the lr grid), test reports
        default_sizes=sizes,
        subset=subset,
        options=options,
        source="generated on the fly (benchmarks/synthetic), nothing to download",
        short_title=f"{paper.display_title} [offline]",
        s_metrics=paper.s_metrics,
        s_splits=paper.s_splits,
    )


# A namespace seeds its items and prefixes their input keys (which key the feature cache): the caption mirrors'
# "-v2" marks their wide-space generators, so no features cached from the earlier items are served for the new ones.
_SHAPE_CAPS = _image("shapes-cap-v2")
_SHAPE_VQA = _image("shapes-vqa", questions_per_image=3)
OFFLINE = [
    (
        _spec("syn-coco", "Shapes captioning (COCO mirror)", "coco", "caption", 8, CAPTION_SIZES, _SHAPE_CAPS),
        image_items.shape_caption_item,
    ),
    (
        _spec(
            "syn-coco-1pct",
            "Shapes captioning, 1% of the data (COCO 1% mirror)",
            "coco-1pct",
            "caption",
            30,
            LOW_CAPTION_SIZES,
            _SHAPE_CAPS,
            subset=SUBSET,
        ),
        image_items.shape_caption_item,
    ),
    (
        _spec(
            "syn-textcaps",
            "Sign captioning with written words (TextCaps mirror)",
            "textcaps",
            "caption",
            20,
            CAPTION_SIZES,
            _image("signs-cap-v2"),
        ),
        image_items.text_caption_item,
    ),
    (
        _spec("syn-vqav2", "Shapes VQA (VQAv2 mirror)", "vqav2", "vqa", 8, VQA_SIZES, _SHAPE_VQA),
        image_items.shape_vqa_item,
    ),
    (
        _spec(
            "syn-vqav2-1pct",
            "Shapes VQA, 1% of the data (VQAv2 1% mirror)",
            "vqav2-1pct",
            "vqa",
            30,
            LOW_VQA_SIZES,
            _SHAPE_VQA,
            subset=SUBSET,
        ),
        image_items.shape_vqa_item,
    ),
    (
        _spec(
            "syn-textvqa",
            "Reading signs VQA (TextVQA mirror)",
            "textvqa",
            "vqa",
            20,
            VQA_SIZES,
            _image("signs-vqa", questions_per_image=3),
        ),
        image_items.text_vqa_item,
    ),
    (
        _spec(
            "syn-okvqa",
            "Flag knowledge VQA (OK-VQA mirror)",
            "okvqa",
            "vqa",
            20,
            VQA_SIZES,
            _image("flags", family="flags"),
        ),
        image_items.knowledge_vqa_item,
    ),
    (
        _spec(
            "syn-aokvqa",
            "Everyday-object commonsense VQA (A-OKVQA mirror)",
            "aokvqa",
            "vqa",
            20,
            VQA_SIZES,
            _image("objects", family="objects"),
        ),
        image_items.knowledge_vqa_item,
    ),
    (
        _spec(
            "syn-audiocaps",
            "Synthesized sound captioning (AudioCaps mirror)",
            "audiocaps",
            "caption",
            12,
            CAPTION_SIZES,
            {"namespace": "sounds-v2", "sample_rate": 16000, "seconds": 4.0},
            modality="audio",
            encoder="whisper-tiny-embedded",
        ),
        audio.audio_caption_item,
    ),
    (
        _spec(
            "syn-msrvtt",
            "Moving-shapes video captioning (MSRVTT mirror)",
            "msrvtt",
            "caption",
            8,
            CAPTION_SIZES,
            {"namespace": "movers-v2", "image_size": 128, "n_frames": 8},
            modality="video",
            encoder="video-clip-b16-embedded",
        ),
        video.video_caption_item,
    ),
]


def register_offline() -> None:
    for spec, make_item in OFFLINE:
        register_benchmark(Benchmark(spec, GeneratedSource(make_item)))
