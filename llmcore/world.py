"""The world a model learns: a taxonomy of sub-contexts, animals with traits, and a seeded corpus generator."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from llmcore import inputs
from llmcore.inputs import tomllib  # noqa: F401 - re-exported: train, jobs and hf import it from here

DEFAULT_WORLD = Path(__file__).parent / "data" / "world.toml"
REQUIRED_CONTEXTS = ("animals", "food", "locations")
WORD_RE = re.compile(r"[a-z]+")  # used with fullmatch: `$` would let a trailing newline through
MIN_SENTENCES, MAX_SENTENCES = 100, 5_000_000
MAX_WORLD_BYTES = 2 * 2**20  # 2 MB
FUNCTION_CONTEXT = "grammar"  # label of words outside the taxonomy (a, the, in, ., ...)


class WorldError(ValueError):
    """A world file that cannot be used; the message names the file, the key and the problem."""

    def __init__(self, source: str, key: str, problem: str):
        self.source, self.key, self.problem = source, key, problem
        super().__init__(f"{source}: [{key}] {problem}")


@dataclass(frozen=True)
class Animal:
    name: str
    kind: str
    habitats: tuple[str, ...]
    diet: tuple[str, ...]
    drinks: tuple[str, ...]
    chases: tuple[str, ...] = ()
    things: tuple[str, ...] = ()
    facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class CorpusRecipe:
    sentences: int
    eat_verbs: tuple[str, ...]
    drink_verbs: tuple[str, ...]
    rest_verbs: tuple[str, ...]
    held_out: tuple[tuple[str, str], ...]
    held_out_fraction: float
    held_out_seed: int
    mix: dict[str, float]


SENTENCE_KINDS = ("eat_event", "drink_event", "other_event", "diet_fact", "habitat_fact", "kind_fact",
                  "chase", "custom_fact", "food_place", "people")


@dataclass
class World:
    """A parsed, validated world. `taxonomy[context][subgroup]` lists words."""

    taxonomy: dict[str, dict[str, list[str]]]
    animals: dict[str, Animal]
    food_places: dict[str, tuple[str, list[str]]]
    people: dict[str, list[str]]
    recipe: CorpusRecipe
    source: str = "<dict>"
    content_hash: str = ""
    _labels: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._labels = {w: (c, g) for c, groups in self.taxonomy.items() for g, ws in groups.items() for w in ws}

    @property
    def contexts(self) -> list[str]:
        """Top-level sub-contexts in file order."""
        return list(self.taxonomy)

    def label(self, word: str) -> tuple[str, str]:
        """(sub-context, subgroup) of a word; function words get ('grammar', 'grammar')."""
        return self._labels.get(word, (FUNCTION_CONTEXT, FUNCTION_CONTEXT))

    def words_of(self, context: str) -> list[str]:
        return [w for ws in self.taxonomy[context].values() for w in ws]

    def diet_pairs(self) -> list[tuple[str, str]]:
        """Every (animal, food) pair the diets allow, in file order."""
        return [(a.name, f) for a in self.animals.values() for f in a.diet]

    def held_out_pairs(self) -> list[tuple[str, str]]:
        """The explicit held-out pairs plus a seeded share of the other allowed pairs, kept out of training.

        A pair is taken only if its animal keeps more than two foods and its food more than one eater; the counts
        are kept up to date as pairs are taken, so this is linear in the number of pairs.
        """
        held, pairs = list(self.recipe.held_out), self.diet_pairs()
        target = len(held) + int(np.ceil(self.recipe.held_out_fraction * (len(pairs) - len(held))))
        rng = np.random.default_rng(self.recipe.held_out_seed)
        taken = set(held)
        copies = Counter(pairs)  # a diet may list a food twice; each copy counts, as it did in the list scans
        foods, eaters = Counter(), Counter()
        for pair in pairs:
            if pair not in taken:
                foods[pair[0]] += 1
                eaters[pair[1]] += 1
        candidates = [p for p in pairs if p not in taken]
        for i in rng.permutation(len(candidates)):
            if len(held) >= target:
                break
            animal, food = candidates[i]
            if foods[animal] > 2 and eaters[food] > 1:
                held.append((animal, food))
                if (animal, food) not in taken:
                    taken.add((animal, food))
                    foods[animal] -= copies[animal, food]
                    eaters[food] -= copies[animal, food]
        return held


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def load_world(path: str | Path = DEFAULT_WORLD) -> World:
    """Read and validate a world file (TOML or JSON)."""
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise WorldError(source, "file", "does not exist or is not a file; pass a TOML or JSON world file")
    return world_from_dict(read_world_data(path), source)


def read_world_data(path: Path) -> dict[str, Any]:
    """A world file's parsed data: size, encoding (a BOM is dropped) and nesting checked before parsing."""
    source = str(path)
    if path.stat().st_size > MAX_WORLD_BYTES:
        raise WorldError(source, "file", f"is {path.stat().st_size:,} bytes; a world file may be at most "
                         f"{MAX_WORLD_BYTES:,}")
    try:
        text = inputs.decode_text(path.read_bytes())
        return inputs.parse_json(text) if path.suffix.lower() == ".json" else inputs.parse_toml(text)
    except UnicodeDecodeError as e:
        raise WorldError(source, "file", f"is not UTF-8 text ({e})") from None
    except inputs.InputError as e:
        raise WorldError(source, "file", str(e)) from None


