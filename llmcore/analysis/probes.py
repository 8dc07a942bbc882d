"""Trait probes: for every trait the world gives its animals (subgroup, kind, habitat, habitat class, diet class,
drink), a linear probe per depth and per position relative to the animal, scored on animals it never saw, beside
the same probe trained on shuffled traits.

The probes are scikit-learn ridge regressions with a balanced threshold, one solve for all traits: logistic
regression per trait measured 20 ms a fit idle and about 150 ms with the machine busy, and the 6,600 fits a full
run needs (55 traits, 4 positions, 6 depths, 4 folds and a refit) took over 15 minutes."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from llmcore.analysis.corpus_states import ROLES, CorpusStates
from llmcore.model.protocols import Labeller

READ_BAR = 0.95  # a trait is "readable" at a depth and position where held-back animals score at least this
# a family as a trait's name says it: 'lives in' a group of places (home: house, kennel, ...) apart from 'lives at'
# one place (home)
FAMILY_SHOWN = {"lives in": "lives in group", "lives": "lives at"}
MIN_ANIMALS = 3  # a trait needs this many animals with it and without it
N_FOLDS = 4
MAX_ROWS = 1000  # sentences per probe fit, drawn evenly over the training animals


@dataclass(frozen=True)
class Trait:
    """A yes/no property of animals that the world states: family ('group', 'kind', 'lives', 'lives in', 'eats',
    'drinks'), value (a subgroup, a place, a food group, a drink) and the animals that have it."""

    family: str
    value: str
    animals: frozenset[str]

    @property
    def name(self) -> str:
        family = FAMILY_SHOWN.get(self.family, self.family)
        return f"{family}: {self.value.replace('_', ' ')}"  # as shown: 'lives in group: water places'


def world_traits(world: Labeller, min_animals: int = MIN_ANIMALS) -> list[Trait]:
    """Every trait of the world's animals held by at least min_animals of them and missing in as many."""
    animals = getattr(world, "animals", {})
    tax = world.taxonomy
    found: list[Trait] = []
    add = lambda fam, val, members: found.append(Trait(fam, val, frozenset(members)))  # noqa: E731
    for g, words in tax.get("animals", {}).items():
        add("group", g, [w for w in words if w in animals])
    for kind in dict.fromkeys(a.kind for a in animals.values()):
        add("kind", kind, [a.name for a in animals.values() if a.kind == kind])
    for g, places in tax.get("locations", {}).items():
        add("lives in", g, [a.name for a in animals.values() if set(a.habitats) & set(places)])
    for place in dict.fromkeys(h for a in animals.values() for h in a.habitats):
        add("lives", place, [a.name for a in animals.values() if place in a.habitats])
    for g, foods in tax.get("food", {}).items():
        add("eats", g, [a.name for a in animals.values() if set(a.diet) & set(foods)])
    for drink in dict.fromkeys(d for a in animals.values() for d in a.drinks):
        add("drinks", drink, [a.name for a in animals.values() if drink in a.drinks])
    n = len(animals)
    unique = {t.name: t for t in found if min_animals <= len(t.animals) <= n - min_animals}
    return list(unique.values())


