"""Trajectory page: type a prompt, watch each generation step's state move across the sub-context map."""

from __future__ import annotations

import streamlit as st

from dashboard import figures, frames
from dashboard.state import current_checkpoint, get_map
from dashboard.text import escape_md
from llmcore.checkpoint import CheckpointError
from llmcore.trace import MAX_NEW_WORDS, PromptError, SamplingConfig, trace_generation

EXAMPLES = {
    "a dog devours pizza in": "held out: the model never saw a dog with pizza",
    "a cat eats sausage in": "seen in training",
    "a cow munches": "what does a cow eat?",
    "the pharaohs admired": "history facts",
    "an otter": "open ended",
    "a bear": "open ended",
}


def sampling_controls() -> SamplingConfig:
    """Sidebar widgets for the sampling settings; raises PromptError on impossible values."""
    with st.sidebar:
        st.subheader("Sampling")
        mode = st.radio("Choose the next word by", ["greedy (most likely)", "sampling"], key="mode")
        greedy = mode.startswith("greedy")
        temperature = st.slider("temperature", 0.05, 2.0, 1.0, 0.05, disabled=greedy, key="temperature")
        top_k = st.number_input("top-k (0 = off)", 0, 200, 0, key="top_k", disabled=greedy)
        top_p = st.slider("top-p", 0.05, 1.0, 1.0, 0.05, disabled=greedy, key="top_p")
        seed = st.number_input("seed", 0, 2**31 - 1, 0, key="seed", disabled=greedy)
        limit = st.slider("word limit", 1, MAX_NEW_WORDS, 12, key="limit")
    return SamplingConfig(temperature=0.0 if greedy else float(temperature), top_k=int(top_k) or None,
                          top_p=float(top_p), seed=int(seed), max_new_words=int(limit))


def _use_example() -> None:
    st.session_state.prompt = st.session_state.example


def prompt_input() -> str:
    st.session_state.setdefault("prompt", next(iter(EXAMPLES)))
    st.selectbox("Example prompts", list(EXAMPLES), key="example", on_change=_use_example,
                 format_func=lambda p: f"{p}  ({EXAMPLES[p]})")
    return st.text_input("Prompt", key="prompt", max_chars=2000,
                         help="Words of the model's world; unknown words are read as <unk>.")


def show_completion(trace) -> None:
    prompt = " ".join(trace.prompt_words)
    sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    steps = " ".join(f"{escape_md(w)}{str(i + 1).translate(sub)}" for i, w in enumerate(trace.generated_words))
    st.markdown(f"#### {escape_md(prompt)} → **{steps}**")
    st.caption(f"{trace.n_steps} steps, stopped at the {trace.stop_reason}. Numbers are step numbers.")


def render() -> None:
    st.title("Trajectory")
    st.caption("The model completes a prompt word by word. Each dot is the model's internal state after reading "
               "a word, placed on a map of states from its training world and coloured by sub-context.")
    try:
        ckpt = current_checkpoint()
    except CheckpointError as e:
        st.error(f"The model could not be loaded: {escape_md(str(e))}")
        st.info("Retrain the bundled model with `make train-default`, or point LLM_LANDSCAPE_CHECKPOINT at a "
                "checkpoint folder.")
        return
    prompt = prompt_input()
    try:
        sampling = sampling_controls()
        trace = trace_generation(ckpt, prompt, sampling)
    except PromptError as e:
        st.error(escape_md(str(e)))
        return
    for notice in trace.notices:
        st.warning(escape_md(notice))
    show_completion(trace)
    depth_names = trace.layer_names
    layer = st.select_slider("Layer shown on the map", depth_names, value=depth_names[-1], key="layer")
    depth = depth_names.index(layer)
    cmap = get_map(ckpt.content_hash, f"context:{layer}", "pca", 2, ckpt)
    colours = figures.context_colours(trace.context_names)
    path = frames.trajectory_frame(trace, cmap, depth)
    title = (f"States at '{layer}' — PCA of {len(cmap.coords):,} corpus positions "
             f"({cmap.quality.explained_variance:.0%} of variance shown, "
             f"trustworthiness {cmap.quality.trustworthiness:.2f})")
    st.plotly_chart(figures.trajectory_map(frames.reference_frame(cmap), path, colours, title), key="map")
    st.plotly_chart(figures.context_probs_chart(frames.context_probs_frame(trace), colours), key="contexts")
    st.dataframe(frames.steps_table(trace), hide_index=True)
