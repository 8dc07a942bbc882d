"""The Story page's six scenes: each a title, sentences computed from the loaded model and world, and a figure.

Pure functions of a checkpoint, its map book and a trace (no streamlit), so every scene is tested for any model,
including worlds that lack something a scene would show (then the scene says so).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from dashboard import figures, frames
from dashboard.text import count, prob, vocabulary_size
from llmcore.maps import nearest_neighbours
from llmcore.world import FUNCTION_CONTEXT

TRAIT_AXES = (("pets", "wild"), ("plant", "meat"))  # the traits the lesson names, where the world has them


@dataclass
class Scene:
    title: str
    sentences: list[str]
    figure: go.Figure | None = None


def _words(ws: list[str]) -> str:
    return ", ".join(f"'{w}'" for w in ws)


def anchor_word(ckpt) -> str:
    """The word scene 1 starts from: 'cat' where the world has it, else its first content word."""
    words = [w for c in ckpt.world.contexts for w in ckpt.world.words_of(c) if w in ckpt.tokenizer.stoi]
    return "cat" if "cat" in words else words[0]


def trait_axes(ckpt, anchor: str) -> list[tuple[str, str]]:
    """Two (from, to) subgroup pairs: pets → wild and plant → meat where they exist, else the first two subgroups
    of the anchor's sub-context and of the next sub-context that has two."""
    groups = {g for c in ckpt.world.taxonomy.values() for g in c}
    if all(a in groups and b in groups for a, b in TRAIT_AXES):
        return list(TRAIT_AXES)
    own = ckpt.world.label(anchor)[0]
    ordered = [own] + [c for c in ckpt.world.taxonomy if c != own]
    pairs = [tuple(list(ckpt.world.taxonomy[c])[:2]) for c in ordered if len(ckpt.world.taxonomy[c]) >= 2]
    return pairs[:2]


def scene_embeddings(ckpt, book) -> Scene:
    """Scene 1: words become vectors; a word's neighbours share its sub-context; axes between groups show traits."""
    ref = book.reference("words")
    anchor = anchor_word(ckpt)
    words = ref.labels["word"]
    idx, _ = nearest_neighbours(ref, int(np.flatnonzero(words == anchor)[0]), 5)
    near = [str(words[i]) for i in idx]
    ctx = ckpt.world.label(anchor)[0]
    same = sum(ckpt.world.label(w)[0] == ctx for w in near)
    says = [f"The model turns each of its {vocabulary_size(ckpt.tokenizer.vocab)} into a vector of "
            f"{count(ref.X.shape[1], 'number')}, learned from the training sentences alone.",
            f"The {count(len(near), 'word')} nearest to '{anchor}' {'is' if len(near) == 1 else 'are'} "
            f"{_words(near)}: {same} of {len(near)} {'is' if same == 1 else 'are'} {ctx}, like '{anchor}' itself."]
    axes = trait_axes(ckpt, anchor)
    if len(axes) < 2:
        says.append("This world has too few subgroups to draw two trait axes.")
        words_map = book.get("words", "pca", 2)
        colours = figures.context_colours(ckpt.context_matrix()[0])
        fig = figures.word_map(frames.reference_frame(words_map), "context", "Word map (PCA)", words_map.axis_label,
                               highlight=[anchor, *near], context_colours=colours)
        return Scene("Words become embeddings that capture traits", says, fig)
    fmap = book.get("words", "axes", 2, params={"axes": [list(a) for a in axes], "label": "subgroup"})
    df = frames.reference_frame(fmap)
    keep = df.subgroup.isin([g for pair in axes for g in pair])
    at = df[df.word == anchor][["x", "y"]].to_numpy()[0]
    ends = [df[df.subgroup == g][["x", "y"]].to_numpy().mean(0) for pair in axes for g in pair]
    nearer = [axes[0][int(abs(at[0] - ends[1][0]) < abs(at[0] - ends[0][0]))],
              axes[1][int(abs(at[1] - ends[3][1]) < abs(at[1] - ends[2][1]))]]
    says.append(f"Along the axis from {axes[0][0]} to {axes[0][1]}, '{anchor}' lies nearer the {nearer[0]} end; "
                f"along {axes[1][0]} to {axes[1][1]}, nearer the {nearer[1]} end (each axis runs between the two "
                "groups' average vectors).")
    fig = figures.word_map(df[keep | (df.word == anchor)], "subgroup", "Traits: words placed on two axes between "
                           "groups", fmap.axis_label, highlight=[anchor],
                           axis_titles=(f"{axes[0][0]} → {axes[0][1]}", f"{axes[1][0]} → {axes[1][1]}"))
    return Scene("Words become embeddings that capture traits", says, fig)


def scene_loop(ckpt, book, trace) -> Scene:
    """Scene 2: the inference loop, on the path of the last prompt word through the depths."""
    steps = trace.word_steps()
    b = steps.boundary
    c = ckpt.model.config
    top, p = steps.candidates(b)[0]
    says = [f"The prompt '{' '.join(trace.prompt_words)}' is {count(len(trace.prompt_words), 'word')}. Each "
            f"becomes its embedding plus a position vector, and passes through {count(c.n_layer, 'block')} of "
            "attention and MLP.",
            f"The final state of the last word, '{steps.words[b]}', is read out as a probability for each of its "
            f"{vocabulary_size(ckpt.tokenizer.vocab)}: the likeliest is '{top}' ({prob(p)}).",
            f"The chosen word is appended and the loop repeats: {count(trace.n_steps, 'time')} here, ending with "
            f"'{trace.generated_words[-1]}' ({trace.stop_reason}). Completion: '{trace.completion}'."]
    fmap = book.get("context:final", "pca", 2)
    colours = figures.context_colours(trace.context_names)
    path = frames.trajectory_frame(trace, fmap, len(trace.layer_names) - 1)
    layers = frames.layer_path_frame(trace, b, fmap)
    fig = figures.trajectory_map(frames.reference_frame(fmap), path.iloc[b: b + 1], colours,
                                 f"Step {b + 1} through the depths (PCA of the final depth)",
                                 options=figures.MapOptions(axis_label=fmap.axis_label, layer_path=layers,
                                                            selected_step=b + 1))
    return Scene("The inference loop", says, fig)


