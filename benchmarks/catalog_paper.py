"""The paper's ten Table 4 columns over its eight datasets (Table 2 backbones, Appendix C.3 epochs, Sec. 4.1 splits).

`eval_split` is the split whose score fills Table 4: Karpathy test for COCO, the val split for the VQA sets and
TextCaps (their test answers are not public), test for AudioCaps and MSRVTT. AudioCaps' audio encoder is MAViL
in the paper (`paper_encoder`); its registry stand-in is `ast` (see harness/backbones).
"""

from __future__ import annotations

from benchmarks.benchmark import Benchmark
from benchmarks.real import audiocaps, coco, msrvtt, textcaps, vqa_formats
from benchmarks.real.source import FileSource
from benchmarks.registry import register_benchmark
from benchmarks.spec import BenchmarkSpec, Splits, SubsetSpec

# Prompt templates of the official dataset configs (BenchmarkSpec.format_prompt applies them): captioning sets no
# instruction (`insert_instruction: False`, config/dataset/{coco,textcaps,audiocaps,msrvtt}.yaml, and run.yaml:235 for
# TextCaps), nor does TextVQA (so its prompt is the question alone); VQAv2 uses instruction 1 (vqa.yaml:28-31),
# OK-VQA and A-OKVQA instruction 0 (okvqa.yaml:7-9, aokvqa.yaml:7-9), the same text.
NO_INSTRUCTION = ""
VQA_PROMPT = "{question}\n\nAnswer:\n"
ONE_PERCENT = SubsetSpec(fraction=0.01, seed=0)

COCO_LAYOUT = """coco/dataset_coco.json            (Karpathy split: images[].filepath/filename/split/sentences)
coco/train2014/COCO_train2014_<id:012d>.jpg
coco/val2014/COCO_val2014_<id:012d>.jpg"""
COCO_SOURCE = (
    "images: https://cocodataset.org/#download (2014 train/val); Karpathy split json: "
    "https://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip"
)
VQAV2_LAYOUT = """vqav2/v2_OpenEnded_mscoco_{train2014,val2014}_questions.json
vqav2/v2_mscoco_{train2014,val2014}_annotations.json
vqav2/dataset_coco.json            (Karpathy split: assigns each image to train/val/test)
vqav2/train2014/COCO_train2014_<id:012d>.jpg, vqav2/val2014/COCO_val2014_<id:012d>.jpg  (symlinks to coco/ work)"""
VQAV2_SOURCE = "https://visualqa.org/download.html (v2 questions + annotations) and " + COCO_SOURCE


# Tables S2–S4: the metrics each benchmark's block lists
CAPTION_S2 = ("BLEU_4", "CIDEr")
VQA_S2 = ("VQA_acc",)
VAL_AND_TEST = ("val", "test")  # Table S2 shows VQAv2 on both


def _spec(
    id_,
    title,
    short,
    column,
    modality,
    task,
    llm,
    encoder,
    epochs,
    prompt,
    metric,
    splits,
    eval_split,
    key,
    layout,
    source,
    s_metrics,
    s_splits=(),
    subset=None,
    paper_encoder="",
    official=None,
    official_splits=None,
    sizes=None,
    **options,
) -> BenchmarkSpec:
    return BenchmarkSpec(
        id=id_,
        title=title,
        group="paper",
        paper_column=column,
        modality=modality,
        task=task,
        default_llm=llm,
        default_encoder=encoder,
        epochs=epochs,
        prompt=prompt,
        primary_metric=metric,
        splits=splits,
        eval_split=eval_split,
        data_key=key,
        layout=layout,
        source=source,
        subset=subset,
        options=options,
        paper_encoder=paper_encoder,
        short_title=short,
        s_metrics=s_metrics,
        s_splits=s_splits,
        official_options=official or {},
        official_splits=official_splits,
        paper_sizes=sizes or {},
    )


# The official code's data rules (the `official` variant): OK-VQA targets and references are the unprocessed
# `raw_answer`s (depalm/data/data/vqa.py:85); AudioCaps captions lose ',' and '"' (audiocaps.py:99-100,
# config/dataset/audiocaps.yaml normalize_text: true); MSR-VTT takes 16 frames (config/dataset/msrvtt.yaml:7), one
# drawn at random in each of 16 segments for training and the middle ones otherwise (rand_middle,
# depalm/data/data/video.py:27-52, 99-103), CLIP pixel statistics (video.py:105), trains on train + validate
# (msrvtt_caption_train7k.json, video.py:122-123) and validates on the test videos (video.py:124-125).
OKVQA_OFFICIAL = {"answer_field": "raw_answer"}
AUDIOCAPS_OFFICIAL = {"drop_chars": ',"'}
MSRVTT_OFFICIAL = {"n_frames": 16, "frame_sampling": "segments", "pixel_stats": "clip", "train_with_validate": True}