def world_hash(data: dict[str, Any]) -> str:
    """Content hash of a world, independent of formatting and comments."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def world_from_dict(data: Any, source: str = "<dict>") -> World:
    """Build a World from parsed data, raising WorldError on the first problem found."""
    v = _Validator(source)
    v.require(isinstance(data, dict) and data, "file", "is empty or not a table of sections")
    v.require(inputs.value_depth(data) <= inputs.MAX_DEPTH, "file", f"nests deeper than {inputs.MAX_DEPTH} levels")
    taxonomy = v.taxonomy(v.get(data, "taxonomy", dict))
    labels = {w: c for c, groups in taxonomy.items() for ws in groups.values() for w in ws}
    animals = {name: v.animal(name, spec, labels) for name, spec in v.get(data, "animals", dict).items()}
    for name in labels:
        v.require(labels[name] != "animals" or name in animals, "taxonomy.animals",
                  f"'{name}' has no [animals.{name}] section with its traits")
    food_places = {f: v.food_place(f, spec, labels) for f, spec in data.get("food_places", {}).items()}
    people = {p: v.people(p, spec, labels) for p, spec in data.get("people", {}).items()}
    recipe = v.recipe(v.get(data, "corpus", dict), animals)
    world = World(taxonomy, animals, food_places, people, recipe, source, world_hash(data))
    allowed = set(world.diet_pairs())
    for a, f in recipe.held_out:
        v.require((a, f) in allowed, "corpus.held_out", f"({a}, {f}) is not a pair the diets allow")
    held = set(recipe.held_out)
    for a in animals.values():
        v.require(any((a.name, f) not in held for f in a.diet), "corpus.held_out",
                  f"holds out every food of {a.name}'s diet; leave at least one for training")
    return world


class _Validator:
    """Small helpers that raise WorldError with the file and key."""

    def __init__(self, source: str):
        self.source = source

    def require(self, ok: Any, key: str, problem: str) -> None:
        if not ok:
            raise WorldError(self.source, key, problem)

    def get(self, table: dict, key: str, kind: type, prefix: str = "") -> Any:
        full = f"{prefix}{key}"
        self.require(key in table, full, "is missing")
        value = table[key]
        self.require(isinstance(value, kind), full, f"must be a {kind.__name__}, got {type(value).__name__}")
        return value

    def words(self, value: Any, key: str, labels: dict[str, str] | None = None, context: str = "") -> list[str]:
        self.require(isinstance(value, list), key, "must be a list of words")
        for w in value:
            self.require(isinstance(w, str) and WORD_RE.fullmatch(w), key, f"{w!r} is not a lower-case word (a-z only)")
            if labels is not None:
                self.require(w in labels, key, f"'{w}' is not in the taxonomy; add it under [taxonomy.{context}]")
                self.require(labels[w] == context, key, f"'{w}' is in {labels[w]}, not in {context}")
        return list(value)

    def taxonomy(self, tax: dict) -> dict[str, dict[str, list[str]]]:
        for c in REQUIRED_CONTEXTS:
            self.require(c in tax, f"taxonomy.{c}", "is missing; a world needs animals, food and locations")
        seen: dict[str, str] = {}
        out: dict[str, dict[str, list[str]]] = {}
        for c, groups in tax.items():
            self.require(isinstance(groups, dict) and groups, f"taxonomy.{c}", "must be a table of subgroups")
            out[c] = {}
            for g, ws in groups.items():
                out[c][g] = self.words(ws, f"taxonomy.{c}.{g}")
                for w in ws:
                    self.require(w not in seen, f"taxonomy.{c}.{g}", f"'{w}' is already listed in {seen.get(w)}")
                    seen[w] = f"taxonomy.{c}.{g}"
            self.require(any(out[c].values()), f"taxonomy.{c}", "has no words")
        return out

    def animal(self, name: str, spec: Any, labels: dict[str, str]) -> Animal:
        key = f"animals.{name}"
        self.require(isinstance(spec, dict), key, "must be a table")
        self.require(labels.get(name) == "animals", key, f"'{name}' is not listed under [taxonomy.animals]")
        known = {"kind", "habitats", "diet", "drinks", "chases", "things", "facts"}
        for k in spec:
            self.require(k in known, f"{key}.{k}", f"is not a known trait; use one of {sorted(known)}")
        habitats = self.words(self.get(spec, "habitats", list, key + "."), key + ".habitats", labels, "locations")
        diet = self.words(self.get(spec, "diet", list, key + "."), key + ".diet", labels, "food")
        self.require(habitats, key + ".habitats", "is empty; every animal needs at least one habitat")
        self.require(diet, key + ".diet", "is empty; every animal needs a diet")
        facts = spec.get("facts", [])
        self.require(isinstance(facts, list), key + ".facts", "must be a list of sentences")
        for s in facts:
            self.sentence(s, key + ".facts", labels)
        return Animal(name, self.kind(spec, key), tuple(habitats), tuple(diet),
                      tuple(self.words(spec.get("drinks", []), key + ".drinks", labels, "food")),
                      tuple(self.words(spec.get("chases", []), key + ".chases", labels, "animals")),
                      tuple(self.words(spec.get("things", []), key + ".things", labels, "things")),
                      tuple(facts))

    def kind(self, spec: dict, key: str) -> str:
        kind = self.get(spec, "kind", str, key + ".")
        self.require(all(WORD_RE.fullmatch(w) for w in kind.split()) and kind, key + ".kind", "must be words (a-z)")
        return kind

    def sentence(self, s: Any, key: str, labels: dict[str, str]) -> list[str]:
        self.require(isinstance(s, str) and s.strip(), key, f"{s!r} must be a non-empty sentence")
        for w in s.split():
            self.require(WORD_RE.fullmatch(w), key, f"{s!r}: '{w}' is not a lower-case word (a-z only)")
        return s.split()

    def food_place(self, food: str, spec: Any, labels: dict[str, str]) -> tuple[str, list[str]]:
        key = f"food_places.{food}"
        self.require(isinstance(spec, dict), key, "must be a table with verb and places")
        self.require(labels.get(food) == "food", key, f"'{food}' is not listed under [taxonomy.food]")
        verb = " ".join(self.sentence(self.get(spec, "verb", str, key + "."), key + ".verb", labels))
        places = self.words(self.get(spec, "places", list, key + "."), key + ".places", labels, "locations")
        self.require(places, key + ".places", "is empty")
        return verb, places

    def people(self, who: str, spec: Any, labels: dict[str, str]) -> list[str]:
        key = f"people.{who}"
        self.require(isinstance(spec, dict), key, "must be a table with sentences")
        sentences = self.get(spec, "sentences", list, key + ".")
        return [" ".join(self.sentence(s, key + ".sentences", labels)) for s in sentences]

    def recipe(self, spec: dict, animals: dict[str, Animal]) -> CorpusRecipe:
        n = self.get(spec, "sentences", int, "corpus.")
        self.require(not isinstance(n, bool) and MIN_SENTENCES <= n <= MAX_SENTENCES, "corpus.sentences",
                     f"is {n}; use {MIN_SENTENCES} to {MAX_SENTENCES:,}")
        frac = spec.get("held_out_fraction", 0.0)
        self.require(inputs.is_number(frac) and 0.0 <= frac < 0.5, "corpus.held_out_fraction",
                     f"is {frac!r}; use a number from 0 to below 0.5")
        seed = spec.get("held_out_seed", 0)
        self.require(inputs.is_whole(seed) and 0 <= seed < 2**63, "corpus.held_out_seed",
                     f"is {seed!r}; use a whole number from 0 to 2**63-1")
        held = spec.get("held_out", [])
        self.require(isinstance(held, list) and all(isinstance(p, list) and len(p) == 2
                                                    and all(isinstance(w, str) for w in p) for p in held),
                     "corpus.held_out", "must be a list of [animal, food] pairs of words")
        mix = self.get(spec, "mix", dict, "corpus.")
        for k, w in mix.items():
            self.require(k in SENTENCE_KINDS, f"corpus.mix.{k}", f"is not a sentence kind; use {SENTENCE_KINDS}")
            self.require(inputs.is_number(w) and 0 <= w <= 1e6, f"corpus.mix.{k}",
                         f"is {w!r}; use a number from 0 to 1,000,000")
        self.require(sum(mix.values()) > 0, "corpus.mix", "needs at least one positive weight")
        eat = self.words(self.get(spec, "eat_verbs", list, "corpus."), "corpus.eat_verbs")
        drink = self.words(spec.get("drink_verbs", ["drinks"]), "corpus.drink_verbs")
        rest = self.words(spec.get("rest_verbs", ["lives", "sleeps"]), "corpus.rest_verbs")
        for key, verbs in (("eat_verbs", eat), ("drink_verbs", drink), ("rest_verbs", rest)):
            self.require(verbs, f"corpus.{key}", "is empty; list at least one verb")
        return CorpusRecipe(n, tuple(eat), tuple(drink), tuple(rest), tuple((a, f) for a, f in held), float(frac),
                            int(seed), {k: float(w) for k, w in mix.items()})


class CorpusGenerator:
    """Seeded sentences from a world; (animal, food) pairs in `held_out` never share a sentence."""

    def __init__(self, world: World, seed: int = 0):
        self.world, self.rng = world, np.random.default_rng(seed)
        held = set(world.held_out_pairs())
        self.trained_diet = {a.name: [f for f in a.diet if (a.name, f) not in held] for a in world.animals.values()}
        self.animal_names = list(world.animals)
        self.custom = [s for a in world.animals.values() for s in a.facts]
        self.people = [s for ss in world.people.values() for s in ss]
        self.food_places = [(f, verb, p) for f, (verb, ps) in world.food_places.items() for p in ps]
        kinds = [k for k in SENTENCE_KINDS if world.recipe.mix.get(k, 0) > 0 and self._possible(k)]
        weights = np.array([world.recipe.mix[k] for k in kinds])
        self.kinds, self.p = kinds, weights / weights.sum()
        self.pools: dict[str, list[str]] = {}

    def _possible(self, kind: str) -> bool:
        animals = self.world.animals.values()
        return {"custom_fact": bool(self.custom), "people": bool(self.people), "food_place": bool(self.food_places),
                "chase": any(a.chases for a in animals), "drink_event": any(a.drinks for a in animals)}.get(kind, True)

    def pick(self, seq: Any) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def sentence(self, kind: str) -> str:
        if kind == "custom_fact":
            return self.pick(self.custom) + " ."
        if kind == "people":
            return self.pick(self.people) + " ."
        if kind == "food_place":
            food, verb, place = self.pick(self.food_places)
            return f"{food} {verb} {place} ."
        if kind not in self.pools:  # the animals a kind of sentence can be about, listed once per kind
            self.pools[kind] = [n for n in self.animal_names if self._fits(kind, self.world.animals[n])]
        return self._animal_sentence(kind, self.world.animals[self.pick(self.pools[kind])])

    @staticmethod
    def _fits(kind: str, a: Animal) -> bool:
        return {"drink_event": bool(a.drinks), "chase": bool(a.chases)}.get(kind, True)

    def _animal_sentence(self, kind: str, a: Animal) -> str:
        subject = f"{article(a.name)} {a.name}"
        recipe = self.world.recipe
        if kind == "eat_event":
            food, place = self.pick(self.trained_diet[a.name]), self.pick(a.habitats)
            return f"{subject} {self.pick(recipe.eat_verbs)} {food} in the {place} ."
        if kind == "drink_event":
            return f"{subject} {self.pick(recipe.drink_verbs)} {self.pick(a.drinks)} in the {self.pick(a.habitats)} ."
        if kind == "other_event":
            if a.things and self.rng.random() < 0.4:
                return f"{subject} plays with the {self.pick(a.things)} in the {self.pick(a.habitats)} ."
            return f"{subject} {self.pick(recipe.rest_verbs)} in the {self.pick(a.habitats)} ."
        if kind == "diet_fact":
            return f"{subject} {self.pick(recipe.eat_verbs)} {self.pick(self.trained_diet[a.name])} ."
        if kind == "habitat_fact":
            return f"{subject} lives in the {self.pick(a.habitats)} ."
        if kind == "kind_fact":
            return f"{subject} is {a.kind} ." if self.rng.random() < 0.6 else f"{subject} is an animal ."
        if kind == "chase":
            return f"{subject} {self.pick(('chases', 'watches', 'hunts'))} the {self.pick(a.chases)} ."
        raise ValueError(f"unknown sentence kind {kind!r}")

    def sentences(self, n: int | None = None, progress: Progress | None = None) -> list[str]:
        n = self.world.recipe.sentences if n is None else n
        kinds = self.rng.choice(len(self.kinds), size=n, p=self.p)
        if progress is None:
            return [self.sentence(self.kinds[k]) for k in kinds]
        out: list[str] = []
        for i in range(0, n, PROGRESS_EVERY):  # the same draws in the same order, reported as they go
            out.extend(self.sentence(self.kinds[k]) for k in kinds[i:i + PROGRESS_EVERY])
            progress(len(out), n)
        return out


Progress = Callable[[int, int], None]  # (sentences done, sentences in all)
PROGRESS_EVERY = 20_000


def generate_corpus(world: World, seed: int = 0, n_sentences: int | None = None,
                    progress: Progress | None = None) -> list[str]:
    """The training sentences of a world, deterministic for a seed; `progress(done, total)` is called as they
    are made (about every 0.2 s)."""
    n = world.recipe.sentences if n_sentences is None else n_sentences
    if not inputs.is_whole(n) or not 1 <= n <= MAX_SENTENCES:
        raise ValueError(f"the number of sentences must be a whole number from 1 to {MAX_SENTENCES:,}, got {n!r}")
    return CorpusGenerator(world, seed).sentences(int(n), progress)


def unused_words(world: World, sentences: list[str]) -> list[str]:
    """Taxonomy words that never occur in the sentences (their embeddings would stay untrained)."""
    seen = {w for s in sentences for w in s.split()}
    return [w for c in world.taxonomy for w in world.words_of(c) if w not in seen]
