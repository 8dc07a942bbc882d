"""Compare page: two prompts, two sampling settings or two checkpoints side by side on one map."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from dashboard import chart, classroom, frames, urlstate
from dashboard.downloads import figure_html
from dashboard.figures import maps as map_figures
from dashboard.figures import theme
from dashboard.state import (
    METHOD_NAMES,
    available_checkpoints,
    checkpoint_at,
    checkpoint_label,
    checkpoint_or_error,
    get_alignment,
    get_trace,
    map_progress,
    map_when_ready,
)
from dashboard.text import escape_md
from llmcore.analysis.trace import PromptError, SamplingConfig
from llmcore.maps.alignment import AlignedMap
from llmcore.maps.methods import method_names
from llmcore.model.checkpoint import CheckpointError
from llmcore.model.depths import FINAL, depth_labels

if TYPE_CHECKING:
    from streamlit.delta_generator import DeltaGenerator

    from llmcore.analysis.trace import GenerationTrace
    from llmcore.maps.store import FittedMap
    from llmcore.model.checkpoint import Checkpoint

DEFAULTS = {"cmp_a": "a dog devours pizza in", "cmp_b": "a cow munches", "cmp_temp_a": 0.0, "cmp_temp_b": 0.0,
            "cmp_seed_a": 0, "cmp_seed_b": 1, "cmp_layer": FINAL, "cmp_method": "pca"}
MAP_METHODS = list(method_names(needs_labels=False))  # the maps of any two models' states
SIDE_COLOURS = ("#0072B2", "#D55E00")


def side(col: DeltaGenerator, label: str, suffix: str, ckpt_paths: list[str]) -> tuple[str, str, SamplingConfig]:
    """Widgets of one side (keys cmp_<suffix>, cmp_temp_<suffix>, cmp_seed_<suffix>, cmp_<suffix>_ckpt):
    checkpoint, prompt, temperature (0 = greedy), seed."""
    key, temp_key, seed_key = f"cmp_{suffix}", f"cmp_temp_{suffix}", f"cmp_seed_{suffix}"
    col.markdown(f"**{label}**")
    if st.session_state.get(f"{key}_ckpt") not in ckpt_paths:  # start from the model picked in the sidebar
        st.session_state[f"{key}_ckpt"] = st.session_state.get("checkpoint", ckpt_paths[0])
    ck = col.selectbox(f"{label} model", ckpt_paths, key=f"{key}_ckpt", format_func=checkpoint_label)
    prompt = col.text_input("Prompt", key=key, max_chars=2000)
    temp = col.slider("temperature (0 = greedy)", 0.0, 2.0, step=0.1, key=temp_key)
    seed = col.number_input("seed", 0, 2**31 - 1, key=seed_key, disabled=temp == 0,
                            help="used when sampling (temperature above 0)")
    return ck, prompt, SamplingConfig(temperature=float(temp), seed=int(seed))


def render() -> None:
    st.title("Compare")
    st.caption("Two runs on one map: different prompts, different sampling settings, or different models. The map "
               "is the left model's, at the depth and with the method chosen below; another model's states are first "
               "taken into the left model's space, aligned on the sentences both models can read.")
    urlstate.restore_with_notice(DEFAULTS, {"cmp_temp_a": (0.0, 2.0), "cmp_temp_b": (0.0, 2.0),
                                          "cmp_seed_a": (0, 2**31 - 1), "cmp_seed_b": (0, 2**31 - 1),
                                          "cmp_method": MAP_METHODS})
    base = checkpoint_or_error()
    if base is None:
        return
    paths = [str(p) for p in available_checkpoints()]
    left, right = st.columns(2)
    runs = [side(left, "Left", "a", paths), side(right, "Right", "b", paths)]
    traces, ckpts = [], []
    for (path, prompt, sampling), col in zip(runs, (left, right)):
        try:
            ck = checkpoint_at(Path(path))
        except CheckpointError as e:
            col.error(escape_md(str(e)))
            return
        try:
            classroom.check_prompt(prompt, key=(path, prompt, sampling))
            t = get_trace(ck.content_hash, prompt, sampling, ck)
            col.markdown(f"{escape_md(' '.join(t.prompt_words))} → **{escape_md(t.completion)}**")
            for notice in t.notices:
                col.warning(escape_md(notice))
        except PromptError as e:  # the other side is still drawn
            col.error(escape_md(str(e)))
            t = None
        traces.append(t)
        ckpts.append(ck)
    if traces == [None, None]:
        return
    layer, method = map_controls(ckpts)
    fmap, job = map_when_ready(ckpts[0].content_hash, f"context:{layer}", method, 2, ckpt=ckpts[0])
    if job is not None:
        map_progress(job)
    paths = [frames.trajectory_frame(traces[0], fmap, traces[0].layer_names.index(layer)) if traces[0] else None,
             right_path(ckpts, traces[1], fmap, layer) if traces[1] else None]
    drawn = [(name, colour, p) for name, colour, p in zip(("left", "right"), SIDE_COLOURS, paths) if p is not None]
    if drawn:
        title = f"Both runs on the left model's {METHOD_NAMES[fmap.method]} map at '{layer}'"
        colours = theme.context_colours(base.context_matrix()[0])
        fig = map_figures.compare_map(frames.reference_frame(fmap), drawn, colours, title, axis_label=fmap.axis_label)
        chart.show(fig, key="compare_map")
        figure_html(fig, "compare_map")
    st.dataframe(frames.compare_steps_frame(dict(zip(("left", "right"), traces))), hide_index=True)
    st.caption("One row per word read, prompt and completion alike. Each cell: the word read → the word that "
               "followed it (✎: generated by the model; otherwise the prompt's own next word) and, in brackets, "
               "the kind of word the model expected next there (the sub-context its next-word probabilities "
               "favoured: the 'next' reading).")
    urlstate.publish(list(DEFAULTS))


def map_controls(ckpts: Sequence[Checkpoint]) -> tuple[str, str]:
    """Depth (those both models have) and map method of the shared map."""
    theirs = [depth_labels(ck.model.config.n_layer) for ck in ckpts]
    shared = [n for n in theirs[0] if n in theirs[1]]
    if st.session_state.get("cmp_layer") not in shared:
        st.session_state.cmp_layer = FINAL
    c1, c2 = st.columns([3, 1])
    layer = c1.select_slider("Depth of the map (both models)", shared, key="cmp_layer")
    method = c2.selectbox("Map", MAP_METHODS, key="cmp_method", format_func=METHOD_NAMES.get)
    return layer, method


def right_path(ckpts: Sequence[Checkpoint], trace: GenerationTrace, fmap: FittedMap,
               layer: str) -> pd.DataFrame | None:
    """The right run's path on the left model's map; another model's states are aligned onto the left's first,
    and the page says on how much text and how well."""
    depth = trace.layer_names.index(layer)
    if ckpts[1] is ckpts[0]:
        return frames.trajectory_frame(trace, fmap, depth)
    try:
        al = get_alignment(ckpts[1].content_hash, ckpts[0].content_hash, layer, _source=ckpts[1], _target=ckpts[0])
    except ValueError as e:
        st.warning(f"The right model's path cannot be drawn on the left model's map: {escape_md(str(e))}.")
        return None
    how = ("Procrustes (a rotation and one scale; both are "
           f"{ckpts[0].model.config.n_embd} wide)" if al.method == "procrustes" else
           f"CCA (widths {ckpts[1].model.config.n_embd} and {ckpts[0].model.config.n_embd} differ)")
    st.caption(f"The right model's states at '{layer}' are taken into the left model's space by {how}, fitted on "
               f"{al.n_pairs:,} states of {al.n_words} shared words in {al.n_sentences} sentences both models can "
               f"read. Residual on held-back sentences: {al.residual:.2f} (0 = exact, 1 = no better than the left "
               "model's average state).")
    return frames.trajectory_frame(trace, AlignedMap(fmap, al), depth)
