"""Training page, "Watch training": one step slider (with play) that moves the word map, a prompt's path on each
snapshot's aligned context map, its next-word probabilities at the place step, markers on the measure curves and
on the loss landscape's training path, and the completion table, all from the checkpoint's weight snapshots."""

from __future__ import annotations

import streamlit as st

from dashboard import figures, frames
from dashboard.state import get_prompt_over_training, get_training_frames, ink
from dashboard.text import escape_md
from llmcore.checkpoint import Checkpoint
from llmcore.snapshots import GENERALISED_TOP1, generalisation_step, snapshot_metrics, weight_snapshot_steps
from llmcore.tokenizer import UNK
from llmcore.trace import PromptError
from llmcore.watch import metric_table, place_context
from llmcore.world import article

PLAY_SECONDS = 1.0  # one snapshot per second while playing


def default_prompt(ckpt: Checkpoint) -> str:
    """A held-out pair stopped before the place word ('a dog devours pizza in'), from the model's own world."""
    if ckpt.held_out:
        a, f = ckpt.held_out[0]
        return f"{article(a)} {a} {ckpt.world.recipe.eat_verbs[0]} {f} in"
    a = next(iter(ckpt.world.animals))
    return f"{article(a)} {a} eats"


def render(ckpt: Checkpoint) -> None:
    st.subheader("Watch training")
    steps = weight_snapshot_steps(ckpt)
    if len(steps) < 2:
        st.info(f"'{escape_md(ckpt.name)}' holds no snapshots of the whole model, so training cannot be replayed "
                "here: it was trained before `llmcore train` saved them, or it was not trained by llmcore (a Hugging "
                "Face model). Train a model below (or retrain this one) to watch its training.")
        return
    metrics = snapshot_metrics(ckpt)
    at = generalisation_step(metrics)
    st.caption(f"{len(steps)} snapshots of the whole model, from step {steps[0]} to step {steps[-1]}, denser early "
               "when most of the change happens. " +
               (f"**Generalisation appears at step {at}**: the first snapshot where the likeliest place after every "
                f"held-out prompt is one of the animal's habitats in at least {GENERALISED_TOP1:.0%} of them."
                if at is not None else f"No snapshot reaches {GENERALISED_TOP1:.0%} held-out top-1."))
    c1, c2 = st.columns([3, 1])
    prompt = c1.text_input("Prompt to watch", value=default_prompt(ckpt), key="watch_prompt", max_chars=200)
    layers = ["embed"] + [f"block {i + 1}" for i in range(ckpt.model.config.n_layer)] + ["final"]
    layer = c2.selectbox("Depth of the context map", layers, index=len(layers) - 1, key="watch_layer")
    tf = get_training_frames(ckpt.content_hash, layer, ckpt)
    try:
        watch = get_prompt_over_training(ckpt.content_hash, layer, prompt, tf)
    except PromptError as e:
        st.error(escape_md(str(e)))
        return
    if st.session_state.get("watch_step") not in steps:
        st.session_state.watch_step = steps[-1]
    playing = st.session_state.get("watch_playing", False)
    st.fragment(_frame, run_every=PLAY_SECONDS if playing else None)(ckpt, tf, watch, metrics)


def _toggle_play(steps: list[int]) -> None:
    playing = not st.session_state.get("watch_playing", False)
    st.session_state.watch_playing = playing
    if playing and st.session_state.get("watch_step") == steps[-1]:
        st.session_state.watch_step = steps[0]  # play from the start


def _advance(steps: list[int]) -> None:
    """While playing, each timed rerun moves the slider one snapshot on; at the last one it stops."""
    i = steps.index(st.session_state.watch_step)
    if i + 1 < len(steps):
        st.session_state.watch_step = steps[i + 1]
    else:
        st.session_state.watch_playing = False
        st.rerun(scope="app")  # the fragment's timer is set by the full page


def _frame(ckpt: Checkpoint, tf, watch, metrics) -> None:
    steps = tf.steps
    playing = st.session_state.get("watch_playing", False)
    if playing:
        _advance(steps)
    b, s = st.columns([1, 8])
    if b.button("❚❚ pause" if playing else "▶ play", key="watch_play"):
        _toggle_play(steps)
        st.rerun(scope="app")
    step = s.select_slider("Training step", options=steps, key="watch_step",
                           help="Every chart below shows the model with the weights it had at this step")
    t = steps.index(step)
    _maps(ckpt, tf, watch, t)
    _probabilities_and_curves(ckpt, tf, watch, metrics, t)
    _landscape(ckpt, step)
    st.markdown("**The prompt's completion at every snapshot** (▶ marks the step on the slider)")
    table = frames.completions_table(watch, steps, step)
    st.dataframe(table.style.apply(lambda r: ["background-color: #FFE9A8" if r["now"] else "" for _ in r], axis=1),
                 hide_index=True)


def _maps(ckpt: Checkpoint, tf, watch, t: int) -> None:
    step = tf.steps[t]
    words = ckpt.tokenizer.vocab
    contexts = [ckpt.world.label(w)[0] for w in words]
    colours = figures.context_colours(ckpt.context_matrix()[0])
    keep = [i for i, w in enumerate(words) if w != UNK]
    wc = tf.word_coords[:, keep]
    extent = (wc.reshape(-1, 2).min(0), wc.reshape(-1, 2).max(0))
    left, right = st.columns(2)
    left.plotly_chart(figures.watch_word_map(wc[t], [words[i] for i in keep], [contexts[i] for i in keep], colours,
                                             extent, step), key="watch_words")
    path = frames.trajectory_frame(watch.traces[t], tf.placers[t], watch.traces[t].layer_names.index(tf.layer))
    title = f"'{watch.prompt}' at step {step}: context map at {tf.layer}, aligned to the final snapshot"
    fig = figures.trajectory_map(frames.watch_reference_frame(tf, t), path, colours, title, ink=ink())
    right.plotly_chart(fig, key="watch_path")


def _probabilities_and_curves(ckpt: Checkpoint, tf, watch, metrics, t: int) -> None:
    step = tf.steps[t]
    trace = watch.traces[t]
    s = min(watch.place_step, trace.n_steps - 1)
    read = (trace.prompt_words + trace.generated_words)[len(trace.prompt_words) - 1 + s]
    colours = figures.context_colours(watch.context_names)
    left, right = st.columns(2)
    title = (f"Step {step}: next word after '{read}' (generation step {s + 1}, where the trained model names a "
             f"{place_context(ckpt)} word)")
    left.plotly_chart(figures.place_probs_chart(watch.context_names, watch.place_probs[t], colours, title),
                      key="watch_probs")
    df = frames.metrics_frame(metric_table(ckpt))
    right.plotly_chart(figures.snapshot_curves(df, step, generalisation_step(metrics)), key="watch_curves")


def _landscape(ckpt: Checkpoint, step: int) -> None:
    land = ckpt.loss_landscapes().get("pca")
    if land is None or len(land.path) < 2:
        st.caption("This checkpoint has no loss landscape of its training path, so there is no marker to show.")
        return
    xy = frames.path_point_at(land, step)
    st.plotly_chart(figures.loss_figure_at(land, xy, step), key="watch_landscape")
    st.caption(f"The star is step {step} on the training path: the path was saved at {len(land.path_steps)} steps "
               f"from {land.path_steps[0]} to {land.path_steps[-1]}, and the star lies on the straight line between "
               "the two saved points around it.")
