"""Trajectory page: type a prompt, watch each generation step's state move across the sub-context map.
A little over 400 lines on purpose: it is the home page, and its prompt, step and lens controls sit beside the
captions they drive (figures in dashboard/figures/maps.py, data in dashboard/frames.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from dashboard import chart, classroom, frames, glossary, urlstate
from dashboard.downloads import figure_html
from dashboard.figures import maps as map_figures
from dashboard.figures import theme
from dashboard.state import (
    METHOD_NAMES,
    checkpoint_or_error,
    contexts_of_words,
    get_best_view,
    get_corpus_check,
    get_default_trace,
    get_lens_readings,
    get_map_base,
    get_regions,
    get_trace,
    map_progress,
    map_when_ready,
    theme_ink,
)
from dashboard.text import count, escape_md
from llmcore.analysis.lens import LensError
from llmcore.analysis.trace import MAX_NEW_WORDS, MAX_PROMPT_CHARS, PromptError, SamplingConfig, candidate_states
from llmcore.maps.methods import method_names
from llmcore.model.checkpoint import FEATURES
from llmcore.model.depths import FINAL

if TYPE_CHECKING:
    import pandas as pd
    import plotly.graph_objects as go

    from llmcore.analysis.lens import LensReadings
    from llmcore.analysis.trace import GenerationTrace
    from llmcore.maps.store import FittedMap
    from llmcore.maps.tracecache import Candidates
    from llmcore.model.checkpoint import Checkpoint

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
METHODS = {k: METHOD_NAMES[k] for k in method_names(from_states=True)}  # learned maps: no custom axes here
READINGS = {"read": "read (word just read)", "next": "next (word expected)"}
LENSES = {"logit": "logit lens", "tuned": "tuned lens"}
# "method" and "layer" are replaced on each page run by the view measured when the maps were built
DEFAULTS = {"prompt": SEED_PROMPT, "mode": "greedy", "temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": 0,
            "limit": 12, "method": "lda", "dims": 2, "layer": FINAL, "step": len(SEED_PROMPT.split()), "layers": False,
            "reading": "read", "stars": 0.02, "lens_kind": "logit"}
STEP_VIEW_KEYS = ("method", "dims", "reading", "layer", "lens_kind", "step", "layers")  # widgets of step_view
ALLOWED = {"mode": ("greedy", "sample"), "temperature": (0.05, 2.0), "top_k": (0, 2**31 - 1),
           "top_p": (0.05, 1.0), "seed": (0, 2**53 - 1), "limit": (1, MAX_NEW_WORDS), "method": tuple(METHODS),
           "dims": (2, 3), "step": (1, MAX_NEW_WORDS + 10_000), "reading": tuple(READINGS), "stars": (0.0, 1.0),
           "lens_kind": tuple(LENSES)}


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


DEFAULT_SAMPLING = SamplingConfig(max_new_words=DEFAULTS["limit"])


def _is_default(prompt: str, sampling: SamplingConfig) -> bool:
    """The view a cold start opens: kept beside the maps with its candidates (state.get_default_trace)."""
    return prompt == DEFAULTS["prompt"] and sampling == DEFAULT_SAMPLING


def _use_example() -> None:
    st.session_state.prompt = st.session_state.example
    st.session_state._new_prompt = True


def _forget_example() -> None:
    """Typing a prompt of one's own clears the example box, so it never names a prompt that is not shown; the step
    then goes to the prompt's last word (set once its trace is known)."""
    st.session_state._new_prompt = True
    if st.session_state.get("example") != st.session_state.prompt:
        st.session_state.example = None


def prompt_input() -> str:
    st.selectbox("Example prompts", list(EXAMPLES), key="example", on_change=_use_example, index=None,
                 placeholder="Pick an example…", format_func=lambda p: f"{p}  ({EXAMPLES[p]})")
    return st.text_input("Prompt", key="prompt", max_chars=2000, on_change=_forget_example,
                         help="Words of the model's world; unknown words are read as <unk>.")


def first_why(ckpt: Checkpoint, trace: GenerationTrace) -> tuple[int, str] | None:
    """The first generated word the world explains (a place or a food), as (its 0-based step, why)."""
    return next(((i, why) for i in range(len(trace))
                 if (why := frames.why_this_word(trace, ckpt.world, i, ckpt.held_out))), None)


