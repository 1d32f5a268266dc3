"""Evaluation speed: (1) generation throughput of the harness's batched generation (`harness.runner.generate.
generate_predictions` -> `PerceptualLM.generate`) against HF `model.generate` called directly on the same inputs
(the same `inputs_embeds` and attention mask, built once); (2) metric time for 5,000 captions x 5 references:
`benchmarks.metrics.caption.score_captions` against pycocoevalcap's scorers called directly (PTB tokenizer, BLEU,
METEOR, ROUGE-L, CIDEr-D; SPICE needs CoreNLP jars and is left out of both sides).

Generation: DePALM (untrained connector, so both sides decode the same tokens) on syn-coco val items from the
feature cache, with the cpu profile's settings (greedy, 12 new tokens, batch 24) and the paper's (3 beams, 50 new
tokens). tokens/s counts the new tokens up to and including each row's first EOS. The harness side includes what an
evaluation does per batch (prompt tokenization, feature lookup, decoding, post-processing); the direct side only
`generate`. The two sides run back to back on each batch (order alternating), `--rounds` passes; the ratio is the
median over batches and passes of harness time / direct time.

Usage: python -m bench.eval_speed [--items 24] [--batch 24] [--rounds 2] [--captions 5000] [--metric-rounds 2]
                                  [--skip-metrics]
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from typing import Any

from bench.common import (
    alternating,
    cell_config,
    describe_machine,
    machine,
    median,
    paired_ratio,
    parser,
    print_table,
    setup,
    write_json,
)

SETTINGS = {
    "cpu (greedy, 12 new)": {"num_beams": 1, "max_new_tokens": 12},
    "paper (3 beams, 50 new)": {"num_beams": 3, "max_new_tokens": 50},
}
COLORS = ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "pink", "gray"]
SHAPES = ["circle", "square", "triangle", "star", "hexagon", "ellipse", "cross", "diamond"]
PLACES = ["on the left", "on the right", "at the top", "at the bottom", "in the middle", "near a corner"]
BACKGROUNDS = ["a white background", "a dark background", "a striped background", "a plain wall", "grass"]


def new_tokens(gen, eos: int) -> int:
    """New tokens per row up to and including the first EOS (what a caption actually costs)."""
    total = 0
    for row in gen.tolist():
        total += row.index(eos) + 1 if eos in row else len(row)
    return total


def generation(args) -> dict[str, Any]:
    import torch

    from harness.runner.cell import Backbones, CellRun
    from harness.runner.generate import generate_predictions
    from harness.runner.text import encode_prompts

    results = {}
    backbones = Backbones()
    for label, gen_kw in SETTINGS.items():
        cfg = cell_config(args.method)
        cfg = dataclasses.replace(
            cfg,
            eval=dataclasses.replace(cfg.eval, size=args.items, **gen_kw, batch_size=args.batch or cfg.eval.batch_size),
        )
        cell = CellRun(cfg, args.out.parent / "eval-run", backbones, device="cpu")
        encoder = cell.encoder()
        llm, model, _ = cell.build(encoder)
        model.eval()
        items = cell.llm_items("val", llm)
        features_fn = cell.features_fn(encoder, "val", False)
        eos = llm.tokenizer.eos_token_id
        bs = cfg.eval.batch_size
        expand = gen_kw["num_beams"]
        prepared = []  # the direct side's inputs, built once outside the timing
        with torch.no_grad():
            for start in range(0, len(items), bs):
                batch = items[start : start + bs]
                prompt = encode_prompts(llm.tokenizer, [it.prompt for it in batch])
                embeds, mask, positions, actions = model._prepare(
                    features_fn(batch), prompt["input_ids"], prompt["attention_mask"], expand=expand
                )
                if actions:
                    raise SystemExit(
                        f"{args.method} injects inside layers; pick a first-layer method for the "
                        f"direct model.generate comparison"
                    )
                prepared.append((embeds, mask, positions))
        pad = llm.model.generation_config.pad_token_id
        pad = eos if pad is None else pad

        def harness_side(i: int) -> tuple[float, float, list[str]]:
            t0, c0 = time.perf_counter(), time.process_time()
            records = generate_predictions(
                model,
                items[i * bs : (i + 1) * bs],
                features_fn,
                llm.tokenizer,
                cfg.eval,
                cell.bench.postprocess,
                torch.device("cpu"),
            )
            return time.perf_counter() - t0, time.process_time() - c0, [r["raw"] for r in records]

        def direct_side(i: int) -> tuple[float, float, Any]:
            embeds, mask, positions = prepared[i]
            t0, c0 = time.perf_counter(), time.process_time()
            with torch.no_grad():
                gen = llm.model.generate(
                    inputs_embeds=embeds,
                    attention_mask=mask,
                    position_ids=positions,
                    do_sample=False,
                    use_cache=True,
                    pad_token_id=pad,
                    **gen_kw,
                )
            return time.perf_counter() - t0, time.process_time() - c0, gen

        sides = {"harness": harness_side, "direct": direct_side}
        direct_side(0)  # warm-up, not recorded
        walls: dict[str, list[float]] = {k: [] for k in sides}
        cpus: dict[str, list[float]] = {k: [] for k in sides}
        outputs: dict[str, Any] = {}
        for r in range(args.rounds):
            for i in range(len(prepared)):  # batch by batch, the two sides back to back, order alternating
                for name in ("harness", "direct") if (r + i) % 2 == 0 else ("direct", "harness"):
                    wall, cpu, out = sides[name](i)
                    walls[name].append(wall)
                    cpus[name].append(cpu)
                    outputs.setdefault(name, {})[i] = out
            print(
                f"  {label} pass {r + 1}/{args.rounds}: harness {sum(walls['harness'][-len(prepared) :]):.2f} s, "
                f"direct {sum(walls['direct'][-len(prepared) :]):.2f} s",
                flush=True,
            )
        from harness.runner.text import decode_new_tokens

        gens = [outputs["direct"][i] for i in range(len(prepared))]
        direct_texts = [t for g in gens for t in decode_new_tokens(llm.tokenizer, g)]
        harness_texts = [t for i in range(len(prepared)) for t in outputs["harness"][i]]
        tokens = sum(new_tokens(g, eos) for g in gens)  # same inputs, no sampling: both sides decode these tokens
        per_pass = {
            k: [sum(w[j : j + len(prepared)]) for j in range(0, len(w), len(prepared))] for k, w in cpus.items()
        }
        results[label] = {
            "items": len(items),
            "batch": bs,
            "new_tokens": tokens,
            "walls": walls,
            "same_text": direct_texts == harness_texts,
            "cpus": cpus,
            "tokens_per_cpu_s": {k: tokens / median(w) for k, w in per_pass.items()},
            "harness_over_direct_cpu": paired_ratio(cpus["harness"], cpus["direct"]),
            "harness_over_direct": paired_ratio(walls["harness"], walls["direct"]),
        }
    return results


def captions(n: int, seed: int = 0) -> tuple[dict[str, str], dict[str, list[str]]]:
    rng = random.Random(seed)

    def caption() -> str:
        return (
            f"a {rng.choice(COLORS)} {rng.choice(SHAPES)} {rng.choice(PLACES)} of {rng.choice(BACKGROUNDS)}"
            + rng.choice(["", ".", " with a small shadow", ", next to a line"])
        )

    refs = {f"img{i}": [caption() for _ in range(5)] for i in range(n)}
    preds = {k: caption() for k in refs}
    return preds, refs


def direct_scores(preds: dict[str, str], refs: dict[str, list[str]]) -> dict[str, float]:
    """pycocoevalcap as its own COCOEvalCap does it (tokenize references and results, scorers one by one), minus
    SPICE."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
    res = tok.tokenize({k: [{"caption": preds[k]}] for k in refs})
    out = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out.update({f"BLEU_{i + 1}": 100 * b for i, b in enumerate(bleu)})
    meteor = Meteor()
    out["METEOR"] = 100 * meteor.compute_score(gts, res)[0]
    del meteor
    out["ROUGE_L"] = 100 * Rouge().compute_score(gts, res)[0]
    out["CIDEr"] = 100 * Cider().compute_score(gts, res)[0]
    return out


