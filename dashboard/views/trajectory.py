"""Trajectory page: type a prompt, watch each generation step's state move across the sub-context map."""

from __future__ import annotations

import json

import streamlit as st

from dashboard import figures, frames, urlstate
from dashboard.downloads import figure_html
from dashboard.state import (
    METHOD_NAMES,
    checkpoint_or_error,
    get_map,
    get_map_book,
    get_regions,
    get_trace,
    ink,
    regions_of_states,
)
from dashboard.text import escape_md
from llmcore.trace import MAX_NEW_WORDS, PromptError, SamplingConfig, candidate_states

SEED_PROMPT = "a dog devours pizza in"
EXAMPLES = {
    SEED_PROMPT: "held out: the model never saw a dog with pizza",
    "two hungry dogs devour pizza on the": "held out too, in the plural with an adjective",
    "a cat eats sausage at": "seen in training",
    "a cow munches": "what does a cow eat?",
    "cats drink": "plural subject, plural verb",
    "the egyptian pharaohs admired the": "history facts",
    "my cat sleeps on the": "things an animal sleeps on",
    "an otter": "open ended",
    "a bear": "open ended",
}
METHODS = {k: METHOD_NAMES[k] for k in ("pca", "umap", "tsne")}  # learned maps: no custom axes for states
DEFAULTS = {"prompt": SEED_PROMPT, "mode": "greedy", "temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": 0,
            "limit": 12, "method": "pca", "dims": 2, "layer": "final", "step": 1, "layers": False}
ALLOWED = {"mode": ("greedy", "sample"), "temperature": (0.05, 2.0), "top_k": (0, 2**31 - 1),
           "top_p": (0.05, 1.0), "seed": (0, 2**53 - 1), "limit": (1, MAX_NEW_WORDS), "method": tuple(METHODS),
           "dims": (2, 3), "step": (1, MAX_NEW_WORDS)}


def sampling_controls() -> SamplingConfig:
    """Sidebar widgets for the sampling settings; raises PromptError on impossible values."""
    with st.sidebar:
        st.subheader("Sampling")
        mode = st.radio("Choose the next word by", ["greedy", "sample"], key="mode", horizontal=True,
                        help="greedy: always the most likely word; sample: draw from the distribution")
        greedy = mode == "greedy"
        temperature = st.slider("temperature", 0.05, 2.0, step=0.05, disabled=greedy, key="temperature")
        # no bounds on the number boxes: a value out of range is reported by SamplingConfig instead of ignored
        top_k = st.number_input("top-k (0 = off)", step=1, key="top_k", disabled=greedy,
                                help="sample only from the k most likely words")
        top_p = st.slider("top-p", 0.05, 1.0, step=0.05, disabled=greedy, key="top_p")
        seed = st.number_input("seed", step=1, key="seed", disabled=greedy,
                               help="a whole number from 0; the same seed gives the same completion")
        limit = st.slider("word limit", 1, MAX_NEW_WORDS, key="limit")
    if greedy:  # the sampling boxes are disabled and do not apply, so a bad value left in them cannot block greedy
        return SamplingConfig(max_new_words=int(limit))
    return SamplingConfig(temperature=float(temperature), top_k=None if top_k == 0 else int(top_k),
                          top_p=float(top_p), seed=int(seed), max_new_words=int(limit))


def _use_example() -> None:
    st.session_state.prompt = st.session_state.example


def _forget_example() -> None:
    """Typing a prompt of one's own clears the example box, so it never names a prompt that is not shown."""
    if st.session_state.get("example") != st.session_state.prompt:
        st.session_state.example = None


def prompt_input() -> str:
    st.selectbox("Example prompts", list(EXAMPLES), key="example", on_change=_use_example, index=None,
                 placeholder="Pick an example…", format_func=lambda p: f"{p}  ({EXAMPLES[p]})")
    return st.text_input("Prompt", key="prompt", max_chars=2000, on_change=_forget_example,
                         help="Words of the model's world; unknown words are read as <unk>.")