def show_completion(trace: GenerationTrace, pairs: list[str], why: tuple[int, str] | None = None) -> None:
    """The prompt and its completion with their step numbers, then, for each animal and food the prompt names
    together, how often the training sentences did (`pairs`: frames.pair_sentences), and why the model wrote the
    first word the world explains (`why`: first_why)."""
    prompt = " ".join(trace.prompt_words)
    sub = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
    P = len(trace.prompt_words)
    numbered = [f"{escape_md(w)}{str(i + 1).translate(sub)}" for i, w in enumerate(trace.prompt_words)]
    steps = " ".join(f"{escape_md(w)}{str(P + i + 1).translate(sub)}" for i, w in enumerate(trace.generated_words))
    st.markdown(f"#### {' '.join(numbered)} ┃ **{steps}**")
    st.caption(f"The prompt ({count(len(prompt.split()), 'word')}) ┃ the completion ({count(trace.n_steps, 'word')}, "
               f"stopped at the {trace.stop_reason}). Every word read is a step: step n is the state after reading "
               "word n.")
    for line in pairs:
        st.markdown(f"**Seen in training?** {escape_md(line)}")
    if why is not None:
        i, text = why
        st.markdown(f"**Why '{escape_md(trace.next_words[i])}'?** {escape_md(text)} Step {i + 1} below shows the "
                    "model's numbers for it.")


def map_controls(layer_names: list[str]) -> tuple[str, int, str, str]:
    c1, c2, c3 = st.columns([1.3, 0.8, 1.9])
    method = c1.selectbox("Map", list(METHODS), format_func=METHODS.get, key="method")
    dims = c2.radio("View", [2, 3], format_func=lambda d: f"{d}D", key="dims", horizontal=True)
    reading = c3.radio("Colours and regions", list(READINGS), format_func=READINGS.get, key="reading",
                       horizontal=True, help="read: the sub-context of the word just read; next: the sub-context "
                       "that the model's next-word distribution (its output, after the last block) puts most mass on: "
                       "the same colour at every depth shown; the lens below reads each depth on its own")
    if st.session_state.get("layer") not in layer_names:
        st.session_state.layer = layer_names[-1]
    layer = st.select_slider("Layer shown on the map", layer_names, key="layer")
    st.radio("Lens: how each depth's state is read as a next word", list(LENSES), format_func=LENSES.get,
             key="lens_kind", horizontal=True, help="logit lens: the state through the final norm and the output "
             "layer, as if the model stopped there; tuned lens: through a translator per depth first, fitted so each "
             "depth's reading matches the model's output. It sets the lens chart, the rings on the map (darker: the "
             "next word is settled at an earlier depth) and the step's caption")
    return method, dims, layer, reading


def _measured_defaults(ckpt: Checkpoint) -> dict:
    """The page's defaults with the map and layer that showed the story best when the maps were built."""
    view = get_best_view(ckpt.content_hash, ckpt)
    return {**DEFAULTS, "method": view.method, "layer": view.layer}


def render() -> None:
    st.title("Trajectory")
    st.caption("The model reads a prompt and completes it word by word. Each dot is the model's internal state "
               "after reading a word, placed on a map of states from its training world. Each dot can be coloured "
               "by the kind of word just read (**read**) or by the kind of word the model expects next (**next**).")
    ckpt = checkpoint_or_error()
    if ckpt is None:
        return
    glossary.show({**glossary.state_terms(ckpt), **glossary.map_terms(ckpt), **glossary.lens_terms(ckpt)})
    if "step" not in st.session_state and "prompt" in st.query_params and "step" not in st.query_params:
        st.session_state._new_prompt = True  # a link with a prompt and no step opens at the prompt's last word
    urlstate.restore_with_notice(_measured_defaults(ckpt), ALLOWED)
    try:
        sampling, problem = sampling_controls(), None
    except PromptError as e:
        sampling, problem = None, str(e)
    st.sidebar.slider("Candidate stars from probability", 0.0, 0.5, step=0.01, key="stars",
                      help="Stars show where the likeliest next words would take the state; only candidates at or "
                      "above this probability are drawn")
    # a new prompt reruns only this part: the sidebar and the page's head are not sent to the browser again
    st.fragment(lambda: prompt_view(ckpt, sampling, problem))()