@dataclass
class ProbeResult:
    """K traits probed at R positions (ROLES) and L depths, on animals held back in N_FOLDS folds.

    accuracy: (K, R, L) balanced accuracy on held-back animals (chance 0.5); control: (K,) the same at each
    trait's best position and depth (`best`) with the trait shuffled between animals; majority: (K, R) the share
    of the larger class (plain accuracy's chance); n_sentences: (R,) sentences with each position; weights:
    (K, R, L, C), bias: (K, R, L) (minus the threshold), mean / scale: (R, L, C): probes refitted on
    every animal, for reading new states (`read`); fit_seconds: its time."""

    traits: list[Trait]
    roles: list[str]
    layer_names: list[str]
    accuracy: np.ndarray
    control: np.ndarray
    majority: np.ndarray
    n_sentences: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    n_animals: int
    fit_seconds: float

    def __post_init__(self) -> None:
        K, R, L = len(self.traits), len(self.roles), len(self.layer_names)
        for name, shape in (("accuracy", (K, R, L)), ("control", (K,)), ("majority", (K, R)),
                            ("n_sentences", (R,)), ("bias", (K, R, L))):
            if getattr(self, name).shape != shape:
                raise ValueError(f"ProbeResult.{name} has shape {getattr(self, name).shape}, expected {shape}")
        C = self.mean.shape[-1]
        if self.weights.shape != (K, R, L, C) or self.mean.shape != (R, L, C) or self.scale.shape != (R, L, C):
            raise ValueError("ProbeResult.weights must be (K, R, L, C), mean and scale (R, L, C)")

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.traits]

    def trait_index(self, name: str) -> int:
        if name not in self.names:
            raise ValueError(f"no trait {name!r}; the probed traits are {', '.join(self.names)}")
        return self.names.index(name)

    def best(self, k: int) -> tuple[float, int, int]:
        """(accuracy, role, depth) of trait k's best probe (the shallowest and earliest among equals)."""
        acc = self.accuracy[k]
        r, d = np.unravel_index(int(np.argmax(acc)), acc.shape)
        return float(acc[r, d]), int(r), int(d)

    def first_readable(self, k: int, role: int, bar: float = READ_BAR) -> int | None:
        """The shallowest depth at which trait k reads at least `bar` at a position; None if none does."""
        hits = np.flatnonzero(self.accuracy[k, role] >= bar)
        return int(hits[0]) if hits.size else None

    def readable(self, bar: float = READ_BAR) -> list[int]:
        """Traits read at least `bar` at some depth and position."""
        return [k for k in range(len(self.traits)) if self.accuracy[k].max() >= bar]

    def read(self, state: np.ndarray, role: int) -> np.ndarray:
        """(K, L) scores of each trait from one word's states (L, C) at every depth by the refitted probes: above
        0 the probe says the animal has the trait."""
        z = (state - self.mean[role]) / self.scale[role]  # (L, C)
        return np.einsum("klc,lc->kl", self.weights[:, role], z) + self.bias[:, role]

    def sentence(self, k: int, role: int | None = None) -> str:
        """Where trait k becomes readable, in one sentence computed from the accuracies."""
        name = self.traits[k].name
        roles = range(len(self.roles)) if role is None else [role]
        firsts = [(d, r) for r in roles if (d := self.first_readable(k, r)) is not None]
        acc, r_best, d_best = self.best(k)
        ctl = float(self.control[k])
        if not firsts:
            return (f"'{name}' is never read with {READ_BAR:.0%} balanced accuracy on animals the probe never saw: "
                    f"at best {acc:.0%} at the {self.roles[r_best]}'s word, {self.layer_names[d_best]} (shuffled "
                    f"traits there: {ctl:.0%}).")
        d, r = min(firsts)
        return (f"'{name}' is readable from {self.layer_names[d]} at the {self.roles[r]}'s word "
                f"({self.accuracy[k, r, d]:.0%} on animals the probe never saw; best {acc:.0%} at the "
                f"{self.roles[r_best]}'s word, "
                f"{self.layer_names[d_best]}); with the trait shuffled between animals the probe there reads "
                f"{ctl:.0%}.")


RIDGE = 1.0  # L2 penalty per training row on standardised states