def show_completion(trace, held_out: list[tuple[str, str]]) -> None:
    prompt = " ".join(trace.prompt_words)
    sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    steps = " ".join(f"{escape_md(w)}{str(i + 1).translate(sub)}" for i, w in enumerate(trace.generated_words))
    st.markdown(f"#### {escape_md(prompt)} → **{steps}**")
    held = [f"{a} + {b}" for a, b in held_out if a in trace.prompt_words and b in trace.prompt_words]
    count = f"{trace.n_steps} step" + ("s" if trace.n_steps != 1 else "")
    st.caption(f"{count}, stopped at the {trace.stop_reason}. Numbers are step numbers."
               + (f" The prompt holds a held-out pair ({', '.join(held)}): the model never saw these words in one "
                  "training sentence." if held else ""))


def map_controls(layer_names: list[str]) -> tuple[str, int, str]:
    c1, c2, c3 = st.columns([1, 1, 3])
    method = c1.selectbox("Map", list(METHODS), format_func=METHODS.get, key="method")
    dims = c2.radio("View", [2, 3], format_func=lambda d: f"{d}D", key="dims", horizontal=True)
    if st.session_state.get("layer") not in layer_names:
        st.session_state.layer = layer_names[-1]
    layer = c3.select_slider("Layer shown on the map", layer_names, key="layer")
    return method, dims, layer


def render() -> None:
    st.title("Trajectory")
    st.caption("The model completes a prompt word by word. Each dot is the model's internal state after reading "
               "a word, placed on a map of states from its training world and coloured by sub-context.")
    urlstate.restore_with_notice(DEFAULTS, ALLOWED)
    ckpt = checkpoint_or_error()
    if ckpt is None:
        return
    prompt = prompt_input()
    st.session_state.shared_prompt = prompt  # the Landscape page draws the same prompt
    try:
        sampling = sampling_controls()
        trace = get_trace(ckpt.content_hash, prompt, sampling, ckpt)
    except PromptError as e:
        st.error(escape_md(str(e)))
        urlstate.publish(list(DEFAULTS))  # a link to this page opens the same prompt
        return
    for notice in trace.notices:
        st.warning(escape_md(notice))
    show_completion(trace, ckpt.held_out)
    method, dims, layer = map_controls(trace.layer_names)
    st.session_state.step = min(max(int(st.session_state.get("step", 1)), 1), trace.n_steps)
    step = st.slider("Step", 1, max(trace.n_steps, 2), key="step", disabled=trace.n_steps < 2,
                     help="The step whose candidates, caption, layers and attention are shown") if trace.n_steps > 1 \
        else 1
    draw(ckpt, trace, method, dims, layer, step)
    urlstate.publish(list(DEFAULTS))


