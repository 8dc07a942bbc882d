"""Landscape page: sub-context terrain with the trajectory on it, the decision landscape, the loss landscape."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from dashboard import chart, classroom, frames, glossary, scenes, urlstate
from dashboard.downloads import figure_html
from dashboard.figures import landscapes as landscape_figures
from dashboard.figures import theme
from dashboard.state import (
    checkpoint_or_error,
    contexts_of_words,
    get_decision,
    get_map,
    get_next_regions,
    get_regions,
    get_trace,
    theme_ink,
)
from dashboard.text import count, escape_md
from llmcore.analysis.trace import PromptError, SamplingConfig
from llmcore.model.depths import FINAL, depth_labels
from llmcore.training.losslandscape import weights_norm
from llmcore.world.types import FUNCTION_CONTEXT

if TYPE_CHECKING:
    import pandas as pd

    from llmcore.analysis.trace import GenerationTrace
    from llmcore.maps.landscape import DecisionLandscape
    from llmcore.maps.regions import RegionMap
    from llmcore.maps.store import FittedMap
    from llmcore.model.checkpoint import Checkpoint, LossLandscape

DEFAULTS = {"land_prompt": "a dog devours pizza in", "land_layer": FINAL, "land_loss_3d": False, "land_slice": False}
DECISION_GRID = 70  # points along each side of the decoded plane


def render() -> None:
    st.title("Landscape")
    st.caption("Hills are regions where the model's states for one sub-context gather; the next map shows where the "
               "model would send the next word (what real states predict, or the decoded slice of the map where that "
               "slice agrees with the prompt's own states); the loss landscape shows the training loss around the "
               "trained weights.")
    shared = st.session_state.get("shared_prompt")
    urlstate.restore({**DEFAULTS, "land_prompt": shared or DEFAULTS["land_prompt"]})
    if shared and shared != st.session_state.get("_land_seen"):  # follow the prompt last typed on Trajectory
        st.session_state.land_prompt = st.session_state._land_seen = shared
    ckpt = checkpoint_or_error()
    if ckpt is None:
        return
    glossary.show({**glossary.landscape_terms(), **glossary.state_terms(ckpt), **glossary.map_terms(ckpt),
                   **glossary.lens_terms(ckpt)})
    c1, c2 = st.columns([3, 2])
    prompt = c1.text_input("Prompt drawn on the landscapes", key="land_prompt", max_chars=2000)
    layer_names = depth_labels(ckpt.model.config.n_layer)
    if st.session_state.get("land_layer") not in layer_names:
        st.session_state.land_layer = FINAL
    layer = c2.select_slider("Layer", layer_names, key="land_layer")
    try:
        classroom.check_prompt(prompt)
        trace = get_trace(ckpt.content_hash, prompt, SamplingConfig(), ckpt)
    except PromptError as e:
        st.error(escape_md(str(e)))
        return
    for notice in trace.notices:
        st.warning(escape_md(notice))
    depth = layer_names.index(layer)
    fmap = get_map(ckpt.content_hash, f"context:{layer}", "pca", 2, _ckpt=ckpt)
    names = ckpt.context_matrix()[0]
    colours = theme.context_colours(names)
    regions = get_regions(ckpt.content_hash, f"context:{layer}", "pca", tuple(names), _fitted=fmap)
    path = frames.trajectory_frame(trace, fmap, depth)
    terrain = landscape_figures.terrain_figure(regions, colours, path, ink=theme_ink(), axis_label=fmap.axis_label)
    chart.show(terrain, key="terrain")
    st.caption(terrain_caption(regions))
    figure_html(terrain, "terrain", "Terrain (standalone HTML)")
    d = get_decision(ckpt.content_hash, layer, ckpt, fmap, grid=DECISION_GRID)
    hits, n = slice_agreement(d, path)
    if n and hits / n >= SLICE_BAR:
        decision_section(ckpt, d, fmap, colours, path)
    else:  # a slice wrong at most steps would teach something false: what real states predict comes first
        next_regions_section(ckpt, trace, layer, depth, colours)
        if st.toggle(f"Also show a rougher picture, the decoded slice (it agrees with the model at only {hits} of "
                     f"{count(n, 'step')})",
                     key="land_slice"):
            decision_section(ckpt, d, fmap, colours, path)
    loss_section(ckpt)
    urlstate.publish(list(DEFAULTS))


def decision_section(ckpt: Checkpoint, d: DecisionLandscape, fmap: FittedMap, colours: dict[str, str],
                     path: pd.DataFrame) -> None:
    """The decoded plane of the PCA map, its agreement with the states stated first."""
    agreement_first(d, path)
    decision = landscape_figures.decision_figure(d, ckpt.tokenizer.vocab, colours, path, ink=theme_ink(),
                                                 axis_label=fmap.axis_label)
    chart.show(decision, key="decision")
    figure_html(decision, "decision_landscape", "Decision landscape (standalone HTML)")
    st.caption(decision_caption(d, fmap.reference.labels["next_context"], ckpt.model.config.n_embd))


def next_regions_section(ckpt: Checkpoint, trace: GenerationTrace, layer: str, depth: int,
                         colours: dict[str, str]) -> None:
    """What real states at this depth predict next, and the prompt's path over it, each step checked (the Story's
    scene 5 at the page's depth)."""
    regions = get_next_regions(ckpt.content_hash, layer, ckpt)
    path = frames.trajectory_frame(trace, regions, depth, contexts_of_words(ckpt))
    scene = scenes.scene_landscape(regions, path, colours, ink=theme_ink())
    st.subheader("What real states predict next")
    st.write(escape_md(scene.takeaway))
    if scene.shown is not None:
        chart.show(scene.shown, key="next_regions")
        st.caption(escape_md(scene.check.sentence()))
    else:
        st.warning(escape_md(scene.check.reason()))
    with st.expander("How this picture is made"):
        for sentence in scene.sentences:
            st.markdown(f"- {escape_md(sentence)}")