def metrics(args) -> dict[str, Any]:
    from benchmarks.metrics.caption import score_captions

    preds, refs = captions(args.captions)
    names = ("BLEU_1", "BLEU_2", "BLEU_3", "BLEU_4", "METEOR", "ROUGE_L", "CIDEr")
    scores: dict[str, dict[str, float]] = {}

    def harness_side() -> None:
        scores["harness"] = score_captions(preds, refs, metrics=names)

    def direct_side() -> None:
        scores["direct"] = direct_scores(preds, refs)

    sides = {"harness": harness_side, "direct": direct_side}
    walls: dict[str, list[float]] = {k: [] for k in sides}
    cpus: dict[str, list[float]] = {k: [] for k in sides}
    for r, name in alternating(args.metric_rounds, list(sides)):
        t0, c0 = time.perf_counter(), cpu_with_children()
        sides[name]()
        walls[name].append(time.perf_counter() - t0)
        cpus[name].append(cpu_with_children() - c0)
        print(
            f"  metrics round {r + 1}/{args.metric_rounds} {name:<8} {walls[name][-1]:.2f} s, "
            f"{cpus[name][-1]:.2f} CPU s (Java included)",
            flush=True,
        )
    diff = max(abs(scores["harness"][m] - scores["direct"][m]) for m in names)
    return {
        "captions": args.captions,
        "refs_per_caption": 5,
        "walls": walls,
        "cpus": cpus,
        "max_abs_diff": diff,
        "harness_over_direct": paired_ratio(walls["harness"], walls["direct"]),
        "harness_over_direct_cpu": paired_ratio(cpus["harness"], cpus["direct"]),
        "scores": scores["harness"],
    }


