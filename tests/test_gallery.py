"""Figure 2's gallery (harness.runner.gallery) from runs the matrix made: the prior control of an image, a video and
an audio offline benchmark on the smoke profile (no model to load, the run directory and per-item scores as every
run writes them), plus the page's escaping, the selection rules, the spectrogram and bad input."""

from __future__ import annotations

import base64
import html
import io
import json
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from harness.cli import main as run_matrix
from harness.runner import gallery
from harness.runner.rundir import METRICS_NAME, read_json, write_json
from harness.store.items import read_item_scores

pytestmark = pytest.mark.slow
DATASETS = {"syn-coco": "image", "syn-msrvtt": "video", "syn-audiocaps": "audio"}
N = 5
# contact sheet of 5 entries at 100 dpi: 4 columns of 3 in (image, audio) or 2 of 6 in (video), rows of 3.3 in
# under a 0.6 in header
SHEET_PX = {"image": (1200, 720), "video": (1200, 1050), "audio": (1200, 720)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("gallery")
    datasets = ",".join([*DATASETS, "syn-vqav2"])
    args = ["--methods", "prior", "--no-controls", "--datasets", datasets, "--profile", "smoke"]
    dirs = ["--results", str(root / "results"), "--runs-dir", str(root / "runs"), "--out", str(root / "reports")]
    assert run_matrix([*args, "--executor", "inline", *dirs]) == 0
    ids = {read_json(d / "config.json")["config"]["dataset"]: d.name for d in (root / "runs").iterdir()}
    assert set(ids) == {*DATASETS, "syn-vqav2"}
    return root, ids


def _gallery(root, run_id, out, *extra):
    return gallery.main(
        ["--run", run_id, "--results", str(root / "results"), "--runs-dir", str(root / "runs"), "--out", str(out)]
        + list(extra)
    )


def _decoded_images(page: str) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(b))) for b in re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    ]


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_gallery_of_a_run_has_n_items_with_their_media_and_a_contact_sheet(runs, dataset, tmp_path, capsys):
    root, ids = runs
    run_id, modality = ids[dataset], DATASETS[dataset]
    assert _gallery(root, run_id, tmp_path, "--n", str(N)) == 0
    assert f"{run_id}: {N} of 8 items, {modality}" in capsys.readouterr().out

    page = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    shown = re.findall(r'<figure class="item" id="([^"]+)">', page)
    scores = read_item_scores([root / "results"], [run_id])
    scores = scores[scores.metric == "CIDEr"].set_index("item_id").score.sort_index()
    ranked = sorted(scores.index, key=lambda i: (-scores[i], i))
    assert shown == [ranked[0], ranked[2], ranked[4], ranked[5], ranked[7]]  # spread: best to worst, median between
    assert page.count("<img ") == N
    assert all(src.startswith("data:") for src in re.findall(r'src="([^"]*)"', page))  # self-contained
    images = _decoded_images(page)
    assert len(images) == N and all(im.mode == "RGB" for im in images)
    height = {"image": 160, "video": 112, "audio": 128}[modality]
    assert {im.height for im in images} == {height}
    if modality == "audio":  # one width for every clip
        assert {im.width for im in images} == {480}
    if modality == "video":  # four frames side by side: four times as wide as a square frame, with gaps
        assert all(im.width > 3.5 * im.height for im in images)
    assert page.count('src="data:audio/wav;base64,') == (N if modality == "audio" else 0)
    predictions = {
        r["id"]: r
        for r in map(json.loads, (root / "runs" / run_id / "predictions_test.jsonl").read_text().splitlines())
    }
    for item_id in shown:
        card = page.split(f'id="{item_id}">')[1].split("</figure>")[0]
        assert f'<dd class="prediction">{predictions[item_id]["prediction"]}</dd>' in card
        assert f"CIDEr {scores[item_id]:.1f} (rank {ranked.index(item_id) + 1} of 8)" in card
        assert card.count("<li>") == 5  # the offline captions have five references
        extent = {"image": "128x128 px", "video": "8 frames", "audio": "4.0 s at 16000 Hz"}[modality]
        assert f"<dt>input</dt><dd>{extent}</dd>" in card

    sheet = Image.open(tmp_path / "gallery.png")
    assert sheet.size == SHEET_PX[modality]
    assert np.asarray(sheet.convert("L")).std() > 10  # drawn, not blank


def test_a_vqa_gallery_shows_the_question_and_the_answers_with_their_counts(runs, tmp_path):
    root, ids = runs
    assert _gallery(root, ids["syn-vqav2"], tmp_path, "--select", "best", "--n", "3") == 0
    page = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    assert page.count('<figure class="item"') == 3 and "chosen by the highest per-item VQA_acc" in page
    lines = (root / "runs" / ids["syn-vqav2"] / "predictions_test.jsonl").read_text().splitlines()
    records = {r["id"]: r for r in map(json.loads, lines)}
    for item_id in re.findall(r'<figure class="item" id="([^"]+)">', page):
        card = page.split(f'id="{item_id}">')[1].split("</figure>")[0]
        assert f'<dt>prompt</dt><dd class="prompt">{html.escape(records[item_id]["prompt"])}</dd>' in card
    assert "<dt>answers (10)</dt>" in page and re.search(r"<li>[^<]+ ×\d+</li>", page)


