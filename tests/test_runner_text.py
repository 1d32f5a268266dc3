"""The text pipeline against the official code's rules: prompt strings per benchmark and LLM family, BOS in training
and generation inputs, token ids as the official tokenization gives them, the OPT answer token, post-processing per
variant, generation settings that a checkpoint cannot override, DePALM's VQA accuracy on the raw generation."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from runner_fakes import CharTokenizer, tiny_llama_tokenizer, tiny_opt_tokenizer, tiny_smollm2_tokenizer

from benchmarks import get_benchmark
from benchmarks.catalog_offline import OFFLINE
from harness.backbones import llm_entry
from harness.backbones.families import LLM_FAMILIES, add_answer_token
from harness.config import EvalSettings
from harness.runner.generate import generate_predictions
from harness.runner.text import (
    decode_new_tokens,
    encode_for_training,
    encode_prompts,
    llm_prompt,
    postprocessor,
    prompt_ids,
)

Q = "What color is the bus?"
CAPTION = {"opt": "Answer: </a>", "llama": "", "llama-2": "Answer: ", "vicuna": "Answer: "}
VQA = {
    "opt": f"{Q}\n\nAnswer: </a>",
    "llama": f"{Q}\n\nAnswer: ",
    "llama-2": f"{Q}\n\nAnswer: ",
    "vicuna": f"{Q}\n\nAnswer: ",
}
TEXTVQA = {"opt": f"{Q} </a>", "llama": f"{Q} ", "llama-2": f"{Q} ", "vicuna": f"{Q} "}
EXPECTED = {
    "coco": CAPTION,
    "coco-1pct": CAPTION,
    "textcaps": CAPTION,
    "vqav2": VQA,
    "vqav2-1pct": VQA,
    "textvqa": TEXTVQA,
    "okvqa": VQA,
    "aokvqa": VQA,
    "audiocaps": CAPTION,
    "msrvtt": CAPTION,
}


def _prompt(bench_id: str, family: str) -> str:
    spec = get_benchmark(bench_id).spec
    return llm_prompt(spec.format_prompt(Q if spec.task == "vqa" else None), LLM_FAMILIES[family])


@pytest.mark.parametrize("family", sorted(LLM_FAMILIES))
@pytest.mark.parametrize("bench_id", sorted(EXPECTED))
def test_prompt_strings_per_benchmark_and_llm_family(bench_id, family):
    assert _prompt(bench_id, family) == EXPECTED[bench_id][family]


@pytest.mark.parametrize("family", sorted(LLM_FAMILIES))
@pytest.mark.parametrize("mirror", [spec.id for spec, _ in OFFLINE])
def test_offline_mirrors_take_the_template_of_their_dataset(mirror, family):
    assert _prompt(mirror, family) == EXPECTED[get_benchmark(mirror).spec.paper_column][family]


@pytest.mark.parametrize(
    "llm,family",
    [
        ("opt-125m", "opt"),
        ("opt-6.7b", "opt"),
        ("llama-7b", "llama"),
        ("llama-2-7b", "llama-2"),
        ("llama-2-7b-chat", "llama-2"),
        ("vicuna-7b", "vicuna"),
        ("smollm2-135m", "llama"),
    ],
)
def test_llm_families_of_the_registered_llms(llm, family):
    assert llm_entry(llm).family == family


def test_answer_token_whitespace_is_dropped_as_transformers_4_30_does():
    tok = tiny_opt_tokenizer()
    a_id = add_answer_token(tok, "</a>", embedding_rows=len(tok) + 7)
    assert a_id == len(tok) - 1 and add_answer_token(tok, "</a>", len(tok) + 7) == a_id  # registered once
    blue = tok("blue", add_special_tokens=False).input_ids
    assert tok(f"{Q}\n\nAnswer: </a> blue").input_ids == tok(f"{Q}\n\nAnswer:").input_ids + [a_id] + blue
    assert tok.decode([a_id, *blue], skip_special_tokens=True) == "blue"  # skipped when decoding
    with pytest.raises(ValueError, match="embedding has only"):
        add_answer_token(tiny_opt_tokenizer(), "</a>", embedding_rows=330)


def _official_ids(tok, prompt: str, answer: str) -> tuple[list[int], int]:
    """The official training call (`depalm/depalmodel.py:111-123`): prompt + answer + EOS text tokenized with the
    tokenizer's defaults, the loss masked over len(tokenize(prompt)) positions."""
    return tok(prompt + answer + tok.eos_token).input_ids, len(tok(prompt).input_ids)


