"""Watching training: every weight snapshot's word map and context map in the final snapshot's frame (computed at
the end of training and stored with the checkpoint), and one prompt traced with every snapshot's weights, so a step
slider moves them all together."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import save as np_save

from llmcore.analysis.trace import GenerationTrace, SamplingConfig, trace_generation
from llmcore.files import atomic_write
from llmcore.inputs import InputError, Shaped, parse_json, read_safetensors, safetensors_metadata
from llmcore.maps.alignment import snapshot_coords
from llmcore.maps.linear import Plane, orthogonal_procrustes, pca_plane
from llmcore.model.checkpoint import Checkpoint
from llmcore.model.depths import FINAL

if TYPE_CHECKING:
    from llmcore.analysis.reference import ReferenceStates
from llmcore.training.snapshots import snapshot_checkpoints, snapshot_metrics, weight_snapshot_steps

WATCH_POSITIONS = 1500  # reference positions per snapshot whose states align its context map to the final one
SHOWN_POSITIONS = 600  # of those, the ones drawn behind the prompt's path (fewer points redraw faster)
_VERSION = "1"


@dataclass
class AlignedPlacement:
    """Places one snapshot's states on the final snapshot's context map: the rotation onto the final states
    (Procrustes) and the final map's PCA folded into one affine map. weight: (C, 2); bias: (2,)."""

    weight: np.ndarray
    bias: np.ndarray

    def place(self, X: np.ndarray) -> np.ndarray:
        """(n, C) states to (n, 2) map coordinates."""
        X = np.asarray(X, np.float32).reshape(-1, self.weight.shape[0])
        return (X @ self.weight + self.bias).astype(np.float32)


def _placement(pca: Plane, source: np.ndarray | None = None, target: np.ndarray | None = None
               ) -> AlignedPlacement:
    """The PCA alone, or the rotation of `source` onto `target` (paired rows) followed by the PCA."""
    comps, mean = pca.components.T.astype(np.float64), pca.mean.astype(np.float64)  # (C, 2), (C,)
    if source is None:
        return AlignedPlacement(comps.astype(np.float32), (-mean @ comps).astype(np.float32))
    S, T = np.asarray(source, np.float64), np.asarray(target, np.float64)
    s_mean, t_mean = S.mean(0), T.mean(0)
    R, _ = orthogonal_procrustes(S - s_mean, T - t_mean)  # (X - s_mean) @ R + t_mean lies on the final states
    return AlignedPlacement((R @ comps).astype(np.float32), ((t_mean - s_mean @ R - mean) @ comps).astype(np.float32))


