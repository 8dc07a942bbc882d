"""The dashboard's one place for loading and caching: models, reference states and fitted maps."""

from __future__ import annotations

import os
from pathlib import Path

import streamlit as st

from llmcore.checkpoint import DEFAULT_CHECKPOINT, Checkpoint, load_checkpoint
from llmcore.maps import FittedMap, MapBook

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
def get_map_book(content_hash: str, _ckpt: Checkpoint) -> MapBook:
    return MapBook(_ckpt)


@st.cache_resource(max_entries=32, show_spinner=False)
def get_map(content_hash: str, reference: str, method: str, n_components: int, _ckpt: Checkpoint) -> FittedMap:
    """A map from the checkpoint's map cache; fitting a missing one shows its progress on the page."""
    book = get_map_book(content_hash, _ckpt)
    with st.status(f"Preparing the {method.upper()} map of {reference}…", expanded=False) as status:
        fitted = book.get(reference, method, n_components, progress=status.write)
        status.update(label=f"{method.upper()} map of {reference} ready", state="complete")
    return fitted
