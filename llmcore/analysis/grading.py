"""Feature labels graded against the world: each feature gets the world category (the word's sub-context or
subgroup, a function word, its place in the sentence, the next word's kind, a trait of the sentence's animal) whose
words best match the words it fires on, with precision, recall and F1; features that match none well are marked
so."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from llmcore.analysis.corpus_states import ROLES, CorpusStates
from llmcore.analysis.probes import Trait
from llmcore.model.protocols import Labeller
from llmcore.world.types import FUNCTION_CONTEXT

GOOD, FAIR = 0.8, 0.5  # F1 from which a label is good, fair; below FAIR it is poor
MIN_SUPPORT = 20  # words a category needs in the grading sentences
QUALITIES = ("good", "fair", "poor", "dead")


@dataclass
class Categories:
    """M world categories over N words: names / families (M,), members: (N, M) bool."""

    names: list[str]
    families: list[str]
    members: np.ndarray

    def __post_init__(self) -> None:
        if self.members.shape[1:] != (len(self.names),) or len(self.families) != len(self.names):
            raise ValueError(f"Categories.members must be (N, {len(self.names)}) with one family per name")


def world_categories(cs: CorpusStates, world: Labeller, traits: list[Trait],
                     min_support: int = MIN_SUPPORT) -> Categories:
    """Every category of the grading words with at least min_support members."""
    words = [str(w) for w in cs.words]
    nexts = words[1:] + ["."]
    nexts = [n if cs.sentence[i + 1:i + 2].tolist() == [cs.sentence[i]] else "" for i, n in enumerate(nexts)]
    cols: dict[tuple[str, str], np.ndarray] = {}

    def add(family: str, name: str, mask: np.ndarray) -> None:
        mask = np.asarray(mask, bool)
        if mask.sum() >= min_support and (family, name) not in cols:
            cols[family, name] = mask

    labels = [world.label(w) for w in words]
    for ctx in dict.fromkeys(c for c, _ in labels):
        add("word class", f"a word of {ctx}", [c == ctx for c, _ in labels])
    for grp in dict.fromkeys(g for _, g in labels):
        add("word group", f"a word of group {grp}", [g == grp for _, g in labels])
    for w in dict.fromkeys(w for w, (c, _) in zip(words, labels) if c == FUNCTION_CONTEXT):
        add("function word", f"the word '{w}'", [x == w for x in words])
    for r, role in enumerate(ROLES):
        mask = np.zeros(len(words), bool)
        mask[cs.roles[:, r][cs.roles[:, r] >= 0]] = True
        add("role", f"the {role}'s word", mask)
    next_labels = [world.label(n) if n else ("", "") for n in nexts]
    for ctx in dict.fromkeys(c for c, _ in next_labels if c):
        add("next word", f"before a word of {ctx}", [c == ctx for c, _ in next_labels])
    _trait_columns(cs, traits, add)
    return Categories(names=[n for _, n in cols], families=[f for f, _ in cols],
                      members=np.stack(list(cols.values()), 1) if cols else np.zeros((len(words), 0), bool))


def _trait_columns(cs: CorpusStates, traits: list[Trait], add: Callable[[str, str, np.ndarray], None]) -> None:
    """'after an animal that <trait>': the words from the sentence's animal on, in sentences about such an animal."""
    animal_at = cs.roles[:, ROLES.index("animal")]
    start = np.where(animal_at >= 0, animal_at, np.iinfo(np.int64).max)  # row index of each sentence's animal
    seen_animal = np.arange(len(cs.words)) >= start[cs.sentence]
    subject = cs.subjects[cs.sentence]
    for t in traits:
        add("animal trait", f"after an animal that {t.family} {t.value}" if t.family != "group"
            else f"after an animal of group {t.value}", seen_animal & np.isin(subject, list(t.animals)))


@dataclass
class FeatureGrades:
    """The best world category of each of W features at L depths. category: (L, W) index into `names` (-1: the
    feature never fires); precision / recall / f1: (L, W) of the words it fires on against that category's words;
    names / families: (M,) the categories (a world name's underscores shown as spaces: 'water places')."""

    names: list[str]
    families: list[str]
    category: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray

    def __post_init__(self) -> None:
        self.names = [str(n).replace("_", " ") for n in self.names]
        shape = self.category.shape
        if self.category.ndim != 2 or any(a.shape != shape for a in (self.precision, self.recall, self.f1)):
            raise ValueError("FeatureGrades.category, precision, recall and f1 must all be (L, W)")
        if self.category.size and self.category.max() >= len(self.names):
            raise ValueError("FeatureGrades.category points past its category names")

    def quality(self, depth: int, feature: int) -> str:
        """'good' (F1 >= GOOD), 'fair' (>= FAIR), 'poor', or 'dead' (never fired on the grading words)."""
        if self.category[depth, feature] < 0:
            return "dead"
        f1 = self.f1[depth, feature]
        return "good" if f1 >= GOOD else "fair" if f1 >= FAIR else "poor"

    def label(self, depth: int, feature: int) -> str:
        """The category's name for a good or fair feature; a poor one that fires almost only on its category's
        members (precision >= GOOD) but on few of them is named as firing on part of it, any other poor one as
        unexplained, with its best guess."""
        q, c = self.quality(depth, feature), self.category[depth, feature]
        if q == "dead":
            return "never fires"
        if q == "poor":
            p, r, f1 = self.precision[depth, feature], self.recall[depth, feature], self.f1[depth, feature]
            if p >= GOOD:
                return f"some of {self.names[c]} only (fires on {r:.0%} of them; F1 {f1:.2f})"
            return f"weak match: {self.names[c]} at best ({p:.0%} of its words are, F1 {f1:.2f})"
        return self.names[c]

    def counts(self) -> dict[str, int]:
        """How many features (all depths) are of each quality."""
        qs = [self.quality(d, j) for d in range(self.category.shape[0]) for j in range(self.category.shape[1])]
        return {q: qs.count(q) for q in QUALITIES}


def grade_features(fired: list[np.ndarray], cats: Categories) -> FeatureGrades:
    """Grade features from (N, W) bool firing masks per depth against the categories' (N, M) members."""
    m = cats.members.astype(np.float32)
    size = m.sum(0)  # (M,)
    out = {k: [] for k in ("category", "precision", "recall", "f1")}
    for f in fired:
        fires = f.sum(0).astype(np.float32)  # (W,)
        both = f.astype(np.float32).T @ m  # (W, M)
        prec = both / np.maximum(fires, 1)[:, None]
        rec = both / np.maximum(size, 1)[None]
        f1 = np.where(both > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)
        best = f1.argmax(1) if f1.shape[1] else np.zeros(len(fires), int)
        out["category"].append(np.where(fires > 0, best, -1))
        for name, a in (("precision", prec), ("recall", rec), ("f1", f1)):
            out[name].append(a[np.arange(len(fires)), best] if a.shape[1] else np.zeros(len(fires)))
    arr = {k: np.stack(v).astype(np.int64 if k == "category" else np.float32) for k, v in out.items()}
    return FeatureGrades(names=cats.names, families=cats.families, **arr)
