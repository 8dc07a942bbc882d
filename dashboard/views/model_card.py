"""Model card: architecture, training data, held-out compositions with proof, measured generalisation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from dashboard import frames
from dashboard.state import (
    METHOD_NAMES,
    checkpoint_or_error,
    get_best_view,
    get_corpus_check,
    get_held_out_breakdown,
)
from dashboard.text import escape_md, vocabulary_size
from llmcore.model.tokenizer import UNK
from llmcore.world.types import FUNCTION_CONTEXT

if TYPE_CHECKING:
    from llmcore.model.checkpoint import Checkpoint


def vocabulary_frame(ckpt: Checkpoint) -> pd.DataFrame:
    """One row per (sub-context, subgroup) with its words, then the function words of the grammar."""
    rows = [{"sub-context": ctx, "subgroup": group, "count": len(words), "words": ", ".join(words)}
            for ctx, groups in ckpt.world.taxonomy.items() for group, words in groups.items()]
    grammar = [w for w in ckpt.tokenizer.vocab if w != UNK and ckpt.world.label(w)[0] == FUNCTION_CONTEXT]
    return pd.DataFrame(rows + [{"sub-context": FUNCTION_CONTEXT, "subgroup": "function words", "count": len(grammar),
                                 "words": ", ".join(grammar)}])


def default_view(ckpt: Checkpoint) -> None:
    """The Trajectory page's default map and depth, and the measurement that chose it."""
    view = get_best_view(ckpt.content_hash, ckpt)
    st.subheader("Default view of the Trajectory page")
    st.markdown(f"**{METHOD_NAMES.get(view.method, view.method)} at '{escape_md(view.layer)}'**: on this map "
                f"{view.score:.0%} of the states after each content word of {len(view.examples)} example sentences "
                f"({view.n_states} states) fall in their own word's sub-context region, the most of any map and "
                "depth measured when the maps were built (the embedding depth is left out: there a state is the "
                "word itself).")
    rows = [{"map": METHOD_NAMES.get(k.split("@")[0], k), "depth": k.split("@")[1], "share in own region": round(v, 3)}
            for k, v in sorted(view.scores.items(), key=lambda kv: -kv[1])]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="best_views")


def render() -> None:
    st.title("Model card")
    ckpt = checkpoint_or_error()
    if ckpt is None:
        return
    hf = ckpt.metrics.get("source") == "huggingface"
    architecture(ckpt, hf)
    default_view(ckpt)
    if hf:
        w = ckpt.world
        st.info(f"A Hugging Face model ({escape_md(str(ckpt.metrics.get('model_type')))}) loaded from a local "
                "folder: it was not trained here, so there is no training corpus or held-out list to show. Its "
                f"sub-contexts come from the word lists in {escape_md(str(w.source))}.")
        st.dataframe(pd.DataFrame([{"sub-context": c, "words": ", ".join(w.words_of(c))} for c in w.contexts]),
                     hide_index=True)
        return
    check = get_corpus_check(ckpt.content_hash, ckpt)
    training_data(ckpt, check)
    held_out_section(ckpt, check)
    st.subheader("Measured generalisation")
    st.dataframe(generalisation_frame(ckpt.metrics), hide_index=True)


def metrics(values: dict) -> None:
    """Numbers side by side, each as wide as it needs, wrapping onto a new row on a narrow screen (in equal
    columns a long number was cut short at 800 px)."""
    with st.container(horizontal=True, gap="large"):
        for label, value in values.items():
            st.metric(label, value, width="content")