@dataclass
class TrainingFrames:
    """T snapshots of one checkpoint at one depth. N shown reference positions (the same in every snapshot).

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


def context_states(ckpt: Checkpoint, layer: str, n_positions: int = WATCH_POSITIONS
                   ) -> tuple[np.ndarray, ReferenceStates]:
    """(N, C) reference states at one depth, with their labels (reference_states picks positions by words only,
    so every snapshot of a checkpoint gets the same positions)."""
    from llmcore.analysis.reference import reference_states

    ref = reference_states(ckpt, n_positions)
    return ref.layer(layer), ref


def aligned_context_maps(states: list[np.ndarray], aligned: bool = True
                         ) -> tuple[np.ndarray, list[AlignedPlacement]]:
    """(T, N, 2) coordinates of each snapshot's states and the T placements.

    aligned: rotate each snapshot's states onto the final snapshot's (orthogonal Procrustes on the paired
    positions), then one PCA of the final states places them all. Not aligned: a PCA per snapshot.
    """
    final = np.asarray(states[-1], np.float32)
    pca = pca_plane(final)
    placers = [_placement(pca, X, final) if aligned else _placement(pca_plane(X))
               for X in states]
    return np.stack([p.place(X) for p, X in zip(placers, states)]).astype(np.float32), placers


def shown_positions(n: int, shown: int = SHOWN_POSITIONS) -> np.ndarray:
    """Indices of the reference positions drawn: evenly spread over all n (they are ordered by sentence length)."""
    return np.unique(np.linspace(0, n - 1, min(n, shown)).round().astype(int))


@dataclass
class WatchMaps(Shaped):
    """What the step slider draws that does not depend on the prompt, at every depth; computed once (at the end
    of training) and stored with the checkpoint.

    steps: (T,); layers: L depth names; word_coords: (T, V, 2) aligned word map; context_coords: (L, T, N, 2)
    the shown positions on each snapshot's context map in the final one's frame; weights: (L, T, C, 2) and
    biases: (L, T, 2) the placements; contexts / words / next_words: (N,) labels of the shown positions.
    """

    steps: list[int]
    layers: list[str]
    word_coords: np.ndarray
    context_coords: np.ndarray
    weights: np.ndarray
    biases: np.ndarray
    contexts: np.ndarray
    words: np.ndarray
    next_words: np.ndarray

    SHAPES: ClassVar = {"layers": ("L",), "steps": ("T",), "contexts": ("N",), "word_coords": ("T", ...),
                        "context_coords": ("L", "T", "N", 2), "weights": ("L", "T", ...), "biases": ("L", "T", 2),
                        "words": ("N",), "next_words": ("N",)}

    def placers(self, layer: str) -> list[AlignedPlacement]:
        i = self.layers.index(layer)
        return [AlignedPlacement(w, b) for w, b in zip(self.weights[i], self.biases[i])]

    def frames(self, layer: str, models: list[Checkpoint]) -> TrainingFrames:
        if layer not in self.layers:
            raise ValueError(f"unknown depth {layer!r}; use one of {', '.join(self.layers)}")
        return TrainingFrames(layer, self.steps, models, self.word_coords, self.context_coords[self.layers.index(
            layer)], self.contexts, self.words, self.next_words, self.placers(layer))

    def tensors(self) -> dict[str, np.ndarray]:
        """As stored: safetensors writes raw buffers, so each is made C-ordered first."""
        out = {"word_coords": self.word_coords.astype(np.float16), "weights": self.weights, "biases": self.biases,
               "context_coords": self.context_coords.astype(np.float16)}
        return {k: np.ascontiguousarray(v) for k, v in out.items()}

    def to_bytes(self, content_hash: str) -> bytes:
        texts = {k: "\x1f".join(map(str, getattr(self, k))) for k in ("contexts", "words", "next_words")}
        meta = {"checkpoint": content_hash, "version": _VERSION, "steps": json.dumps(self.steps),
                "layers": json.dumps(self.layers), "sha": _sha(self.tensors()), **texts}
        return np_save(self.tensors(), metadata=meta)

    @classmethod
    def from_file(cls, path: Path, content_hash: str, steps: list[int]) -> WatchMaps | None:
        """The stored maps, or None when missing, damaged, of an older version, or another model's."""
        try:
            tensors, meta = read_safetensors(path)
            if (meta.get("checkpoint"), meta.get("version"), meta.get("sha")) != (content_hash, _VERSION,
                                                                                     _sha(tensors)):
                return None
            if parse_json(meta["steps"]) != steps:
                return None
            f32 = {k: v.astype(np.float32) for k, v in tensors.items()}
            texts = {k: np.array(meta[k].split("\x1f"), object) for k in ("contexts", "words", "next_words")}
            return cls(steps, parse_json(meta["layers"]), **f32, **texts)
        except (SafetensorError, ValueError, KeyError, TypeError, OSError):
            return None


