"""Steering vectors: push the residual stream from one sub-context's centroid towards another's, then generate as
usual, so the steered run is a normal GenerationTrace every view can draw."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from llmcore.checkpoint import Checkpoint
from llmcore.hooks import Edit, hooked, model_sites
from llmcore.interventions import finite, word_ids
from llmcore.reference import ReferenceStates, reference_states
from llmcore.trace import GenerationTrace, PromptError, SamplingConfig, trace_generation


def group_names(ckpt: Checkpoint, reference: ReferenceStates | None = None) -> list[str]:
    """Sub-contexts and subgroups a steering vector can start or end at; given reference states, only those with
    at least one state (a foreign tokenizer may split every word of a group into pieces)."""
    tax = ckpt.world.taxonomy
    names = list(tax) + [g for groups in tax.values() for g in groups if g not in tax]
    if reference is None:
        return names
    present = {x for w in set(map(str, reference.words)) for x in ckpt.world.label(w)}
    return [n for n in names if n in present]


def steering_vector(ckpt: Checkpoint, *, source: str, target: str, depth: int,
                    reference: ReferenceStates | None = None) -> np.ndarray:
    """centroid(target) - centroid(source) (C,) of the reference states at a depth whose word belongs to each group
    (a sub-context or a subgroup)."""
    n = ckpt.model.config.n_layer
    if not isinstance(depth, int) or isinstance(depth, bool) or not 0 <= depth <= n:
        raise PromptError(f"steering depth must be a whole number from 0 (embed) to {n} (block {n}), got {depth!r}")
    ref = reference if reference is not None else reference_states(ckpt, n_positions=2000)
    labels = [ckpt.world.label(str(w)) for w in ref.words]
    centroids = []
    for name in (source, target):
        rows = [i for i, (c, g) in enumerate(labels) if name in (c, g)]
        if name not in group_names(ckpt) or not rows:
            raise PromptError(f"'{name}' is not a sub-context or subgroup with words in the reference states; "
                              f"choose one of {', '.join(group_names(ckpt))}")
        centroids.append(ref.states[rows, depth].mean(0))
    return (centroids[1] - centroids[0]).astype(np.float32)


def _steer_edit(vec: torch.Tensor, positions: Sequence[int] | None) -> Edit:
    """Adds vec at absolute positions (None: at every position), following the generation loop's positions: the
    first call reads the prompt (or one word), each later call one new word, a slid window its last T words."""
    seen = [0]

    def add(x: torch.Tensor) -> torch.Tensor | None:
        T = x.shape[1]
        total = seen[0] + (T if seen[0] == 0 else 1)
        seen[0] = total
        if positions is None:
            return x + vec.to(x.dtype)
        cols = [p - (total - T) for p in positions if total - T <= p < total]
        if not cols:
            return None
        x = x.clone()
        x[:, cols] += vec.to(x.dtype)
        return x
    return add


def steer(ckpt: Checkpoint, prompt: str, *, vector: np.ndarray, depth: int, alpha: float,
          positions: Sequence[int] | None = None, sampling: SamplingConfig | None = None) -> GenerationTrace:
    """Generate with alpha * vector added to the residual stream at a depth (0 = embed ... n = block n) and
    positions (None: every position, the generated ones too); a normal GenerationTrace of the steered run."""
    n = ckpt.model.config.n_layer
    if not finite(alpha):
        raise PromptError(f"alpha must be a finite number, got {alpha!r}")
    if not isinstance(depth, int) or isinstance(depth, bool) or not 0 <= depth <= n:
        raise PromptError(f"steering depth must be a whole number from 0 (embed) to {n} (block {n}), got {depth!r}")
    vec = torch.as_tensor(np.asarray(vector, np.float32))
    if vec.shape != (ckpt.model.config.n_embd,) or not torch.isfinite(vec).all():
        raise PromptError(f"the steering vector must be {ckpt.model.config.n_embd} finite numbers")
    if positions is not None:
        P = len(word_ids(ckpt, prompt))
        bad = [p for p in positions if not isinstance(p, int) or not 0 <= p < P]
        if bad:
            raise PromptError(f"steering positions {bad} are outside the prompt's {P} words (0..{P - 1})")
    with hooked(model_sites(ckpt.model), {("resid", depth): [_steer_edit(alpha * vec, positions)]}):
        return trace_generation(ckpt, prompt, sampling)
