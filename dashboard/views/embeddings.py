"""Embeddings page: the word map, search, nearest neighbours in the original space, custom semantic axes."""

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
    get_map,
    get_map_book,
    get_own_map,
    map_progress,
    map_when_ready,
)
from dashboard.text import escape_md, faithfulness
from llmcore.maps.formats import MAX_PROJECTOR_BYTES, FormatError, projector_files, zip_files
from llmcore.maps.methods import method_names
from llmcore.maps.store import nearest_neighbours
from llmcore.world.suggest import ADD_A_WORD, matching_words, unknown_words_message

if TYPE_CHECKING:
    import pandas as pd

    from llmcore.maps.placement import MapQuality
    from llmcore.maps.store import FittedMap, ReferenceSet
    from llmcore.model.checkpoint import Checkpoint

METHODS = METHOD_NAMES
NAMES = {"emb_method": "map", "emb_dims": "view", "emb_colour": "colour by", "emb_search": "search",
         "emb_word": "nearest neighbours of", "emb_metric": "distance", "emb_k": "how many", "emb_isolate": "isolate"}
DEFAULTS = {"emb_method": "pca", "emb_dims": 2, "emb_colour": "context", "emb_search": "", "emb_word": "cat",
            "emb_metric": "cosine", "emb_k": 8, "emb_isolate": False}
ALLOWED = {"emb_method": tuple(METHODS), "emb_dims": (2, 3), "emb_colour": ("context", "subgroup"),
           "emb_metric": ("cosine", "euclidean"), "emb_k": (1, 50)}


AXES_KINDS = {"subgroup": "subgroups (pets, farm, meat, fish, …)", "context": "sub-contexts (animals, food, …)"}


def axes_groups(ckpt: Checkpoint, ref: ReferenceSet, kind: str) -> tuple[list[str], list[str], dict[str, str]]:
    """The groups an axis can join (subgroups in the world's taxonomy order), the four default ends (Story scene
    1's axes for subgroups; animals → food against locations → actions), and each subgroup's sub-context."""
    from dashboard.scenes import anchor_word, trait_axes

    present = set(map(str, ref.labels[kind]))
    tax = ckpt.world.taxonomy
    family = {g: c for c, groups in tax.items() for g in groups}
    order = [g for g in family if g in present] if kind == "subgroup" else [c for c in tax if c in present]
    groups = order + sorted(present - set(order))
    defaults = ([g for pair in trait_axes(ckpt, anchor_word(ckpt)) for g in pair] if kind == "subgroup"
                else ["animals", "food", "locations", "actions"])
    return groups, [g if g in groups else groups[0] for g in defaults + groups[:4]][:4], family


def axes_controls(ckpt: Checkpoint, ref: ReferenceSet) -> dict:
    """Two (from, to) pairs for the semantic axes: between subgroups (Story scene 1's axes to begin with) or
    between sub-contexts."""
    kind = st.radio("Axes between the centres of", list(AXES_KINDS), format_func=AXES_KINDS.get, horizontal=True,
                    key="emb_axes_kind")
    groups, pick, family = axes_groups(ckpt, ref, kind)
    label = (lambda g: f"{g} ({family[g]})" if g in family else g) if kind == "subgroup" else str
    c = st.columns(4)
    names = ["x from", "x to", "y from", "y to"]
    chosen = []
    for i in range(4):
        if st.session_state.get(f"emb_ax{i}") not in groups:  # a new kind: its own defaults
            st.session_state[f"emb_ax{i}"] = pick[i]
        chosen.append(c[i].selectbox(names[i], groups, format_func=label, key=f"emb_ax{i}"))
    if kind == "subgroup" and chosen == pick:
        st.caption(escape_md(f"The Story's first scene uses these axes: {pick[0]} → {pick[1]} against {pick[2]} → "
                             f"{pick[3]}."))
    for axis, (a, b) in zip("xy", (chosen[:2], chosen[2:])):
        if a == b:
            st.warning(f"The {axis} axis runs from {escape_md(a)} to {escape_md(a)}: every word lands at 0 on it. "
                       "Pick two different groups.")
    return {"axes": [chosen[:2], chosen[2:]], "label": kind}