def _balanced(y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(K,) balanced accuracy of (n, K) predictions of (n, K) 0/1 labels (0.5 where a column has one class)."""
    pos, neg = y == 1, y == 0
    rec1 = (pred & pos).sum(0) / np.maximum(pos.sum(0), 1)
    rec0 = (~pred & neg).sum(0) / np.maximum(neg.sum(0), 1)
    return np.where(pos.any(0) & neg.any(0), (rec1 + rec0) / 2, 0.5)


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, scale = x.mean(0), x.std(0)
    return mean, np.where(scale > 1e-6, scale, 1.0)


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Linear probes for K traits at once on (n, C) states and (n, K) 0/1 labels: scikit-learn's ridge regression
    (one solve for every trait), each trait's threshold halfway between its two classes' mean scores.
    Returns the states' mean and scale, weights (K, C) and thresholds (K,)."""
    from sklearn.linear_model import Ridge

    mean, scale = _standardise(x)
    z = (x - mean) / scale
    model = Ridge(alpha=RIDGE * len(x)).fit(z, y.astype(np.float64))
    w = np.atleast_2d(model.coef_)  # (K, C)
    s = z @ w.T  # (n, K)
    pos, neg = y == 1, y == 0
    m1 = (s * pos).sum(0) / np.maximum(pos.sum(0), 1)
    m0 = (s * neg).sum(0) / np.maximum(neg.sum(0), 1)
    return mean, scale, w, (m1 + m0) / 2


def _even_rows(groups: np.ndarray, rng: np.random.Generator, cap: int = MAX_ROWS) -> np.ndarray:
    """At most `cap` row indices, as evenly spread over the groups (animals) as they allow."""
    if len(groups) <= cap:
        return np.arange(len(groups))
    order = rng.permutation(len(groups))
    rank = np.zeros(len(groups), int)
    seen: dict[str, int] = {}
    for i in order:
        rank[i] = seen.get(groups[i], 0)
        seen[groups[i]] = rank[i] + 1
    return np.sort(order[np.argsort(rank[order], kind="stable")[:cap]])


def _cv_scores(x: np.ndarray, subjects: np.ndarray, y: np.ndarray, folds: list[np.ndarray],
               rng: np.random.Generator) -> np.ndarray:
    """(K,) balanced accuracy on held-back animals of K traits' probes ((n, K) labels), folds of animals held back
    in turn; each fold weighted by its sentences."""
    total, weight = np.zeros(y.shape[1]), np.zeros(y.shape[1])
    for test_animals in folds:
        test = np.isin(subjects, test_animals)
        train = np.flatnonzero(~test)
        train = train[_even_rows(subjects[train], rng)]
        mean, scale, w, thr = _fit(x[train], y[train])
        pred = ((x[test] - mean) / scale) @ w.T > thr
        ok = (y[test] == 1).any(0) & (y[test] == 0).any(0) & (y[train] == 1).any(0) & (y[train] == 0).any(0)
        total += np.where(ok, _balanced(y[test], pred) * test.sum(), 0)
        weight += np.where(ok, test.sum(), 0)
    return np.where(weight > 0, total / np.maximum(weight, 1), 0.5)


def fit_probes(cs: CorpusStates, world: Labeller, *, traits: list[Trait] | None = None, seed: int = 0) -> ProbeResult:
    """Every trait's probe at every position and depth, scored on held-back animals, with a shuffled-trait control
    at each trait's best cell; then refitted on every animal for reading new states."""
    t0 = time.perf_counter()
    traits = world_traits(world) if traits is None else traits
    rng = np.random.default_rng(seed)
    animals = sorted({str(s) for s in cs.subjects if s})
    folds = np.array_split(rng.permutation(animals), N_FOLDS)
    K, R, L, C = len(traits), len(ROLES), len(cs.layer_names), cs.states.shape[-1]
    acc, ctl = np.full((K, R, L), 0.5), np.full(K, 0.5)
    weights, bias = np.zeros((K, R, L, C), np.float32), np.zeros((K, R, L), np.float32)
    mean, scale = np.zeros((R, L, C), np.float32), np.ones((R, L, C), np.float32)
    majority, counts = np.zeros((K, R)), np.zeros(R, np.int64)
    has = np.array([[a in t.animals for t in traits] for a in animals], np.int64)  # (A, K)
    shuffled = np.stack([rng.permutation(has[:, k]) for k in range(K)], 1)
    data = []
    for r, role in enumerate(ROLES):
        rows, subjects = cs.role_rows(role)
        subjects = subjects.astype(str)
        index = np.searchsorted(animals, subjects)
        data.append((rows, subjects, index))
        counts[r] = len(rows)
        if len(set(subjects)) < 2 * N_FOLDS:
            continue
        y = has[index]
        majority[:, r] = np.maximum(y.mean(0), 1 - y.mean(0))
        keep = _even_rows(subjects, rng)
        for d in range(L):
            x = cs.states[rows, d]
            acc[:, r, d] = _cv_scores(x, subjects, y, folds, rng)
            mean[r, d], scale[r, d], w, thr = _fit(x[keep], y[keep])
            weights[:, r, d], bias[:, r, d] = w, -thr
    for k in range(K):
        r, d = np.unravel_index(int(np.argmax(acc[k])), acc[k].shape)
        rows, subjects, index = data[r]
        ctl[k] = _cv_scores(cs.states[rows, d], subjects, shuffled[index][:, [k]], folds, rng)[0]
    return ProbeResult(traits=traits, roles=list(ROLES), layer_names=list(cs.layer_names), accuracy=acc,
                       control=ctl, majority=majority, n_sentences=counts, weights=weights, bias=bias, mean=mean,
                       scale=scale, n_animals=len(animals), fit_seconds=time.perf_counter() - t0)