@pytest.mark.parametrize(
    "tokenizer,family,bench_id,answer",
    [
        ("opt", "opt", "vqav2", "blue"),
        ("opt", "opt", "textvqa", "stop sign"),
        ("opt", "opt", "audiocaps", "a man speaks"),
        ("llama", "llama", "coco", "A man riding a blue bike"),
        ("llama", "llama", "msrvtt", "two red cubes"),
    ],
)
def test_table4_token_ids_equal_the_official_tokenization_with_bos(tokenizer, family, bench_id, answer):
    tok = tiny_opt_tokenizer() if tokenizer == "opt" else tiny_llama_tokenizer()
    if LLM_FAMILIES[family].token:
        add_answer_token(tok, LLM_FAMILIES[family].token, len(tok) + 1)
    prompt = _prompt(bench_id, family)
    enc = encode_for_training(tok, [prompt], [answer], max_target_tokens=None)
    ids, n_masked = _official_ids(tok, prompt, answer)
    assert enc["input_ids"][0].tolist() == ids and ids[0] == tok.bos_token_id
    assert enc["labels"][0].tolist() == [-100] * n_masked + ids[n_masked:]
    gen = encode_prompts(tok, [prompt])["input_ids"][0].tolist()
    assert gen == tok(prompt).input_ids == ids[:n_masked] and gen[0] == tok.bos_token_id  # the official generation call


def test_a_prompt_ending_in_text_keeps_the_official_ids_and_trains_the_whole_answer():
    """LLaMA-family VQA: the official joint tokenization merges the prompt's trailing space into the answer's first
    token, then masks that token; here the ids are the same and the loss covers it (deliberate deviation)."""
    tok = tiny_llama_tokenizer()
    prompt = _prompt("okvqa", "llama")
    assert prompt.endswith("Answer: ")
    enc = encode_for_training(tok, [prompt], ["blue"], max_target_tokens=None)
    ids, n_masked_officially = _official_ids(tok, prompt, "blue")
    answer_ids = tok(" blue", add_special_tokens=False).input_ids
    assert enc["input_ids"][0].tolist() == ids
    assert enc["labels"][0].tolist()[-len(answer_ids) - 1 :] == answer_ids + [tok.eos_token_id]
    assert len(ids) - n_masked_officially < len(answer_ids) + 1  # the official mask drops part of the answer
    gen = encode_prompts(tok, [prompt])["input_ids"][0].tolist()
    assert gen == ids[: len(ids) - len(answer_ids) - 1]  # generation starts where the answer starts in training


def test_a_tokenizer_that_adds_no_bos_gets_its_declared_one():
    tok = tiny_smollm2_tokenizer()
    assert tok("a blue bike").input_ids == tok("a blue bike", add_special_tokens=False).input_ids  # adds none itself
    bos = tok.convert_tokens_to_ids("<|im_start|>")
    enc = encode_for_training(tok, [""], ["a blue bike"], max_target_tokens=None)
    assert enc["input_ids"][0].tolist() == [bos] + tok("a blue bike").input_ids + [tok.eos_token_id]
    assert enc["labels"][0, 0] == -100 and (enc["labels"][0, 1:] != -100).all()
    assert encode_prompts(tok, ["", "what color is the bus?"])["input_ids"][:, -1].tolist()[0] == bos
    assert prompt_ids(CharTokenizer(), "ab")[0] == CharTokenizer.eos_token_id  # no BOS declared: EOS starts it


