"""Traced generation (every layer captured) vs plain KV-cached generation vs no cache, measured side by side.

usage: python bench/bench_generation.py [--checkpoint DIR] [--repeats N]
Prints median seconds per prompt and the ratios quoted in the README.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmcore.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint  # noqa: E402
from llmcore.trace import SamplingConfig, _pick, encode_prompt, generate, trace_generation  # noqa: E402

PROMPTS = ["a dog devours pizza in", "a cat", "the pharaohs admired", "a cow munches", "an otter eats fish in",
           "a bear", "a fox chases the", "pizza is sold in the"]


@torch.no_grad()
def generate_without_cache(ckpt, prompt: str, s: SamplingConfig) -> list[str]:
    """The naive loop: rerun the whole sequence for every new word."""
    ids, *_ = encode_prompt(ckpt.tokenizer, prompt, ckpt.model.config.block_size)
    gen, out = torch.Generator().manual_seed(s.seed), []
    for _ in range(s.max_new_words):
        logits, _ = ckpt.model(torch.tensor([ids[-ckpt.model.config.block_size:]]))
        nxt = _pick(logits[0, -1], s, gen)
        ids.append(nxt)
        out.append(ckpt.tokenizer.vocab[nxt])
    return out


def timed(fn, repeats: int) -> float:
    """Median over repeats of the time to run fn over every prompt, per prompt."""
    runs = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for p in PROMPTS:
            fn(p)
        runs.append((time.perf_counter() - t0) / len(PROMPTS))
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ckpt = load_checkpoint(a.checkpoint)
    s = SamplingConfig(max_new_words=20, stop_at_period=False)  # same number of steps for every variant
    fns = {"plain (KV cache)": lambda p: generate(ckpt.model, ckpt.tokenizer, p, s),
           "traced (all layers, lens, attention)": lambda p: trace_generation(ckpt, p, s),
           "no cache": lambda p: generate_without_cache(ckpt, p, s)}
    for fn in fns.values():  # warm up
        timed(fn, 1)
    # interleave the variants so that machine noise hits them alike
    samples = {k: [] for k in fns}
    order = list(fns)
    for r in range(a.repeats):
        for k in order[r % len(order):] + order[: r % len(order)]:  # rotate who goes first
            samples[k].append(timed(fns[k], 1))
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"generation of {s.max_new_words} words, {len(PROMPTS)} prompts, median of {a.repeats} rounds, "
          f"{a.threads} thread(s)")
    for k, v in med.items():
        print(f"  {k:<38} {v * 1000:7.2f} ms per prompt")
    print(f"traced / plain     = {med['traced (all layers, lens, attention)'] / med['plain (KV cache)']:.3f}x"
          "   (target <= 1.05)")
    print(f"no cache / KV cache = {med['no cache'] / med['plain (KV cache)']:.3f}x")


if __name__ == "__main__":
    main()
