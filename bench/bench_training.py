"""Training throughput: achieved FLOP/s of a training step divided by the matmul FLOP/s of this machine.

usage: python -m bench.bench_training [--threads N] [--batch-size B]
Both are measured in the same run, on the same threads, so the ratio is comparable across machines.
"""

from __future__ import annotations

import argparse
import time

import torch

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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = GPTConfig(vocab_size=152)  # the bundled model's shape
    peak = matmul_flops()
    achieved = train_flops(cfg, a.batch_size)
    print(f"matmul peak (1024^2 float32, {a.threads} threads): {peak / 1e9:7.1f} GFLOP/s")
    print(f"training step (batch {a.batch_size} x {cfg.block_size}):   {achieved / 1e9:7.1f} GFLOP/s")
    print(f"training / matmul = {achieved / peak:.2f}   (aim >= 0.6)")


if __name__ == "__main__":
    main()
