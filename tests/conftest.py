"""Shared fixtures: the shipped world and checkpoint, and a tiny model trained in seconds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from llmcore.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
from llmcore.model import GPTConfig
from llmcore.train import TrainConfig, Trainer
from llmcore.world import load_world

TINY_WORLD = Path(__file__).parent / "data" / "tiny_world.toml"
TINY_MODEL = GPTConfig(block_size=16, n_layer=2, n_head=2, n_embd=32)


def tiny_train_config(**kw) -> TrainConfig:
    base = dict(steps=40, batch_size=16, eval_every=20, checkpoint_every=10, n_snapshots=5, warmup_steps=5,
                landscape_grid=5, weight_snapshots=5)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="session")
def world():
    return load_world()


@pytest.fixture(scope="session")
def ckpt():
    return load_checkpoint(DEFAULT_CHECKPOINT)


@pytest.fixture(scope="session")
def tiny_ckpt_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny") / "ckpt"
    Trainer(out, TINY_WORLD, TINY_MODEL, tiny_train_config()).run()
    return out


@pytest.fixture
def tiny_ckpt(tiny_ckpt_dir):
    return load_checkpoint(tiny_ckpt_dir)


@pytest.fixture(scope="session")
def frame_displacement():
    """A measure of replay steadiness: (T, n, 2) map frames -> (T-1,) mean distance a point moves between
    consecutive frames, relative to the map's overall size."""
    def measure(coords: np.ndarray) -> np.ndarray:
        scale = np.linalg.norm(coords - coords.mean(1, keepdims=True), axis=-1).mean()
        return np.linalg.norm(np.diff(coords, axis=0), axis=-1).mean(1) / max(scale, 1e-12)

    return measure
