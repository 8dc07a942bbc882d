"""Features page: which traits a state carries. Each word step's active sparse-autoencoder features with labels
graded against the world, the traits the probes read from a word and from which depth, where a trait is known,
and steering with one feature's direction."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from dashboard import chart, feature_frames, glossary, urlstate
from dashboard.figures import features as feature_figures
from dashboard.figures import theme
from dashboard.state import (
    checkpoint_or_error,
    get_feature_axis,
    get_feature_steered,
    get_features,
    get_map_book,
    get_prompt_features,
    get_trace,
    theme_ink,
)
from dashboard.text import escape_md
from llmcore.analysis.features import logit_effect
from llmcore.analysis.trace import PromptError, SamplingConfig

if TYPE_CHECKING:
    from llmcore.analysis.features import Features, PromptFeatures
    from llmcore.model.checkpoint import Checkpoint

DEFAULTS = {"f_prompt": "a dog devours pizza in", "f_step": 2, "f_depth": "block 2",
            "f_trait": "lives in group: water places",
            "f_feature": -1, "f_alpha": 0.0}
ALLOWED = {"f_step": (1, 64), "f_feature": (-1, 65536), "f_alpha": (-20.0, 20.0)}
KEYS = list(DEFAULTS)


def render() -> None:
    st.title("Features")
    st.caption("What a state carries: features a sparse autoencoder finds at each depth, each labelled with the "
               "world category that best matches the words it fires on and graded by how well they match (F1); and "
               "linear probes for "
               "the traits the world gives its animals, scored on animals they never saw.")
    ckpt = checkpoint_or_error()
    if ckpt is None:
        return
    f = get_features(ckpt.content_hash, ckpt)
    if f is None:
        st.info(escape_md(f"This model has no features fitted yet. Fit them (a few minutes of CPU) with "
                          f"`llmcore features --fit {ckpt.path}`, then reload this page."))
        return
    if isinstance(f, Exception):
        st.error(escape_md(str(f)))
        return
    glossary.show({**glossary.state_terms(ckpt), **glossary.feature_terms()})
    urlstate.restore_with_notice(DEFAULTS, {**ALLOWED, "f_depth": f.sae.layer_names, "f_trait": f.probes.names})
    prompt = st.text_input("Prompt", key="f_prompt")
    try:
        pf = get_prompt_features(ckpt.content_hash, prompt, _ckpt=ckpt, _features=f)
    except PromptError as e:
        st.error(escape_md(str(e)))
        return
    st.session_state["f_step"] = min(st.session_state["f_step"], len(pf.words))
    left, right = st.columns(2)
    step = left.slider("Word step", 1, len(pf.words), key="f_step") - 1
    depth = f.sae.layer_names.index(right.selectbox("Depth", f.sae.layer_names, key="f_depth"))
    _active(f, pf, step, depth)
    _traits(ckpt, f, pf, step)
    _where_known(f)
    _feature(ckpt, f, pf, prompt, step, depth)
    urlstate.publish(KEYS)


def _active(f: Features, pf: PromptFeatures, step: int, depth: int) -> None:
    st.subheader(f"Step {step + 1}: after '{pf.words[step]}' (next: '{pf.next_words[step]}')")
    table = feature_frames.active_table(f, pf, step, depth)
    good = int((table["grade"] == "good").sum())
    carry = "carries" if good == 1 else "carry"
    st.write(escape_md(f"{len(table)} features fire at {f.sae.layer_names[depth]}; {good} of them {carry} a label "
                       f"that matches the world with F1 at least 0.8 (graded 'good'). A 'poor' one matches no "
                       "world category well: it is shown as firing on some of one category only, or as a weak match."))
    st.dataframe(table, hide_index=True, width="stretch")


def _traits(ckpt: Checkpoint, f: Features, pf: PromptFeatures, step: int) -> None:
    role = feature_frames.word_role(ckpt.world, pf.words[step])
    word = pf.words[step]
    st.subheader(f"Traits the state of '{word}' carries")
    if role is None:
        st.write(escape_md(f"'{word}' is not an animal, verb, food or preposition: the probes read only those "
                           "positions. Pick another step."))
        return
    carried = feature_frames.carried_traits(f, pf, step, role)
    animal = feature_frames.prompt_animal(ckpt.world, pf.words)
    st.write(escape_md(feature_frames.carried_sentence(carried, f.probes.roles[role], animal)))
    likely = feature_frames.likely_traits(f, pf, step, role)
    if likely:
        less = "; ".join(f"'{t}' (at {d}, {acc * 100:.0f} % on held-back animals)" for t, d, acc in likely)
        bar = f"{feature_frames.LIKELY_BAR * 100:.0f} %"
        st.write(escape_md(f"Less reliably (probes that score {bar} to 95 % here), it also says yes to: {less}."))
    with st.expander("Every trait at every depth"):
        st.caption("In brackets: a reading at a depth where that trait's probe scores under 95 % on held-back "
                   "animals; it is not to be trusted.")
        st.dataframe(feature_frames.trait_table(f, pf, step, role, animal), hide_index=True, width="stretch")


def _where_known(f: Features) -> None:
    st.subheader("Where is a trait known?")
    trait = st.selectbox("Trait", f.probes.names, key="f_trait")
    k = f.probes.trait_index(trait)
    chart.show(feature_figures.probe_heatmap(f.probes.accuracy[k], f.probes.roles, f.probes.layer_names, trait),
               key="trait_heatmap")
    st.write(escape_md(f.probes.sentence(k)))


def _direction_map(ckpt: Checkpoint, f: Features, depth: int, j: int) -> None:
    """The feature's decoder direction as the x axis of a map of the model's reference states at its depth."""
    axis = get_feature_axis(ckpt.content_hash, depth, j, _ckpt=ckpt, _features=f)
    ref = get_map_book(ckpt.content_hash, ckpt).states
    name, furthest = f"feature #{j}", axis.furthest(ref.words)
    chart.show(feature_figures.feature_axis_map(axis.coords, axis.fires, ref.words, ref.contexts, feature=name,
                                                colours=theme.context_colours(ckpt.context_matrix()[0]),
                                                furthest=furthest, ink=theme_ink()), key="feature_axis")
    st.write(escape_md(feature_frames.axis_sentence(axis, name, f.sae.layer_names[depth], furthest)))


def _feature(ckpt: Checkpoint, f: Features, pf: PromptFeatures, prompt: str, step: int, depth: int) -> None:
    active = [j for j, _ in pf.active(step, depth)]
    if not active:
        return
    st.subheader("One feature")
    if st.session_state["f_feature"] not in active:
        st.session_state["f_feature"] = active[0]
    j = st.selectbox("Feature", active, key="f_feature", format_func=lambda x: f"#{x}: {f.grades.label(depth, x)}")
    g = f.grades
    st.write(escape_md(f"Feature #{j} at {f.sae.layer_names[depth]} fires on {f.scores.frequency[depth, j]:.1%} of "
                       f"the grading words; label: {g.label(depth, j)} (precision {g.precision[depth, j]:.2f}, "
                       f"recall {g.recall[depth, j]:.2f}, F1 {g.f1[depth, j]:.2f}: {g.quality(depth, j)})."))
    st.dataframe(feature_frames.examples_table(f, depth, j), hide_index=True, width="stretch")
    _direction_map(ckpt, f, depth, j)
    up, down = logit_effect(ckpt, f, depth, j)
    st.write(escape_md("Its direction makes " + ", ".join(f"'{w}'" for w, _ in up) + " more likely next and "
                       + ", ".join(f"'{w}'" for w, _ in down) + " less likely, more than any other words (it raises "
                       "and lowers their scores, the logits, most)."))
    if depth >= len(f.sae.layer_names) - 1:
        return
    alpha = st.slider("Steer: add this many times the feature's direction at every position", -20.0, 20.0,
                      key="f_alpha", step=1.0)
    plain = get_trace(ckpt.content_hash, prompt, SamplingConfig(), ckpt).completion
    if alpha:
        steered = get_feature_steered(ckpt.content_hash, prompt, depth, j, alpha, _ckpt=ckpt, _features=f)
        verb = "still says" if steered == plain else "now says"
        st.write(escape_md(f"Without steering the model says '{plain}'; with {alpha:g} × feature #{j} it {verb} "
                           f"'{steered}'."))