SLICE_BAR = 0.85  # the share of steps at which a picture of predictions must agree with the states' own


def agreement_first(d: DecisionLandscape, path: pd.DataFrame) -> None:
    """Before the decision plane: at how many of the prompt's steps its colour under the state is what the state
    itself predicts (a slice can disagree: the states do not lie on the plane)."""
    hits, n = slice_agreement(d, path)
    text = (f"Agreement first: at {hits} of the prompt's {count(n, 'step')} ({hits / max(n, 1):.0%}) the colour under "
            "the state is what the state itself predicts. The plane below is a slice through the model's space (its "
            f"{d.explained_variance:.0%} of the variance), and the states do not lie on it")
    if n and hits / n >= SLICE_BAR:
        st.info(f"{text}.")
    else:
        st.warning(f"{text}: where colour and state disagree, the state is right. The Story's scene 5 draws what real "
                   "states predict instead, checked at every step.")


def slice_agreement(d: DecisionLandscape, path: pd.DataFrame) -> tuple[int, int]:
    """(steps where the plane's colour under the state is the state's own next reading, steps)."""
    shown = d.shown_at(path[["x", "y"]].to_numpy(), FUNCTION_CONTEXT)
    return sum(a == b for a, b in zip(shown, path.next)), len(path)


def terrain_caption(regions: RegionMap) -> str:
    hills, plains = float((regions.height >= 0.3).mean()), float((regions.height < 0.1).mean())
    return (f"Height is the logarithm of how many of the model's states lie nearby: hills (above 0.3 of the highest "
            f"peak) cover {hills:.0%} of the map, plains (below 0.1) {plains:.0%}. The colour is the sub-context "
            "holding most states there; the path is the prompt's state after each word, lifted onto the surface.")


def decision_caption(d: DecisionLandscape, next_contexts: np.ndarray, width: int) -> str:
    """Why the plane looks as it does, with the figures read off this plane and this model's reference text."""
    g = d.context_names.index(FUNCTION_CONTEXT) if FUNCTION_CONTEXT in d.context_names else None
    text = (f"The decision landscape is a slice: each point of the flat map is turned back into a state of "
            f"{width} numbers (undoing the PCA, which keeps {d.explained_variance:.0%} of how the states vary), "
            "and the model reads that state as it reads its own last one (final norm, then output layer). ")
    if g is None:
        return text
    inside = float((d.context_probs[..., g] > 0.5).mean())
    follows = float(np.mean(np.asarray(next_contexts) == FUNCTION_CONTEXT))
    text += (f"Inside the dashed line ({inside:.0%} of the plane) function words ('{FUNCTION_CONTEXT}': the, a, "
             f"in, …) get more than half of the probability, because {follows:.0%} of the words that follow in the "
             "reference text are function words; the colour there shows which content would come next among the "
             "rest, pale where little probability is left for it.")
    if inside > 0.9:
        text += " Almost the whole plane is so: this model still predicts mostly function words (a short run does)."
    return text


def loss_section(ckpt: Checkpoint) -> None:
    lands = ckpt.loss_landscapes()
    if not lands:
        st.info("This checkpoint has no loss landscape (it is computed at the end of `llmcore train`).")
        return
    st.subheader("Loss landscape")
    three_d = st.toggle("Show as a 3D surface", key="land_loss_3d")
    cols = st.columns(len(lands))
    for col, kind in zip(cols, sorted(lands, reverse=True)):
        fig = landscape_figures.loss_figure(lands[kind], three_d=three_d)
        chart.show(fig, key=f"loss_{kind}", where=col)
        col.caption(loss_caption(lands[kind], weights_norm(ckpt.model), replayed=ckpt.snapshot_steps,
                                 three_d=three_d))
        figure_html(fig, f"loss_landscape_{kind}", container=col)


def loss_caption(land: LossLandscape, norm: float, replayed: list[int] | None = None, three_d: bool = False) -> str:
    """Two sentences on what the plane is, with its figures (the trained model's marker named as drawn: a star, a
    cross in 3D, where Plotly has no star)."""
    if land.kind == "random":
        return (f"The centre (0, 0) is the trained model, loss {land.centre_loss:.2f} on a fixed batch of "
                "evaluation sentences (the Training page's validation loss is measured on other sentences); each "
                "axis is a random direction. One unit along an axis moves every part of the weights by as "
                "much as its own size (each row of each weight matrix by its own length), so the bowl's width says "
                "how far the weights can move before the model gets worse.")
    moved = float(np.linalg.norm(np.diff(land.path, axis=0), axis=1).sum())
    same_steps = ", at the steps of the Training page's embedding replay"
    marker = "cross" if three_d else "star"
    return (f"The trained model is at (0, 0), the {marker} at the path's end (loss {land.centre_loss:.2f} on the same "
            f"fixed batch of evaluation sentences); the path is the {len(land.path)} weight snapshots saved for this "
            f"plane, from step {land.path_steps[0]} to step {land.path_steps[-1]}"
            f"{same_steps if list(land.path_steps) == list(replayed or []) else ''}. Each snapshot is drawn where it "
            f"projects onto the plane, and its loss there is that of the weights at that point of the plane (step "
            f"{land.path_steps[0]}: {land.path_loss[0]:.2f}), not of the snapshot itself where it lies off the plane. "
            f"The plane captures {land.explained[0]:.0%} + "
            f"{land.explained[1]:.0%} of how the weights moved; one unit is a change of the weights of length 1 "
            f"(the trained weights have length {norm:.0f}, the path on the plane {moved:.0f}).")
