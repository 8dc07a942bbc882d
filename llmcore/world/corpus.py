"""The corpus generator: seeded sentences from a world, with agreement, and held-out pairs kept apart in every form."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from llmcore.world.types import Animal, World

Progress = Callable[[int, int], None]  # (sentences done, sentences in all)
PROGRESS_EVERY = 20_000
SENTENCE_KINDS = ("eat_event", "drink_event", "other_event", "diet_fact", "habitat_fact", "kind_fact",
                  "chase", "custom_fact", "food_place", "people")


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


EVENT_KINDS = ("eat_event", "drink_event", "other_event")


def fix_articles(words: list[str]) -> list[str]:
    """Drop empty determiners and turn 'a' into 'an' before a vowel (and back)."""
    words = [w for w in words if w]
    return [article(words[i + 1]) if w in ("a", "an") and i + 1 < len(words) else w for i, w in enumerate(words)]


def mentions_held_out(world: World, sentence: str, held: set[tuple[str, str]]) -> bool:
    """True if a sentence names both the animal and the food of a held-out pair, in any form."""
    lemmas = {world.lemma(w) for w in sentence.split()}
    return any(a in lemmas and f in lemmas for a, f in held)


def pair_counts(world: World, lemma_sets: list[set[str]]) -> dict[str, dict[str, int]]:
    """In how many sentences (each given as its set of lemmas) every animal and every food or drink of the world are
    named together, in any form: {animal: {food: count}}, pairs never named together left out."""
    animals, foods = set(world.animals), set(world.words_of("food"))
    out: dict[str, dict[str, int]] = {}
    for s in lemma_sets:
        for a in s & animals:
            row = out.setdefault(a, {})
            for f in s & foods:
                row[f] = row.get(f, 0) + 1
    return out


class CorpusGenerator:
    """Seeded sentences from a world; (animal, food) pairs in `held_out` never share a sentence, in any form."""

    def __init__(self, world: World, seed: int = 0) -> None:
        self.world, self.rng = world, random.Random(seed)  # Python's generator: ~10x faster per draw than NumPy's
        self.seed = seed
        self.g, self.recipe = world.grammar, world.recipe
        held = set(world.held_out_pairs())
        self.trained_diet = {a.name: [f for f in a.diet if (a.name, f) not in held] for a in world.animals.values()}
        self.animal_names = list(world.animals)
        self.custom = [s for a in world.animals.values() for s in a.facts if not mentions_held_out(world, s, held)]
        self.people = list(world.people.values())
        self.food_places = [(f, verb, p) for f, (verb, ps) in world.food_places.items() for p in ps]
        self.thing_rest = [v for v in self.recipe.rest_verbs if v not in ("lives", "plays", "runs", "wanders")] \
            or list(self.recipe.rest_verbs)
        self._partners: dict[tuple[str, str], list[str]] = {}
        kinds = [k for k in SENTENCE_KINDS if self.recipe.mix.get(k, 0) > 0 and self._possible(k)]
        weights = np.array([self.recipe.mix[k] for k in kinds])
        self.kinds, self.p = kinds, weights / weights.sum()

    def _possible(self, kind: str) -> bool:
        animals = self.world.animals.values()
        return {"custom_fact": bool(self.custom), "people": bool(self.people), "food_place": bool(self.food_places),
                "chase": any(a.chases for a in animals), "drink_event": any(a.drinks for a in animals)}.get(kind, True)

    def pick(self, seq: Any) -> Any:
        return seq[int(self.rng.random() * len(seq))]

    def chance(self, p: float) -> bool:
        return p > 0 and self.rng.random() < p

    def sentence(self, kind: str) -> str:
        if kind == "custom_fact":
            return self.pick(self.custom) + " ."
        if kind == "people":
            return self._people_sentence() + " ."
        if kind == "food_place":
            food, verb, place = self.pick(self.food_places)
            return f"{food} {verb} {place} ."
        pool = [n for n in self.animal_names if self._fits(kind, self.world.animals[n])]
        return " ".join(fix_articles(self._animal_sentence(kind, self.world.animals[self.pick(pool)]) + ["."]))

    @staticmethod
    def _fits(kind: str, a: Animal) -> bool:
        return {"drink_event": bool(a.drinks), "chase": bool(a.chases)}.get(kind, True)

    # ------------------------------------------------------------------ phrases
    def noun_phrase(self, noun: str, plural: bool, adjectives: tuple[str, ...] = (), dets: Any = None) -> list[str]:
        """'<determiner> [adjective] <noun or its plural>'; determiners agree with the number."""
        g = self.g
        det = self.pick(dets if dets is not None else g.plural_determiners if plural else g.singular_determiners)
        adj = [self.pick(adjectives)] if adjectives and self.chance(self.recipe.adjective_share) else []
        return [det] + adj + [self.world.plurals[noun] if plural else noun]

    def plural(self, noun: str) -> bool:
        """Whether this mention of a noun is plural (only nouns with a plural, in a world whose grammar allows it)."""
        ok = noun in self.world.plurals and bool(self.g.plural_determiners)
        return ok and self.chance(self.recipe.plural_share)

    def verb(self, verb: str, plural: bool) -> str:
        return self.world.verb_forms.get(verb, verb) if plural else verb

    def place(self, place: str) -> list[str]:
        return self.pick(self.g.place_phrases(place)).split() + [place]

    def partners(self, kind: str, a: Animal) -> list[str]:
        """Animals that can share an event with `a`: a habitat in common (and a trained food or a drink)."""
        key = (kind, a.name)
        if key not in self._partners:
            share = {"eat_event": lambda b: set(self.trained_diet[a.name]) & set(self.trained_diet[b.name]),
                     "drink_event": lambda b: set(a.drinks) & set(b.drinks)}.get(kind, lambda b: True)
            self._partners[key] = [b.name for b in self.world.animals.values()
                                   if b.name != a.name and set(a.habitats) & set(b.habitats) and share(b)]
        return self._partners[key]

    def subject(self, kind: str, a: Animal) -> tuple[list[str], bool, list[Animal]]:
        """Words of the subject, whether it is plural, and the animals it names ('a cat and two dogs')."""
        plural = self.plural(a.name)
        words = self.noun_phrase(a.name, plural, self.g.adjectives)
        group = [a]
        partners = self.partners(kind, a) if kind in EVENT_KINDS and self.g.conjunction else []
        if partners and self.chance(self.recipe.and_share):
            b = self.world.animals[self.pick(partners)]
            b_plural = self.plural(b.name)
            words += [self.g.conjunction] + self.noun_phrase(b.name, b_plural, self.g.adjectives)
            plural, group = True, [a, b]
        return words, plural, group

    def food(self, foods: list[str]) -> list[str]:
        """One food, sometimes counted ('sausages'), sometimes two joined by 'and'."""
        first = self.pick(foods)
        words = [self.world.plurals[first] if self.plural(first) else first]
        rest = [f for f in foods if f != first]
        if rest and self.g.conjunction and self.chance(self.recipe.and_share):
            words += [self.g.conjunction, self.pick(rest)]
        return words

    def thing(self, a: Animal) -> list[str]:
        """'plays with the red ball' or 'sleeps on the sofa' (a resting verb before other prepositions)."""
        thing = self.pick(a.things)
        phrase = self.pick(self.g.thing_phrases(thing)).split()
        verb = "plays" if phrase[0] == "with" else self.pick(self.thing_rest)
        adj = [self.pick(self.g.thing_adjectives)] if self.g.thing_adjectives and \
            self.chance(self.recipe.adjective_share) else []
        plural = phrase[-1] == "the" and thing in self.world.plurals and self.chance(self.recipe.plural_share)
        return [verb] + phrase + adj + [self.world.plurals[thing] if plural else thing]

    # ------------------------------------------------------------------ sentences
    def _animal_sentence(self, kind: str, a: Animal) -> list[str]:
        subject, plural, group = self.subject(kind, a)
        places = [h for h in a.habitats if all(h in b.habitats for b in group)]
        v = lambda verb: self.verb(verb, plural)  # noqa: E731
        if kind == "eat_event":
            foods = [f for f in self.trained_diet[a.name] if all(f in self.trained_diet[b.name] for b in group)]
            return subject + [v(self.pick(self.recipe.eat_verbs))] + self.food(foods) + self.place(self.pick(places))
        if kind == "drink_event":
            drinks = [d for d in a.drinks if all(d in b.drinks for b in group)]
            where = self.place(self.pick(places)) if not self.g.declared or self.chance(0.7) else []
            return subject + [v(self.pick(self.recipe.drink_verbs)), self.pick(drinks)] + where
        if kind == "other_event":
            if a.things and len(group) == 1 and self.rng.random() < 0.4:
                thing = self.thing(a)
                where = self.place(self.pick(places)) if not self.g.declared or self.chance(0.5) else []
                return subject + [v(thing[0])] + thing[1:] + where
            return subject + [v(self.pick(self.recipe.rest_verbs))] + self.place(self.pick(places))
        if kind == "diet_fact":
            return subject + [v(self.pick(self.recipe.eat_verbs))] + self.food(self.trained_diet[a.name])
        if kind == "habitat_fact":
            return subject + [v("lives")] + self.place(self.pick(places))
        if kind == "kind_fact":
            return self._kind_fact(a)
        if kind == "chase":
            prey = self.pick(a.chases)
            many = self.plural(prey)
            obj = self.noun_phrase(prey, many, dets=["the", ""] if many else ["the"])
            return subject + [v(self.pick(self.recipe.chase_verbs))] + obj
        raise ValueError(f"unknown sentence kind {kind!r}")

    def _kind_fact(self, a: Animal) -> list[str]:
        """'a cat is a pet', 'cats are pets', 'a cat is an animal', 'cats are animals'."""
        plural = self.plural(a.name)
        kind = a.kind if self.rng.random() < 0.6 else "an animal"
        if plural:
            return [self.world.plurals[a.name], "are", *self.world.kind_plural(kind).split()]
        return ["a", a.name, "is", *kind.split()]

    def _people_sentence(self) -> str:
        """'the egyptian pharaohs admired the cat', 'a chef cooks pizza in the restaurant', or a free sentence."""
        p = self.pick(self.people)
        options = ["animals"] * bool(p.animals) + ["foods"] * bool(p.foods) + ["said"] * bool(p.sentences)
        what = self.pick(options)
        if what == "said":
            return self.pick(p.sentences)
        plural = self.plural(p.name)
        dets = ["the", "some", ""] if plural else ["a", "the"]
        words = self.noun_phrase(p.name, plural, p.adjectives, dets)
        if what == "animals":
            animal = self.pick(p.animals)
            obj = ["the", self.world.plurals[animal] if self.plural(animal) else animal]
            words += [self.verb(self.pick(self.recipe.people_animal_verbs), plural)] + obj
        else:
            food = self.pick(p.foods)
            words += [self.verb(self.pick(self.recipe.people_food_verbs), plural)] + self.food([food])
            if p.places and self.chance(0.5):
                words += self.place(self.pick(p.places))
        return " ".join(fix_articles(words))

    def sentences(self, n: int | None = None, progress: Progress | None = None) -> list[str]:
        n = self.world.recipe.sentences if n is None else n
        kinds = np.random.default_rng(self.seed).choice(len(self.kinds), size=n, p=self.p)
        if progress is None:
            return [self.sentence(self.kinds[k]) for k in kinds]
        out: list[str] = []
        for i in range(0, n, PROGRESS_EVERY):  # the same draws in the same order, reported as they go
            out.extend(self.sentence(self.kinds[k]) for k in kinds[i:i + PROGRESS_EVERY])
            progress(len(out), n)
        return out


def corpus_sentences(world: World, seed: int, n: int) -> list[str]:
    """n sentences of a world's corpus for a seed (what World.reference_sentences writes)."""
    return CorpusGenerator(world, seed).sentences(n)
