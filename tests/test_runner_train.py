"""Training recipe (Appendix C.3) and resumable training, on tiny random components."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
from runner_fakes import CharTokenizer, PrefixLM, fake_features, fake_items, tiny_llm

from harness.config import TrainSettings
from harness.runner.text import encode_for_training
from harness.runner.train import (
    Trainer,
    UnstableTraining,
    build_optimizer,
    derive_batching,
    epoch_plan,
    lr_multiplier,
    total_steps,
)


def test_lr_schedule_warms_up_linearly_over_20_percent_then_cosine_to_min():
    total, r = 100, 1e-4
    assert lr_multiplier(0, total, 0.2, r) == pytest.approx(r)
    assert lr_multiplier(10, total, 0.2, r) == pytest.approx(r + (1 - r) * 0.5)
    assert lr_multiplier(20, total, 0.2, r) == pytest.approx(1.0)
    mids = [lr_multiplier(s, total, 0.2, r) for s in range(20, 100)]
    assert all(a >= b for a, b in itertools.pairwise(mids))
    assert lr_multiplier(99, total, 0.2, r) == pytest.approx(r)


@pytest.mark.parametrize(
    "batch,micro,world,n,expect",
    [
        (128, 16, 8, 10_000, (128, 16, 1)),  # the paper: 8 GPUs x 16
        (128, 16, 1, 10_000, (128, 16, 8)),  # one device: accumulate 8 micro-batches
        (128, 16, 2, 10_000, (128, 16, 4)),
        (128, 48, 1, 10_000, (129, 43, 3)),  # uneven split rounds the micro-batch up
        (8, 8, 1, 5, (5, 5, 1)),  # fewer items than a batch
    ],
)
def test_batching_is_derived_from_the_devices_present(batch, micro, world, n, expect):
    b = derive_batching(batch, micro, world, n)
    assert (b.global_batch, b.micro_batch, b.accum_steps) == expect
    assert b.micro_batch <= micro


def test_loss_only_on_answer_tokens_with_eos():
    tok = CharTokenizer()  # declares no BOS: every text starts with its EOS
    bos, eos = tok.eos_token_id, tok.eos_token_id
    enc = encode_for_training(tok, ["ab ", "abcd:"], ["c", " de "], max_target_tokens=None)
    ids, labels, mask = enc["input_ids"], enc["labels"], enc["attention_mask"]
    # row 0: BOS "ab" then " c" (the prompt's trailing space goes with the answer) + EOS, right padded
    assert ids[0, :6].tolist() == [bos] + tok("ab").input_ids + tok(" c").input_ids + [eos]
    assert labels[0].tolist()[:3] == [-100] * 3
    assert labels[0].tolist()[3:6] == tok(" c").input_ids + [eos]
    assert mask[0].tolist() == [1] * 6 + [0] * 3 and labels[0, 6:].eq(-100).all()
    # row 1: no separator added after a prompt that ends in text; the answer is stripped
    assert ids[1].tolist() == [bos] + tok("abcd:de").input_ids + [eos]
    assert labels[1].tolist() == [-100] * 6 + tok("de").input_ids + [eos] and ids.shape == labels.shape


def test_targets_truncated_only_under_a_cap_but_keep_eos():
    tok = CharTokenizer()
    capped = encode_for_training(tok, ["a"], ["bcdefgh"], max_target_tokens=3)
    assert capped["labels"][0].tolist() == [-100, -100] + tok("bc").input_ids + [tok.eos_token_id]
    full = encode_for_training(tok, ["a"], ["bcdefgh"], max_target_tokens=None)
    assert full["labels"][0].tolist() == [-100, -100] + tok("bcdefgh").input_ids + [tok.eos_token_id]


def test_one_target_drawn_per_epoch_deterministically():
    order0, picks0 = epoch_plan(50, [2] * 50, seed=0, epoch=0)
    again = epoch_plan(50, [2] * 50, seed=0, epoch=0)
    _order1, picks1 = epoch_plan(50, [2] * 50, seed=0, epoch=1)
    assert (order0 == again[0]).all() and (picks0 == again[1]).all()
    assert sorted(order0.tolist()) == list(range(50))
    assert set(picks0.tolist()) == {0, 1} and (picks0 != picks1).any()


def test_total_steps_from_epochs_and_cap():
    b = derive_batching(4, 4, 1, 20)
    assert total_steps(TrainSettings(epochs=3, max_steps=None, batch_size=4), 20, b) == 15
    assert total_steps(TrainSettings(epochs=3, max_steps=7, batch_size=4), 20, b) == 7


def _trainer(run_dir, settings, seed=0, on_step=None, lr=3e-3):
    tok = CharTokenizer()
    llm = tiny_llm(tok.vocab_size)
    items = fake_items(12)
    feats = fake_features(items)
    torch.manual_seed(seed)
    model = PrefixLM(llm, 8)
    fn = lambda batch: torch.stack([feats[it.input_key] for it in batch])  # noqa: E731
    return model, Trainer(
        model,
        model.trainable_parameters(),
        items,
        fn,
        tok,
        settings,
        lr,
        0.8,
        seed,
        run_dir,
        torch.device("cpu"),
        model,
        on_step=on_step,
    )


SETTINGS = TrainSettings(
    epochs=2, max_steps=6, batch_size=4, micro_batch_size=2, checkpoint_every=2, log_every=1, augment=False
)


def test_training_logs_every_step_and_lowers_the_loss(tmp_path):
    model, trainer = _trainer(tmp_path, SETTINGS, lr=1e-2)
    res = trainer.train()
    assert res.steps == 6 and res.resumed_from == 0
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 7))
    assert {"loss", "lr", "grad_norm", "tokens_per_s"} <= set(log[0])
    assert log[0]["lr"] == pytest.approx(1e-2 * 1e-4)  # warmup starts at alpha_min
    assert log[-1]["loss"] < log[0]["loss"]
    assert not any(p.grad is not None for p in model.llm.parameters())


def test_resume_after_crash_matches_uninterrupted_run(tmp_path):
    model_a, ta = _trainer(tmp_path / "a", SETTINGS)
    ta.train()

    class Crash(Exception):
        pass

    def crash_at_3(rec):
        if rec["step"] == 3:
            raise Crash

    _, tb = _trainer(tmp_path / "b", SETTINGS, on_step=crash_at_3)
    with pytest.raises(Crash):
        tb.train()
    model_c, tc = _trainer(tmp_path / "b", SETTINGS)  # fresh process state, same run dir
    res = tc.train()
    assert res.resumed_from == 2
    for k, v in model_a.trainable_state_dict().items():
        assert torch.equal(v, model_c.trainable_state_dict()[k]), k
    steps = [json.loads(x)["step"] for x in (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 7))  # the log holds each step once after resuming


def test_finished_training_is_not_repeated(tmp_path):
    _, t1 = _trainer(tmp_path, SETTINGS)
    t1.train()
    _, t2 = _trainer(tmp_path, SETTINGS)
    res = t2.train()
    assert res.resumed_from == res.steps == 6 and math.isfinite(res.final_loss)


def test_nan_loss_raises_unstable(tmp_path):
    model, trainer = _trainer(tmp_path, SETTINGS)
    with torch.no_grad():
        model.proj.weight.fill_(float("nan"))
    with pytest.raises(UnstableTraining):
        trainer.train()


def test_checkpoint_from_another_configuration_is_set_aside_and_training_restarts(tmp_path):
    from harness.runner.checkpoint import CheckpointWarning

    _, t1 = _trainer(tmp_path, SETTINGS)
    t1.train()
    other = TrainSettings(epochs=2, max_steps=4, batch_size=4, micro_batch_size=2, checkpoint_every=2, augment=False)
    _, t2 = _trainer(tmp_path, other)
    with pytest.warns(CheckpointWarning, match="another configuration"):
        res = t2.train()
    assert res.resumed_from == 0 and res.steps == 4
    assert (tmp_path / "checkpoint.safetensors.corrupt").exists()


def test_official_gradient_is_summed_over_accumulation_steps_before_clipping(tmp_path):
    """R6: the official loop backpropagates each accumulation step's loss undivided, so its gradient is
    accumulate_steps x the mean over the effective batch; the clip sees that larger norm."""
    norms = {}
    for k in (1, 2):
        _, trainer = _trainer(
            tmp_path / str(k),
            TrainSettings(max_steps=1, batch_size=4, micro_batch_size=2, grad_sum_steps=k, augment=False),
        )
        trainer.train()
        norms[k] = json.loads((tmp_path / str(k) / "train_log.jsonl").read_text().splitlines()[0])["grad_norm"]
    assert norms[2] == pytest.approx(2 * norms[1], rel=1e-5)


def test_gates_take_a_scaled_lr_in_a_group_of_their_own():
    w, gate = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([w, gate], 1e-3, TrainSettings(gate_lr_scale=50.0), gates=[gate])
    assert [(g["lr"], len(g["params"])) for g in opt.param_groups] == [(1e-3, 1), (pytest.approx(0.05), 1)]
    assert opt.param_groups[1]["params"][0] is gate
    # at scale 1 (and with no gates) one group, as before the setting: old checkpoints resume into it
    neutral = build_optimizer([w, gate], 1e-3, TrainSettings(), gates=[gate])
    no_gates = build_optimizer([w], 1e-3, TrainSettings(gate_lr_scale=50.0))
    assert len(neutral.param_groups) == len(no_gates.param_groups) == 1


def test_only_gated_injection_reports_gates():
    from methods.config import LLMDims
    from methods.injection import FirstLayerInjection, GatedCrossAttention, InnerLayerInjection

    dims = LLMDims(d_input=8, d_hidden=8, n_layers=4)
    xattn = GatedCrossAttention(GatedCrossAttention.Options(n_llm=2, n_left=1, d_embed=8, n_heads=2), dims, 1, 8)
    assert xattn.gate_parameters() == [xattn.gates]
    assert InnerLayerInjection(InnerLayerInjection.Options(n_llm=2), dims, 1, 8).gate_parameters() == []
    assert FirstLayerInjection(FirstLayerInjection.Options(), dims, 1, 8).gate_parameters() == []