def axes_sides(df: pd.DataFrame, params: dict) -> list[tuple[str, str, int, int]]:
    """Per axis (from, to, words on their own group's side of the midpoint between the two groups' centres, words
    of the two groups): how well each axis tells its two groups apart on the map."""
    out = []
    for i, (a, b) in enumerate(params["axes"]):
        col = "xy"[i]
        pa, pb = (df[df[params["label"]] == g][col].to_numpy() for g in (a, b))
        mid = (pa.mean() + pb.mean()) / 2 if len(pa) and len(pb) else 0.0
        out.append((a, b, int((pa < mid).sum() + (pb > mid).sum()), len(pa) + len(pb)))
    return out


def own_embeddings() -> None:
    """Explore embeddings a user brings, in the TensorFlow Embedding Projector's format."""
    with st.expander("Explore your own embeddings (Embedding Projector files)"):
        if classroom.blocked("embeddings are uploaded and mapped"):  # up to 50 MB held and fitted per session
            return
        c1, c2, c3 = st.columns([2, 2, 1])
        mb = MAX_PROJECTOR_BYTES // 2**20
        vec = c1.file_uploader("vectors.tsv", type=["tsv", "txt"], key="own_vectors", max_upload_size=mb)
        meta = c2.file_uploader("metadata.tsv (optional)", type=["tsv", "txt"], key="own_metadata", max_upload_size=mb)
        method = c3.selectbox("Map", method_names(needs_labels=False), format_func=METHODS.get, key="own_method")
        if vec is None:
            return
        try:
            fitted = get_own_map(vec.getvalue(), meta.getvalue() if meta else None, method)
        except FormatError as e:
            st.error(escape_md(str(e)))
            return
        df = frames.reference_frame(fitted)
        q = fitted.quality
        fig = map_figures.word_map(df, "context", f"{METHODS[method]} map of {len(df):,} uploaded points — "
                               f"trustworthiness {q.trustworthiness:.2f}", fitted.axis_label,
                               legend_title="label (metadata.tsv)" if meta else "")
        chart.show(fig, key="own_map")


def render() -> None:
    st.title("Embeddings")
    ckpt = checkpoint_or_error()
    if ckpt is None:
        return
    st.caption("Every word of the vocabulary as a point: words the model uses alike sit together. Neighbours are "
               f"computed in the original {ckpt.model.config.n_embd}-dimensional space, not on the map.")
    glossary.show(glossary.map_terms(ckpt))
    urlstate.restore_with_notice(DEFAULTS, ALLOWED, NAMES)
    ref = get_map_book(ckpt.content_hash, ckpt).reference("words")
    chosen = map_choice(ckpt, ref)
    if chosen is None:
        return
    fmap, colour_by, params = chosen
    words = ref.labels["word"]
    focus, metric, k, found = search_controls(words)
    idx, dist = nearest_neighbours(ref, int(np.flatnonzero(words == focus)[0]), int(k), metric)
    neighbours = [str(words[i]) for i in idx]
    selection = set(found) | set(neighbours) | {focus}
    isolate = st.toggle("Show only the selection (search matches, the word and its neighbours)", key="emb_isolate")
    df = frames.reference_frame(fmap)
    shown = df[df.word.isin(selection)] if isolate else df
    count = f"{len(shown)} of {len(df)} words" if isolate else f"{len(df)} words"
    axes = tuple(f"{a} → {b}" for a, b in params["axes"]) if params else None  # custom axes: named by their groups
    fig = map_figures.word_map(shown, colour_by,
                               f"{METHODS[fmap.method]} map of {count} — {faithfulness(fmap.quality)}",
                           fmap.axis_label, highlight=[focus, *sorted(selection - {focus})],  # its label first
                           context_colours=theme.context_colours(ckpt.context_matrix()[0]), axis_titles=axes,
                           subgroup_order=[g for groups in ckpt.world.taxonomy.values() for g in groups])
    chart.show(fig, key="wordmap")  # the column's whole width: its measures and the neighbours below it
    if params and all(a != b for a, b in params["axes"]):
        st.caption(escape_md("; ".join(f"{a} → {b}: {k} of the {n} words of {a} and {b} lie on their own group's "
                                       "side of the midpoint between the two centres"
                                       for a, b, k, n in axes_sides(df, params)) + "."))
    quality_and_neighbours(ckpt, fmap.quality, focus, metric, neighbours=neighbours, distances=dist)
    row = st.container(horizontal=True)  # the buttons wrap onto a second line on a narrow screen
    row.download_button("Coordinates (CSV)", lambda: df.to_csv(index=False), "word_map.csv", "text/csv",
                        on_click="ignore")
    figure_html(fig, "word_map", container=row)
    row.download_button("Embedding Projector files (ZIP)", lambda: zip_files(projector_files(ref)),
                        "projector.zip", "application/zip", on_click="ignore",
                        help="vectors.tsv, metadata.tsv and projector_config.json for projector.tensorflow.org")
    own_embeddings()
    urlstate.publish(list(DEFAULTS))


