"""Landscape: one model opened in the notebook, with its maps, regions, traces and weight snapshots computed once
and kept (the notebook's counterpart of dashboard/state.py, without Streamlit)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard import frames
from dashboard.figures import maps as map_figures
from dashboard.watch_charts import snapshot_charts
from llmcore.analysis.trace import GenerationTrace, SamplingConfig, candidate_states, trace_generation
from llmcore.loader import any_checkpoint
from llmcore.maps.regions import RegionMap, region_map
from llmcore.maps.store import FittedMap, MapBook
from llmcore.maps.watch import PromptOverTraining, TrainingFrames, prompt_over_training, watch_maps
from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, Checkpoint
from llmcore.model.threads import one_thread
from llmcore.training.snapshots import snapshot_checkpoints, snapshot_metrics

METHODS = {"lda": "Story map (LDA)", "pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}  # the Trajectory page's maps
KEPT = 64  # traces kept per model


class Landscape:
    """A model folder (ours or a local Hugging Face one) and what its views are drawn from."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else Path(DEFAULT_CHECKPOINT)
        self.ckpt: Checkpoint = any_checkpoint(self.path, lazy=True)
        self.book = MapBook(self.ckpt)
        self.trace = functools.lru_cache(maxsize=KEPT)(self._trace)
        self.candidates = functools.lru_cache(maxsize=KEPT)(self._candidates)
        self.reference_frame = functools.lru_cache(maxsize=16)(self._reference_frame)
        self.base_traces = functools.lru_cache(maxsize=16)(self._base_traces)
        self.word_frame = functools.lru_cache(maxsize=16)(self._word_frame)
        self.training_frames = functools.lru_cache(maxsize=4)(self._training_frames)
        self.over_training = functools.lru_cache(maxsize=16)(self._over_training)
        self.watch_charts = functools.lru_cache(maxsize=64)(self._watch_charts)
        self._maps: dict[tuple[str, str, int], FittedMap] = {}
        self._regions: dict[tuple, RegionMap] = {}

    @functools.cached_property
    def contexts_of_words(self) -> dict[str, str]:
        """The read reading of every vocabulary word: its sub-context in the world."""
        return {w: self.ckpt.world.label(w)[0] for w in self.ckpt.tokenizer.vocab}

    @functools.cached_property
    def best_view(self):
        """The measured default view (llmcore.maps.bestview.BestView): its map method and layer."""
        return self.book.best_view()

    def _trace(self, prompt: str, sampling: SamplingConfig) -> GenerationTrace:
        with one_thread():
            return trace_generation(self.ckpt, prompt, sampling)

    def _candidates(self, prompt: str, sampling: SamplingConfig, step: int) -> tuple[list[str], np.ndarray,
                                                                                  np.ndarray]:
        """Where the likeliest next words after `step` (1-based) would take the state (candidate_states)."""
        trace = self.trace(prompt, sampling)
        with one_thread():
            return candidate_states(self.ckpt, trace, step - 1)

    def _reference_frame(self, layer: str, method: str) -> pd.DataFrame:
        """The reference states drawn on a map (dashboard.frames.reference_frame: a fixed sample)."""
        return frames.reference_frame(self.map(layer, method))

    def _base_traces(self, layer: str, method: str, reading: str, colours: tuple[tuple[str, str], ...]) -> tuple:
        """A map's reference-state traces for one reading and colouring: the same for every prompt, built once."""
        return tuple(map_figures.reference_traces(self.reference_frame(layer, method), dict(colours), reading=reading))

    def _word_frame(self, method: str, dims: int) -> pd.DataFrame:
        """Every word of the vocabulary on the word map (the Embeddings page's): x, y (z), word, context,
        subgroup."""
        return frames.reference_frame(self.word_map(method, dims))

    def word_map(self, method: str, dims: int = 2) -> FittedMap:
        """The map of the words' input embeddings (from the map cache, else fitted now)."""
        key = ("words", method, dims)
        if key not in self._maps:
            self._maps[key] = self.book.get("words", method, dims)
        return self._maps[key]

    @functools.cached_property
    def snapshots(self) -> list[Checkpoint]:
        """Every weight snapshot of the model as a Checkpoint, oldest first (one read of the snapshot file)."""
        return snapshot_checkpoints(self.ckpt)

    def _training_frames(self, layer: str) -> TrainingFrames:
        """Every snapshot's word map and context map at `layer` (the checkpoint's stored Watch maps, else computed
        now and stored in the map cache)."""
        return watch_maps(self.ckpt, self.snapshots).frames(layer, self.snapshots)

    def _over_training(self, layer: str, prompt: str) -> PromptOverTraining:
        """`prompt` traced with every snapshot's weights and placed on each snapshot's context map at `layer`."""
        with one_thread():
            return prompt_over_training(self.training_frames(layer), prompt)

    def _watch_charts(self, layer: str, prompt: str, step: int, ink: str) -> dict:
        """Watch training's charts of the snapshot at training `step` (dashboard.watch_charts.snapshot_charts)."""
        tf = self.training_frames(layer)
        return snapshot_charts(self.ckpt, tf, self.over_training(layer, prompt), snapshot_metrics(self.ckpt),
                               t=tf.steps.index(step), ink=ink)

    def map(self, layer: str, method: str, dims: int = 2) -> FittedMap:
        """The map of the reference states at `layer` (from the map cache, else fitted now)."""
        key = (layer, method, dims)
        if key not in self._maps:
            self._maps[key] = self.book.get(f"context:{layer}", method, dims)
        return self._maps[key]

    def regions(self, layer: str, method: str, names: tuple[str, ...], label: str = "context") -> RegionMap:
        """The 2D map's regions of one reference label ('context': read, 'next_context': next) for the sub-contexts
        `names` (a trace's context_names)."""
        key = (layer, method, names, label)
        if key not in self._regions:
            fmap = self.map(layer, method, 2)
            self._regions[key] = region_map(fmap.coords[:, :2], fmap.reference.labels[label], list(names))
        return self._regions[key]


@functools.lru_cache(maxsize=4)
def open_model(path: str | None = None) -> Landscape:
    """The model at `path` (the bundled one by default), opened once per folder in this kernel."""
    return Landscape(path)
