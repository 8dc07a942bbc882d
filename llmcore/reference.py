"""Reference hidden states: the model's residual stream at corpus positions, labelled by sub-context."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from llmcore.checkpoint import Checkpoint
from llmcore.model import ActivationCache
from llmcore.world import generate_corpus


@dataclass
class ReferenceStates:
    """N corpus positions at L depths. states: (N, L, C) float32; words / next_words / contexts: (N,) str."""

    states: np.ndarray
    words: np.ndarray
    next_words: np.ndarray
    contexts: np.ndarray  # sub-context of the word at the position
    next_contexts: np.ndarray  # sub-context of the word that follows
    layer_names: list[str]

    def __post_init__(self) -> None:
        n = len(self.states)
        if self.states.ndim != 3 or self.states.shape[1] != len(self.layer_names):
            raise ValueError(f"states must be (N, L={len(self.layer_names)}, C), got {self.states.shape}")
        for name in ("words", "next_words", "contexts", "next_contexts"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"ReferenceStates.{name} must have {n} entries")

    def layer(self, name_or_index: str | int) -> np.ndarray:
        """(N, C) states at one depth."""
        i = self.layer_names.index(name_or_index) if isinstance(name_or_index, str) else name_or_index
        return self.states[:, i]


@torch.no_grad()
def reference_states(ckpt: Checkpoint, n_positions: int = 6000, seed: int = 12345) -> ReferenceStates:
    """Hidden states at about `n_positions` positions of fresh corpus sentences (each run from position 0)."""
    model, tok, world = ckpt.model, ckpt.tokenizer, ckpt.world
    model.eval()
    sentences = generate_corpus(world, seed, max(1, n_positions // 6))
    ids = [tok.encode_corpus([s]) for s in sentences]
    ids = [x[: model.config.block_size] for x in ids]
    states, words, nexts = [], [], []
    for T in sorted({len(x) for x in ids}):  # batch sentences of equal length: no padding needed
        batch = [x for x in ids if len(x) == T]
        act = ActivationCache()
        model(torch.tensor(batch), capture=act)
        stack = act.residual_stack()[:, :, :-1]  # (L, B, T-1, C): positions that have a next word
        states.append(stack.permute(1, 2, 0, 3).reshape(-1, stack.shape[0], stack.shape[-1]).numpy())
        words += [tok.vocab[t] for x in batch for t in x[:-1]]
        nexts += [tok.vocab[t] for x in batch for t in x[1:]]
    label = np.vectorize(lambda w: world.label(w)[0], otypes=[object])
    n = model.config.n_layer
    return ReferenceStates(np.concatenate(states).astype(np.float32), np.array(words, object),
                           np.array(nexts, object), label(np.array(words, object)), label(np.array(nexts, object)),
                           ["embed"] + [f"block {i + 1}" for i in range(n)] + ["final"])