def prompt_view(ckpt: Checkpoint, sampling: SamplingConfig | None, problem: str | None) -> None:
    """The prompt, its completion and everything that follows from it; `problem`: why the sidebar's sampling
    settings cannot be used (then `sampling` is None)."""
    # A run of this part that stopped at an error drew none of the step view's widgets, so the browser dropped them
    # and would draw them anew at their first options (the map then silently switching to those): their values are
    # handed to the widgets again, from session state, else from the URL.
    urlstate.restore(_measured_defaults(ckpt), ALLOWED)
    for key in STEP_VIEW_KEYS:
        st.session_state[key] = st.session_state[key]
    prompt = prompt_input()
    st.session_state.shared_prompt = prompt  # the Landscape page draws the same prompt
    try:
        if problem is not None:
            raise PromptError(problem)
        classroom.check_prompt(prompt, words=sampling.max_new_words, key=(prompt, sampling))
        kept = (get_default_trace(ckpt.content_hash, prompt, sampling, ckpt) if _is_default(prompt, sampling)
                else None)
        trace = kept[0] if kept else get_trace(ckpt.content_hash, prompt, sampling, ckpt)
    except PromptError as e:
        st.error(escape_md(str(e)))
        urlstate.publish(list(DEFAULTS))  # a link to this page opens the same prompt
        return
    for notice in trace.notices:
        st.warning(escape_md(notice))
    if st.session_state.pop("_new_prompt", False):  # a new prompt opens at its last word, where the model goes on
        st.session_state.step = max(trace.n_prompt, 1)
    pairs = frames.prompt_pairs(trace.prompt_words, ckpt.world)
    show_completion(trace, frames.pair_sentences(pairs, get_corpus_check(ckpt.content_hash, ckpt), ckpt.held_out)
                    if pairs else [], why=first_why(ckpt, trace))
    playing = bool(st.session_state.get("playing"))
    candidates = kept[1] if kept else None
    st.fragment(lambda: step_view(ckpt, trace, playing, candidates), run_every=PLAY_SECONDS if playing else None)()
    # download buttons live outside the step view: files made in a rerun of only that part are dropped at once
    if "_to_download" in st.session_state:
        downloads(trace, *st.session_state._to_download)
    urlstate.publish(list(DEFAULTS))


PLAY_SECONDS = 1.5


def step_view(ckpt: Checkpoint, trace: GenerationTrace, auto: bool, candidates: Candidates | None = None) -> None:
    """Everything that follows the selected step, rerun alone when a control in it changes. While playing
    (`auto`: rerun every PLAY_SECONDS), each run advances the step by one; Play, Pause and the end of the walk
    rerun the whole page, which starts or stops the timer."""
    n = len(trace)
    # the step being played is kept apart from the slider: a timer tick may carry the slider's older value
    if auto:
        st.session_state.step = st.session_state.get("play_pos", 1)
        if not st.session_state.get("playing"):
            st.rerun()  # paused or at the end: stop the timer
    step = min(max(int(st.session_state.get("step", 1)), 1), n)
    if st.session_state.get("playing"):
        step = step % n + 1
        st.session_state.playing = step < n
        st.session_state.play_pos = step
    st.session_state.step = step
    method, dims, layer, reading = map_controls(trace.layer_names)
    c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
    c1.slider("Step (one per word read)", 1, max(n, 2), key="step", disabled=n < 2,
              help="The step whose caption, candidates, layers and attention are shown")
    if c2.button("❚❚ Pause" if st.session_state.get("playing") else "▶ Play", key="play",
                 help="Advance the step every 1.5 s: the map's highlighted point, the caption, the stars and the "
                 "bars move together"):
        st.session_state.playing = not st.session_state.get("playing", False)
        st.rerun()
    show_step(ckpt, trace, method=method, dims=dims, layer=layer, step=min(st.session_state.step, n),
              reading=reading, candidates=candidates)
    urlstate.publish(list(DEFAULTS))


def faithfulness(fmap: FittedMap, method: str) -> str:
    """How faithful the map is, in plain words with its measures."""
    q = fmap.quality
    flat = "flat " if fmap.coords.shape[1] == 2 else ""
    text = (f"How faithful this {flat}picture is: of each state's {q.n_neighbors} nearest states in the model, "
            f"{q.knn_preservation:.0%} are also among its {q.n_neighbors} nearest here (trustworthiness "
            f"{q.trustworthiness:.2f}; 1 would mean no state looks near here that is far in the model)")
    if q.explained_variance is not None:
        text += f"; it shows {q.explained_variance:.0%} of how the states vary (explained variance)"
    if method == "lda":
        text += (". The axes were chosen to separate the sub-context labels (linear discriminant analysis), so the "
                 "groups look further apart than distances alone would show them")
    return text


