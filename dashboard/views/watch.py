"""Training page, "Watch training": one step slider (with play) that moves the word map, a prompt's path on each
snapshot's aligned context map, its next-word probabilities at the place step, markers on the measure curves and
on the loss landscape's training path, and the completion table, all from the checkpoint's weight snapshots."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from dashboard import chart, classroom, frames
from dashboard.state import built_later, cached_build, get_prompt_over_training, get_training_frames, theme_ink
from dashboard.text import escape_md
from dashboard.watch_charts import default_prompt, snapshot_charts
from llmcore.analysis.trace import PromptError
from llmcore.maps.watch import has_stored_watch_maps, place_context
from llmcore.model.checkpoint import Checkpoint
from llmcore.model.depths import depth_labels
from llmcore.training.snapshots import GENERALISED_TOP1, generalisation_step, snapshot_metrics, weight_snapshot_steps

if TYPE_CHECKING:
    from llmcore.maps.watch import PromptOverTraining, TrainingFrames
    from llmcore.training.snapshots import SnapshotMetrics

PLAY_SECONDS = 1.0  # one snapshot per second while playing
HIGHLIGHT = "#FFE9A8"  # the completion table's row at the slider's step


def _forms(ckpt: Checkpoint, metrics: list[SnapshotMetrics]) -> str:
    """Which held-out prompts the snapshots measured, in words (older checkpoints measured every form)."""
    if metrics[-1].held_out_forms != "plain" or not ckpt.held_out:
        return ""
    return f" (in their plain form, such as '{escape_md(default_prompt(ckpt))} the', the measure each snapshot took)"


def warm(ckpt: Checkpoint) -> None:
    """What the section's first draw reads for `ckpt` with its default widgets, into the process-wide caches (the
    launcher's warm-up calls it): the snapshots, their stored maps at the last depth and the default prompt traced
    at every snapshot. Only stored maps: a warm-up never computes and writes them."""
    if len(weight_snapshot_steps(ckpt)) >= 2 and has_stored_watch_maps(ckpt):
        layer = depth_labels(ckpt.model.config.n_layer)[-1]
        tf = get_training_frames(ckpt.content_hash, layer, ckpt)
        get_prompt_over_training(ckpt.content_hash, layer, default_prompt(ckpt), tf)


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
    embeddings = len(ckpt.snapshot_steps)
    other = (f"(The embedding replay above has {embeddings} snapshots of the embeddings alone, at even steps.) "
             if embeddings >= 2 and embeddings != len(steps) else "")
    st.caption(f"{len(steps)} snapshots of the whole model, from step {steps[0]} to step {steps[-1]}, denser early "
               f"when most of the change happens. {other}" +
               (f"**Generalisation appears at step {at}**: the first snapshot where the likeliest place after the "
                f"held-out prompts{_forms(ckpt, metrics)} is one of the "
                f"animal's habitats in at least {GENERALISED_TOP1:.0%} of them."
                if at is not None else f"No snapshot reaches {GENERALISED_TOP1:.0%} held-out top-1."))
    c1, c2 = st.columns([3, 1])
    prompt = c1.text_input("Prompt to watch", value=default_prompt(ckpt), key="watch_prompt", max_chars=200)
    layers = depth_labels(ckpt.model.config.n_layer)
    layer = c2.selectbox("Depth of the context map", layers, index=len(layers) - 1, key="watch_layer")
    if not has_stored_watch_maps(ckpt) and classroom.blocked("a model's Watch training maps are computed and stored"):
        return
    with st.spinner("Loading the weight snapshots…" if has_stored_watch_maps(ckpt) else
                    "This checkpoint was saved without its Watch training maps, so every snapshot's context maps "
                    "are being placed in the final one's frame now, once; they are then stored with the checkpoint "
                    "(`llmcore maps --watch-only` does this ahead of time)…"):
        tf = get_training_frames(ckpt.content_hash, layer, ckpt)
    try:
        classroom.check_prompt(prompt, key=(prompt, layer, "watch"))
        watch = get_prompt_over_training(ckpt.content_hash, layer, prompt, tf)
    except PromptError as e:
        st.error(escape_md(str(e)))
        return
    if st.session_state.get("watch_step") not in steps:
        st.session_state.watch_step = steps[-1]
    # the shown snapshot's charts are built in the run; the others meanwhile, so that the slider finds them ready
    build_later(ckpt, tf, watch, metrics, first=steps.index(st.session_state.watch_step))
    playing = st.session_state.get("watch_playing", False)
    st.fragment(_draw_snapshot, run_every=PLAY_SECONDS if playing else None)(ckpt, tf, watch, metrics)


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


def _draw_snapshot(ckpt: Checkpoint, tf: TrainingFrames, watch: PromptOverTraining,
                   metrics: list[SnapshotMetrics]) -> None:
    steps = tf.steps
    playing = st.session_state.get("watch_playing", False)
    if playing:
        _advance(steps)
    b, s = st.columns([1, 4], vertical_alignment="bottom")
    if b.button("❚❚ pause" if playing else "▶ play", key="watch_play"):
        _toggle_play(steps)
        st.rerun(scope="app")
    step = s.select_slider("Training step", options=steps, key="watch_step",
                           help="Every chart below shows the model with the weights it had at this step")
    t = steps.index(step)
    charts = step_charts(ckpt, tf, watch, metrics, t=t)
    left, right = st.columns(2)
    chart.show(charts["words"], key="watch_words", where=left)
    left.caption("Every word's input embedding at this step, Procrustes-aligned to the final snapshot; the words "
                 "of the prompt and of its completion at this step are named, every other word on hover.")
    chart.show(charts["path"], key="watch_path", where=right)
    right.caption(f"'{escape_md(watch.prompt)}' traced with the weights of step {step}, on that step's context map "
                  f"at {tf.layer}, rotated onto the final snapshot's map so the path moves instead of the frame.")
    left, right = st.columns(2)
    chart.show(charts["probs"], key="watch_probs", where=left)
    final, place = watch.traces[-1], place_context(ckpt)
    named = final.n_steps and ckpt.world.label(final.generated_words[watch.place_step])[0] == place
    where = (f"where the trained model's completion names a {place} word" if named else
             f"the last one: the trained model's completion names no {place} word")
    top = int(watch.place_probs[t].argmax())
    left.caption(f"Next-word probability by sub-context at generation step {watch.place_step + 1}, {where}. "
                 f"At training step {step} the most probable sub-context there is {watch.context_names[top]} "
                 f"({watch.place_probs[t, top]:.2f}).")
    chart.show(charts["curves"], key="watch_curves", where=right)
    if "landscape" in charts:
        chart.show(charts["landscape"], key="watch_landscape")
        land = charts["landscape_data"]
        st.caption(f"The star is step {step} on the training path: the path was saved at {len(land.path_steps)} "
                   f"steps from {land.path_steps[0]} to {land.path_steps[-1]}, and "
                   f"{frames.path_point_sentence(land, step)}.")
    else:
        st.caption("This checkpoint has no loss landscape of its training path, so there is no marker to show.")
    st.markdown("**The prompt's completion at every snapshot** (▶ marks the step on the slider)")
    table = frames.completions_table(watch, steps, step).set_index("training step")
    st.table(table.style.apply(lambda r: [f"background-color: {HIGHLIGHT}" if r["now"] else "" for _ in r], axis=1))


def step_charts(ckpt: Checkpoint, tf: TrainingFrames, watch: PromptOverTraining, metrics: list[SnapshotMetrics], *,
                t: int, colour: str | None = None) -> dict:
    """Every chart of snapshot t, built once per (checkpoint, depth, prompt, step, theme) and kept."""
    colour = colour or theme_ink()
    key = (ckpt.content_hash, tf.layer, watch.prompt, tf.steps[t], colour)
    return cached_build(key, lambda: snapshot_charts(ckpt, tf, watch, metrics, t=t, ink=colour))


def build_later(ckpt: Checkpoint, tf: TrainingFrames, watch: PromptOverTraining, metrics: list[SnapshotMetrics], *,
                first: int) -> None:
    """Every other snapshot's charts, built in a server thread (nearest to the shown one first): the page's first
    draw waits for one snapshot's charts, not all twelve (0.4 s each on one core)."""
    colour = theme_ink()
    order = sorted((t for t in range(len(tf.steps)) if t != first), key=lambda t: abs(t - first))
    built_later((ckpt.content_hash, tf.layer, watch.prompt, colour),
                [lambda t=t: step_charts(ckpt, tf, watch, metrics, t=t, colour=colour) for t in order])