def draw(ckpt, trace, method: str, dims: int, layer: str, step: int) -> None:
    depth = trace.layer_names.index(layer)
    fmap = get_map(ckpt.content_hash, f"context:{layer}", method, dims, ckpt)
    colours = figures.context_colours(trace.context_names)
    regions = get_regions(ckpt.content_hash, f"context:{layer}", method, tuple(trace.context_names), fmap) \
        if dims == 2 else None
    path = frames.trajectory_frame(trace, fmap, depth)
    words, probs, states = candidate_states(ckpt, trace, step - 1)
    cands = frames.candidates_frame(words, probs, fmap.place(states[:, depth]))
    show_layers = st.toggle("Show the step's path through the layers (embedding → blocks → final) on this map",
                            key="layers")
    layers = frames.layer_path_frame(trace, step - 1, fmap) if show_layers else None
    q = fmap.quality
    faith = (f"{q.explained_variance:.0%} of variance shown, " if q.explained_variance is not None else "") + \
        f"trustworthiness {q.trustworthiness:.2f}, {q.knn_preservation:.0%} of 10 nearest neighbours kept"
    title = f"States at '{layer}' — {METHODS[method]} of {len(fmap.coords):,} corpus positions ({faith})"
    fig = figures.trajectory_map(frames.reference_frame(fmap), path, colours, title, fmap.axis_label, regions, cands,
                                 layers, step, ink=ink())
    st.plotly_chart(fig, key="map")
    book = get_map_book(ckpt.content_hash, ckpt)
    where, how_sure = regions_of_states(ckpt.content_hash, layer, book, trace.hidden[:, depth])
    captions = frames.step_captions(trace, where, how_sure)
    st.info(escape_md(captions[step - 1]))
    st.plotly_chart(figures.context_probs_chart(frames.context_probs_frame(trace), colours), key="contexts")
    with st.expander("Every step in words", expanded=False):
        for c in captions:
            st.markdown(f"- {escape_md(c)}")
    context_of = {w: ckpt.world.label(w)[0] for w in ckpt.tokenizer.vocab}
    lw, lc, lp = frames.lens_grid(trace, context_of)
    labels = [f"{i + 1}: {w}" for i, w in enumerate(trace.generated_words)]
    st.plotly_chart(figures.lens_heatmap(lw, lc, lp, trace.layer_names, labels, colours), key="lens")
    keys = frames.attention_keys(trace, step - 1)
    att = trace.attention[step - 1, :, :, : len(keys)]
    st.plotly_chart(figures.attention_heatmaps(att, keys, f"Attention at step {step} (choosing "
                                               f"'{trace.generated_words[step - 1]}')"), key="attention")
    st.dataframe(frames.steps_table(trace), hide_index=True)
    downloads(trace, path, fig)


MAX_SCENARIO_BYTES = 64_000


def scenario_from_json(raw: bytes) -> dict:
    """A saved view, checked key by key against the page's settings; raises ValueError naming the problem."""
    if len(raw) > MAX_SCENARIO_BYTES:
        raise ValueError(f"the scenario file is larger than {MAX_SCENARIO_BYTES:,} bytes")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"the scenario file is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError("a scenario must be a JSON object of settings")
    out = {}
    for key, value in data.items():
        if key not in DEFAULTS:
            raise ValueError(f"unknown setting {key!r} in the scenario; known: {', '.join(DEFAULTS)}")
        kind = type(DEFAULTS[key])
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"setting {key!r} must be a {kind.__name__}, got {value!r}")
        out[key] = value
    return out


def _load_scenario() -> None:
    file = st.session_state.get("scenario_file")
    if file is None:
        return
    try:
        st.session_state.update(scenario_from_json(file.getvalue()))
        st.session_state.scenario_error = ""
    except ValueError as e:
        st.session_state.scenario_error = str(e)


def scenarios() -> None:
    """Save the current view as JSON, or load one saved earlier."""
    with st.expander("Scenarios: save or load this view as JSON"):
        view = {k: st.session_state.get(k, v) for k, v in DEFAULTS.items()}
        st.download_button("Save scenario (JSON)", json.dumps(view, indent=1), "scenario.json", "application/json",
                           on_click="ignore")
        st.file_uploader(f"Load a scenario (JSON, at most {MAX_SCENARIO_BYTES // 1000} kB)", type=["json"],
                         key="scenario_file", on_change=_load_scenario, max_upload_size=1)
        if st.session_state.get("scenario_error"):
            st.error(escape_md(st.session_state.scenario_error))


def downloads(trace, path, fig) -> None:
    scenarios()
    c1, c2, c3 = st.columns(3)
    c1.download_button("Trajectory (CSV)", lambda: path.to_csv(index=False), "trajectory.csv", "text/csv",
                       on_click="ignore")
    c2.download_button("Trace (JSON)", lambda: json.dumps(trace.summary(), indent=1), "trace.json",
                       "application/json", on_click="ignore")
    figure_html(fig, "trajectory_map", "Map (standalone HTML)", container=c3)