def architecture(ckpt: Checkpoint, hf: bool) -> None:
    """The model's size in five numbers and what kind of model it is."""
    c = ckpt.model.config
    st.subheader("Architecture")
    metrics({"Layers": c.n_layer, "Width": c.n_embd, "Heads": c.n_head, "Context": f"{c.block_size} words",
             "Parameters": f"{ckpt.model.num_params():,}"})
    kind = (f"A Hugging Face causal language model, vocabulary of {len(ckpt.tokenizer):,} tokens" if hf else
            f"Decoder-only transformer (nanoGPT style), tied input/output embeddings, vocabulary of "
            f"{escape_md(vocabulary_size(ckpt.tokenizer.vocab))} ({escape_md(UNK)} stands for words it does not know)")
    st.caption(f"{kind}. Checkpoint {escape_md(ckpt.name)}, content hash {ckpt.content_hash}.")


def training_data(ckpt: Checkpoint, check: dict) -> None:
    """The regenerated corpus in numbers and the vocabulary by sub-context."""
    m = ckpt.metrics
    st.subheader("Training data")
    metrics({"Sentences": f"{check['sentences']:,}", "Tokens": f"{check['tokens']:,}",
             "Training steps": f"{m.get('steps_done', 0):,}", "Training time": f"{m.get('train_seconds', 0):.0f} s"})
    st.markdown(f"The words the model knows, by sub-context (any other word is read as {escape_md(UNK)}):")
    st.dataframe(vocabulary_frame(ckpt), hide_index=True)


def held_out_section(ckpt: Checkpoint, check: dict) -> None:
    """The held-out pairs, the proof that no training sentence holds one, and what the model does with them."""
    st.subheader("Held-out compositions")
    st.markdown("These (animal, food) pairs never appear together in any training sentence. The table is computed "
                "now, by regenerating the exact training corpus from the world and its seed.")
    st.dataframe(pd.DataFrame([{"pair": k, "training sentences with both": v,
                                "sentences with the animal": check["with_animal"][k.split(" + ")[0]]}
                               for k, v in check["counts"].items()]), hide_index=True)
    if all(v == 0 for v in check["counts"].values()):
        st.success(f"Proof: none of the {len(ckpt.held_out)} held-out pairs occurs in any of the "
                   f"{check['sentences']:,} training sentences.")
    else:
        st.error("Some held-out pairs occur in the training corpus: this checkpoint's claims do not hold.")
    st.markdown("What the model does with them, asked now: after each held-out prompt, where does the place word "
                "go? A model that learned where each animal lives sends it to the animal's habitats, not to the "
                "places its food has of its own (pizza is sold in a restaurant).")
    st.dataframe(frames.held_out_table(get_held_out_breakdown(ckpt.content_hash, ckpt)), hide_index=True)


def generalisation_frame(m: dict) -> pd.DataFrame:
    """The checkpoint's measured generalisation, one row per measure with the quality bar its test holds it to."""
    rows = [(f"Held-out prompts 'a <animal> <verb> <food> in the', in all {m.get('n_generalisation_prompts', 0):,} "
             "forms (plural, adjective, in/at/on, with or without an article): probability on the animal's habitats",
             m.get("habitat_mass"), "≥ 0.85"),
            ("… share whose most likely place is a habitat of the animal", m.get("habitat_top1"), "≥ 0.95"),
            ("The same on as many trained (animal, food) pairs: probability on the habitats",
             m.get("control_habitat_mass"), "≥ 0.85"),
            ("… share whose most likely place is a habitat", m.get("control_habitat_top1"), "≥ 0.95"),
            ("After 'a <animal> eats' and '<animals> eat': share of food probability on its diet",
             m.get("diet_share"), "≥ 0.90"),
            ("Content words whose 5 nearest neighbours share their sub-context", m.get("neighbour_purity"), "≥ 0.90"),
            ("Word pairs like cat / cats that are among each other's 5 nearest neighbours",
             m.get("inflection_neighbours"), "≥ 0.90"),
            ("Validation loss", m.get("val_loss"), ""), ("Loss on held-out sentences", m.get("heldout_loss"), "")]
    return pd.DataFrame([{"measure": a, "value": None if v is None else round(float(v), 4), "quality bar (tested)": b}
                         for a, v, b in rows])
