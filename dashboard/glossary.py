"""The words a page uses, in plain language, in a popover at the top of the page: each sentence names the loaded
model's own sizes where it has one (its numbers per state, its blocks, its vocabulary)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from dashboard.text import escape_md
from llmcore.world.types import FUNCTION_CONTEXT

if TYPE_CHECKING:
    from llmcore.model.checkpoint import Checkpoint

LABEL = "What do these words mean?"
LOGIT = ("the score the model gives a word before the scores become probabilities: raising a word's logit makes "
         "that word more likely.")
NEIGHBOURS = 10  # the neighbours the maps' faithfulness figures count (llmcore.maps.projection)


def show(terms: dict[str, str], *, label: str = LABEL) -> None:
    """A popover listing `terms` (term, the code's own words → a plain sentence, which may quote the user's prompt
    and so is escaped)."""
    with st.popover(label):
        st.markdown("\n\n".join(f"**{term}**: {escape_md(text)}" for term, text in terms.items()))


def _function_words(ckpt: Checkpoint) -> str:
    """' 'grammar' holds the small linking words (a, the, in).', from the model's own world."""
    world = ckpt.world
    linking = [w for w in ("a", "the", "in", "is", "and", "of") if world.label(w)[0] == FUNCTION_CONTEXT][:3]
    return (f" '{FUNCTION_CONTEXT}' holds the small linking words of no family of their own"
            + (f" ({', '.join(linking)})." if linking else "."))


def state_terms(ckpt: Checkpoint) -> dict[str, str]:
    """State and depth, with the model's own sizes."""
    cfg = ckpt.model_config
    return {
        "State": f"the {cfg.n_embd} numbers the model keeps for a word at one depth.",
        "Depth": f"where in the model a state is read: 'embed' is the word's own vector, 'block k' is after the first "
                 f"k of the model's {cfg.n_layer} blocks have added to it, 'final' is what the output layer reads.",
        "Block": "one step of the model's stack: attention (the word looks at the words before it) then an MLP (it "
                 "reworks its own state); each block adds what it finds to the state.",
        "Sub-context": "a family of words in the model's world (" + ", ".join(ckpt.world.contexts[:4])
                       + ", ...); the maps and bars are coloured by them." + _function_words(ckpt),
        "Read and next": "two ways to name a state: read, the sub-context of the word just read; next, the "
                         "sub-context the model's next-word probabilities favour (their sum over its words).",
        "Settled": "a next word is settled at the first depth from which the lens's top word is already the "
                   "model's final choice and stays so at every later depth."}


def map_terms(ckpt: Checkpoint) -> dict[str, str]:
    """The map methods and their faithfulness figures."""
    n = ckpt.model_config.n_embd
    return {
        "Map": f"a drawing of vectors of {n} numbers in 2 or 3 dimensions; something is always lost, so each map "
               "states how faithful it is.",
        "PCA": "keeps the directions in which the points spread most: straight, and distances can be compared.",
        "UMAP and t-SNE": "keep each point's neighbours together: a cluster is real, but the distance between two "
                          "clusters means little.",
        "Story map (LDA)": "picks the directions that best separate the sub-contexts (animals, food, locations, ...).",
        "Trustworthiness": f"from 0 to 1, how far to trust that points close on the map are close in the model: 1 "
                           f"means every point's {NEIGHBOURS} nearest on the map are also near it in the model's "
                           f"{n} numbers. Below about 0.8 the map shows neighbours the model does not have.",
        "Nearest neighbours kept": f"of each point's {NEIGHBOURS} nearest points in the model, the share that are "
                                   "also among its nearest on the map."}


def lens_terms(ckpt: Checkpoint) -> dict[str, str]:
    """How a state at any depth is read as a next-word guess."""
    v = len(ckpt.tokenizer.vocab)
    return {
        "Final norm": f"the model's last step before its output: it rescales a state to a standard size (a "
                      f"LayerNorm). The output layer then gives each of its {v} words a score.",
        "Logit lens": "read a state at any depth as if it were the last one: through the final norm and the output "
                      "layer. What comes out is that depth's guess of the next word.",
        "Tuned lens": "the same, but with a small correction per depth, learned so that each depth's guess matches "
                      "the model's final answer as well as it can; early depths read better with it."}


def landscape_terms() -> dict[str, str]:
    """The Landscape page's own pictures."""
    return {
        "Terrain": "the map of states drawn as a surface: where many of the model's states lie, a hill, coloured "
                   "by the sub-context most of them belong to.",
        "Decoded slice": "every point of the flat map turned back into a state and read by the model as a next-word "
                         "guess. Real states do not lie on that flat sheet, so the page checks it against the "
                         "prompt's own states and draws it first only where it agrees with them.",
        "Loss landscape": "the loss, on a fixed batch of sentences, of models whose weights are moved a little away "
                          "from the trained ones along two directions: a bowl means a stable model."}


def training_terms() -> dict[str, str]:
    """The Training page's words."""
    return {
        "Loss": "how surprised the model is by the next word, averaged over words (in nats: 0 would be never "
                "surprised); it falls as the model learns.",
        "Held-out sentences": "sentences that pair an animal with a food kept out of training on purpose: their "
                              "loss and place probabilities measure generalisation.",
        "Snapshot": "the model's word vectors saved at one step of training, replayed here from random to trained.",
        "Procrustes alignment": "each snapshot's map turned and flipped to line up with the final one, so the words "
                                "move and the axes stay still.",
        "Separability": "how well a state's nearest states share its sub-context: high when the families of words "
                        "have formed their own groups."}


def feature_terms() -> dict[str, str]:
    """The Features page's sparse-autoencoder and probe words."""
    return {
        "Sparse autoencoder": "a small network trained to rebuild each state from a few 'features' out of many, so "
                              "that each feature may mean one thing.",
        "Logit": LOGIT,
        "Feature": "one of the directions a sparse autoencoder finds in the states: it fires (is non-zero) on few "
                   "words, and each state is close to a sum of a few features.",
        "Label": "the world category (such as 'a word of food') whose words best match the words the feature fires "
                 "on.",
        "Precision": "of the words the feature fires on, the share that belong to its label's category.",
        "Recall": "of the words of its label's category, the share the feature fires on.",
        "F1": "one score from the two: 1 when the feature fires on exactly the category's words, 0 when it never "
              "matches. 'good' is 0.8 or more.",
        "Probe": "a straight line through the states that sorts animals with a trait from those without it, fitted "
                 "on some animals and scored on animals it never saw.",
        "Balanced accuracy": "the probe's share of right answers, with animals with and without the trait counted "
                             "equally: 50 % is guessing, 100 % is always right."}
