"""The parts of a world: its sub-contexts, animals, people, grammar and corpus recipe as dataclasses, the
validated `World`, and the constants their readers share. Reading and building a world is `llmcore.world.load`'s job."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

REQUIRED_CONTEXTS = ("animals", "food", "locations")
WORD_RE = re.compile(r"[a-z]+")  # used with fullmatch: `$` would let a trailing newline through
MIN_SENTENCES, MAX_SENTENCES = 100, 5_000_000
FUNCTION_CONTEXT = "grammar"  # label of words outside the taxonomy (a, the, in, ., ...)
EVENT_PREPOSITIONS = ("in", "at", "on")  # the prepositions whose places the quality bars measure


class WorldError(ValueError):
    """A world file that cannot be used; the message names the file, the key and the problem."""

    def __init__(self, source: str, key: str, problem: str) -> None:
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
class Person:
    """People who admire, keep or feed animals and cook foods, with the adjectives said before them."""

    name: str
    adjectives: tuple[str, ...] = ()
    animals: tuple[str, ...] = ()
    foods: tuple[str, ...] = ()
    places: tuple[str, ...] = ()
    sentences: tuple[str, ...] = ()


@dataclass(frozen=True)
class Grammar:
    """Function words and how places and things are named. A world without a [grammar] section gets these
    defaults: singular subjects only, "a <animal>", "in the <place>", "with the <thing>"."""

    prepositions: tuple[str, ...] = ("in", "with")
    articles: tuple[str, ...] = ("the",)
    singular_determiners: tuple[str, ...] = ("a",)
    plural_determiners: tuple[str, ...] = ()
    conjunction: str = ""
    adjectives: tuple[str, ...] = ()
    thing_adjectives: tuple[str, ...] = ()
    places: dict[str, tuple[str, ...]] = field(default_factory=lambda: {"default": ("in the",)})
    things: dict[str, tuple[str, ...]] = field(default_factory=lambda: {"default": ("with the",)})
    declared: bool = False  # True when the world file has a [grammar] section

    def place_phrases(self, place: str) -> tuple[str, ...]:
        """How a place is named after an event: 'in the', 'at', 'on a' ... ('a' turns into 'an' before a vowel)."""
        return self.places.get(place, self.places["default"])

    def thing_phrases(self, thing: str) -> tuple[str, ...]:
        return self.things.get(thing, self.things["default"])


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
    chase_verbs: tuple[str, ...] = ("chases", "watches", "hunts")
    people_animal_verbs: tuple[str, ...] = ()
    people_food_verbs: tuple[str, ...] = ()
    plural_share: float = 0.0
    adjective_share: float = 0.0
    and_share: float = 0.0

    def conjugated_verbs(self) -> dict[str, tuple[str, ...]]:
        """Verb lists whose verbs take a plural form, by their key under [corpus]."""
        return {"eat_verbs": self.eat_verbs, "drink_verbs": self.drink_verbs, "rest_verbs": self.rest_verbs,
                "chase_verbs": self.chase_verbs, "people_animal_verbs": self.people_animal_verbs,
                "people_food_verbs": self.people_food_verbs}


@dataclass(kw_only=True)
class World:
    """A parsed, validated world. `taxonomy[context][subgroup]` lists words (base forms)."""

    taxonomy: dict[str, dict[str, list[str]]]
    animals: dict[str, Animal]
    food_places: dict[str, tuple[str, list[str]]]
    people: dict[str, Person]
    recipe: CorpusRecipe
    source: str = "<dict>"
    content_hash: str = ""
    grammar: Grammar = field(default_factory=Grammar)
    plurals: dict[str, str] = field(default_factory=dict)  # singular -> plural
    verb_forms: dict[str, str] = field(default_factory=dict)  # he/she/it form -> they form
    # how this world's sentences are written (world, seed, n) -> n sentences: the corpus generator, handed in by the
    # loader (llmcore.world.load), so that the world's parts do not import the generator that reads them
    write_sentences: Callable[[World, int, int], list[str]] | None = field(default=None, repr=False, compare=False)
    _labels: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    _lemmas: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._lemmas = {v: k for k, v in {**self.plurals, **self.verb_forms}.items() if v != k}
        self._labels = {w: (c, g) for c, groups in self.taxonomy.items() for g, ws in groups.items() for w in ws}
        self._labels.update({f: self._labels[b] for f, b in self._lemmas.items() if b in self._labels})

    @property
    def contexts(self) -> list[str]:
        """Top-level sub-contexts in file order."""
        return list(self.taxonomy)

    def label(self, word: str) -> tuple[str, str]:
        """(sub-context, subgroup) of a word or of its base form; function words get ('grammar', 'grammar')."""
        return self._labels.get(word, (FUNCTION_CONTEXT, FUNCTION_CONTEXT))

    def lemma(self, word: str) -> str:
        """The base form of a word: 'cats' -> 'cat', 'eat' -> 'eats'; other words are their own base form."""
        return self._lemmas.get(word, word)

    def forms(self, word: str) -> list[str]:
        """A base form and its plural or 'they' form, if it has one that differs."""
        other = self.plurals.get(word, self.verb_forms.get(word, word))
        return [word] if other == word else [word, other]

    def inflection_pairs(self) -> list[tuple[str, str]]:
        """(base, inflected) for every taxonomy word with a second form."""
        return [(w, f) for c in self.contexts for w in self.words_of(c) for f in self.forms(w)[1:]]

    def words_of(self, context: str) -> list[str]:
        return [w for ws in self.taxonomy[context].values() for w in ws]

    def reference_sentences(self, seed: int, n: int) -> list[str]:
        """n sentences of this world's corpus for a seed: the text whose states make the maps."""
        if self.write_sentences is None:
            raise WorldError(self.source, "corpus", "this world was built without its corpus generator; read it "
                                                    "with llmcore.world.load")
        return self.write_sentences(self, seed, n)

    def kind_plural(self, kind: str) -> str:
        """'a pet' -> 'pets', 'an aquatic animal' -> 'aquatic animals', 'livestock' -> 'livestock'."""
        words = kind.split()
        if words[0] not in ("a", "an"):
            return kind
        return " ".join(words[1:-1] + [self.plurals.get(words[-1], words[-1])])

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


