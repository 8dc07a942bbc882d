"""Landscape page: sub-context terrain with the trajectory on it, the decision landscape, the loss landscape."""

from __future__ import annotations

import numpy as np
import streamlit as st

from dashboard import figures, frames, urlstate
from dashboard.downloads import figure_html
from dashboard.state import checkpoint_or_error, get_map, get_regions, get_trace, ink
from dashboard.text import escape_md
from llmcore.landscape import decision_landscape
from llmcore.trace import PromptError, SamplingConfig

DEFAULTS = {"land_prompt": "a dog devours pizza in", "land_layer": "final"}


@st.cache_data(max_entries=16, show_spinner="Decoding the plane…")
def _decision(content_hash: str, layer: str, _ckpt, _fmap):
    extent = np.stack([_fmap.coords.min(0), _fmap.coords.max(0)])
    return decision_landscape(_ckpt, layer, _fmap.projector, extent, grid=70)


def render() -> None:
    st.title("Landscape")
    st.caption("Hills are regions where the model's states for one sub-context gather; the decision landscape "
               "shows where on the plane the model would send the next word; the loss landscape shows the "
               "training loss around the trained weights.")
    shared = st.session_state.get("shared_prompt")
    urlstate.restore({**DEFAULTS, "land_prompt": shared or DEFAULTS["land_prompt"]})
    if shared and shared != st.session_state.get("_land_seen"):  # follow the prompt last typed on Trajectory
        st.session_state.land_prompt = st.session_state._land_seen = shared
    ckpt = checkpoint_or_error()
    if ckpt is None:
        return
    c1, c2 = st.columns([3, 2])
    prompt = c1.text_input("Prompt drawn on the landscapes", key="land_prompt", max_chars=2000)
    layer_names = ["embed"] + [f"block {i + 1}" for i in range(ckpt.model.config.n_layer)] + ["final"]
    if st.session_state.get("land_layer") not in layer_names:
        st.session_state.land_layer = "final"
    layer = c2.select_slider("Layer", layer_names, key="land_layer")
    try:
        trace = get_trace(ckpt.content_hash, prompt, SamplingConfig(), ckpt)
    except PromptError as e:
        st.error(escape_md(str(e)))
        return
    for notice in trace.notices:
        st.warning(escape_md(notice))
    depth = layer_names.index(layer)
    fmap = get_map(ckpt.content_hash, f"context:{layer}", "pca", 2, ckpt)
    names = ckpt.context_matrix()[0]
    colours = figures.context_colours(names)
    regions = get_regions(ckpt.content_hash, f"context:{layer}", "pca", tuple(names), fmap)
    path = frames.trajectory_frame(trace, fmap, depth)
    path["z"] = regions.lift(path[["x", "y"]].to_numpy())
    terrain = figures.terrain_figure(regions, colours, path, ink=ink())
    st.plotly_chart(terrain, key="terrain")
    figure_html(terrain, "terrain", "Terrain (standalone HTML)")
    d = _decision(ckpt.content_hash, layer, ckpt, fmap)
    decision = figures.decision_figure(d, ckpt.tokenizer.vocab, colours, path, ink=ink())
    st.plotly_chart(decision, key="decision")
    figure_html(decision, "decision_landscape", "Decision landscape (standalone HTML)")
    st.caption(f"The decision landscape is a slice: each point of the plane is mapped back to the model's "
               f"{ckpt.model.config.n_embd}-dimensional space by the PCA inverse, which keeps "
               f"{d.explained_variance:.0%} of how its states vary, then read out through the final norm and head.")
    lands = ckpt.loss_landscapes()
    if not lands:
        st.info("This checkpoint has no loss landscape (it is computed at the end of `llmcore train`).")
        return
    cols = st.columns(len(lands))
    for col, kind in zip(cols, sorted(lands, reverse=True)):
        fig = figures.loss_figure(lands[kind])
        col.plotly_chart(fig, key=f"loss_{kind}")
        figure_html(fig, f"loss_landscape_{kind}", container=col)
    urlstate.publish(list(DEFAULTS))