def map_choice(ckpt: Checkpoint, ref: ReferenceSet) -> tuple[FittedMap, str, dict | None] | None:
    """The map widgets (method, 2D/3D, colour, custom axes) and the map they ask for: (map, colour_by, axes
    parameters or None), or None after showing why there is none."""
    c1, c2, c3 = st.columns([2, 1, 2])
    method = c1.selectbox("Map", list(METHODS), format_func=METHODS.get, key="emb_method")
    dims = c2.radio("View", [2, 3], format_func=lambda d: f"{d}D", key="emb_dims", horizontal=True,
                    disabled=method == "axes")
    colour_by = c3.radio("Colour by", ["context", "subgroup"], key="emb_colour", horizontal=True,
                         format_func=lambda k: "sub-context" if k == "context" else "subgroup")
    params = axes_controls(ckpt, ref) if method == "axes" else None
    dims = 2 if method == "axes" else dims
    try:
        if params:
            fmap = get_map(ckpt.content_hash, "words", method, dims, _ckpt=ckpt, params_key=json.dumps(params))
            job = None
        else:
            fmap, job = map_when_ready(ckpt.content_hash, "words", method, dims, ckpt=ckpt)
    except ValueError as e:
        st.error(escape_md(str(e)))
        return None
    if job is not None:
        map_progress(job)
    return fmap, colour_by, params


def search_controls(words: np.ndarray) -> tuple[str, str, int, list[str]]:
    """Search box and nearest-neighbour widgets: (word, distance, how many, words the search matches); a search
    that is not valid or matches nothing says so."""
    s1, s2, s3, s4 = st.columns([2, 2, 1.5, 1])  # "euclidean" on one line at 800 px
    search = s1.text_input("Search for a word (or part of one; a regular expression works too)", key="emb_search",
                           max_chars=100)
    word_list = sorted(words)
    if st.session_state.get("emb_word") not in word_list:
        st.session_state.emb_word = "cat" if "cat" in word_list else word_list[0]
    focus = s2.selectbox("Nearest neighbours of", word_list, key="emb_word")
    metric = s3.radio("Distance", ["cosine", "euclidean"], key="emb_metric")
    k = s4.number_input("How many", 1, 50, key="emb_k")
    try:
        found = matching_words(words, search)
    except ValueError as e:
        st.warning(escape_md(str(e)))  # says what is wrong with the search: no second message
        found = None
    if search and found == []:
        help_ = f": {unknown_words_message([search], words)}; {ADD_A_WORD}." if search.isalpha() else "."
        st.warning(f"No word matches '{escape_md(search)}'{escape_md(help_)}")
    return focus, metric, int(k), found or []


def quality_and_neighbours(ckpt: Checkpoint, q: MapQuality, focus: str, metric: str, *, neighbours: list[str],
                           distances: np.ndarray) -> None:
    """The map's quality measures (in a row) and the table of the word's nearest neighbours in the original
    space."""
    m1, m2, m3 = st.columns(3)
    m1.metric("Trustworthiness", f"{q.trustworthiness:.2f}", help="1 = every neighbour on the map is a "
              "neighbour in the original space (scikit-learn's trustworthiness, 10 neighbours)")
    m2.metric("Neighbours kept", f"{q.knn_preservation:.0%}", help="share of each word's 10 nearest words "
              "that stay among its 10 nearest on the map")
    if q.explained_variance is not None:
        m3.metric("Variance shown", f"{q.explained_variance:.0%}")
    st.markdown(f"**Nearest to '{escape_md(focus)}'** ({metric})")
    st.dataframe({"word": neighbours, "distance": np.round(distances, 3),
                  "sub-context": [ckpt.world.label(w)[0] for w in neighbours]}, hide_index=True)
