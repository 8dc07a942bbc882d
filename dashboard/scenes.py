"""The Story page's six scenes: each a title, sentences computed from the loaded model and world, and a figure.

Pure functions of a checkpoint, its map book and a trace (no streamlit), so every scene is tested for any model,
including worlds that lack something a scene would show (then the scene says so).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard import frames
from dashboard.figures import landscapes as landscape_figures
from dashboard.figures import maps as map_figures
from dashboard.figures import theme
from dashboard.figures import training as training_figures
from dashboard.figures.theme import esc
from dashboard.text import count, prob, vocabulary_size
from llmcore.maps.store import nearest_neighbours
from llmcore.world.types import FUNCTION_CONTEXT

if TYPE_CHECKING:
    from llmcore.analysis.evaluate import HeldOutBreakdown
    from llmcore.analysis.lens import LensReadings, LensReport
    from llmcore.analysis.trace import GenerationTrace
    from llmcore.maps.bestview import BestView
    from llmcore.maps.landscape import NextWordRegions
    from llmcore.maps.store import MapBook
    from llmcore.model.checkpoint import Checkpoint

TRAIT_AXES = (("pets", "wild"), ("plant", "meat"))  # the traits the lesson names, where the world has them
# The bars a figure's own faithfulness measure must reach to be shown (each Check names what it measures).
AXIS_SIDE_BAR = 0.8  # scene 1: words on their own group's side of its axis
TRUST_BAR = 0.8  # scene 2: trustworthiness of the plane (neighbours on it are neighbours in the model)
REGION_BAR = 0.75  # scene 3: the prompt's content words whose state lies in their own word's region
HOMES_BAR = 0.85  # scene 4: never-seen pairs whose place goes more to the animal's homes than to the food's places
AGREEMENT_BAR = 0.85  # scene 5: steps where the colour under the state is the state's own prediction
LENS_BAR = 1.0  # scene 6: the lens's last row is the model's own output at every step


@dataclass
class Check:
    """A figure's own faithfulness measure: what was measured (with its counts), its value in [0, 1] and the bar
    the value must reach for the figure to be shown."""

    measure: str
    value: float
    bar: float

    @property
    def passed(self) -> bool:
        return bool(self.value >= self.bar)

    def sentence(self) -> str:
        """What was measured, said under a figure that is shown."""
        return f"Checked: {self.measure} ({self.value:.0%}; a figure is shown only at {self.bar:.0%} or more)."

    def reason(self) -> str:
        """Why a figure is not shown."""
        return (f"The figure is not shown: {self.measure} ({self.value:.0%}), below its bar of {self.bar:.0%}, so "
                "it would picture something this model does not do.")


def share_check(measure: str, hits: int, total: int, bar: float) -> Check:
    """A Check of `hits` of `total` (a share; none of none fails)."""
    return Check(f"{hits} of {measure}", hits / total if total else 0.0, bar)


@dataclass
class Scene:
    """A scene: its title, the one sentence it teaches (above the chart), the rest, a figure and its check."""

    title: str
    takeaway: str
    sentences: list[str]
    figure: go.Figure | None = None
    check: Check | None = None

    @property
    def shown(self) -> go.Figure | None:
        """The figure, unless its own check fails its bar."""
        return self.figure if self.check is None or self.check.passed else None


def _words(ws: list[str]) -> str:
    return ", ".join(f"'{w}'" for w in ws)


def _listed(ws: list[str], *, most: int = 4, last: str = "and") -> str:
    """'a, b and c'; past `most` words, 'a, b, c, d and 3 more'."""
    ws = list(ws)
    if len(ws) > most:
        ws = ws[:most] + [f"{len(ws) - most} more"]
    return ws[0] if len(ws) == 1 else f"{', '.join(ws[:-1])} {last} {ws[-1]}"


def _people_beside(world: object, word: str) -> list[str]:
    """The people (plural forms) whose sentences name the animal `word` beside them."""
    plurals = getattr(world, "plurals", {})
    return [plurals.get(p, p) for p, who in getattr(world, "people", {}).items() if word in who.animals]


def world_facts(world: object, word: str, held_out: Collection[tuple[str, str]] = ()) -> str | None:
    """What the world's sentences say of an animal (its kind, places, food, drinks and the people beside it), or
    None for a word the world states no such facts of. A food of its diet held out with it (`held_out`: the
    checkpoint's (animal, food) pairs) is named apart: no training sentence pairs them."""
    animal = getattr(world, "animals", {}).get(word)
    if animal is None:
        return None
    kept = [f for f in animal.diet if (word, f) not in held_out]
    hidden = [f for f in animal.diet if (word, f) in held_out]
    people = _people_beside(world, word)
    parts = [f"is {animal.kind}" if animal.kind else "",
             f"lives in the {_listed(animal.habitats)}" if animal.habitats else "",
             f"eats {_listed(kept)}" if kept else "",
             f"drinks {_listed(animal.drinks)}" if animal.drinks else ""]
    if people:
        parts.append(f"sentences about people name it beside the {_listed(people, most=3)}")
    parts = [p for p in parts if p]
    if not parts:
        return None
    said = "; ".join(parts[:-1]) + f"; and {parts[-1]}" if len(parts) > 1 else parts[0]
    article = "an" if word[:1] in "aeiou" else "a"
    apart = (f" The world also feeds it {_listed(hidden, most=3)}, but no training sentence pairs {article} {word} "
             f"with {'it' if len(hidden) == 1 else 'them'}: held out, to test the model." if hidden else "")
    return (f"The training sentences say {article} {word} {said}.{apart} No label tells the model any of this: it "
            "has only the sentences. The map asks whether its vector carries two such traits.")


def trait_lines(world: object, word: str, held_out: Collection[tuple[str, str]] = ()) -> list[str]:
    """world_facts in short lines for the chart beside the word ('a pet', 'lives: home, street, garden', 'eats: …',
    'drinks: …', 'named beside: pharaohs, …'), a held-out food left out; empty for a word the world states no such
    facts of."""
    animal = getattr(world, "animals", {}).get(word)
    if animal is None:
        return []
    eats = [f for f in animal.diet if (word, f) not in held_out]
    lines = [animal.kind, *(f"{verb}: {_listed(ws, most=most)}" for verb, ws, most in
                            (("lives", animal.habitats, 3), ("eats", eats, 3), ("drinks", animal.drinks, 3),
                             ("named beside", _people_beside(world, word), 2)) if ws)]
    return [line for line in lines if line]


def anchor_word(ckpt: Checkpoint) -> str:
    """The word scene 1 starts from: 'cat' where the world has it, else its first content word."""
    words = [w for c in ckpt.world.contexts for w in ckpt.world.words_of(c) if w in ckpt.tokenizer.stoi]
    return "cat" if "cat" in words else words[0]


def trait_axes(ckpt: Checkpoint, anchor: str) -> list[tuple[str, str]]:
    """Two (from, to) subgroup pairs: pets → wild and plant → meat where they exist, else the first two subgroups
    of the anchor's sub-context and of the next sub-context that has two."""
    groups = {g for c in ckpt.world.taxonomy.values() for g in c}
    if all(a in groups and b in groups for a, b in TRAIT_AXES):
        return list(TRAIT_AXES)
    own = ckpt.world.label(anchor)[0]
    ordered = [own] + [c for c in ckpt.world.taxonomy if c != own]
    pairs = [tuple(list(ckpt.world.taxonomy[c])[:2]) for c in ordered if len(ckpt.world.taxonomy[c]) >= 2]
    return pairs[:2]


def scene_embeddings(ckpt: Checkpoint, book: MapBook, *, ink: str = "#222222") -> Scene:
    """Scene 1: words become vectors; a word's neighbours share its sub-context; axes between groups show traits
    (and the anchor word's traits in the world, in a note on the chart beside it)."""
    ref = book.reference("words")
    anchor = anchor_word(ckpt)
    words = ref.labels["word"]
    idx, _ = nearest_neighbours(ref, int(np.flatnonzero(words == anchor)[0]), 5)
    near = [str(words[i]) for i in idx]
    ctx = ckpt.world.label(anchor)[0]
    same = sum(ckpt.world.label(w)[0] == ctx for w in near)
    title = "Words become embeddings that capture traits"
    takeaway = (f"Words that play the same part get similar vectors: {same} of the {count(len(near), 'word')} "
                f"nearest to '{anchor}' {'is' if same == 1 else 'are'} {ctx}, like '{anchor}' itself.")
    says = [f"The model turns each of its {vocabulary_size(ckpt.tokenizer.vocab)} into a vector of "
            f"{count(ref.X.shape[1], 'number')}, learned from the training sentences alone.",
            *filter(None, [world_facts(ckpt.world, anchor, {tuple(p) for p in ckpt.held_out})]),
            f"The {count(len(near), 'word')} nearest to '{anchor}' {'is' if len(near) == 1 else 'are'} "
            f"{_words(near)}: nearest in the model's {count(ref.X.shape[1], 'number')}, not on this picture, which "
            "keeps only two directions (so a ringed word may lie further away on it than one without a ring)."]
    axes = trait_axes(ckpt, anchor)
    if len(axes) < 2:
        says.append("This world has too few subgroups to draw two trait axes.")
        words_map = book.get("words", "pca", 2)
        colours = theme.context_colours(ckpt.context_matrix()[0])
        fig = map_figures.word_map(frames.reference_frame(words_map), "context", "Word map (PCA)", words_map.axis_label,
                               highlight=[anchor, *near], context_colours=colours)
        trust = Check("trustworthiness of the map: how often a word's nearest words on it are near in the model",
                      words_map.quality.trustworthiness, TRUST_BAR)
        return Scene(title, takeaway, says, fig, trust)
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
    fig = map_figures.word_map(df[keep | df.word.isin([anchor, *near])], "subgroup", "Traits: words placed on two "
                           "axes between groups", fmap.axis_label, highlight=[anchor, *near],
                           highlight_name=f"'{anchor}' and its {count(len(near), 'nearest word')}",
                           axis_titles=(f"{axes[0][0]} → {axes[0][1]}", f"{axes[1][0]} → {axes[1][1]}"))
    traits = trait_lines(ckpt.world, anchor, {tuple(p) for p in ckpt.held_out})
    if traits:  # what the sentences say of the word, on the chart beside it
        shown = df[keep | df.word.isin([anchor, *near])][["x", "y"]].to_numpy(np.float64)
        map_figures.pinned_note(fig, shown, at, f"<b>{esc(anchor)}</b>: " + "<br>".join(esc(t) for t in traits),
                                ink=ink)
    return Scene(title, takeaway, says, fig, axis_side_check(df, axes))


def axis_side_check(df: pd.DataFrame, axes: list[tuple[str, str]]) -> Check:
    """Scene 1's figure says each group lies toward its own end of its axis: the words of the axes' groups that
    lie on their own group's side of the axis's midpoint (between the two groups' averages), over all of them."""
    hits = total = 0
    for i, pair in enumerate(axes):
        xs = [df[df.subgroup == g][["x", "y"]].to_numpy()[:, i] for g in pair]
        mid, sign = (xs[0].mean() + xs[1].mean()) / 2, np.sign(xs[1].mean() - xs[0].mean())
        hits += int((sign * (xs[0] - mid) < 0).sum() + (sign * (xs[1] - mid) > 0).sum())
        total += len(xs[0]) + len(xs[1])
    return share_check(f"{count(total, 'word')} of the four groups lie on their own group's side of its axis",
                       hits, total, AXIS_SIDE_BAR)


def scene_loop(ckpt: Checkpoint, book: MapBook, trace: GenerationTrace, *, font_px: int = 12) -> Scene:
    """Scene 2: the inference loop, on the path of the last prompt word through the depths."""
    b = trace.boundary
    c = ckpt.model.config
    top, p = trace.candidates(b)[0]
    turn = b + 1 < len(trace.words)  # the guess, appended, is read as the next step: the loop's next turn drawn
    takeaway = (f"Each word's state passes through {count(c.n_layer, 'block')}; the last word's final state becomes "
                f"a guess for the next word ('{top}', {prob(p)}), which is appended"
                f"{f' (step {b + 2} on the map)' if turn else ''}, and the loop repeats.")
    says = [f"The prompt '{' '.join(trace.prompt_words)}' is {count(len(trace.prompt_words), 'word')}. Each "
            f"becomes its embedding plus a position vector, and passes through {count(c.n_layer, 'block')} of "
            "attention and MLP.",
            f"The final state of the last word, '{trace.words[b]}', is read out as a probability for each of its "
            f"{vocabulary_size(ckpt.tokenizer.vocab)}: the likeliest is '{top}' ({prob(p)}).",
            f"The chosen word is appended and the loop repeats: {count(trace.n_steps, 'time')} here, ending with "
            f"'{trace.generated_words[-1]}' ({trace.stop_reason}). Completion: '{trace.completion}'.",
            f"The dotted line on the map is the state of '{trace.words[b]}' at every depth, from 'embed' to "
            "'final', drawn on the plane of the final depth's principal components."]
    if turn:
        says.append(f"The arrow from step {b + 1} goes to step {b + 2}: the final state after reading the appended "
                    f"'{trace.words[b + 1]}', where the loop turns again.")
    fmap = book.get("context:final", "pca", 2)
    colours = theme.context_colours(trace.context_names)
    path = frames.trajectory_frame(trace, fmap, len(trace.layer_names) - 1)
    layers = frames.layer_path_frame(trace, b, fmap)
    fig = map_figures.trajectory_map(frames.reference_frame(fmap), path.iloc[b: b + 1 + turn], colours,
                                 f"Step {b + 1} through the depths (PCA of the final depth)",
                                 options=map_figures.MapOptions(axis_label=fmap.axis_label, layer_path=layers,
                                                            selected_step=b + 1, font_px=font_px))
    trust = Check("trustworthiness of the plane: how often a state's nearest states on it are near in the model",
                  fmap.quality.trustworthiness, TRUST_BAR)
    return Scene("The inference loop", takeaway, says, fig, trust)


def scene_meander(book: MapBook, trace: GenerationTrace, view: BestView, *, context_of: dict[str, str],
                  method_title: str, font_px: int = 12) -> Scene:
    """Scene 3: the path through sub-contexts on the measured best map."""
    from llmcore.maps.regions import region_map

    depth = trace.layer_names.index(view.layer)
    fmap = book.get(f"context:{view.layer}", view.method, 2)
    path = frames.trajectory_frame(trace, fmap, depth, context_of)
    content = path[path.read != FUNCTION_CONTEXT]
    reads = " → ".join(f"{w} ({r})" for w, r in zip(content.word, content.read))
    nexts = " → ".join(_runs(list(path.next))) if len(path) else ""
    regions = region_map(fmap.coords[:, :2], fmap.reference.labels["context"], trace.context_names)
    inside = regions.inside(content[["x", "y"]].to_numpy(), list(content.read))
    linking = list(path.word[path.read == FUNCTION_CONTEXT])
    takeaway = (f"Read word by word, the state moves from region to region: "
                f"{' → '.join(_runs(list(content.read))) or 'no content word to follow'}"
                + (f" (besides them, {count(len(linking), 'small linking word')} such as '{linking[0]}': "
                   f"{FUNCTION_CONTEXT}, found everywhere)." if linking and len(content) else "."))
    says = [f"Read word by word, the state passes through: {reads or 'function words only'}.",
            f"What the model expects next changes along the way (next reading, step by step, a repeat in a row said "
            f"once): {nexts}.",
            f"The map is {method_title} at '{view.layer}', chosen by "
            f"measurement: there {view.score:.0%} of example states lie in their own word's region."]
    fig = map_figures.trajectory_map(frames.reference_frame(fmap), path, theme.context_colours(trace.context_names),
                                 f"{method_title} at {view.layer}",
                                 options=map_figures.MapOptions(axis_label=fmap.axis_label, regions=regions,
                                                            font_px=font_px))
    check = share_check(f"{count(len(content), 'content word')} of the prompt: the state lies inside its own "
                        "word's region", int(inside.sum()), len(content), REGION_BAR)
    return Scene("Meandering through sub-contexts", takeaway, says, fig, check)


def _runs(names: list[str]) -> list[str]:
    """The names with repeats in a row said once: a, a, b, a -> a, b, a."""
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


def story_pair(breakdown: HeldOutBreakdown, prompt: str) -> tuple[str, str] | None:
    """The held-out (animal, food) pair the story's prompt names, if it names one."""
    words = set(prompt.lower().split())
    return next(((a, f) for a, f in dict.fromkeys(zip(breakdown.animals, breakdown.foods))
                 if a in words and f in words), None)


def prompt_pair(world: object, prompt: str) -> tuple[str, str] | None:
    """The first animal and the first food the prompt names (base forms), if it names both."""
    lemma, label = getattr(world, "lemma", lambda w: w), getattr(world, "label", None)
    if label is None:
        return None
    words = [lemma(w) for w in prompt.lower().split()]
    animal = next((w for w in words if label(w)[0] == "animals"), None)
    food = next((w for w in words if label(w)[0] == "food"), None)
    return (animal, food) if animal and food else None


def _not_held_out(ckpt: Checkpoint, check: dict, prompt: str, named: str) -> list[str]:
    """A sentence for a prompt that pairs an animal and a food that are not a held-out pair: whether the training
    sentences hold it, and that the scene shows the pairs held out on purpose instead."""
    mine, held = prompt_pair(ckpt.world, prompt), {tuple(p) for p in ckpt.held_out}
    if mine is None or mine in held:
        return []
    n, total = frames.read_together(check, mine), f"{check['sentences']:,}"
    seen = (f"none of the {total} training sentences names them together either" if not n else
            f"{n:,} of the {total} training sentences name them together")
    return [f"Your prompt pairs {mine[0]} and {mine[1]}: {seen}. It is not one of the {count(len(held), 'pair')} "
            f"held out of training on purpose and measured, so this scene speaks of the held-out pair {named} and "
            "shows all of them."]


def _example(breakdown: HeldOutBreakdown, prompt: str, pair: tuple[str, str] | None) -> int:
    """The held-out prompt to quote: the story's own prompt where it is one, else its pair's first, else the first."""
    at = [i for i, p in enumerate(breakdown.prompts) if p.startswith(prompt.strip())]
    same = [i for i, af in enumerate(zip(breakdown.animals, breakdown.foods)) if af == pair]
    return (at or same or [0])[0]


def scene_held_out(ckpt: Checkpoint, check: dict | None, breakdown: HeldOutBreakdown | None, *,
                   prompt: str = "") -> Scene:
    """Scene 4: the never-seen pair, the proof that it was held out (or why this world has none), and where the
    model sends the place word after it and after every other held-out pair, against pairs it was trained on."""
    title = "The never-seen pair"
    if not ckpt.held_out or check is None:
        return Scene(title, "This world holds no pairs out of training, so there is no never-seen combination to "
                     "show.", ["Every pair the model knows was in its training sentences."])
    counts = check["counts"]
    pair = story_pair(breakdown, prompt) if breakdown is not None and len(breakdown.prompts) else None
    named = f"{pair[0]} + {pair[1]}" if pair and f"{pair[0]} + {pair[1]}" in counts else next(iter(counts))
    n, sentences = counts[named], count(check["sentences"], "training sentence")
    held, unseen = len(counts), sum(v == 0 for v in counts.values())
    aside = _not_held_out(ckpt, check, prompt, named)
    says = [*aside,
            f"The pair {named} appears together in {n} of the {sentences} (counted now by regenerating the corpus "
            f"from the world and its seed); {count(held, 'pair')} {'was' if held == 1 else 'were'} held out in all, "
            f"and {unseen} of {'it' if held == 1 else 'them'} {'occurs' if unseen == 1 else 'occur'} in none."]
    if breakdown is None or not len(breakdown.prompts):
        return Scene(title, f"The model never read {named} together: {n} of the {sentences}.", says)
    share = float(np.mean(breakdown.top_is_habitat))
    prompts = count(len(breakdown.prompts), "held-out prompt")
    mine = prompt_pair(ckpt.world, prompt)  # named in `aside` when it is not held out
    other = ("" if not aside else
             f"Your prompt's {mine[0]} + {mine[1]} was never read together in training, but it is not one of the pairs "
             "held out on purpose and measured; " if not frames.read_together(check, mine) else
             f"Your prompt's {mine[0]} + {mine[1]} was read together in training, so it proves nothing here; ")
    takeaway = (f"{other}{'t' if other else 'T'}he model never read {named} together ({n} of the {sentences}), yet "
                f"for {share:.0%} of the {prompts} its likeliest place is a home of the animal.")
    i = _example(breakdown, prompt, pair)
    asked = len(set(zip(breakdown.animals, breakdown.foods)))
    wordings = (f"the {count(asked, 'never-seen pair')}, each asked in about {len(breakdown.prompts) / asked:.0f} "
                "wordings of the world's sentences")
    says.append(f"Asked '{breakdown.prompts[i]}', the model puts {breakdown.habitat_mass[i]:.2f} of the probability "
                f"on places where a {breakdown.animals[i]} lives and {prob(breakdown.food_place_mass[i])} on the "
                f"{breakdown.foods[i]}'s own places; its most likely place is '{breakdown.top_place[i]}'. Over all "
                f"{prompts} ({wordings}), {share:.0%} send the place word to a habitat of the animal.")
    groups = frames.held_out_groups(breakdown, pair, ckpt.metrics, n_pairs=held)
    wins = frames.homes_beat_food_places(breakdown)
    check_ = share_check(f"{count(len(wins), 'never-seen pair')} put more probability on the animal's homes than on "
                         "the food's own places", int(wins.sum()), len(wins), HOMES_BAR)
    says.append("The bars are the model's own next-word probabilities, summed over the place words of each kind and "
                "averaged over the prompts of each group" + ("; the trained pairs are as many pairs the model did "
                                                           "read, measured the same way when it was trained, which "
                                                           "stored only their animal's homes (hence 'not measured')."
                                                           if groups.food_places.isna().any() else "."))
    fig = training_figures.held_out_bars(groups, title=f"Where the place word goes after {named} and the other "
                                         "never-seen pairs" if pair is not None else
                                         "Where the place word goes after the never-seen pairs")  # no bar of its own
    return Scene(title, takeaway, says, fig, check_)


def scene_landscape(r: NextWordRegions, path: pd.DataFrame, colours: dict[str, str], *, ink: str = "#222222",
                    font_px: int = 12, width_px: int = 1000, height_px: int = 620) -> Scene:
    """Scene 5: what real states predict next (llmcore.maps.landscape.NextWordRegions) and the prompt's path over it,
    each step checked: the colour under its state against the state's own prediction. width_px / height_px: the
    chart's size as drawn, for placing its labels."""
    shown = r.shown_at(path[["x", "y"]].to_numpy())
    hits = [a == b for a, b in zip(shown, path.next)]
    n_ref = len(r.predicted)
    check = share_check(f"{count(len(path), 'step')}: the colour under the state is what the state itself predicts",
                        sum(hits), len(path), AGREEMENT_BAR)
    takeaway = (f"Coloured by what the model predicts next from real states, the prompt's path crosses "
                f"{' → '.join(_runs([c or 'blank' for c in shown]))}." if check.passed else
                f"At '{r.layer}' one flat picture cannot show what this prompt's states predict next: at "
                f"{sum(hits)} of its {count(len(path), 'step')} the colour under the state would be what the state "
                "itself predicts.")
    says = [f"Each of {count(n_ref, 'state')} of the model at '{r.layer}' (after the words of the world's own "
            "sentences) is read through the output layer; it predicts the sub-context that gets most of its "
            f"next-word probability. A spot's colour is what most of the {r.k} states nearest to it on this plane "
            "predict; it is blank where no state is near.",
            "The plane's two directions are the ones that best separate those predictions (linear discriminant "
            "analysis: its axes are discriminant axes), so states "
            "that predict the same kind of word lie together."]
    wrong = [f"step {s} ('{w}': predicts {n}, lies on {c or 'blank'})"
             for s, w, n, c, ok in zip(path.step, path.word, path.next, shown, hits) if not ok]
    if wrong:
        says.append(f"Where the picture and the model disagree: {'; '.join(wrong)}.")
    fig = landscape_figures.next_regions_figure(r, path, colours, ink=ink, font_px=font_px, width_px=width_px,
                                                height=height_px, title=f"What real states at '{r.layer}' predict "
                                                "next, and the prompt's path")
    return Scene("The landscape the prompt crosses", takeaway, says, fig, check)


def scene_decides(trace: GenerationTrace, context_of: dict[str, str], colours: dict[str, str], readings: LensReadings,
                  report: LensReport | None = None) -> Scene:
    """Scene 6: where the model decides, from a lens's `readings` (llmcore.analysis.lens.LensReadings: the logit
    lens, or the tuned lens with its `report`, the KL figures measured when it was fitted)."""
    lens = readings.top_ids[:, :, 0]  # (N, L)
    says = [_lens_sentence(readings.lens, report)]
    settled = readings.settled[trace.boundary:]
    for i in range(trace.boundary, len(trace)):
        says.append(f"After '{trace.words[i]}' (step {i + 1}), '{trace.vocab[lens[i, -1]]}' is the top word from "
                    f"'{readings.settled_label(i)}' on.")
    median = int(np.median(settled))
    by = int((settled <= median).sum())
    first, last = trace.boundary + 1, len(trace)
    steps = f"step {first}" if first == last else f"steps {first}–{last}"
    takeaway = (f"Reading the state after each layer as if it were the last ({readings.lens} lens): for {by} of the "
                f"{count(len(settled), 'word')} it wrote ({steps}), the model has its answer by "
                f"'{trace.layer_names[median]}'"
                + (", while the layers before still rank other words first." if median else "."))
    latest = trace.boundary + int(np.argmax(settled)) if len(settled) else None
    if latest is not None and readings.settled[latest] > median:  # the hardest choice, not hidden by the median
        takeaway += (f" The word it chose latest is '{trace.vocab[lens[latest, -1]]}' (after '{trace.words[latest]}'):"
                     f" only from '{trace.layer_names[readings.settled[latest]]}' on.")
    lw, lc, lp = frames.lens_grid(trace, context_of, readings)
    labels = [f"{i + 1}: {w}" for i, w in enumerate(trace.words)]
    fig = map_figures.lens_heatmap(lw, lc, lp, layer_names=trace.layer_names, step_labels=labels, colours=colours,
                                   lens=readings.lens, settled=readings.settled)
    own = int((lens[:, -1] == trace.topk_ids[:, 0]).sum())
    check = share_check(f"{count(len(trace), 'step')}: the lens's last row is the word the model itself ranks "
                        "first", own, len(trace), LENS_BAR)
    return Scene("Where the model decides", takeaway, says, fig, check)


def _lens_sentence(lens: str, report: LensReport | None) -> str:
    """What the lens does, and for the tuned lens how much closer to the output it reads the first depth."""
    if lens == "logit" or report is None:
        return ("The logit lens reads each depth's state through the final norm and the output layer, as if the "
                "model stopped there.")
    return (f"The tuned lens first passes each depth's state through a translator fitted for that depth, then reads it "
            f"through the final norm and the output layer. On sentences it was not fitted on, its reading at "
            f"'{report.layer_names[0]}' is {report.kl_tuned[0]:.2f} nats from the model's output, against "
            f"{report.kl_logit[0]:.2f} for the logit lens (KL divergence; 0 would be the output itself).")