def scene_meander(book, trace, view, *, context_of: dict[str, str], method_title: str) -> Scene:
    """Scene 3: the path through sub-contexts on the measured best map."""
    depth = trace.layer_names.index(view.layer)
    fmap = book.get(f"context:{view.layer}", view.method, 2)
    path = frames.trajectory_frame(trace, fmap, depth, context_of)
    reads = " → ".join(f"{w} ({r})" for w, r in zip(path.word, path.read) if r != FUNCTION_CONTEXT)
    nexts = " → ".join(dict.fromkeys(path.next).keys()) if len(path) else ""
    says = [f"Read word by word, the state passes through: {reads}.",
            f"What the model expects next changes along the way (next reading, in order of appearance): {nexts}.",
            f"The map is {method_title} at '{view.layer}', chosen by "
            f"measurement: there {view.score:.0%} of example states lie in their own word's region."]
    from llmcore.regions import region_map

    regions = region_map(fmap.coords[:, :2], fmap.reference.labels["context"], trace.context_names)
    fig = figures.trajectory_map(frames.reference_frame(fmap), path, figures.context_colours(trace.context_names),
                                 f"{method_title} at {view.layer}",
                                 options=figures.MapOptions(axis_label=fmap.axis_label, regions=regions))
    return Scene("Meandering through sub-contexts", says, fig)


def scene_held_out(ckpt, check: dict | None, breakdown) -> Scene:
    """Scene 4: the never-seen pair and the proof that it was held out (or why this world has none)."""
    if not ckpt.held_out or check is None:
        return Scene("The never-seen pair", ["This world holds no pairs out of training, so there is no never-seen "
                                             "combination to show: every pair the model knows was in its "
                                             "training sentences."])
    (pair, n), = list(check["counts"].items())[:1]
    held, unseen = len(check["counts"]), sum(v == 0 for v in check["counts"].values())
    says = [f"The pair {pair} appears together in {n} of the {count(check['sentences'], 'training sentence')} "
            f"(counted now by regenerating the corpus from the world and its seed); "
            f"{count(held, 'pair')} {'was' if held == 1 else 'were'} held out in all, and {unseen} of "
            f"{'it' if held == 1 else 'them'} {'occurs' if unseen == 1 else 'occur'} in none."]
    if breakdown is not None and len(breakdown.prompts):
        i = 0
        says.append(f"Asked '{breakdown.prompts[i]}', the model puts {breakdown.habitat_mass[i]:.2f} of the "
                    f"probability on places where a {breakdown.animals[i]} lives; its most likely place is "
                    f"'{breakdown.top_place[i]}'. Over all {count(len(breakdown.prompts), 'held-out prompt')}, "
                    f"{np.mean(breakdown.top_is_habitat):.0%} send the place word to a habitat of the animal.")
    return Scene("The never-seen pair", says)


def scene_landscape(d, path, colours: dict[str, str], *, vocab: list[str], axis_label: str) -> Scene:
    """Scene 5: the decision landscape the prompt crosses."""
    col = np.clip(np.searchsorted(d.x, path.x.to_numpy()), 0, len(d.x) - 1)
    row = np.clip(np.searchsorted(d.y, path.y.to_numpy()), 0, len(d.y) - 1)
    crossed = [d.context_names[int(g)] for g in d.context_probs[row, col].argmax(-1)]
    agree = sum(a == b for a, b in zip(crossed, path.next))
    says = [f"Each point of this plane is decoded as if it were a state at '{d.layer}': its colour is the "
            "sub-context of the next word the model would predict from there.",
            f"The prompt's path crosses: {' → '.join(dict.fromkeys(crossed))}.",
            f"The plane is a slice ({d.explained_variance:.0%} of the variance): at {agree} of {len(path)} steps the "
            "colour under the state matches what the state itself predicts."]
    fig = figures.decision_figure(d, vocab, colours, path, axis_label=axis_label)
    return Scene("The landscape the prompt crosses", says, fig)


def scene_decides(trace, context_of: dict[str, str], colours: dict[str, str]) -> Scene:
    """Scene 6: where the model decides, from the logit lens."""
    steps = trace.word_steps()
    lens = steps.lens_top_ids[:, :, 0]  # (N, L)
    says = ["The logit lens reads each depth's state through the final norm and the output layer, as if the "
            "model stopped there."]
    for i in range(steps.boundary, len(steps)):
        final = lens[i, -1]
        settled = next(d for d in range(lens.shape[1]) if (lens[i, d:] == final).all())
        says.append(f"After '{steps.words[i]}' (step {i + 1}), '{trace.vocab[final]}' is the top word from "
                    f"'{trace.layer_names[settled]}' on.")
    lw, lc, lp = frames.lens_grid(trace, context_of)
    labels = [f"{i + 1}: {w}" for i, w in enumerate(steps.words)]
    fig = figures.lens_heatmap(lw, lc, lp, layer_names=trace.layer_names, step_labels=labels, colours=colours)
    return Scene("Where the model decides", says, fig)
