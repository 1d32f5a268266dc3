"""Backbone dtype: resolved before hashing, validated before training, and honoured by the trainer (trainable
weights fp32, frozen backbone in bf16 under autocast)."""

from __future__ import annotations

import pytest
import torch
from runner_fakes import CharTokenizer, PrefixLM, fake_features, fake_items, tiny_llm

from harness.backbones import precision
from harness.config import TrainSettings
from harness.runner.train import Trainer


@pytest.mark.parametrize(
    "name,on_gpu,native,expect",
    [
        ("auto", True, False, "float16"),
        ("auto", False, True, "bfloat16"),
        ("auto", False, False, "float32"),
        ("float32", True, True, "float32"),
        ("bfloat16", False, False, "bfloat16"),
    ],
)
def test_auto_resolves_to_the_hardware_dtype(monkeypatch, name, on_gpu, native, expect):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    assert precision.resolve_backbone_dtype(name, on_gpu) == expect


def test_unknown_dtype_is_refused():
    with pytest.raises(ValueError, match="must be one of auto, float32, bfloat16, float16"):
        precision.resolve_backbone_dtype("fp8", False)
    with pytest.raises(ValueError, match="not resolved"):
        precision.torch_dtype("auto")


def test_cells_hold_the_concrete_dtype_and_it_is_hashed(monkeypatch):
    from harness.cli import parse_study
    from harness.runner.matrix import plan

    base = ["--methods", "depalm", "--no-controls", "--datasets", "syn-coco", "--profile", "smoke"]
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    (fp32,) = plan(parse_study([*base, "--train.backbone_dtype", "auto"])).cells
    (explicit,) = plan(parse_study([*base, "--train.backbone_dtype", "float32"])).cells
    (bf16,) = plan(parse_study([*base, "--train.backbone_dtype", "bfloat16"])).cells
    assert fp32.train.backbone_dtype == "float32" and fp32.config_hash() == explicit.config_hash()
    assert bf16.train.backbone_dtype == "bfloat16" and bf16.config_hash() != fp32.config_hash()


def test_a_bad_dtype_on_the_command_line_exits_2_before_anything_runs(tmp_path, capsys):
    import run_matrix

    rc = run_matrix.main(
        ["--methods", "depalm", "--datasets", "syn-coco", "--profile", "smoke", "--train.backbone_dtype", "fp8"]
        + ["--results", str(tmp_path / "r"), "--out", str(tmp_path / "o")]
    )
    assert rc == 2
    assert "--train.backbone_dtype: backbone_dtype 'fp8': must be one of" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_bf16_backbone_trains_fp32_weights_under_autocast(tmp_path):
    tok = CharTokenizer()
    llm = tiny_llm(tok.vocab_size).to(torch.bfloat16)
    items = fake_items(8)
    feats = fake_features(items)
    torch.manual_seed(0)
    model = PrefixLM(llm, 8)
    seen: list[torch.dtype] = []
    hook = llm.model.layers[0].mlp.down_proj.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    settings = TrainSettings(max_steps=4, batch_size=4, micro_batch_size=4, log_every=1, augment=False)
    trainer = Trainer(
        model,
        model.trainable_parameters(),
        items,
        lambda batch: torch.stack([feats[it.input_key] for it in batch]),
        tok,
        settings,
        1e-2,
        0.8,
        0,
        tmp_path,
        torch.device("cpu"),
        model,
        dtype_name="bfloat16",
    )
    before = model.proj.weight.detach().clone()
    result = trainer.train()
    hook.remove()
    assert seen and set(seen) == {torch.bfloat16}  # the frozen LLM computed in bf16
    assert model.proj.weight.dtype == torch.float32 and not torch.equal(model.proj.weight, before)
    assert torch.isfinite(torch.tensor(result.final_loss))
    assert not trainer.use_amp  # bf16 needs no loss scaler
