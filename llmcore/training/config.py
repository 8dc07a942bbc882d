"""How a run trains: TrainConfig, every field checked before any work."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from llmcore.inputs import bounded, check_bounded
from llmcore.model.config import from_dict


@dataclass
class TrainConfig:
    """How a run trains; every field is checked (type and range, `bounded`) before any work."""

    seed: int = bounded(1337, 0, 2**63 - 1)
    """Seeds the weights and the batches."""
    corpus_seed: int = bounded(0, 0, 2**63 - 1)
    """Seeds the corpus: the same seed writes the same sentences."""
    steps: int = bounded(1500, 1, 10_000_000)
    batch_size: int = bounded(64, 1, 1024)
    """Sequences per step."""
    lr: float = bounded(3e-3, 0.0, 10.0)
    """Peak learning rate, after the warm-up; cosine decay to min_lr."""
    min_lr: float = bounded(3e-4, 0.0, 10.0)
    warmup_steps: int = bounded(100, 0, 10_000_000)
    weight_decay: float = bounded(0.01, 0.0, 10.0)
    """AdamW's, on the weight matrices only."""
    grad_clip: float = bounded(1.0, 1e-6, 1e6)
    eval_every: int = bounded(250, 1, 10_000_000)
    """Steps between evaluations (loss, quality measures)."""
    checkpoint_every: int = bounded(500, 1, 10_000_000)
    n_snapshots: int = bounded(24, 2, 200)
    """Embedding snapshots over the run, for the replay."""
    weight_snapshots: int = bounded(12, 0, 64)
    """Whole-model snapshots with their measures, log-spaced; 0 skips them."""
    landscape_grid: int = bounded(21, 0, 51)
    """Loss landscape resolution at the end of training; 0 skips it."""
    threads: int = bounded(0, 0, 1024)
    """0: leave torch's default."""
    checkpoint_seconds: float = bounded(60.0, 1.0, 86_400.0)
    """Also write a resumable checkpoint this often (whichever comes first)."""
    inflection_tie: float = bounded(0.2, 0.0, 100.0)
    """Weight of 1 - cos(e(cat), e(cats)) over the world's inflection pairs (docs/design.md)."""

    def __post_init__(self) -> None:
        check_bounded(self)  # types and ranges, before any work (values may come from files)
        if not 0 < self.lr or not 0 <= self.min_lr <= self.lr:
            raise ValueError(f"need 0 < lr and 0 <= min_lr <= lr, got lr={self.lr}, min_lr={self.min_lr}")
        if self.landscape_grid and self.landscape_grid < 3:
            raise ValueError(f"landscape_grid must be 0 (off) or 3 to 51, got {self.landscape_grid}")
        if self.n_snapshots < 2:
            raise ValueError("n_snapshots must be >= 2")

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return from_dict(cls, d)

    def lr_at(self, step: int) -> float:
        """Linear warmup, then cosine decay to min_lr."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        frac = (step - self.warmup_steps) / max(1, self.steps - self.warmup_steps)
        return self.min_lr + 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))) * (self.lr - self.min_lr)

    def snapshot_steps(self) -> list[int]:
        return sorted({int(round(s)) for s in np.linspace(0, self.steps, self.n_snapshots)})
