"""Figure 2's qualitative samples from finished runs: their inputs, predictions, references and per-item scores as a
self-contained HTML page (`gallery.html`, media embedded as base64 data URIs) and a PNG contact sheet
(`gallery.png`, matplotlib Agg), one section a run, prompts in gray and predictions in green as in Figure 2.

`python -m harness.runner.gallery --run RUN [--run RUN ...] [--results DIR] [--split SPLIT] [--n 12]
[--select spread] [--out DIR]`. RUN is a run directory or a run id (looked up in `--runs-dir`, default
`<results>/runs`); several runs (Figure 2 has COCO, VQAv2 and AudioCaps rows) need `--out`. A run's predictions
(`predictions_<split>.jsonl`) are read back only after `verify_run_dir` has checked them against the checksums its
metrics.json lists; the references are its items, loaded again from its stored config exactly as the cell loaded
them (`load_items`); the scores are its per-item scores (harness/store/items.py) for the benchmark's primary metric
(else the first decomposable one). Inputs are drawn as an image thumbnail, a strip of `--frames` video frames side
by side, or an audio clip's log-mel spectrogram (25 ms Hann STFT every 10 ms, 64 Slaney mel bands, dB clipped 80 dB
below the clip's peak; the HTML also embeds the clip as WAV).

Selection, deterministic: `spread` (default) ranks the split's items by score (best first, ties by item id) and
takes n evenly spaced ranks, so the best, the median and the worst item are shown; `best` / `worst` take the n
highest / lowest; `sample` draws n items with `random.Random(--seed)`, and is what a run without per-item scores gets.

It lives in the runner, not the report, because it reloads a run's items from its typed config, which only the
runner may do (the report reads the store and benchmark specs only, and loads no torch).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import html
import io
import json
import math
import random
import sys
import textwrap
import wave
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.config import RunConfig
from harness.runner.cell import import_plugins, load_items
from harness.runner.rundir import CONFIG_NAME, METRICS_NAME, CorruptRunFile, read_json, verify_run_dir
from harness.store.atomic import write_bytes, write_text
from harness.store.items import items_path, read_item_scores
from harness.store.results import check_run_id

SELECTIONS = ("spread", "best", "worst", "sample")
MODALITIES = ("image", "video", "audio")
HTML_NAME, PNG_NAME = "gallery.html", "gallery.png"

THUMB_H = {"image": 160, "video": 112, "audio": 128}  # pixel height of the drawn input
MAX_W = {"image": 320, "video": 640, "audio": 480}
N_MELS, TOP_DB = 64, 80.0

# contact sheet, in inches at DPI: cells in a grid, each the drawn input above its text
DPI = 100
COLUMNS = {"image": 4, "video": 2, "audio": 4}
CELL_W = {"image": 3.0, "video": 6.0, "audio": 3.0}
MEDIA_H, TEXT_H, HEADER_H = 1.8, 1.5, 0.6


class GalleryError(ValueError):
    """A run the gallery cannot be drawn from: printed as one line, exit 2."""


@dataclass(frozen=True)
class Entry:
    """One item of the gallery. `rank`: 1 for the best score of the split (None without scores)."""

    item_id: str
    prompt: str
    raw: str
    prediction: str
    references: tuple[str, ...]
    score: float | None
    rank: int | None
    media: Any  # the raw input as `Item.load_input` returns it


@dataclass(frozen=True)
class Gallery:
    run_id: str
    title: str  # method, dataset, split
    modality: str
    task: str  # caption | vqa
    metric: str | None  # the per-item score shown (None: the run stored none)
    selection: str  # the rule that chose the items, in words
    corpus: dict[str, float]  # the split's corpus metrics from metrics.json
    n_items: int  # items in the split
    entries: tuple[Entry, ...]


# ---- reading a run ----------------------------------------------------------------------------------------------


def resolve_run_dir(run: str, runs_dir: Path) -> Path:
    """A run directory given as a path, or the directory of run id `run` under `runs_dir`."""
    path = Path(run)
    if path.is_dir():
        if not (path / CONFIG_NAME).is_file():
            raise GalleryError(f"--run {run}: no {CONFIG_NAME} in this directory; give a run directory or a run id")
        return path
    try:
        check_run_id(run)
    except ValueError as e:
        raise GalleryError(f"--run {run}: no such directory, and not a run id ({e})") from None
    if not (runs_dir / run / CONFIG_NAME).is_file():
        raise GalleryError(f"--run {run}: no run directory {runs_dir / run}; pass --runs-dir or --results of the run")
    return runs_dir / run


def _read_predictions(path: Path) -> list[dict[str, Any]]:
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError as e:
            raise GalleryError(f"{path}:{n}: not JSON ({e})") from None
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or "prediction" not in rec:
            raise GalleryError(f"{path}:{n}: a prediction record needs an 'id' and a 'prediction'")
        records.append(rec)
    if not records:
        raise GalleryError(f"{path}: holds no prediction")
    return records


def _split_scores(results_dir: Path, run_id: str, split: str, primary: str) -> tuple[str | None, dict[str, float]]:
    """(metric, item id -> score) of the run's stored per-item scores for `split`: the primary metric, else the
    first by name; (None, {}) when the run stored none."""
    path = items_path(results_dir, run_id)
    if not path.is_file():
        return None, {}
    df = read_item_scores([path], [run_id])
    df = df[df.split == split]
    if df.empty:
        return None, {}
    metrics = sorted(set(df.metric))
    metric = primary if primary in metrics else metrics[0]
    rows = df[df.metric == metric]
    return metric, dict(zip(rows.item_id.astype(str), rows.score.astype(float), strict=True))


def select(scores: dict[str, float], ids: Sequence[str], n: int, how: str, seed: int) -> list[str]:
    """The ids to show, in display order (by rank for the score-based rules, by item id for `sample`)."""
    if how not in SELECTIONS:
        raise GalleryError(f"--select {how}: expected one of {', '.join(SELECTIONS)}")
    if how == "sample" or not scores:
        ordered = sorted(ids)
        return sorted(random.Random(seed).sample(ordered, min(n, len(ordered))))
    ranked = sorted(ids, key=lambda i: (-scores[i], i))
    m = len(ranked)
    if n >= m:
        return ranked
    if how == "best":
        return ranked[:n]
    if how == "worst":
        return ranked[-n:]
    if n == 1:
        return [ranked[(m - 1) // 2]]
    return [ranked[round(k * (m - 1) / (n - 1))] for k in range(n)]


def _selection_words(how: str, seed: int, metric: str | None) -> str:
    if how == "sample" or metric is None:
        why = "" if how == "sample" else f" (the run stored no per-item scores, so not '{how}')"
        return f"a seeded random sample (random.Random({seed})), shown by item id{why}"
    return {
        "spread": f"evenly spaced ranks by per-item {metric}, from the best to the worst (ties by item id)",
        "best": f"the highest per-item {metric} (ties by item id)",
        "worst": f"the lowest per-item {metric} (ties by item id)",
    }[how]


def build_gallery(
    run_dir: Path,
    results_dir: Path,
    split: str | None = None,
    n: int = 12,
    how: str = "spread",
    seed: int = 0,
    data_root: str | None = None,
) -> Gallery:
    """The gallery of a finished run (its inputs loaded only for the chosen items)."""
    from benchmarks import get_benchmark

    if n < 1:
        raise GalleryError(f"--n {n}: show at least one item")
    problems = verify_run_dir(run_dir)
    if problems:
        raise GalleryError(f"run {run_dir.name} is unfinished or damaged: {problems[0]}")
    try:
        stored = read_json(run_dir / CONFIG_NAME)
        cfg = RunConfig.from_dict(stored["config"])
        metrics = read_json(run_dir / METRICS_NAME)
    except (CorruptRunFile, KeyError, TypeError, ValueError) as e:
        raise GalleryError(f"run {run_dir.name}: its config cannot be read ({e})") from None
    if data_root is not None:
        cfg = dataclasses.replace(cfg, data_root=data_root)
    splits = sorted(p.name.removeprefix("predictions_").removesuffix(".jsonl") for p in run_dir.glob("predictions_*"))
    if not splits:
        raise GalleryError(
            f"run {run_dir.name} has no predictions_<split>.jsonl (status {metrics.get('status')}): "
            f"only a run that evaluated has a gallery"
        )
    import_plugins(cfg.plugins)
    bench = get_benchmark(cfg.dataset)
    if bench.spec.modality not in MODALITIES:
        raise GalleryError(f"{cfg.dataset}: modality {bench.spec.modality!r} has no drawing in the gallery")
    split = split or (bench.spec.eval_split if bench.spec.eval_split in splits else splits[0])
    if split not in splits:
        raise GalleryError(f"--split {split}: run {run_dir.name} has predictions for {', '.join(splits)} only")
    records = _read_predictions(run_dir / f"predictions_{split}.jsonl")
    items = {it.id: it for it in load_items(cfg, bench, split)}
    unknown = [r["id"] for r in records if r["id"] not in items]
    if unknown:
        raise GalleryError(
            f"run {run_dir.name}: {len(unknown)} predictions name items its benchmark no longer has "
            f"(first: {unknown[0]}); check --data-root"
        )
    metric, scores = _split_scores(results_dir, cfg.run_id, split, bench.spec.primary_metric)
    by_id = {r["id"]: r for r in records}
    if scores and set(scores) != set(by_id):
        raise GalleryError(f"run {run_dir.name}: its per-item scores and its {split} predictions name other items")
    chosen = select(scores, list(by_id), n, how, seed)
    rank = {i: k for k, i in enumerate(sorted(scores, key=lambda i: (-scores[i], i)), 1)}
    entries = tuple(
        Entry(
            item_id=i,
            prompt=str(by_id[i].get("prompt", "")),
            raw=str(by_id[i].get("raw", by_id[i]["prediction"])),
            prediction=str(by_id[i]["prediction"]),
            references=tuple(items[i].targets),
            score=scores.get(i),
            rank=rank.get(i),
            media=items[i].load_input(),
        )
        for i in chosen
    )
    method = cfg.method_config.get("display_name", cfg.method)
    return Gallery(
        run_id=cfg.run_id,
        title=f"{method} on {cfg.dataset} ({split} split, seed {cfg.seed}, {cfg.llm} + {cfg.encoder})",
        modality=bench.spec.modality,
        task=bench.spec.task,
        metric=metric,
        selection=_selection_words(how, seed, metric),
        corpus={k: float(v) for k, v in (metrics.get("metrics") or {}).get(split, {}).items()},
        n_items=len(records),
        entries=entries,
    )


# ---- drawing the inputs -------------------------------------------------------------------------------------------


def log_mel_db(waveform: np.ndarray, sample_rate: int, n_mels: int = N_MELS) -> np.ndarray:
    """[n_mels, frames] log-mel power in dB (25 ms Hann STFT every 10 ms), clipped `TOP_DB` below its peak."""
    from harness.backbones.preprocess import mel_filters

    x = np.asarray(waveform, dtype=np.float64).reshape(-1)
    win, hop = max(2, round(0.025 * sample_rate)), max(1, round(0.010 * sample_rate))
    x = np.pad(x, (0, max(0, win - x.size)))
    frames = np.lib.stride_tricks.sliding_window_view(x, win)[::hop] * np.hanning(win)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    mel = mel_filters(sample_rate, win, n_mels).astype(np.float64) @ power.T
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    return np.maximum(db, db.max() - TOP_DB)


def _fit(img, height: int, max_w: int):
    """Resized to `height` (aspect kept, width capped); nearest-neighbour when enlarging keeps small inputs crisp."""
    from PIL import Image

    w, h = img.size
    scale = min(height / h, max_w / w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(size, Image.Resampling.NEAREST if scale >= 1 else Image.Resampling.LANCZOS)


def draw_input(media: Any, modality: str, frames: int = 4) -> np.ndarray:
    """The input as an RGB uint8 array: thumbnail, strip of `frames` frames, or log-mel spectrogram."""
    import matplotlib
    from PIL import Image

    if modality == "image":
        return np.asarray(_fit(media.convert("RGB"), THUMB_H["image"], MAX_W["image"]))
    if modality == "video":
        clip = list(media)
        if not clip:
            raise GalleryError("a video item has no frames")
        idx = sorted(set(np.linspace(0, len(clip) - 1, min(frames, len(clip))).round().astype(int).tolist()))
        gap = 4
        width = (MAX_W["video"] - gap * (len(idx) - 1)) // len(idx)
        tiles = [np.asarray(_fit(clip[i].convert("RGB"), THUMB_H["video"], width)) for i in idx]
        h = max(t.shape[0] for t in tiles)
        strip = np.full((h, sum(t.shape[1] for t in tiles) + gap * (len(tiles) - 1), 3), 255, np.uint8)
        x = 0
        for t in tiles:
            strip[: t.shape[0], x : x + t.shape[1]] = t
            x += t.shape[1] + gap
        return strip
    waveform, sample_rate = media
    db = log_mel_db(waveform, int(sample_rate))
    unit = (db - db.min()) / max(float(db.max() - db.min()), 1e-9)
    rgb = (matplotlib.colormaps["magma"](unit[::-1])[..., :3] * 255).astype(np.uint8)  # low bands at the bottom
    img = Image.fromarray(rgb)
    # one width for every clip, its time axis stretched or squeezed: its duration is written beside it
    return np.asarray(img.resize((MAX_W["audio"], THUMB_H["audio"]), Image.Resampling.BILINEAR))


def _media_words(modality: str, media: Any) -> str:
    """The input's extent, for the text beside its drawing: a clip's duration, a video's frame count."""
    if modality == "audio":
        waveform, sample_rate = media
        return f"{np.asarray(waveform).size / float(sample_rate):.1f} s at {int(sample_rate)} Hz"
    if modality == "video":
        return f"{len(media)} frames"
    return "{}x{} px".format(*media.size)


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def _wav(media: Any) -> bytes:
    waveform, sample_rate = media
    pcm = (np.clip(np.asarray(waveform, dtype=np.float64).reshape(-1), -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _input_words(g: Gallery, frames: int) -> str:
    return {
        "image": "input image",
        "video": f"{frames} frames of the clip, evenly spaced, left to right",
        "audio": f"log-mel spectrogram ({N_MELS} mel bands, 25 ms window, 10 ms hop, {TOP_DB:g} dB range; "
        "time left to right, low frequencies at the bottom)",
    }[g.modality]


# ---- the page and the sheet ----------------------------------------------------------------------------------------


def _score_words(g: Gallery, e: Entry) -> str:
    if e.score is None or g.metric is None:
        return "no per-item score stored"
    return f"{g.metric} {e.score:.1f} (rank {e.rank} of {g.n_items})"


def _references(g: Gallery, e: Entry) -> list[str]:
    """The references as shown: a caption's in order; a VQA item's distinct answers, most given first, with counts."""
    if g.task != "vqa":
        return list(e.references)
    return [f"{a} ×{n}" for a, n in Counter(e.references).most_common()]


PROMPT_COLOR, PREDICTION_COLOR = "#6e6e6e", "#1a7f37"  # as Figure 2: the input in gray, the output in green


def _card(g: Gallery, e: Entry, frames: int) -> str:
    esc = html.escape
    img = _data_uri("image/png", _png(draw_input(e.media, g.modality, frames)))
    player = (
        f'<audio controls preload="none" src="{_data_uri("audio/wav", _wav(e.media))}"></audio>'
        if g.modality == "audio"
        else ""
    )
    rows = [("item", e.item_id, ""), ("input", _media_words(g.modality, e.media), "")]
    if e.prompt.strip():
        rows.append(("prompt", e.prompt, "prompt"))
    rows.append(("prediction", e.prediction, "prediction"))
    if e.raw != e.prediction:
        rows.append(("raw generation", e.raw, ""))
    classes = {c: f' class="{c}"' if c else "" for _, _, c in rows}
    fields = "".join(f"<dt>{esc(k)}</dt><dd{classes[c]}>{esc(v)}</dd>" for k, v, c in rows)
    refs = "".join(f"<li>{esc(r)}</li>" for r in _references(g, e))
    kind = "answers" if g.task == "vqa" else "references"
    return (
        f'<figure class="item" id="{esc(e.item_id, quote=True)}">'
        f'<img src="{img}" alt="{esc(_input_words(g, frames), quote=True)} of item {esc(e.item_id, quote=True)}">'
        f"{player}<dl>{fields}<dt>{kind} ({len(e.references)})</dt><dd><ol>{refs}</ol></dd>"
        f'<dt>score</dt><dd class="score">{esc(_score_words(g, e))}</dd></dl></figure>'
    )


def _page_title(galleries: Sequence[Gallery]) -> str:
    if len(galleries) == 1:
        return galleries[0].title
    return f"Qualitative samples of {len(galleries)} runs: {', '.join(g.run_id for g in galleries)}"


def render_html(galleries: Sequence[Gallery], frames: int = 4) -> str:
    """The page, one section a run: every text escaped, every input a data URI (a PNG, and a WAV player for
    audio); prompts in gray and predictions in green, as in Figure 2."""
    esc = html.escape
    sections = []
    for g in galleries:
        corpus = ", ".join(f"{k} {v:.2f}" for k, v in sorted(g.corpus.items())) or "none stored"
        cards = "".join(_card(g, e, frames) for e in g.entries)
        sections.append(
            f'<section id="{esc(g.run_id, quote=True)}"><h2>{esc(g.title)}</h2>'
            f'<p class="meta">run <code>{esc(g.run_id)}</code>; corpus metrics: {esc(corpus)}; '
            f"{len(g.entries)} of {g.n_items} items, chosen by {esc(g.selection)}; "
            f"each input is drawn as the {esc(_input_words(g, frames))}.</p>"
            f'<div class="grid" style="grid-template-columns:repeat(auto-fill,minmax({MAX_W[g.modality] + 20}px,1fr))">'
            f"{cards}</div></section>"
        )
    title = esc(_page_title(galleries))
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        "<style>body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}.grid{display:grid;gap:1em}"
        ".item{margin:0;padding:.6em;border:1px solid #ccc;border-radius:6px}"
        ".item img{display:block;max-width:100%;image-rendering:pixelated}audio{width:100%}"
        "dt{font-weight:600;font-size:.8em;color:#555;margin-top:.3em}dd{margin:0 0 0 .5em;white-space:pre-wrap}"
        f".prompt{{color:{PROMPT_COLOR}}}.prediction{{color:{PREDICTION_COLOR};font-weight:600}}"
        "ol{margin:0;padding-left:1.4em}.score{font-variant-numeric:tabular-nums}</style></head><body>"
        f"<h1>{title}</h1>{''.join(sections)}</body></html>\n"
    )


def sheet_layout(n: int, modality: str) -> tuple[int, int, float, float]:
    """(columns, rows, width in, height in) of one run's section of the contact sheet, n entries: the full row of
    columns however few the entries, so that the header fits."""
    cols = COLUMNS[modality]
    rows = math.ceil(n / cols)
    return cols, rows, cols * CELL_W[modality], HEADER_H + rows * (MEDIA_H + TEXT_H)


def sheet_size(galleries: Sequence[Gallery]) -> tuple[int, int]:
    """(width, height) in pixels of the contact sheet: the sections stacked, as wide as the widest."""
    sizes = [sheet_layout(len(g.entries), g.modality) for g in galleries]
    return round(max(w for _, _, w, _ in sizes) * DPI), round(sum(h for *_, h in sizes) * DPI)


def _clip_lines(text: str, width: int, lines: int) -> list[str]:
    """`text` wrapped to `width`, at most `lines` lines, the last shortened with ' ...' when more is left."""
    wrapped = textwrap.wrap(" ".join(text.split()), width) or ["(empty)"]
    if len(wrapped) <= lines:
        return wrapped
    return [*wrapped[: lines - 1], textwrap.shorten(" ".join(wrapped[lines - 1 :]), width, placeholder=" ...")]


def _labelled(label: str, text: str, width: int, lines: int, color: str = "black") -> list[tuple[str, str]]:
    """(line, colour): `label` before the first wrapped line of `text`, the next ones indented under it."""
    body = _clip_lines(text, width - len(label), lines)
    return [(label + body[0], color), *((" " * len(label) + line, color) for line in body[1:])]


def _cell_lines(g: Gallery, e: Entry, chars: int) -> list[tuple[str, str]]:
    lines = [(f"{e.item_id} ({_media_words(g.modality, e.media)}): {_score_words(g, e)}", "black")]
    if e.prompt.strip():
        lines += _labelled("prompt: ", e.prompt, chars, 2, PROMPT_COLOR)
    lines += _labelled("pred: ", e.prediction, chars, 3, PREDICTION_COLOR)
    if g.task == "vqa":
        return lines + _labelled("answers: ", ", ".join(_references(g, e)), chars, 2)
    more = f" (+{len(e.references) - 1} more)" if len(e.references) > 1 else ""
    return lines + _labelled("ref: ", (e.references[0] if e.references else "") + more, chars, 3)


def render_png(galleries: Sequence[Gallery], frames: int = 4) -> bytes:
    """The contact sheet, one section a run: a grid of cells, each the drawn input above its item id, score, prompt
    (when the item has one, in gray), prediction (in green) and first reference or VQA answers; text is drawn
    literally (no mathtext)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = sheet_size(galleries)
    W, H = width / DPI, height / DPI
    fig = Figure(figsize=(W, H), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    text: dict[str, Any] = {"parse_math": False, "fontsize": 7, "va": "top", "ha": "left"}
    line_h, pad = 7 * 1.25 / 72, 0.08  # inches
    top = H  # of the current section
    for g in galleries:
        cols, _, _, section_h = sheet_layout(len(g.entries), g.modality)
        fig.text(0.1 / W, (top - 0.12) / H, g.title, **{**text, "fontsize": 10, "fontweight": "bold"})
        shown = f"{g.run_id}: {len(g.entries)} of {g.n_items} items, chosen by {g.selection}"
        fig.text(0.1 / W, (top - 0.34) / H, shown, **text)
        fig.text(0.1 / W, (top - 0.46) / H, f"each input: the {_input_words(g, frames)}", **text)
        cell_w = CELL_W[g.modality]
        for k, e in enumerate(g.entries):
            r, c = divmod(k, cols)
            x0, y0 = c * cell_w, top - HEADER_H - r * (MEDIA_H + TEXT_H)
            box = ((x0 + pad) / W, (y0 - MEDIA_H + pad) / H, (cell_w - 2 * pad) / W, (MEDIA_H - 2 * pad) / H)
            ax = fig.add_axes(box)
            ax.imshow(draw_input(e.media, g.modality, frames), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():  # a thin frame: white inputs stay visible on the white sheet
                spine.set(edgecolor="#999999", linewidth=0.6)
            for i, (line, color) in enumerate(_cell_lines(g, e, int(cell_w * 17))):
                fig.text((x0 + pad) / W, (y0 - MEDIA_H - i * line_h) / H, line, color=color, **text)
        top -= section_h
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def write_gallery(galleries: Sequence[Gallery], out_dir: Path, frames: int = 4) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    page = write_text(out_dir / HTML_NAME, render_html(galleries, frames))
    sheet = write_bytes(out_dir / PNG_NAME, render_png(galleries, frames))
    return page, sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.runner.gallery", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--run",
        action="append",
        required=True,
        help="run directory or run id (repeat: a section each)",
    )
    parser.add_argument("--results", type=Path, default=None, help="results directory of the runs (default results/)")
    parser.add_argument("--runs-dir", type=Path, default=None, help="run directories (default <results>/runs)")
    parser.add_argument("--split", default=None, help="split of the predictions (default the benchmark's eval split)")
    parser.add_argument("--n", type=int, default=12, help="items to show per run (default 12)")
    parser.add_argument("--select", choices=SELECTIONS, default="spread", help="how items are chosen")
    parser.add_argument("--seed", type=int, default=0, help="seed of --select sample")
    parser.add_argument("--frames", type=int, default=4, help="video frames per strip (default 4)")
    parser.add_argument("--data-root", default=None, help="real datasets' root, if not the runs'")
    parser.add_argument(
        "--out", type=Path, default=None, help="output directory (default reports/gallery/<run id>; needed for several)"
    )
    args = parser.parse_args(argv)
    if args.frames < 1:
        print(f"error: --frames {args.frames}: draw at least one frame", file=sys.stderr)
        return 2
    if len(args.run) > 1 and args.out is None:
        print(f"error: {len(args.run)} runs make one gallery: name its directory with --out", file=sys.stderr)
        return 2
    galleries = []
    try:
        for run in args.run:
            results = args.results
            if results is None:  # a run directory given as a path sits in <results>/runs/ by default
                given = Path(run)
                results = given.resolve().parent.parent if given.is_dir() and args.runs_dir is None else Path("results")
            run_dir = resolve_run_dir(run, args.runs_dir or results / "runs")
            g = build_gallery(run_dir, results, args.split, args.n, args.select, args.seed, args.data_root)
            if g.metric is None:
                print(
                    f"note: no per-item scores of {g.run_id} in {results} (pass --results): items chosen by a "
                    f"seeded sample",
                    file=sys.stderr,
                )
            galleries.append(g)
        out = args.out or Path("reports") / "gallery" / galleries[0].run_id
        page, sheet = write_gallery(galleries, out, args.frames)
    except (GalleryError, LookupError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for g in galleries:
        print(f"{g.run_id}: {len(g.entries)} of {g.n_items} items, {g.modality}")
    print(f"wrote {page} and {sheet}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