def cpu_with_children() -> float:
    """CPU time of this process and its finished children (the Java tokenizer and scorers)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = parser("eval_speed", __doc__.split("\n")[0])
    p.add_argument("--method", default="depalm", help="a first-layer method (default: %(default)s)")
    p.add_argument("--items", type=int, default=24, help="val items generated per side (default: %(default)s)")
    p.add_argument("--batch", type=int, default=None, help="generation batch (default: the cpu profile's)")
    p.add_argument("--rounds", type=int, default=2, help="passes over the items (default: %(default)s)")
    p.add_argument("--captions", type=int, default=5000)
    p.add_argument("--metric-rounds", type=int, default=2)
    p.add_argument("--skip-metrics", action="store_true")
    p.add_argument("--skip-generation", action="store_true")
    args = p.parse_args(argv)
    if min(args.items, args.rounds, args.captions, args.metric_rounds, 1 if args.batch is None else args.batch) < 1:
        p.error("--items, --batch, --rounds, --captions and --metric-rounds must be >= 1")
    setup(args.threads)
    info = machine(args.threads)
    out: dict[str, Any] = {"machine": info, "method": args.method}
    if not args.skip_generation:
        out["generation"] = generation(args)
        rows = [
            {
                "setting": label,
                "items": g["items"],
                "new_tokens": g["new_tokens"],
                "harness_tps": g["tokens_per_cpu_s"]["harness"],
                "direct_tps": g["tokens_per_cpu_s"]["direct"],
                "ratio_cpu": g["harness_over_direct_cpu"],
                "ratio": g["harness_over_direct"],
                "same": "yes" if g["same_text"] else "NO",
            }
            for label, g in out["generation"].items()
        ]
        print(f"\ngeneration, {args.method} on syn-coco val, {args.rounds} passes, batches paired")
        print_table(
            rows,
            [
                ("setting", "setting", ""),
                ("items", "items", "d"),
                ("new_tokens", "new tokens", "d"),
                ("harness_tps", "harness tok/CPU s", ".1f"),
                ("direct_tps", "direct tok/CPU s", ".1f"),
                ("ratio_cpu", "harness/direct CPU", ".3f"),
                ("ratio", "harness/direct wall", ".3f"),
                ("same", "same text", ""),
            ],
        )
    if not args.skip_metrics:
        m = out["metrics"] = metrics(args)
        print(
            f"\ncaption metrics, {m['captions']} captions x 5 refs (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D), "
            f"medians of {args.metric_rounds} rounds"
        )
        print_table(
            [{"side": k, "s": median(v), "cpu": median(m["cpus"][k])} for k, v in m["walls"].items()],
            [("side", "scorer", ""), ("s", "seconds", ".2f"), ("cpu", "CPU s (Java included)", ".2f")],
        )
        print(
            f"harness/direct metric time: {m['harness_over_direct']:.3f}x wall, {m['harness_over_direct_cpu']:.3f}x "
            f"CPU; largest score difference {m['max_abs_diff']:.2e}"
        )
    info["load_avg_at_end"] = os.getloadavg()[0]
    print(f"measured {describe_machine(info)}")
    write_json(args.out, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
