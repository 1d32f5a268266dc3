"""Item makers of the offline image benchmarks (captioning, VQA, text reading, knowledge VQA)."""

from __future__ import annotations

import random

from benchmarks.spec import BenchmarkSpec, Item
from benchmarks.synthetic.knowledge import render_knowledge_scene, sample_question
from benchmarks.synthetic.scenes import render_scene, sample_scene
from benchmarks.synthetic.shape_tasks import scene_captions, shape_vqa
from benchmarks.synthetic.source import item_id
from benchmarks.synthetic.text_scenes import render_text_scene, sample_caption_sign, text_captions, text_vqa


def _key(spec: BenchmarkSpec, seed: int, role: str, index: int) -> str:
    return f"{spec.options['namespace']}/s{seed}/{role}/{index:05d}"


def _caption_item(spec: BenchmarkSpec, role: str, seed: int, index: int, sample, describe, render) -> Item:
    key = _key(spec, seed, role, index)
    rng = random.Random(key)
    scene = sample(rng)
    size = spec.options["image_size"]
    return Item(item_id(role, index), key, lambda: render(scene, size, key), spec.format_prompt(), describe(rng, scene))


def shape_caption_item(spec: BenchmarkSpec, role: str, seed: int, index: int) -> Item:
    return _caption_item(spec, role, seed, index, sample_scene, scene_captions, render_scene)


def text_caption_item(spec: BenchmarkSpec, role: str, seed: int, index: int) -> Item:
    return _caption_item(spec, role, seed, index, sample_caption_sign, text_captions, render_text_scene)


def _vqa_item(spec: BenchmarkSpec, role: str, seed: int, index: int, draw, render) -> Item:
    """Question `index` asks about image index // q_per_image (several questions share an image, as in VQAv2);
    `draw(rng, k)` returns the image's scene and its k (question, answers, question type)."""
    per_image = spec.options["questions_per_image"]
    key = _key(spec, seed, role, index // per_image)
    scene, questions = draw(random.Random(key), per_image)
    question, answers, qtype = questions[index % per_image % len(questions)]
    size = spec.options["image_size"]
    return Item(
        item_id(role, index),
        key,
        lambda: render(scene, size, key),
        spec.format_prompt(question),
        answers,
        question_type=qtype,
    )


def shape_vqa_item(spec: BenchmarkSpec, role: str, seed: int, index: int) -> Item:
    return _vqa_item(spec, role, seed, index, shape_vqa, render_scene)


def text_vqa_item(spec: BenchmarkSpec, role: str, seed: int, index: int) -> Item:
    return _vqa_item(spec, role, seed, index, text_vqa, render_text_scene)


def knowledge_vqa_item(spec: BenchmarkSpec, role: str, seed: int, index: int) -> Item:
    """One question per image: the drawn subject varies in size, position and background."""
    key = _key(spec, seed, role, index)
    scene, question, answers = sample_question(random.Random(key), spec.options["family"], role)
    size = spec.options["image_size"]
    return Item(
        item_id(role, index),
        key,
        lambda: render_knowledge_scene(scene, size),
        spec.format_prompt(question),
        answers,
        question_type=question,  # the questions have no slots: each is its own template
    )