def test_several_runs_make_one_gallery_a_section_each(runs, tmp_path, capsys):
    root, ids = runs
    order = ["syn-coco", "syn-vqav2", "syn-audiocaps", "syn-msrvtt"]
    picked = [a for d in order for a in ("--run", ids[d])]
    assert _gallery(root, picked[1], tmp_path, *picked[2:], "--n", "3") == 0
    page = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    assert re.findall(r'<section id="([^"]+)">', page) == [ids[d] for d in order]
    assert page.count('<figure class="item"') == 12
    # sections stacked: image, VQA and audio one row of three 3 in cells (3.9 in), video two rows of two 6 in ones
    assert Image.open(tmp_path / "gallery.png").size == (1200, 3 * 390 + 720)
    assert gallery.main(picked[:4]) == 2  # two runs, no --out
    assert "name its directory with --out" in capsys.readouterr().err


def test_selection_rules_are_deterministic():
    scores = {f"i{k}": float(s) for k, s in enumerate([5, 9, 1, 9, 3, 7, 0])}
    ids = list(scores)
    # ranked: i1 (9), i3 (9, tie by id), i5 (7), i0 (5), i4 (3), i2 (1), i6 (0)
    assert gallery.select(scores, ids, 3, "spread", 0) == ["i1", "i0", "i6"]
    assert gallery.select(scores, ids, 2, "best", 0) == ["i1", "i3"]
    assert gallery.select(scores, ids, 2, "worst", 0) == ["i2", "i6"]
    assert gallery.select(scores, ids, 1, "spread", 0) == ["i0"]
    assert gallery.select(scores, ids, 10, "spread", 0)[0] == "i1"  # all, by rank
    sample = gallery.select(scores, ids, 3, "sample", 4)
    assert sample == gallery.select(scores, ids[::-1], 3, "sample", 4) == sorted(sample) and len(set(sample)) == 3
    assert gallery.select({}, ids, 3, "spread", 4) == sample  # no scores: the seeded sample


def test_log_mel_peaks_in_the_band_of_a_pure_tone():
    from harness.backbones.preprocess import hz_to_mel_slaney, mel_to_hz_slaney

    sr = 16000
    t = np.arange(sr) / sr
    db = gallery.log_mel_db(np.sin(2 * np.pi * 1000.0 * t).astype(np.float32), sr)
    assert db.shape == (gallery.N_MELS, 1 + (sr - 400) // 160)
    centres = mel_to_hz_slaney(np.linspace(hz_to_mel_slaney(0), hz_to_mel_slaney(sr / 2), gallery.N_MELS + 2))[1:-1]
    assert db.mean(axis=1).argmax() == np.abs(centres - 1000.0).argmin()
    assert db.max() - db.min() == pytest.approx(gallery.TOP_DB)


def test_text_is_escaped_in_the_page_and_drawn_literally_on_the_sheet():
    nasty = '<script>alert("x")</script> & $x^2$'
    entry = gallery.Entry("id<1>", nasty, nasty + " raw", nasty, (nasty, "ok"), 12.5, 1, Image.new("RGB", (64, 48)))
    g = gallery.Gallery("run-1", f"title {nasty}", "image", "caption", "CIDEr", "the best", {"CIDEr": 1.0}, 1, (entry,))
    page = gallery.render_html([g])
    assert "<script>" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; $x^2$" in page
    assert 'id="id&lt;1&gt;"' in page and "<dt>raw generation</dt>" in page
    sheet = Image.open(io.BytesIO(gallery.render_png([g])))  # a "$...$" is no mathtext: it draws
    assert sheet.size == (1200, 390)  # a full row of four columns


def test_bad_runs_are_one_line_and_exit_2(runs, tmp_path, capsys):
    root, ids = runs
    assert _gallery(root, "no-such-run", tmp_path) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no run directory" in err and "no-such-run" in err

    failed = tmp_path / "failed"  # a run that failed before evaluating: config and metrics, no predictions
    failed.mkdir()
    shutil.copy(root / "runs" / ids["syn-coco"] / "config.json", failed)
    write_json(failed / METRICS_NAME, {"status": "failed", "error": "boom", "metrics": {}, "files": {}})
    assert gallery.main(["--run", str(failed), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "has no predictions_<split>.jsonl (status failed)" in err

    edited = tmp_path / "edited"
    shutil.copytree(root / "runs" / ids["syn-coco"], edited)
    (edited / "predictions_test.jsonl").write_text('{"id": "test-00000", "prediction": "forged"}\n')
    assert gallery.main(["--run", str(edited), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not match the checksum" in err

    assert _gallery(root, ids["syn-coco"], tmp_path, "--split", "train") == 2
    assert "has predictions for test only" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