# Items per split role as the loaders count them (an image with its captions, a question, a clip): train is Table 2's
# size (before a 1% subset is drawn from it); the eval splits are those of the releases: Karpathy val and test 5,000
# images each, VQAv2 the questions on those images (about 5.3 per image), TextCaps val 3,166 images, TextVQA val
# 5,000 questions, OK-VQA val 5,046, A-OKVQA val 1,145, AudioCaps val 495 and test 975 clips, MSR-VTT validate 497
# and test 2,990 videos.
COCO_SIZES = {"train": 82_000, "val": 5_000, "test": 5_000}
VQAV2_SIZES = {"train": 605_000, "val": 26_500, "test": 26_500}

KARPATHY = Splits("train", "val", "test")
PAPER = [
    (
        _spec(
            "coco",
            "COCO captioning (Karpathy split)",
            "COCO",
            "coco",
            "image",
            "caption",
            "llama-7b",
            "eva-clip-l",
            8,
            NO_INSTRUCTION,
            "CIDEr",
            KARPATHY,
            "test",
            "coco",
            COCO_LAYOUT,
            COCO_SOURCE,
            CAPTION_S2,
            sizes=COCO_SIZES,
        ),
        FileSource(coco.read_coco, lambda split: [coco.KARPATHY_JSON]),
    ),
    (
        _spec(
            "coco-1pct",
            "COCO captioning, 1% of the training data",
            "COCO (1%)",
            "coco-1pct",
            "image",
            "caption",
            "llama-7b",
            "eva-clip-l",
            30,
            NO_INSTRUCTION,
            "CIDEr",
            KARPATHY,
            "test",
            "coco",
            COCO_LAYOUT,
            COCO_SOURCE,
            CAPTION_S2,
            subset=ONE_PERCENT,
            sizes=COCO_SIZES,
        ),
        FileSource(coco.read_coco, lambda split: [coco.KARPATHY_JSON]),
    ),
    (
        _spec(
            "textcaps",
            "TextCaps captioning",
            "TextCaps",
            "textcaps",
            "image",
            "caption",
            "llama-7b",
            "clip-vit-l14",
            20,
            NO_INSTRUCTION,
            "CIDEr",
            Splits("train", "val", None),
            "val",
            "textcaps",
            "textcaps/TextCaps_0.1_{train,val}.json\ntextcaps/train_images/<image_id>.jpg  (train and val images)",
            "https://textvqa.org/textcaps/dataset/ (annotations; images: TextVQA train_val_images.zip)",
            CAPTION_S2,
            sizes={"train": 21_000, "val": 3_166},
        ),
        FileSource(textcaps.read_textcaps, textcaps.textcaps_required),
    ),
    (
        _spec(
            "vqav2",
            "VQAv2 (Karpathy-split images)",
            "VQAv2",
            "vqav2",
            "image",
            "vqa",
            "opt-6.7b",
            "clip-vit-l14",
            8,
            VQA_PROMPT,
            "VQA_acc",
            KARPATHY,
            "val",
            "vqav2",
            VQAV2_LAYOUT,
            VQAV2_SOURCE,
            VQA_S2,
            VAL_AND_TEST,
            sizes=VQAV2_SIZES,
        ),
        FileSource(vqa_formats.read_vqav2_karpathy, vqa_formats.vqav2_required),
    ),
    (
        _spec(
            "vqav2-1pct",
            "VQAv2, 1% of the training data",
            "VQAv2 (1%)",
            "vqav2-1pct",
            "image",
            "vqa",
            "opt-6.7b",
            "clip-vit-l14",
            30,
            VQA_PROMPT,
            "VQA_acc",
            KARPATHY,
            "val",
            "vqav2",
            VQAV2_LAYOUT,
            VQAV2_SOURCE,
            VQA_S2,
            VAL_AND_TEST,
            subset=ONE_PERCENT,
            sizes=VQAV2_SIZES,
        ),
        FileSource(vqa_formats.read_vqav2_karpathy, vqa_formats.vqav2_required),
    ),
    (
        _spec(
            "textvqa",
            "TextVQA 0.5.1",
            "TextVQA",
            "textvqa",
            "image",
            "vqa",
            "opt-6.7b",
            "clip-vit-l14",
            20,
            NO_INSTRUCTION,
            "VQA_acc",
            Splits("train", "val", None),
            "val",
            "textvqa",
            "textvqa/TextVQA_0.5.1_{train,val}.json\ntextvqa/train_images/<image_id>.jpg  (train and val images)",
            "https://textvqa.org/dataset/",
            VQA_S2,
            sizes={"train": 34_000, "val": 5_000},
        ),
        FileSource(vqa_formats.read_textvqa, vqa_formats.textvqa_required),
    ),
    (
        _spec(
            "okvqa",
            "OK-VQA",
            "OKVQA",
            "okvqa",
            "image",
            "vqa",
            "opt-6.7b",
            "clip-vit-l14",
            20,
            VQA_PROMPT,
            "VQA_acc",
            Splits("train2014", "val2014", None),
            "val",
            "okvqa",
            "okvqa/OpenEnded_mscoco_{train2014,val2014}_questions.json\n"
            "okvqa/mscoco_{train2014,val2014}_annotations.json\n"
            "okvqa/train2014/COCO_train2014_<id:012d>.jpg, okvqa/val2014/COCO_val2014_<id:012d>.jpg",
            "https://okvqa.allenai.org/download.html (+ COCO 2014 images)",
            VQA_S2,
            official=OKVQA_OFFICIAL,
            sizes={"train": 9_000, "val": 5_046},
        ),
        FileSource(vqa_formats.read_okvqa, vqa_formats.okvqa_required),
    ),
    (
        _spec(
            "aokvqa",
            "A-OKVQA (direct answer)",
            "AOKVQA",
            "aokvqa",
            "image",
            "vqa",
            "opt-6.7b",
            "clip-vit-l14",
            20,
            VQA_PROMPT,
            "VQA_acc",
            Splits("train", "val", None),
            "val",
            "aokvqa",
            "aokvqa/aokvqa_v1p0_{train,val}.json\naokvqa/train2017/<image_id:012d>.jpg, aokvqa/val2017/<id:012d>.jpg",
            "https://allenai.org/project/a-okvqa (+ COCO 2017 images: https://cocodataset.org/#download)",
            VQA_S2,
            sizes={"train": 17_000, "val": 1_145},
        ),
        FileSource(vqa_formats.read_aokvqa, vqa_formats.aokvqa_required),
    ),
    (
        _spec(
            "audiocaps",
            "AudioCaps",
            "AudioCaps",
            "audiocaps",
            "audio",
            "caption",
            "opt-6.7b",
            "ast",
            12,
            NO_INSTRUCTION,
            "SPIDEr",
            Splits("train", "val", "test"),
            "test",
            "audiocaps",
            "audiocaps/{train,val,test}.csv   (audiocap_id,youtube_id,start_time,caption)\n"
            "audiocaps/audio/{train,val,test}/<youtube_id>.wav  (10 s clips cut at start_time; .flac needs soundfile)",
            "https://github.com/cdjkim/audiocaps (csv; clips from YouTube, e.g. with audiocaps-download)",
            ("BLEU_1", "BLEU_2", "METEOR", "CIDEr", "SPICE", "SPIDEr"),
            paper_encoder="mavil",
            official=AUDIOCAPS_OFFICIAL,
            sizes={"train": 49_000, "val": 495, "test": 975},
        ),
        FileSource(audiocaps.read_audiocaps, audiocaps.audiocaps_required),
    ),
    (
        _spec(
            "msrvtt",
            "MSR-VTT captioning",
            "MSRVTT",
            "msrvtt",
            "video",
            "caption",
            "llama-7b",
            "timesformer",
            8,
            NO_INSTRUCTION,
            "CIDEr",
            Splits("train", "validate", "test"),
            "test",
            "msrvtt",
            "msrvtt/train_val_videodatainfo.json, msrvtt/test_videodatainfo.json\n"
            "msrvtt/videos/<video_id>.mp4  (needs PyAV)  or  msrvtt/frames/<video_id>/*.jpg",
            "https://www.microsoft.com/en-us/research/publication/msr-vtt/ (MSRVTT 2016 release)",
            ("BLEU_4", "METEOR", "CIDEr"),
            official=MSRVTT_OFFICIAL,
            official_splits=Splits("train", "test", "test"),
            n_frames=8,
            sizes={"train": 7_000, "val": 497, "test": 2_990},
        ),
        FileSource(msrvtt.read_msrvtt, msrvtt.msrvtt_required),
    ),
]


def register_paper() -> None:
    for spec, source in PAPER:
        register_benchmark(Benchmark(spec, source))
