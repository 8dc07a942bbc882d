"""The dashboard's one place for loading and caching: models, traces, maps, regions. Every cached function is
pure and keyed by the checkpoint's content hash; entries are bounded."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st

from llmcore.checkpoint import DEFAULT_CHECKPOINT, REPO_ROOT, Checkpoint, CheckpointError, load_checkpoint
from llmcore.maps import FittedMap, MapBook
from llmcore.regions import RegionMap, SubContextClassifier, region_map
from llmcore.trace import GenerationTrace, SamplingConfig, trace_generation

CHECKPOINT_ENV = "LLM_LANDSCAPE_CHECKPOINT"
USER_CHECKPOINTS = REPO_ROOT / "checkpoints"


def default_checkpoint_path() -> Path:
    """The checkpoint the dashboard opens: $LLM_LANDSCAPE_CHECKPOINT or the bundled default."""
    return Path(os.environ.get(CHECKPOINT_ENV) or DEFAULT_CHECKPOINT)


METHOD_NAMES = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE", "axes": "Custom axes"}


def checkpoint_label(path: str) -> str:
    """How a checkpoint is named in every model picker: its folder, the bundled one marked."""
    return f"{Path(path).name} (bundled)" if Path(path) == default_checkpoint_path() else Path(path).name


def available_checkpoints() -> list[Path]:
    """The default checkpoint first, then every other checkpoint folder under checkpoints/."""
    from dashboard.uploads import uploaded_checkpoints_dir

    found = [default_checkpoint_path()]
    for folder in (USER_CHECKPOINTS, uploaded_checkpoints_dir()):
        if folder.is_dir():
            found += sorted(p for p in folder.iterdir() if (p / "config.json").is_file() and p not in found)
    found += [Path(p) for p in st.session_state.get("local_models", []) if Path(p) not in found]
    return found


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def get_checkpoint(path: str, mtime_ns: int) -> Checkpoint:
    """Loaded once per folder and modification time (a retrained folder reloads); our checkpoints and local
    Hugging Face model folders alike."""
    from llmcore.hf import is_hf_folder

    if is_hf_folder(path):
        from llmcore.hf import load_hf_checkpoint

        try:
            return load_hf_checkpoint(path)
        except ImportError as e:
            raise CheckpointError(str(e)) from None
    return load_checkpoint(path)


def checkpoint_at(path: Path) -> Checkpoint:
    cfg = Path(path) / "config.json"
    return get_checkpoint(str(path), cfg.stat().st_mtime_ns if cfg.exists() else 0)


def current_checkpoint() -> Checkpoint:
    """The checkpoint chosen in the sidebar's model picker (or the default)."""
    chosen = st.session_state.get("checkpoint")
    path = Path(chosen) if chosen else default_checkpoint_path()
    try:
        return checkpoint_at(path)
    except CheckpointError:
        if path != default_checkpoint_path():
            st.session_state.pop("checkpoint", None)
        raise


def checkpoint_or_error() -> Checkpoint | None:
    """The current checkpoint, or None after showing what is wrong and what to do (every page starts here)."""
    try:
        return current_checkpoint()
    except CheckpointError as e:
        from dashboard.text import escape_md

        st.error(f"The model could not be loaded: {escape_md(str(e))}")
        st.info("Retrain the bundled model with `make train-default`, or pick another model in the sidebar.")
        return None


@st.cache_data(max_entries=64, show_spinner=False)
def get_trace(content_hash: str, prompt: str, sampling: SamplingConfig, _ckpt: Checkpoint) -> GenerationTrace:
    return trace_generation(_ckpt, prompt, sampling)


@st.cache_resource(max_entries=6, show_spinner="Running the model over reference sentences…")
def get_map_book(content_hash: str, _ckpt: Checkpoint) -> MapBook:
    return MapBook(_ckpt)


@st.cache_resource(max_entries=48, show_spinner=False)
def get_map(content_hash: str, reference: str, method: str, n_components: int, _ckpt: Checkpoint,
            params_key: str = "") -> FittedMap:
    """A map from the checkpoint's map cache; fitting a missing one shows its progress on the page."""
    import json

    book = get_map_book(content_hash, _ckpt)
    params = json.loads(params_key) if params_key else None
    name = METHOD_NAMES.get(method, method)
    status = LazyStatus(f"Fitting the {name} map of {reference} (once; it is cached on disk)…")
    fitted = book.get(reference, method, n_components, params=params, progress=status)
    status.done(f"{name} map of {reference} ready")
    return fitted


class LazyStatus:
    """A status box that appears only if there is progress to report (a map loaded from disk reports none)."""

    def __init__(self, label: str):
        self.label, self.box = label, None

    def __call__(self, message: str) -> None:
        if self.box is None:
            self.box = st.status(self.label, expanded=True)
        self.box.write(message)

    def done(self, label: str) -> None:
        if self.box is not None:
            self.box.update(label=label, state="complete", expanded=False)


@st.cache_data(max_entries=48, show_spinner=False)
def get_regions(content_hash: str, reference: str, method: str, contexts: tuple[str, ...],
                _fitted: FittedMap) -> RegionMap:
    return region_map(_fitted.coords[:, :2], _fitted.reference.labels["context"], list(contexts))


@st.cache_resource(max_entries=12, show_spinner=False)
def get_classifier(content_hash: str, reference: str, _book: MapBook) -> SubContextClassifier:
    ref = _book.reference(reference)
    return SubContextClassifier().fit(ref.X, ref.labels["context"])


def regions_of_states(content_hash: str, layer: str, book: MapBook, states: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Sub-context region of each state (n, C), decided by its nearest reference states in the original space."""
    clf = get_classifier(content_hash, f"context:{layer}", book)
    proba = clf.predict_proba(states)
    best = proba.argmax(1)
    return [clf.classes_[i] for i in best], proba[np.arange(len(best)), best]


def ink() -> str:
    """The colour of paths drawn over maps: dark on a light theme, light on a dark one."""
    try:
        return "#EEEEEE" if st.context.theme.type == "dark" else "#222222"
    except AttributeError:  # older Streamlit: no theme information
        return "#222222"


@st.cache_resource(max_entries=4, show_spinner="Loading the weight snapshots and placing their context maps in "
                   "the final one's frame (once per model and depth)…")
def get_training_frames(content_hash: str, layer: str, _ckpt: Checkpoint):
    """Every weight snapshot's word map and context map at one depth (llmcore.watch.TrainingFrames)."""
    from llmcore.watch import training_frames

    return training_frames(_ckpt, layer)


@st.cache_resource(max_entries=16, show_spinner="Tracing the prompt with every snapshot's weights…")
def get_prompt_over_training(content_hash: str, layer: str, prompt: str, _frames):
    """The prompt traced at every snapshot and placed on its aligned context map (llmcore.watch)."""
    from llmcore.watch import prompt_over_training

    return prompt_over_training(_frames, prompt)


@st.cache_resource(max_entries=512, show_spinner=False)
def built_once(key: tuple, _build):
    """A figure (or what it is drawn from) built once per key: Watch training draws one per snapshot, prompt,
    depth and chart, so moving the step slider only sends figures that are ready."""
    return _build()