def show_step(ckpt: Checkpoint, trace: GenerationTrace, *, method: str, dims: int, layer: str, step: int, reading: str,
              candidates: Candidates | None = None) -> None:
    """The map and the step's readings; `candidates`: every step's candidate states where they were kept with
    the trace (state.get_default_trace), else computed for the selected step.

    Everything is computed before the first of its elements is sent: the browser redraws the page for each burst
    of elements that arrives (at most every 10 ms), which costs it 15-35 ms each time on the 2-core machine, so
    elements sent in one burst are redrawn once."""
    depth = trace.layer_names.index(layer)
    fmap, job = map_when_ready(ckpt.content_hash, f"context:{layer}", method, dims, ckpt=ckpt)
    if job is not None:  # a new model's UMAP or t-SNE map: fitted in the background, PCA meanwhile
        map_progress(job)
        method = fmap.method
    show_layers = st.toggle("Show the step's path through the layers (embedding → blocks → final) on this map",
                            key="layers")
    colours, context_of = theme.context_colours(trace.context_names), contexts_of_words(ckpt)
    readings = lens_readings(ckpt, trace)
    path = frames.trajectory_frame(trace, fmap, depth, context_of, readings)
    fig = map_figure(ckpt, trace, fmap, path, method=method, dims=dims, layer=layer, step=step, reading=reading,
                     candidates=candidates, show_layers=show_layers)
    view = get_best_view(ckpt.content_hash, ckpt)
    best = (f" It opens first because it scored best of the maps at putting example states in their own word's "
            f"region ({view.score:.0%} of them here)." if (view.method, view.layer, 2) == (method, layer, dims)
            else "")  # measured on the 2D maps
    captions = step_sentences(ckpt, trace, context_of, readings)
    reads = [context_of.get(w, "") for w in trace.words]
    bars = map_figures.context_probs_chart(frames.context_probs_frame(trace), colours, reads, step)
    lens, depth_chart, attention, table = step_detail_figures(trace, step, context_of=context_of, colours=colours,
                                                              readings=readings)
    st.markdown(f"**States at '{escape_md(layer)}': {METHODS[method]} ({dims}D) of {len(fmap.coords):,} states the "
                "model had while reading its training sentences**")
    st.caption(f"{faithfulness(fmap, method)}.{best}")
    chart.show(fig, key="map")
    st.info(captions[step - 1])
    features_link(ckpt, trace, step, readings)
    chart.show(bars, key="contexts")
    with st.expander("Every step in words", expanded=False):  # one element: a new prompt re-renders less
        st.markdown("\n".join(f"- {c}" for c in captions))
    chart.show(lens, key="lens")
    chart.show(depth_chart, key="settled")
    chart.show(attention, key="attention")
    st.dataframe(table, hide_index=True)
    st.session_state._to_download = (path, fig)  # offered after the step view, outside its reruns


def features_link(ckpt: Checkpoint, trace: GenerationTrace, step: int, readings: LensReadings) -> None:
    """A link to the Features page at this step and the depth where its next word is settled, where the model has
    features and that page reads the same word at this step."""
    if ckpt.path is None or not (ckpt.path / FEATURES).is_file():
        return
    params = frames.features_link(trace, step, readings, prompt=st.session_state.get("prompt", ""),
                                  depths=trace.layer_names, page_words=SamplingConfig().max_new_words)
    if params is None:
        return
    depth, word = params.get("f_depth"), escape_md(trace.words[step - 1])
    urlstate.page_link("features", f"Features of '{word}'" + (f" at {depth}" if depth else ""), params,
                       help=f"The Features page at step {step}: the features and world traits its state "
                       "carries" + (f", from {depth}, where its next word is settled" if depth else ""))


def step_sentences(ckpt: Checkpoint, trace: GenerationTrace, context_of: dict[str, str],
                   readings: LensReadings | None = None) -> list[str]:
    """Each word step's caption as Markdown (with where its next word is settled, by the chosen lens's
    `readings`), then, where the model named a place or a food, why, from the world."""
    whys = [frames.why_this_word(trace, ckpt.world, i, ckpt.held_out) for i in range(len(trace))]
    return [escape_md(c) + (f"  \n**Why this word:** {escape_md(w)}" if w else "")
            for c, w in zip(frames.step_captions(trace, context_of, readings=readings), whys)]