def _sha(tensors: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        h.update(k.encode() + np.ascontiguousarray(tensors[k]).tobytes())
    return h.hexdigest()


def compute_watch_maps(ckpt: Checkpoint, models: list[Checkpoint] | None = None,
                       n_positions: int = WATCH_POSITIONS) -> WatchMaps:
    """Every snapshot's word map and, at every depth, its context map aligned to the final one (seconds: one
    model run over the reference sentences per snapshot)."""
    from llmcore.analysis.reference import reference_states

    models = models if models is not None else snapshot_checkpoints(ckpt)
    if len(models) < 2:
        raise ValueError(f"{ckpt.name}: needs at least 2 weight snapshots to watch training, has {len(models)}")
    refs = [reference_states(m, n_positions) for m in models]
    shown = shown_positions(len(refs[-1].words))
    coords, weights, biases = [], [], []
    for name in refs[-1].layer_names:
        c, placers = aligned_context_maps([r.layer(name) for r in refs])
        coords.append(c[:, shown])
        weights.append(np.stack([p.weight for p in placers]))
        biases.append(np.stack([p.bias for p in placers]))
    wte = np.stack([m.model.transformer.wte.weight.detach().numpy() for m in models])
    half = lambda a: np.asarray(a, np.float16).astype(np.float32)  # noqa: E731  (as stored: loaded maps equal these)
    ref = refs[-1]
    return WatchMaps([int(m.metrics["snapshot_step"]) for m in models], list(ref.layer_names),
                     half(snapshot_coords(wte, 2)), half(np.stack(coords)), np.stack(weights), np.stack(biases),
                     np.asarray(ref.contexts)[shown], np.asarray(ref.words)[shown], np.asarray(ref.next_words)[shown])


def watch_maps_path(ckpt: Checkpoint, cache_dir: Path | None = None) -> Path:
    """The stored Watch training maps' file (the checkpoint's own maps/ first), or where they would be written."""
    from llmcore.maps.store import WATCH_FILE, find_cached

    return find_cached(ckpt, WATCH_FILE, cache_dir)


def stored_watch_maps(ckpt: Checkpoint) -> WatchMaps | None:
    """The watch maps stored with the checkpoint, or None (older checkpoints, other weights, a damaged file)."""
    return WatchMaps.from_file(watch_maps_path(ckpt), ckpt.content_hash, weight_snapshot_steps(ckpt))


def has_stored_watch_maps(ckpt: Checkpoint) -> bool:
    """Whether this checkpoint's watch maps are stored (reads the file's header only; loading checks the rest)."""
    try:
        meta = safetensors_metadata(watch_maps_path(ckpt))
        return (meta.get("checkpoint"), meta.get("version")) == (ckpt.content_hash, _VERSION) and parse_json(
            meta.get("steps", "[]")) == weight_snapshot_steps(ckpt)
    except (OSError, ValueError, SafetensorError):
        return False


def store_watch_maps(ckpt: Checkpoint, models: list[Checkpoint] | None = None, *,
                     cache_dir: Path | None = None) -> tuple[WatchMaps, Path | None]:
    """Compute the watch maps and write them (atomically) to `cache_dir` (a folder the user named), else to the user
    cache; returns them and the file written, None where it could not be written (they are kept in memory)."""
    from llmcore.maps.store import WATCH_FILE, write_path

    maps = compute_watch_maps(ckpt, models)
    path = write_path(ckpt, WATCH_FILE, cache_dir)
    try:
        atomic_write(path, maps.to_bytes(ckpt.content_hash))
    except (OSError, InputError):
        if cache_dir is not None:
            raise  # a folder the user named: say so
        return maps, None
    return maps, path


def watch_maps(ckpt: Checkpoint, models: list[Checkpoint] | None = None) -> WatchMaps:
    """The stored watch maps, else computed now and stored for next time."""
    return stored_watch_maps(ckpt) or store_watch_maps(ckpt, models)[0]


def training_frames(ckpt: Checkpoint, layer: str = FINAL, models: list[Checkpoint] | None = None,
                    maps: WatchMaps | None = None) -> TrainingFrames:
    """Everything the step slider shows at one depth that does not depend on the prompt."""
    steps = weight_snapshot_steps(ckpt)
    if len(steps) < 2:
        raise ValueError(f"{ckpt.name}: needs at least 2 weight snapshots to watch training, has {len(steps)}")
    models = models if models is not None else snapshot_checkpoints(ckpt)
    return (maps or watch_maps(ckpt, models)).frames(layer, models)


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
    paths = [p.place(t.hidden[:, li]) for p, t in zip(frames.placers, traces)]  # one state per word read
    final, target = traces[-1], place_context(frames.models[-1])
    chosen = [frames.models[-1].world.label(w)[0] for w in final.generated_words]
    step = chosen.index(target) if target in chosen else max(final.n_steps - 1, 0)
    names = final.context_names
    probs = np.stack([t.context_probs[t.boundary + min(step, t.n_steps - 1)] for t in traces]).astype(np.float32)
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

