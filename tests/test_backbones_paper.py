"""Paper backbones: the real loading/wrapping code on tiny random modules of the same classes (no download)."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np
import pytest
import torch
from PIL import Image

from harness.backbones import BackboneNotAvailable, list_encoders, list_llms, load_encoder, load_llm
from harness.backbones.base import default_dtype
from harness.backbones.paper import open_clip_encoder, timm_vit_encoder

CONTRACT_ENCODERS = [
    "clip-b16-embedded",
    "dinov2-s14-embedded",
    "whisper-tiny-embedded",
    "video-clip-b16-embedded",
    "clip-vit-b16",
    "clip-vit-l14",
    "eva-clip-l",
    "dinov2-s",
    "dinov2-b",
    "dinov2-l",
    "dinov2-g",
    "vit-l",
    "timesformer",
    "ast",
]
CONTRACT_LLMS = [
    "smollm2-135m",
    "opt-125m",
    "opt-1.3b",
    "opt-2.7b",
    "opt-6.7b",
    "llama-7b",
    "llama-2-7b",
    "llama-2-7b-chat",
    "vicuna-7b",
]


def test_registry_has_contract_ids():
    assert set(CONTRACT_ENCODERS) <= set(list_encoders())
    assert set(CONTRACT_LLMS) <= set(list_llms())
    assert set(list_encoders(embedded=True)) == {i for i in CONTRACT_ENCODERS if "embedded" in i}
    assert list_llms(embedded=True) == ["smollm2-135m"]


def test_paper_llms_are_the_official_checkpoints():
    from harness.backbones.paper import PAPER_LLMS

    assert PAPER_LLMS["opt-6.7b"][0] == "facebook/opt-6.7b"  # config/llm/opt.yaml:1
    assert PAPER_LLMS["vicuna-7b"][0] == "lmsys/vicuna-7b-v1.5"  # config/llm/vicuna.yaml:1 (LLaMA-2 based)


def test_unknown_ids_and_options_are_clear():
    with pytest.raises(KeyError, match="known: .*clip-vit-l14"):
        load_encoder("clip-vit-xxl")
    with pytest.raises(TypeError, match="image_size.*accepts: max_seconds, pretrained"):
        load_encoder("whisper-tiny-embedded", image_size=128)
    with pytest.raises(KeyError, match="HF hub id / local directory"):
        load_llm("no-such-llm")


def test_half_precision_on_gpu_fp32_on_cpu():
    assert default_dtype("cuda") == torch.float16 and default_dtype("cuda:1") == torch.float16
    assert default_dtype("cpu") == torch.float32


def _image(seed=0, size=(40, 30)):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size[::-1], 3), dtype=np.uint8))


def test_open_clip_vision_transformer_levels_and_cls():
    from open_clip.transformer import VisionTransformer

    torch.manual_seed(0)
    visual = VisionTransformer(image_size=32, patch_size=8, width=32, layers=3, heads=2, mlp_ratio=2.0, output_dim=16)
    with torch.no_grad():
        visual.ln_post.weight.uniform_(0.5, 2.0), visual.ln_post.bias.normal_()  # a norm that is not idempotent
    enc = open_clip_encoder("clip-vit-b16", visual, 32, "tiny")
    assert (enc.meta.grid, enc.meta.n_levels, enc.meta.d_feats, enc.meta.has_cls) == ((4, 4), 3, 32, True)
    assert enc.meta.final_norm  # F1: CLIP levels through post-layernorm, as the official extractor
    x = torch.stack([enc.preprocess(_image(i)) for i in range(2)])
    assert x.shape == (2, 3, 32, 32)
    with torch.no_grad():
        h = enc(x, 3)
        pooled = visual(x)  # open_clip: ln_post(CLS of the last block) @ proj
        raw = visual.forward_intermediates(
            x, indices=3, output_fmt="NLC", intermediates_only=True, output_extra_tokens=True
        )
    assert h.shape == (2, 3, 17, 32)
    torch.testing.assert_close(h[:, -1, 0] @ visual.proj, pooled)
    for k in range(3):  # level k == final_norm(hidden_states[k])
        block = torch.cat([raw["image_intermediates_prefix"][k], raw["image_intermediates"][k]], 1)
        torch.testing.assert_close(h[:, k], visual.ln_post(block))
    assert not any(p.requires_grad for p in enc.parameters())


def test_open_clip_timm_tower_eva_resizes_and_matches_trunk():
    from open_clip.timm_model import TimmModel

    torch.manual_seed(0)
    visual = TimmModel("eva02_tiny_patch14_224", embed_dim=16, image_size=28, pool="token", proj=None)
    enc = open_clip_encoder("eva-clip-l", visual, 28, "tiny")
    assert enc.meta.grid == (2, 2) and enc.meta.d_feats == 192
    assert not enc.meta.final_norm  # config/feat_model/eva-clip-L.yaml:6 norm: null -> raw block outputs
    x = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        h = enc(x, 2)
        torch.testing.assert_close(visual.trunk.norm(h[:, -1]), visual.trunk.forward_features(x))


def test_open_clip_loader_random_init_and_offline_error():
    enc = load_encoder("clip-vit-b16", pretrained=None, image_size=32)
    assert enc.meta.grid == (2, 2) and enc.meta.d_feats == 768 and enc.meta.n_levels == 12
    assert enc.fingerprint() != load_encoder("clip-vit-b16", pretrained=None, image_size=48).fingerprint()
    with pytest.raises(BackboneNotAvailable, match="pretrained="):
        load_encoder("clip-vit-b16", pretrained="/nonexistent/open_clip_model.bin", image_size=32)


def test_image_size_must_match_patch():
    from open_clip.transformer import VisionTransformer

    visual = VisionTransformer(image_size=32, patch_size=8, width=32, layers=1, heads=2, mlp_ratio=2.0)
    with pytest.raises(ValueError, match="multiple of the patch size 8"):
        open_clip_encoder("clip-vit-b16", visual, 30, "tiny")


def test_timm_vit_matches_forward_features():
    import timm

    torch.manual_seed(0)
    model = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=32, depth=2, embed_dim=32, num_heads=2, num_classes=0
    )
    with torch.no_grad():
        model.norm.weight.uniform_(0.5, 2.0), model.norm.bias.normal_()
    enc = timm_vit_encoder("vit-l", model, "tiny")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        h = enc(x, 2)
        torch.testing.assert_close(h[:, -1], model.forward_features(x))  # forward_features ends in the norm
        first = model.forward_intermediates(
            x, indices=2, output_fmt="NLC", intermediates_only=True, return_prefix_tokens=True
        )[0]
        torch.testing.assert_close(h[:, 0], model.norm(torch.cat([first[1], first[0]], 1)))
    assert h.shape == (2, 2, 5, 32) and enc.meta.final_norm


HUBCONF = '''
import torch
from torch import nn


class TinyDino(nn.Module):
    """Stands in for DinoVisionTransformer: same attributes and get_intermediate_layers signature."""

    def __init__(self):
        super().__init__()
        self.patch_size, self.embed_dim, self.n_blocks = 14, 8, 3
        self.patch_embed = nn.Conv2d(3, 8, 14, 14)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.blocks = nn.ModuleList(nn.Linear(8, 8) for _ in range(3))
        self.norm = nn.LayerNorm(8)

    def get_intermediate_layers(self, x, n=1, reshape=False, return_class_token=False, norm=True):
        t = self.patch_embed(x).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls_token.expand(len(x), -1, -1), t], 1)
        outs = []
        for blk in self.blocks:
            t = t + blk(t)
            outs.append(t)
        return tuple((o[:, 1:], o[:, 0]) for o in outs[-n:])


def dinov2_vits14(pretrained=True):
    return TinyDino()
'''


def test_dinov2_local_hub_repo_and_weights(tmp_path):
    repo = tmp_path / "dinov2"
    repo.mkdir()
    (repo / "hubconf.py").write_text(HUBCONF)
    reference = load_encoder("dinov2-s", repo=str(repo), image_size=28)
    weights = tmp_path / "dinov2_vits14_pretrain.pth"
    torch.save({k: torch.randn_like(v) for k, v in reference.model.state_dict().items()}, weights)
    enc = load_encoder("dinov2-s", repo=str(repo), weights=str(weights), image_size=28)
    assert (enc.meta.grid, enc.meta.d_feats, enc.meta.n_levels) == ((2, 2), 8, 3)
    torch.testing.assert_close(enc.model.cls_token, torch.load(weights)["cls_token"])
    x = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        h = enc(x, 2)
        raw = enc.model.get_intermediate_layers(x, n=2, return_class_token=True, norm=False)
    assert h.shape == (2, 2, 5, 8) and enc.meta.final_norm
    for k, (patches, cls) in enumerate(raw):  # DINOv2 `norm` on every level (norm: auto)
        torch.testing.assert_close(h[:, k], enc.model.norm(torch.cat([cls[:, None], patches], 1)))
    assert enc.fingerprint() != reference.fingerprint()


def test_dinov2_missing_local_repo_names_path_and_fix(tmp_path, monkeypatch):
    missing = tmp_path / "no-dinov2-here"
    with pytest.raises(BackboneNotAvailable) as err:
        load_encoder("dinov2-b", repo=str(missing))
    assert str(missing) in str(err.value) and "git clone https://github.com/facebookresearch/dinov2" in str(err.value)
    monkeypatch.setenv("DEPALM_DINOV2_REPO", str(missing))
    with pytest.raises(BackboneNotAvailable, match="DEPALM_DINOV2_REPO"):
        load_encoder("dinov2-g")
    repo = tmp_path / "dinov2"
    repo.mkdir()
    (repo / "hubconf.py").write_text(HUBCONF)
    with pytest.raises(BackboneNotAvailable, match="dinov2_vits14_pretrain.pth"):
        load_encoder("dinov2-s", repo=str(repo), weights=str(tmp_path / "absent.pth"))


def test_timesformer_tokens_reordered_to_thw(tmp_path):
    from transformers import TimesformerConfig, TimesformerModel

    torch.manual_seed(0)
    cfg = TimesformerConfig(
        image_size=32,
        patch_size=16,
        num_frames=3,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
    )
    model = TimesformerModel(cfg)
    with torch.no_grad():
        model.layernorm.weight.uniform_(0.5, 2.0), model.layernorm.bias.normal_()
    model.save_pretrained(tmp_path)
    enc = load_encoder("timesformer", path=str(tmp_path))
    assert enc.meta.grid == (3, 2, 2) and enc.meta.modality == "video" and enc.meta.final_norm
    x = enc.preprocess([_image(i) for i in range(5)])
    assert x.shape == (3, 3, 32, 32)
    x = torch.stack([x, x.flip(0)])
    with torch.no_grad():
        h = enc(x, 2)
        # (H, W, T) order; every level through the final norm (official timesformermodel.py:301)
        raw = enc.model.layernorm(enc.model(pixel_values=x, output_hidden_states=True).hidden_states[-1])
    assert h.shape == (2, 2, 13, 16)
    t, p = 2, 3  # frame 2, patch 3
    torch.testing.assert_close(h[:, -1, 1 + t * 4 + p], raw[:, 1 + p * 3 + t])
    torch.testing.assert_close(h[:, -1, 0], raw[:, 0])


def test_timesformer_takes_the_official_16_frames_and_pixel_statistics(tmp_path):
    """F6: the official TimeSformer runs on the dataset's frame count with its time embedding interpolated
    (nearest), after a squash to 224 and CLIP statistics; `configure_input` changes meta and fingerprint too."""
    from transformers import TimesformerConfig, TimesformerModel

    from harness.backbones.preprocess import CLIP_MEAN, CLIP_STD

    cfg = TimesformerConfig(
        image_size=32,
        patch_size=16,
        num_frames=2,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
    )
    TimesformerModel(cfg).save_pretrained(tmp_path)
    enc = load_encoder("timesformer", path=str(tmp_path))
    before = enc.fingerprint()
    enc.configure_input(resize="squash", frames=4, mean_std=(CLIP_MEAN, CLIP_STD))
    assert enc.meta.grid == (4, 2, 2) and enc.meta.preprocess["frames"] == 4 and enc.fingerprint() != before
    assert enc.meta.preprocess["resize"] == "bicubic-squash" and tuple(enc.meta.preprocess["mean"]) == CLIP_MEAN
    x = enc.preprocess([_image(i, size=(40, 30)) for i in range(4)])
    assert x.shape == (4, 3, 32, 32)
    with torch.no_grad():
        h = enc(x[None], 2)
    assert h.shape == (1, 2, 1 + 4 * 4, 16) and torch.isfinite(h).all()
    with pytest.raises(ValueError, match="no frame count"):
        open_clip_encoder("clip-vit-b16", _tiny_visual(), 32, "tiny").configure_input(frames=4)


def _tiny_visual():
    from open_clip.transformer import VisionTransformer

    return VisionTransformer(image_size=32, patch_size=8, width=32, layers=1, heads=2, mlp_ratio=2.0)


def test_ast_stand_in_drops_distillation_token(tmp_path):
    from transformers import ASTConfig, ASTModel

    torch.manual_seed(0)
    cfg = ASTConfig(
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        num_mel_bins=32,
        max_length=48,
        patch_size=16,
        frequency_stride=16,
        time_stride=16,
    )
    ASTModel(cfg).save_pretrained(tmp_path)
    enc = load_encoder("ast", path=str(tmp_path))
    assert enc.meta.grid == (2 * 3,) and enc.meta.has_cls and enc.meta.modality == "audio"
    assert not enc.meta.final_norm  # stands in for MAViL: config/feat_model/mavil.yaml norm: null
    wave = np.sin(np.linspace(0, 400, 8000)).astype(np.float32)
    x = enc.preprocess((wave, 8000))
    assert x.shape == (32, 48)  # [n_mels, T]
    with torch.no_grad():
        h = enc(x[None], 2)
        raw = enc.model(input_values=x.T[None], output_hidden_states=True).hidden_states[-1]
    assert h.shape == (1, 2, 7, 16)
    torch.testing.assert_close(h[0, -1, 0], raw[0, 0])
    torch.testing.assert_close(h[0, -1, 1:], raw[0, 2:])


def _tiny_tokenizer(path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "</s>", "a", "photo", "of", "dog", "cat"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="</s>").save_pretrained(path)


@pytest.mark.parametrize("llm_id", ["opt-125m", "llama-2-7b"])
def test_llm_loader_from_local_path(tmp_path, llm_id):
    from transformers import LlamaConfig, LlamaForCausalLM, OPTConfig, OPTForCausalLM

    torch.manual_seed(0)
    if llm_id.startswith("opt"):
        # a spare embedding row for the answer token, as OPT has (50,265 tokens, 50,272 rows)
        model = OPTForCausalLM(
            OPTConfig(
                vocab_size=8,
                hidden_size=16,
                num_hidden_layers=2,
                ffn_dim=32,
                num_attention_heads=2,
                word_embed_proj_dim=16,
                max_position_embeddings=32,
            )
        )
    else:
        model = LlamaForCausalLM(
            LlamaConfig(
                vocab_size=7,
                hidden_size=16,
                num_hidden_layers=2,
                intermediate_size=32,
                num_attention_heads=2,
                num_key_value_heads=2,
            )
        )
    model.save_pretrained(tmp_path)
    _tiny_tokenizer(tmp_path)
    llm = load_llm(llm_id, path=str(tmp_path))
    assert llm.id == llm_id and llm.hidden_size == 16 and llm.n_layers == 2 and llm.dtype == torch.float32
    assert llm.embeddings is llm.model.get_input_embeddings()
    assert llm.tokenizer.pad_token == "</s>"  # none shipped: EOS reused for padding
    assert not any(p.requires_grad for p in llm.model.parameters()) and not llm.model.training
    ids = llm.tokenizer("a photo of dog", return_tensors="pt").input_ids
    with torch.no_grad():
        assert llm.model(input_ids=ids).logits.shape == (1, 4, llm.embeddings.num_embeddings)
    opt = llm_id.startswith("opt")
    assert llm.family == ("opt" if opt else "llama-2")
    assert ("</a>" in llm.tokenizer.get_vocab()) == opt  # OPT's answer token, on the spare row
    assert not opt or llm.tokenizer.convert_tokens_to_ids("</a>") == 7
    generic = load_llm(str(tmp_path), dtype=torch.bfloat16)
    assert generic.id == str(tmp_path) and generic.dtype == torch.bfloat16
    assert generic.family == ("opt" if opt else "llama")  # from the model type


def test_llm_offline_error_names_fix(tmp_path):
    with pytest.raises(BackboneNotAvailable, match="path="):
        load_llm("opt-125m", path=str(tmp_path / "absent"))
