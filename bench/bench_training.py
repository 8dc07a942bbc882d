"""Training throughput: achieved FLOP/s of a training step divided by the matmul FLOP/s of this machine.

usage: python -m bench.bench_training [--threads N] [--batch-size B] [--rounds R]
The model has the bundled checkpoint's shape, read from its config.json. The matmul peak and the training steps
are measured in alternating rounds on the same threads, so a change of load touches both; each round's ratio is
printed, then the ratio of the bests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, read_config
from llmcore.model.config import GPTConfig
from llmcore.model.gpt import GPT


def matmul_flops(n: int = 1024, repeats: int = 20) -> float:
    """FLOP/s of a square float32 matmul, the best this machine does."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - t0)


def step_flops(cfg: GPTConfig, batch: int) -> float:
    """FLOPs of one training step: 6 per parameter-token in the matmuls plus attention (PaLM appendix B)."""
    n_matmul = 12 * cfg.n_layer * cfg.n_embd**2 + cfg.vocab_size * cfg.n_embd  # blocks + head
    per_token = 6 * n_matmul + 12 * cfg.n_layer * cfg.block_size * cfg.n_embd
    return per_token * batch * cfg.block_size


def train_flops(cfg: GPTConfig, batch: int, steps: int = 30) -> float:
    torch.manual_seed(0)
    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randint(0, cfg.vocab_size, (batch, cfg.block_size))
    def step():
        _, loss = model(x, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return step_flops(cfg, batch) * steps / (time.perf_counter() - t0)


def bundled_shape() -> GPTConfig:
    """The bundled checkpoint's model shape (vocabulary, block, layers, heads, width) from its config.json."""
    return GPTConfig.from_dict(read_config(DEFAULT_CHECKPOINT)["model_config"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5, help="alternating matmul / training rounds (default 5)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = bundled_shape()
    print(f"the bundled model's shape: vocab {cfg.vocab_size}, block {cfg.block_size}, {cfg.n_layer} layers x "
          f"{cfg.n_head} heads x {cfg.n_embd}; {a.threads} threads; batch {a.batch_size}; load average "
          f"{os.getloadavg()[0]:.1f}")
    peaks, trains = [], []
    for r in range(a.rounds):
        peaks.append(matmul_flops())
        trains.append(train_flops(cfg, a.batch_size))
        print(f"round {r + 1}: matmul {peaks[-1] / 1e9:7.1f} GFLOP/s, training {trains[-1] / 1e9:7.1f} GFLOP/s, "
              f"ratio {trains[-1] / peaks[-1]:.2f}")
    peak, achieved = max(peaks), max(trains)
    print(f"matmul peak (1024^2 float32, best of {a.rounds}): {peak / 1e9:7.1f} GFLOP/s")
    print(f"training step (best of {a.rounds}):               {achieved / 1e9:7.1f} GFLOP/s")
    print(f"training / matmul = {achieved / peak:.2f} (best over best; median of the rounds' ratios "
          f"{statistics.median(t / p for t, p in zip(trains, peaks)):.2f})   (aim >= 0.6)")


if __name__ == "__main__":
    main()
