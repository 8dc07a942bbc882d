"""How a run trains: TrainConfig, every field checked before any work."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from llmcore.inputs import number_in_range, whole_in_range
from llmcore.model.config import from_dict

TRAIN_LIMITS = {"seed": (0, 2**63 - 1), "corpus_seed": (0, 2**63 - 1), "steps": (1, 10_000_000),
                "batch_size": (1, 1024), "lr": (0.0, 10.0), "min_lr": (0.0, 10.0), "warmup_steps": (0, 10_000_000),
                "weight_decay": (0.0, 10.0), "grad_clip": (1e-6, 1e6), "eval_every": (1, 10_000_000),
                "checkpoint_every": (1, 10_000_000), "n_snapshots": (2, 200), "landscape_grid": (0, 51),
                "threads": (0, 1024), "checkpoint_seconds": (1.0, 86_400.0), "weight_snapshots": (0, 64),
                "inflection_tie": (0.0, 100.0)}


@dataclass
class TrainConfig:
    """How a run trains; every field is checked (type and range, TRAIN_LIMITS) before any work."""

    seed: int = 1337
    """Seeds the weights and the batches."""
    corpus_seed: int = 0
    """Seeds the corpus: the same seed writes the same sentences."""
    steps: int = 1500
    batch_size: int = 64
    """Sequences per step."""
    lr: float = 3e-3
    """Peak learning rate, after the warm-up; cosine decay to min_lr."""
    min_lr: float = 3e-4
    warmup_steps: int = 100
    weight_decay: float = 0.01
    """AdamW's, on the weight matrices only."""
    grad_clip: float = 1.0
    eval_every: int = 250
    """Steps between evaluations (loss, quality measures)."""
    checkpoint_every: int = 500
    n_snapshots: int = 24
    """Embedding snapshots over the run, for the replay."""
    weight_snapshots: int = 12  # whole-model snapshots with their measures, log-spaced; 0 skips them
    landscape_grid: int = 21  # loss landscape resolution at the end of training; 0 skips it
    threads: int = 0  # 0: leave torch's default
    checkpoint_seconds: float = 60.0  # also write a resumable checkpoint this often (whichever comes first)
    inflection_tie: float = 0.2  # weight of 1 - cos(e(cat), e(cats)) over the world's inflection pairs (docs/design.md)

    def __post_init__(self) -> None:
        for name, (lo, hi) in TRAIN_LIMITS.items():  # types and ranges, before any work (values may come from files)
            value = getattr(self, name)
            checked = whole_in_range if isinstance(lo, int) else number_in_range
            setattr(self, name, checked(value, name, lo, hi))
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
