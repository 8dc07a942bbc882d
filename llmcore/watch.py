"""Watching training: every weight snapshot's word map and context map in the final snapshot's frame, and one
prompt traced with every snapshot's weights, so a step slider moves them all together."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from llmcore.alignment import procrustes_map, snapshot_coords
from llmcore.checkpoint import Checkpoint
from llmcore.depths import FINAL
from llmcore.projection import PCAProjector
from llmcore.snapshots import at_step, snapshot_metrics, weight_snapshot_steps
from llmcore.trace import GenerationTrace, SamplingConfig, trace_generation

WATCH_POSITIONS = 1500  # reference positions per snapshot's context map


@dataclass
class AlignedPlacement:
    """Places one snapshot's states on the final snapshot's context map: rotated onto the final states
    (Procrustes; None for the naive map), then projected by a PCA."""

    pca: PCAProjector
    rotate: Callable[[np.ndarray], np.ndarray] | None = None

    def place(self, X: np.ndarray) -> np.ndarray:
        """(n, C) states to (n, 2) map coordinates."""
        X = np.asarray(X, np.float32).reshape(-1, self.pca.n_features_in_)
        return self.pca.transform(self.rotate(X) if self.rotate else X)


@dataclass
class TrainingFrames:
    """T snapshots of one checkpoint at one depth. N reference positions (the same positions in every snapshot).

    steps: (T,); models: T checkpoints with the snapshot weights; word_coords: (T, V, 2) Procrustes-aligned word
    map; context_coords: (T, N, 2) each snapshot's context map in the final one's frame; contexts / words /
    next_words: (N,) labels of the reference positions; placers: where each snapshot's (n, C) states land.
    """

    layer: str
    steps: list[int]
    models: list[Checkpoint]
    word_coords: np.ndarray
    context_coords: np.ndarray
    contexts: np.ndarray
    words: np.ndarray
    next_words: np.ndarray
    placers: list[AlignedPlacement]

    def __post_init__(self) -> None:
        T = len(self.steps)
        if len(self.models) != T or self.word_coords.shape[0] != T or self.context_coords.shape[0] != T:
            raise ValueError("TrainingFrames: one model, word map and context map per snapshot step")


def context_states(ckpt: Checkpoint, layer: str, n_positions: int = WATCH_POSITIONS):
    """(N, C) reference states at one depth, with their labels (reference_states picks positions by words only,
    so every snapshot of a checkpoint gets the same positions)."""
    from llmcore.reference import reference_states

    ref = reference_states(ckpt, n_positions)
    return ref.layer(layer), ref


def aligned_context_maps(states: list[np.ndarray], aligned: bool = True):
    """(T, N, 2) coordinates of each snapshot's states and the T placing functions.

    aligned: rotate each snapshot's states onto the final snapshot's (orthogonal Procrustes on the paired
    positions), then one PCA of the final states places them all. Not aligned: a PCA per snapshot.
    """
    final = np.asarray(states[-1], np.float32)
    pca = PCAProjector(2).fit(final)
    placers = [AlignedPlacement(pca, procrustes_map(np.asarray(X, np.float32), final)) if aligned
               else AlignedPlacement(PCAProjector(2).fit(np.asarray(X, np.float32))) for X in states]
    return np.stack([p.place(X) for p, X in zip(placers, states)]).astype(np.float32), placers


def training_frames(ckpt: Checkpoint, layer: str = FINAL, n_positions: int = WATCH_POSITIONS) -> TrainingFrames:
    """Everything the step slider shows that does not depend on the prompt."""
    steps = weight_snapshot_steps(ckpt)
    if len(steps) < 2:
        raise ValueError(f"{ckpt.name}: needs at least 2 weight snapshots to watch training, has {len(steps)}")
    models = [at_step(ckpt, s) for s in steps]
    wte = np.stack([m.model.transformer.wte.weight.detach().numpy() for m in models])
    states = [context_states(m, layer, n_positions) for m in models]
    coords, placers = aligned_context_maps([X for X, _ in states])
    ref = states[-1][1]
    return TrainingFrames(layer=layer, steps=steps, models=models, word_coords=snapshot_coords(wte, 2),
                          context_coords=coords, contexts=np.asarray(ref.contexts), words=np.asarray(ref.words),
                          next_words=np.asarray(ref.next_words), placers=placers)


@dataclass
class PromptOverTraining:
    """One prompt traced at every snapshot. traces: T GenerationTraces; paths: T arrays (P + S_t - 1, 2): the prompt's
    states then each generated step's, placed on that snapshot's aligned context map; place_step: the generation
    step whose next word the final model puts in the place sub-context (else its last step); place_probs: (T, G)
    next-word probability per sub-context at that step."""

    prompt: str
    traces: list[GenerationTrace]
    paths: list[np.ndarray]
    place_step: int
    place_probs: np.ndarray
    context_names: list[str]

    @property
    def completions(self) -> list[str]:
        return [t.completion for t in self.traces]


def place_context(ckpt: Checkpoint) -> str:
    """The sub-context of the animals' habitats (the place the generalisation prompts end on)."""
    animal = next(iter(ckpt.world.animals.values()))
    return ckpt.world.label(animal.habitats[0])[0]


def prompt_over_training(frames: TrainingFrames, prompt: str, sampling: SamplingConfig | None = None
                         ) -> PromptOverTraining:
    """Trace the prompt with every snapshot's weights (raises PromptError for a prompt the model cannot read)."""
    traces = [trace_generation(m, prompt, sampling) for m in frames.models]
    li = traces[-1].layer_names.index(frames.layer)
    paths = [p.place(t.word_steps().hidden[:, li]) for p, t in zip(frames.placers, traces)]  # one state per word read
    final, target = traces[-1], place_context(frames.models[-1])
    chosen = [frames.models[-1].world.label(w)[0] for w in final.generated_words]
    step = chosen.index(target) if target in chosen else max(final.n_steps - 1, 0)
    names = final.context_names
    probs = np.stack([t.context_probs[min(step, t.n_steps - 1)] if t.n_steps else np.zeros(len(names))
                      for t in traces]).astype(np.float32)
    return PromptOverTraining(prompt=prompt, traces=traces, paths=paths, place_step=step, place_probs=probs,
                              context_names=names)


def metric_table(ckpt: Checkpoint) -> dict[str, np.ndarray]:
    """The stored snapshot measures as columns (step, habitat_mass, ..., one 'separability <depth>' per depth)."""
    ms = snapshot_metrics(ckpt)
    if not ms:
        return {}
    cols = {k: np.array([getattr(m, k) for m in ms]) for k in
            ("step", "habitat_mass", "habitat_top1", "food_place_mass", "diet_share", "neighbour_purity")}
    for i, name in enumerate(ms[-1].layer_names):
        cols[f"separability {name}"] = np.array([m.separability[i] for m in ms])
    return cols