def lens_readings(ckpt: Checkpoint, trace: GenerationTrace) -> LensReadings:
    """The chosen lens's readings of the trace (the radio under the layer slider); a tuned lens that cannot be
    had (its file cannot be written, a file in its place is not ours) is said, and the logit lens shown."""
    try:
        return get_lens_readings(ckpt.content_hash, trace.text + json.dumps(trace.sampling, sort_keys=True),
                                 st.session_state.get("lens_kind", "logit"), _trace=trace, _ckpt=ckpt)
    except LensError as e:
        st.warning(f"The tuned lens cannot be used, so the logit lens is shown: {escape_md(str(e))}")
        return get_lens_readings(ckpt.content_hash, trace.text + json.dumps(trace.sampling, sort_keys=True),
                                 "logit", _trace=trace, _ckpt=ckpt)


def map_figure(ckpt: Checkpoint, trace: GenerationTrace, fmap: FittedMap, path: pd.DataFrame, *, method: str, dims: int,
               layer: str, step: int, reading: str, candidates: Candidates | None, show_layers: bool) -> go.Figure:
    """The map of one step: reference states, regions (2D), the path, the step's candidate stars above the
    sidebar's threshold and, if asked, its path through the layers."""
    depth = trace.layer_names.index(layer)
    colours = theme.context_colours(trace.context_names)
    regions = get_regions(ckpt.content_hash, f"context:{layer}", method, tuple(trace.context_names), _fitted=fmap,
                          label=map_figures.READING_LABELS[reading]) if dims == 2 else None
    words, probs, states = (candidates.for_step(trace, step - 1) if candidates is not None
                            else candidate_states(ckpt, trace, step - 1))
    keep = probs >= float(st.session_state.get("stars", 0.02))
    cands = frames.candidates_frame([w for w, k in zip(words, keep) if k], probs[keep],
                                    fmap.place(states[keep][:, depth]) if keep.any() else np.zeros((0, dims)))
    layers = frames.layer_path_frame(trace, step - 1, fmap) if show_layers else None
    base = get_map_base(ckpt.content_hash, fmap.key, reading, tuple(colours.items()), _fmap=fmap) if fmap.key else None
    options = map_figures.MapOptions(axis_label=fmap.axis_label, regions=regions, candidates=cands, layer_path=layers,
                                 selected_step=step, reading=reading, ink=theme_ink(), base=base)
    return map_figures.trajectory_map(frames.reference_frame(fmap), path, colours, f"{METHODS[method]}, {layer}",
                                  options=options)


def step_detail_figures(trace: GenerationTrace, step: int, *, context_of: dict[str, str], colours: dict[str, str],
                        readings: LensReadings) -> tuple[go.Figure, go.Figure, go.Figure, pd.DataFrame]:
    """The chosen lens over every step with where each step's next word is settled, the attention of the selected
    step and the table of steps."""
    lw, lc, lp = frames.lens_grid(trace, context_of, readings)
    labels = [f"{i + 1}: {w}" for i, w in enumerate(trace.words)]
    lens = map_figures.lens_heatmap(lw, lc, lp, layer_names=trace.layer_names, step_labels=labels, colours=colours,
                                    lens=readings.lens, settled=readings.settled)
    depth_chart = map_figures.prediction_depth_chart(labels, readings.settled, trace.layer_names, lens=readings.lens,
                                                     top_words=lw[-1])
    keys = frames.attention_keys(trace, step - 1)
    att = trace.attention[step - 1, :, :, : len(keys)]
    attention = map_figures.attention_heatmaps(att, keys, f"Attention at step {step} (after reading "
                                           f"'{trace.words[step - 1]}')")
    return lens, depth_chart, attention, frames.steps_table(trace, context_of)


MAX_SCENARIO_BYTES = 64_000


def scenario_from_json(raw: bytes) -> dict:
    """A saved view of this page, checked key by key against its settings (urlstate.settings_from_json)."""
    return urlstate.settings_from_json(raw, defaults=DEFAULTS, allowed=ALLOWED, max_bytes=MAX_SCENARIO_BYTES,
                                       max_chars={"prompt": MAX_PROMPT_CHARS}, what="scenario")


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


def downloads(trace: GenerationTrace, path: pd.DataFrame, fig: go.Figure) -> None:
    scenarios()
    c1, c2, c3 = st.columns(3)
    c1.download_button("Trajectory (CSV)", lambda: path.to_csv(index=False), "trajectory.csv", "text/csv",
                       on_click="ignore")
    c2.download_button("Trace (JSON)", lambda: json.dumps(trace.summary(), indent=1), "trace.json",
                       "application/json", on_click="ignore")
    figure_html(fig, "trajectory_map", "Map (standalone HTML)", container=c3)
