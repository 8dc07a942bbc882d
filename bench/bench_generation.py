"""Traced generation (every layer captured, lens, attention) vs plain KV-cached generation vs no cache, side by side.

usage: python -m bench.bench_generation [--checkpoint DIR] [--rounds N] [--threads N]

Every round runs each prompt once under every variant, in rotating order, so that the machine's state (caches,
a noisy neighbour on a shared host) hits the variants alike. Per prompt the fastest of the rounds is kept — noise
only ever adds time, as Python's `timeit` notes — and the medians are printed beside them. A further row, capture
only, splits the traced cost into recording the layers during the loop and turning the records into a trace.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from llmcore.analysis.trace import (
    SamplingConfig,
    encode_prompt,
    generate,
    generation_steps,
    pick_token,
    trace_generation,
)
from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint

PROMPTS = ["a dog devours pizza in", "a cat", "the pharaohs admired", "a cow munches", "an otter eats fish in",
           "a bear", "a fox chases the", "pizza is sold in the"]
PLAIN, TRACED, CAPTURE, NO_CACHE = ("plain (KV cache)", "traced (all layers, lens, attention)",
                                    "  of which: capture only, no analysis", "no cache")


@torch.no_grad()
def generate_without_cache(ckpt, prompt: str, s: SamplingConfig) -> list[str]:
    """The naive loop: rerun the whole sequence for every new word."""
    ids, *_ = encode_prompt(ckpt.tokenizer, prompt, ckpt.model.config.block_size)
    gen, out = torch.Generator().manual_seed(s.seed), []
    for _ in range(s.max_new_words):
        logits, _ = ckpt.model(torch.tensor([ids[-ckpt.model.config.block_size:]]))
        nxt = pick_token(logits[0, -1], s, gen)
        ids.append(nxt)
        out.append(ckpt.tokenizer.vocab[nxt])
    return out


@torch.inference_mode()
def capture_only(ckpt, prompt: str, s: SamplingConfig) -> list:
    """The traced loop up to the records: every layer captured, nothing analysed."""
    ids, *_ = encode_prompt(ckpt.tokenizer, prompt, ckpt.model.config.block_size)
    return list(generation_steps(ckpt.model, ids, s, stop_id=ckpt.tokenizer.stoi.get("."), capture=True))


def measure(fns: dict, rounds: int) -> dict[str, list[list[float]]]:
    """seconds[variant][prompt] over the rounds, variants interleaved per prompt in rotating order."""
    seconds = {k: [[] for _ in PROMPTS] for k in fns}
    order = list(fns)
    for r in range(rounds):
        for i, p in enumerate(PROMPTS):
            for k in order[(r + i) % len(order):] + order[: (r + i) % len(order)]:
                t0 = time.perf_counter()
                fns[k](p)
                seconds[k][i].append(time.perf_counter() - t0)
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ckpt = load_checkpoint(a.checkpoint)
    s = SamplingConfig(max_new_words=20, stop_at_period=False)  # same number of steps for every variant
    fns = {PLAIN: lambda p: generate(ckpt.model, ckpt.tokenizer, p, s),
           TRACED: lambda p: trace_generation(ckpt, p, s),
           CAPTURE: lambda p: capture_only(ckpt, p, s),
           NO_CACHE: lambda p: generate_without_cache(ckpt, p, s)}
    measure(fns, 2)  # warm up
    seconds = measure(fns, a.rounds)
    best = {k: statistics.mean(min(t) for t in v) for k, v in seconds.items()}
    med = {k: statistics.mean(statistics.median(t) for t in v) for k, v in seconds.items()}
    print(f"generation of {s.max_new_words} words, {len(PROMPTS)} prompts, {a.rounds} interleaved rounds, "
          f"{a.threads} thread(s); ms per prompt, fastest round / median round")
    for k in fns:
        print(f"  {k:<40} {best[k] * 1000:7.2f} / {med[k] * 1000:7.2f}   ({best[k] / best[PLAIN]:.3f}x)")
    print(f"traced / plain      = {best[TRACED] / best[PLAIN]:.3f}x fastest, {med[TRACED] / med[PLAIN]:.3f}x median"
          "   (target <= 1.05)")
    print(f"no cache / KV cache = {best[NO_CACHE] / best[PLAIN]:.3f}x fastest, "
          f"{med[NO_CACHE] / med[PLAIN]:.3f}x median")


if __name__ == "__main__":
    main()
