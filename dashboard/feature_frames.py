"""Data of the Features page as tables: a step's active features, the traits a word's state carries, a feature's
top examples, what the map of its direction shows; plain functions of llmcore's results, tested without a
browser."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.text import count
from llmcore.analysis.corpus_states import ROLES
from llmcore.analysis.feature_axis import FeatureAxis
from llmcore.analysis.features import Features, PromptFeatures
from llmcore.analysis.probes import READ_BAR
from llmcore.world.types import World

LIKELY_BAR = 0.85  # a trait read less reliably: named apart, with its accuracy on held-back animals

def active_table(f: Features, pf: PromptFeatures, step: int, depth: int) -> pd.DataFrame:
    """The features active at a step and depth, strongest first, with their graded labels."""
    g = f.grades
    rows = [{"feature": j, "activation": round(v, 3), "label": g.label(depth, j), "grade": g.quality(depth, j),
             "F1": round(float(g.f1[depth, j]), 2), "precision": round(float(g.precision[depth, j]), 2),
             "recall": round(float(g.recall[depth, j]), 2)} for j, v in pf.active(step, depth)]
    return pd.DataFrame(rows, columns=["feature", "activation", "label", "grade", "F1", "precision", "recall"])


def word_role(world: World, word: str) -> int | None:
    """The probe position a word stands in: an animal's word, a verb, a food, a preposition; None for others."""
    if world.lemma(word) in getattr(world, "animals", {}):
        return ROLES.index("animal")
    ctx = world.label(word)[0]
    if word in world.grammar.prepositions:
        return ROLES.index("preposition")
    return {"actions": ROLES.index("verb"), "food": ROLES.index("food")}.get(ctx)


def prompt_animal(world: World, words: list[str]) -> str | None:
    """The first animal of the world the prompt names (a plural read as its animal: World.lemma), or None."""
    return next((w for w in map(world.lemma, words) if w in world.animals), None)


def trait_table(f: Features, pf: PromptFeatures, step: int, role: int, animal: str | None = None) -> pd.DataFrame:
    """Per trait: what the probes read from the step's state at each depth (yes / no; in brackets where that
    depth's probe scores under 95 % on held-back animals, a reading not to be trusted), and the first depth at
    which the probe reads it at least 95 % right on animals it never saw; with `animal`, what the world says of
    that animal, to set the readings against."""
    p = f.probes
    scores = p.read(pf.hidden[step], role)  # (K, L)
    rows = []
    for k, t in enumerate(p.traits):
        first = p.first_readable(k, role)
        row = {"trait": t.name, "readable from": p.layer_names[first] if first is not None else "never (< 95 %)",
               "held-back accuracy": round(float(p.accuracy[k, role].max()), 2)}
        if animal is not None:
            row[f"the world, for {animal}"] = "yes" if animal in t.animals else "no"
        for d, name in enumerate(p.layer_names):
            said = "yes" if scores[k, d] > 0 else "no"
            row[name] = said if p.accuracy[k, role, d] >= READ_BAR else f"({said})"
        rows.append(row)
    return pd.DataFrame(rows)


def carried_traits(f: Features, pf: PromptFeatures, step: int, role: int) -> list[tuple[str, str, frozenset[str]]]:
    """(trait, depth, the animals the world gives it) of the traits the state reads 'yes' at the first depth where
    their probe is reliable."""
    p = f.probes
    scores = p.read(pf.hidden[step], role)
    out = []
    for k, t in enumerate(p.traits):
        first = p.first_readable(k, role)
        if first is not None and scores[k, first:].min() > 0:
            out.append((t.name, p.layer_names[first], t.animals))
    return out


def carried_sentence(carried: list[tuple[str, str, frozenset[str]]], role: str, animal: str | None) -> str:
    """The reliable traits a state says yes to (carried_traits), each from its depth; where the prompt names an
    animal, a yes the world denies it is marked, and counted."""
    def one(t: str, d: str, has: frozenset[str]) -> str:
        return f"'{t}' (from {d}{'' if animal is None or animal in has else f'; the world says no for {animal}'})"

    said = "; ".join(one(*c) for c in carried) or "none of the reliable traits"
    wrong = sum(animal is not None and animal not in has for _, _, has in carried)
    text = (f"Read as the {role}'s word, its state says yes to: {said}. Each trait is named from the first depth "
            "whose probe scores at least 95 % on held-back animals.")
    if wrong:
        text += (f" {count(wrong, 'reading')} of them {'disagrees' if wrong == 1 else 'disagree'} with what the "
                 f"world says of {animal}: a probe reads what the state carries, which need not be the world's fact.")
    return text


def likely_traits(f: Features, pf: PromptFeatures, step: int, role: int, *,
                  lo: float = LIKELY_BAR) -> list[tuple[str, str, float]]:
    """(trait, depth, accuracy) of the traits whose probe at this position never reaches the reliable bar but scores
    at least `lo` on held-back animals at its best depth, where the state reads 'yes': named apart, with that
    accuracy, never as if they were reliable."""
    p = f.probes
    scores = p.read(pf.hidden[step], role)
    out = []
    for k, t in enumerate(p.traits):
        best = int(np.argmax(p.accuracy[k, role]))
        acc = float(p.accuracy[k, role, best])
        if p.first_readable(k, role) is None and acc >= lo and scores[k, best] > 0:
            out.append((t.name, p.layer_names[best], acc))
    return sorted(out, key=lambda x: -x[2])


def examples_table(f: Features, depth: int, feature: int) -> pd.DataFrame:
    """A feature's strongest examples: the sentence with the word it fired on marked in brackets."""
    rows = []
    for sentence, pos, value in f.examples.of(depth, feature):
        words = sentence.split()
        words[pos] = f"[{words[pos]}]"
        rows.append({"activation": round(value, 3), "where it fired": " ".join(words)})
    return pd.DataFrame(rows, columns=["activation", "where it fired"])


def probe_grid(f: Features, trait: int) -> np.ndarray:
    """(R, L) held-back accuracy of one trait's probes by position and depth."""
    return f.probes.accuracy[trait]


def axis_sentence(axis: FeatureAxis, feature: str, depth: str, furthest: list[str]) -> str:
    """What the map of a feature's direction shows, computed from it: the points, how many the feature fires on,
    how well its direction sorts them (FeatureAxis.separation), and the words furthest along it."""
    n, k = len(axis.activation), int(axis.fires.sum())
    text = (f"Each dot is the state at {depth} of one of {n:,} positions in sentences of the model's world (the "
            f"Trajectory map's states); x is how far it lies along {feature}'s direction, y the main direction of "
            "what that leaves out. ")
    sep = axis.separation
    if sep is None:
        text += f"The feature fires on {'none' if k == 0 else 'every one'} of them, so the axis cannot sort them."
    else:
        text += (f"The feature fires on {k:,} of them (ringed): a state it fires on lies further along its "
                 f"direction than one it does not in {sep:.0%} of such pairs (50 % would be chance).")
    return text + " Furthest along: " + ", ".join(f"'{w}'" for w in furthest) + "."
