"""The dashboard's one place for loading and caching: models, reference states and fitted maps."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from llmcore.checkpoint import DEFAULT_CHECKPOINT, Checkpoint, load_checkpoint
from llmcore.projection import ContextMap, fit_context_map
from llmcore.reference import ReferenceStates, reference_states

CHECKPOINT_ENV = "LLM_LANDSCAPE_CHECKPOINT"


def checkpoint_path() -> Path:
    """The checkpoint the dashboard opens: $LLM_LANDSCAPE_CHECKPOINT or the bundled default."""
    return Path(os.environ.get(CHECKPOINT_ENV) or DEFAULT_CHECKPOINT)


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def get_checkpoint(path: str, mtime_ns: int) -> Checkpoint:
    """Loaded once per folder and modification time (a retrained folder reloads)."""
    return load_checkpoint(path)


def current_checkpoint() -> Checkpoint:
    path = checkpoint_path()
    cfg = path / "config.json"
    return get_checkpoint(str(path), cfg.stat().st_mtime_ns if cfg.exists() else 0)


@st.cache_resource(max_entries=4, show_spinner="Running the model over reference sentences…")
def get_reference(content_hash: str, _ckpt: Checkpoint) -> ReferenceStates:
    return reference_states(_ckpt)


@st.cache_resource(max_entries=16, show_spinner="Fitting the map…")
def get_context_map(content_hash: str, layer: str, n_components: int, _ckpt: Checkpoint) -> ContextMap:
    return fit_context_map(get_reference(content_hash, _ckpt), layer, "pca", n_components)