def test_postprocessing_per_variant():
    bench = get_benchmark("syn-vqav2")
    raw = "Answer: two\nQuestion: next"
    assert postprocessor("official", bench.postprocess)(f" {raw} ") == raw
    assert postprocessor("paper", bench.postprocess)(raw) == "two"


def test_depalm_vqa_accuracy_scores_the_raw_generation():
    bench = get_benchmark("syn-vqav2")
    item = dataclasses.replace(bench.load("val", size=1)[0], targets=["blue"] * 10)
    scores = bench.evaluate({item.id: "blue"}, [item], raw={item.id: "Answer: blue\nQuestion: next"})
    assert scores["VQA_acc"] == pytest.approx(100.0) and scores["VQA_acc_depalm"] == pytest.approx(0.0)
    assert bench.evaluate({item.id: "blue"}, [item])["VQA_acc_depalm"] == pytest.approx(100.0)


@dataclasses.dataclass
class _Item:
    id: str
    prompt: str


def test_generation_ignores_the_checkpoints_generation_config():
    from test_methods_llm import SPEC, build

    model = build("depalm", "llama")
    tok = CharTokenizer(" abcdefghijklmnopqrstuvwxyz?:.ABCDEFGHIJKLMNOPQRSTUVWXYZ012345")  # the LLM's 64 ids
    items = [_Item(f"q{i}", p) for i, p in enumerate(["what is it? ", "a cube:", ""])]
    feats = torch.randn(
        len(items), SPEC.n_levels, SPEC.n_tokens, SPEC.d_feats, generator=torch.Generator().manual_seed(0)
    )
    features_fn = lambda batch: feats[[int(it.id[1:]) for it in batch]]  # noqa: E731
    settings = EvalSettings(num_beams=2, max_new_tokens=5, batch_size=2)

    def run():
        return generate_predictions(model, items, features_fn, tok, settings, str.strip, torch.device("cpu"))

    clean = run()
    gc = model.llm.generation_config
    for name, value in dict(
        do_sample=True,
        temperature=7.0,
        top_k=2,
        repetition_penalty=50.0,
        no_repeat_ngram_size=1,
        min_new_tokens=5,
        length_penalty=-20.0,
        early_stopping=True,
        num_beams=4,
    ).items():
        setattr(gc, name, value)
    torch.manual_seed(0)
    assert run() == clean
    assert [r["prompt"] for r in clean] == [it.prompt for it in items]


def test_decoding_stops_at_the_first_eos_and_skips_special_tokens():
    tok = tiny_opt_tokenizer()
    a_id = add_answer_token(tok, "</a>", len(tok) + 1)
    blue, bike = (tok(w, add_special_tokens=False).input_ids for w in (" blue", " bike"))
    rows = [[a_id, *blue, tok.eos_token_id, *bike], [*bike, a_id, tok.eos_token_id]]
    width = max(map(len, rows))
    padded = torch.tensor([r + [tok.pad_token_id] * (width - len(r)) for r in rows])  # beam search pads after EOS
    assert decode_new_tokens(tok, padded) == ["blue", "bike"]


def test_bf16_generation_reads_fp16_cached_features():
    """As the feature cache serves them: fp16 rows stacked per batch, under backbone_dtype bfloat16."""
    from test_methods_llm import SPEC, build

    model = build("limber-1", "llama")
    model.llm.to(torch.bfloat16)
    tok = CharTokenizer(" abcdefghijklmnopqrstuvwxyz?:.ABCDEFGHIJKLMNOPQRSTUVWXYZ012345")
    items = [_Item(f"q{i}", "what is it? ") for i in range(3)]
    rows = torch.randn(len(items), SPEC.n_levels, SPEC.n_tokens, SPEC.d_feats).half()
    features_fn = lambda batch: torch.stack([rows[int(it.id[1:])] for it in batch])  # noqa: E731
    settings = EvalSettings(num_beams=1, max_new_tokens=3, batch_size=2)
    records = generate_predictions(
        model, items, features_fn, tok, settings, str.strip, torch.device("cpu"), dtype_name="bfloat16"
    )
    assert [r["id"] for r in records] == ["q0", "q1", "q2"]
