"""Compare page: two prompts, two sampling settings or two checkpoints side by side on one map."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import figures, frames, urlstate
from dashboard.downloads import figure_html
from dashboard.state import (
    available_checkpoints,
    checkpoint_at,
    checkpoint_label,
    checkpoint_or_error,
    get_map,
    get_map_book,
    get_trace,
)
from dashboard.text import escape_md
from llmcore.checkpoint import CheckpointError
from llmcore.trace import PromptError, SamplingConfig

DEFAULTS = {"cmp_a": "a dog devours pizza in", "cmp_b": "a cow munches", "cmp_temp_a": 0.0, "cmp_temp_b": 0.0,
            "cmp_seed_a": 0, "cmp_seed_b": 1}
SIDE_COLOURS = ("#0072B2", "#D55E00")


def side(col, label: str, key: str, temp_key: str, seed_key: str, ckpt_paths: list[str]):
    """Widgets of one side: checkpoint, prompt, temperature (0 = greedy), seed."""
    col.markdown(f"**{label}**")
    if st.session_state.get(f"{key}_ckpt") not in ckpt_paths:  # start from the model picked in the sidebar
        st.session_state[f"{key}_ckpt"] = st.session_state.get("checkpoint", ckpt_paths[0])
    ck = col.selectbox("Model", ckpt_paths, key=f"{key}_ckpt", format_func=checkpoint_label)
    prompt = col.text_input("Prompt", key=key, max_chars=2000)
    temp = col.slider("temperature (0 = greedy)", 0.0, 2.0, step=0.1, key=temp_key)
    seed = col.number_input("seed", 0, 2**31 - 1, key=seed_key, disabled=temp == 0,
                            help="used when sampling (temperature above 0)")
    return ck, prompt, SamplingConfig(temperature=float(temp), seed=int(seed))


def render() -> None:
    st.title("Compare")
    st.caption("Two runs on one map: different prompts, different sampling settings, or different models. The map "
               "is the left model's final-layer PCA; the right model's states are placed on it when both models "
               "share a width, after aligning their spaces on the same reference sentences.")
    urlstate.restore_with_notice(DEFAULTS, {"cmp_temp_a": (0.0, 2.0), "cmp_temp_b": (0.0, 2.0),
                                          "cmp_seed_a": (0, 2**31 - 1), "cmp_seed_b": (0, 2**31 - 1)})
    base = checkpoint_or_error()
    if base is None:
        return
    paths = [str(p) for p in available_checkpoints()]
    left, right = st.columns(2)
    runs = [side(left, "Left", "cmp_a", "cmp_temp_a", "cmp_seed_a", paths),
            side(right, "Right", "cmp_b", "cmp_temp_b", "cmp_seed_b", paths)]
    traces, ckpts = [], []
    for (path, prompt, sampling), col in zip(runs, (left, right)):
        try:
            ck = checkpoint_at(Path(path))
        except CheckpointError as e:
            col.error(escape_md(str(e)))
            return
        try:
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
    fmap = get_map(ckpts[0].content_hash, "context:final", "pca", 2, ckpts[0])
    paths = [frames.trajectory_frame(traces[0], fmap, -1) if traces[0] else None,
             aligned_path(ckpts, traces[1], fmap) if traces[1] else None]
    if traces[1] and paths[1] is None:
        st.warning("The two models differ in width or in their world, so their states cannot share one map.")
    drawn = [(name, colour, p) for name, colour, p in zip(("left", "right"), SIDE_COLOURS, paths) if p is not None]
    if drawn:
        fig = compare_figure(fmap, drawn, figures.context_colours(base.context_matrix()[0]))
        st.plotly_chart(fig, key="compare_map")
        figure_html(fig, "compare_map")
    table = pd.DataFrame({"step": range(1, max(t.n_steps for t in traces if t) + 1)})
    for name, t in zip(("left", "right"), traces):
        words = t.generated_words if t else []
        table[name] = pd.Series([f"{w} ({t.dominant_context(s)})" for s, w in enumerate(words)], dtype=object)
    st.dataframe(table.fillna(""), hide_index=True)
    st.caption("Each cell: the word taken at that step and, in brackets, the sub-context that held most of the "
               "probability for that next word.")
    urlstate.publish(list(DEFAULTS))


def compare_figure(fmap, drawn: list[tuple[str, str, pd.DataFrame]], colours: dict[str, str]) -> go.Figure:
    """The reference map with each run's path in its side's colour, labelled alike (word → next word)."""
    (name, colour, first), rest = drawn[0], drawn[1:]
    fig = figures.trajectory_map(frames.reference_frame(fmap), first, colours,
                                 "Both runs on the left model's final-layer map", fmap.axis_label)
    fig.data[-1].name, fig.data[-1].line.color, fig.data[-1].marker.color = name, colour, colour
    fig.frames, fig.layout.updatemenus = (), ()
    for name, colour, path in rest:
        fig.add_trace(go.Scatter(x=path.x, y=path.y, mode="lines+markers+text", name=name,
                                 text=figures.path_labels(path), textposition="bottom center",
                                 line=dict(color=colour, width=2, dash="dash"),
                                 marker=dict(color=colour, size=10)))
    return fig


def aligned_path(ckpts, trace, fmap) -> pd.DataFrame | None:
    """The right run's path on the left model's map; another model's space is first rotated onto the left's."""
    if ckpts[1] is ckpts[0]:
        return frames.trajectory_frame(trace, fmap, -1)
    if ckpts[1].model.config.n_embd != ckpts[0].model.config.n_embd:
        return None
    from llmcore.alignment import procrustes_map

    a, b = (get_map_book(ck.content_hash, ck).states for ck in ckpts)  # cached: not recomputed per rerun
    if len(a.words) != len(b.words) or not np.array_equal(a.words, b.words):
        return None  # other worlds: no shared reference sentences to align the spaces on
    rot = procrustes_map(b.layer("final"), a.layer("final"))
    return frames.trajectory_frame(trace, SimpleNamespace(place=lambda states: fmap.place(rot(states))), -1)
