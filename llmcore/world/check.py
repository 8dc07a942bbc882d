"""Validation of a world file: every problem raises WorldError naming the file, the key and the rule broken."""

from __future__ import annotations

from typing import Any

from llmcore import inputs
from llmcore.world.corpus import SENTENCE_KINDS
from llmcore.world.types import (
    MAX_SENTENCES,
    MIN_SENTENCES,
    REQUIRED_CONTEXTS,
    WORD_RE,
    Animal,
    CorpusRecipe,
    Grammar,
    Person,
    WorldError,
)

_MISSING = object()
# Characters in any word or name of a world file (a table's key, a listed word, a word of a sentence). The world
# editor's own bound lies within it (llmcore.world.edit.MAX_NAME letters, two more for a plural), so every world it
# writes passes; the bundled world's longest word has 12.
MAX_WORD = 40


def _shown(text: str) -> str:
    """A word or name as an error message quotes it: cut at MAX_WORD characters."""
    return text if len(text) <= MAX_WORD else f"{text[:MAX_WORD]}…"


class Validator:
    """Small helpers that raise WorldError with the file and key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def require(self, ok: Any, key: str, problem: str) -> None:
        if not ok:
            raise WorldError(self.source, key, problem)

    def names(self, table: dict, prefix: str = "") -> None:
        """Every table's keys (the world's names: sub-contexts, subgroups, animals, foods, people, traits) at most
        MAX_WORD characters long, checked before any other rule reads or quotes them."""
        for name, value in table.items():
            self.require(len(name) <= MAX_WORD, f"{prefix}{_shown(name)}",
                         f"is a name of {len(name):,} characters; a name in a world file has at most {MAX_WORD}")
            if isinstance(value, dict):
                self.names(value, f"{prefix}{name}.")

    def word(self, w: Any, key: str, rule: str = "a lower-case word (a-z only)") -> None:
        """One word of a list or sentence: at most MAX_WORD characters, then lower-case letters only."""
        self.require(not isinstance(w, str) or len(w) <= MAX_WORD, key,
                     f"'{_shown(w)}' has {len(w):,} characters; a word in a world file has at most {MAX_WORD}")
        self.require(isinstance(w, str) and WORD_RE.fullmatch(w), key, f"{w!r} is not {rule}")

    def get(self, table: dict, key: str, kind: type, prefix: str = "", *, default: Any = _MISSING) -> Any:
        full = f"{prefix}{key}"
        if default is not _MISSING and key not in table:
            return default
        self.require(key in table, full, "is missing")
        value = table[key]
        ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
        self.require(ok, full, f"must be a {kind.__name__}, got {type(value).__name__}")
        return value

    def get_table(self, table: dict, key: str, default: Any = _MISSING) -> dict:
        value = self.get(table, key, dict, default=default)
        for name in value:
            self.require(isinstance(name, str) and WORD_RE.fullmatch(name), f"{key}.{name}",
                         "must be named by a lower-case word (a-z only)")
        return value

    def words(self, value: Any, key: str, labels: dict[str, str] | None = None, context: str = "") -> list[str]:
        self.require(isinstance(value, list), key, "must be a list of words")
        for w in value:
            self.word(w, key)
            if labels is not None:
                self.require(w in labels, key, f"'{w}' is not in the taxonomy; add it under [taxonomy.{context}]")
                self.require(not context or labels[w] == context, key, f"'{w}' is in {labels[w]}, not in {context}")
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
            self.sentence(s, key + ".facts")
        return Animal(name=name, kind=self.kind(spec, key), habitats=tuple(habitats), diet=tuple(diet),
                      drinks=tuple(self.words(spec.get("drinks", []), key + ".drinks", labels, "food")),
                      chases=tuple(self.words(spec.get("chases", []), key + ".chases", labels, "animals")),
                      things=tuple(self.words(spec.get("things", []), key + ".things", labels, "things")),
                      facts=tuple(facts))

    def kind(self, spec: dict, key: str) -> str:
        kind = self.get(spec, "kind", str, key + ".")
        self.require(kind.split(), key + ".kind", "must be words (a-z)")
        for w in kind.split():
            self.word(w, key + ".kind", "a word (a-z)")
        return " ".join(kind.split())

    def sentence(self, s: Any, key: str) -> list[str]:
        self.require(isinstance(s, str) and s.strip(), key, f"{s!r} must be a non-empty sentence")
        for w in s.split():
            self.word(w, key, f"a lower-case word (a-z only), in {_shown(s)!r}")
        return s.split()

    def food_place(self, food: str, spec: Any, labels: dict[str, str]) -> tuple[str, list[str]]:
        key = f"food_places.{food}"
        self.require(isinstance(spec, dict), key, "must be a table with verb and places")
        self.require(labels.get(food) == "food", key, f"'{food}' is not listed under [taxonomy.food]")
        verb = " ".join(self.sentence(self.get(spec, "verb", str, key + "."), key + ".verb"))
        places = self.words(self.get(spec, "places", list, key + "."), key + ".places", labels, "locations")
        self.require(places, key + ".places", "is empty")
        return verb, places

    def person(self, who: str, spec: Any, labels: dict[str, str]) -> Person:
        key = f"people.{who}"
        self.require(isinstance(spec, dict), key, "must be a table (adjectives, animals, foods, places, sentences)")
        known = {"adjectives": "", "animals": "animals", "foods": "food", "places": "locations", "sentences": None}
        for k in spec:
            self.require(k in known, f"{key}.{k}", f"is not a known key; use one of {sorted(known)}")
        lists = {k: tuple(self.words(spec.get(k, []), f"{key}.{k}", labels, ctx)) for k, ctx in known.items()
                 if ctx is not None}
        sentences = self.get(spec, "sentences", list, key + ".", default=[])
        said = tuple(" ".join(self.sentence(s, key + ".sentences")) for s in sentences)
        self.require(said or lists["animals"] or lists["foods"], key, "says nothing; give animals, foods or "
                     "sentences")
        self.require(lists["animals"] or lists["foods"] or not lists["places"], key + ".places",
                     "needs foods to cook there")
        self.require(who in labels or said, key, f"'{who}' is not in the taxonomy; add it under [taxonomy.people]")
        return Person(who, sentences=said, **lists)

    def recipe(self, spec: dict, animals: dict[str, Animal]) -> CorpusRecipe:
        n = self.get(spec, "sentences", int, "corpus.")
        self.require(not isinstance(n, bool) and MIN_SENTENCES <= n <= MAX_SENTENCES, "corpus.sentences",
                     f"is {n}; use {MIN_SENTENCES} to {MAX_SENTENCES:,}")
        frac = self.share(spec, "held_out_fraction", 0.5)
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
        verbs = {k: tuple(self.words(spec.get(k, d), f"corpus.{k}")) for k, d in (
            ("drink_verbs", ["drinks"]), ("rest_verbs", ["lives", "sleeps"]),
            ("chase_verbs", ["chases", "watches", "hunts"]), ("people_animal_verbs", []), ("people_food_verbs", []))}
        eat = self.words(self.get(spec, "eat_verbs", list, "corpus."), "corpus.eat_verbs")
        self.require(eat, "corpus.eat_verbs", "is empty")
        seed = spec.get("held_out_seed", 0)
        self.require(inputs.is_whole(seed) and 0 <= seed < 2**63, "corpus.held_out_seed",
                     f"is {seed!r}; use a whole number from 0 to 2**63-1")
        for key in ("drink_verbs", "rest_verbs"):
            self.require(verbs[key], f"corpus.{key}", "is empty; list at least one verb")
        return CorpusRecipe(n, tuple(eat), held_out=tuple((a, f) for a, f in held), held_out_fraction=frac,
                            held_out_seed=seed, mix={k: float(w) for k, w in mix.items()},
                            plural_share=self.share(spec, "plural_share", 1.0),
                            adjective_share=self.share(spec, "adjective_share", 1.0),
                            and_share=self.share(spec, "and_share", 1.0), **verbs)

    def share(self, spec: dict, key: str, below: float) -> float:
        value = spec.get(key, 0.0)
        self.require(inputs.is_number(value) and 0 <= value < below
                     or value == below == 1.0, f"corpus.{key}", f"is {value!r}; use a number from 0 to {below}")
        return float(value)

    def grammar(self, spec: Any, labels: dict[str, str]) -> Grammar:
        if spec is None:
            return Grammar()
        self.require(isinstance(spec, dict), "grammar", "must be a table")
        known = {"prepositions", "articles", "singular_determiners", "plural_determiners", "conjunction",
                 "adjectives", "thing_adjectives", "places", "things"}
        for k in spec:
            self.require(k in known, f"grammar.{k}", f"is not a grammar key; use one of {sorted(known)}")
        preps = tuple(self.words(self.get(spec, "prepositions", list, "grammar."), "grammar.prepositions"))
        articles = tuple(self.words(spec.get("articles", ["the", "a"]), "grammar.articles"))
        for a in articles:
            self.require(a in ("the", "a"), "grammar.articles", f"'{a}' is not an article; use 'the' and 'a'")
        dets = {k: tuple(self.determiners(spec.get(k, []), f"grammar.{k}")) for k in
                ("singular_determiners", "plural_determiners")}
        self.require(dets["singular_determiners"], "grammar.singular_determiners", "is empty; give at least 'a'")
        conj = self.get(spec, "conjunction", str, "grammar.", default="")
        if conj:
            self.word(conj, "grammar.conjunction")
        adjs = {k: tuple(self.words(spec.get(k, []), f"grammar.{k}", labels)) for k in
                ("adjectives", "thing_adjectives")}
        places = self.phrases(spec.get("places", {"default": ["in the"]}), "grammar.places", preps=preps,
                              articles=articles, labels=labels, context="locations")
        things = self.phrases(spec.get("things", {"default": ["with the"]}), "grammar.things", preps=preps,
                              articles=articles, labels=labels, context="things")
        return Grammar(preps, articles, conjunction=conj, places=places, things=things, declared=True,
                       **dets, **adjs)

    def determiners(self, value: Any, key: str) -> list[str]:
        self.require(isinstance(value, list), key, "must be a list of words")
        return [d for d in value if d == "" or self.words([d], key)]

    def phrases(self, spec: Any, key: str, *, preps: tuple[str, ...], articles: tuple[str, ...],
                labels: dict[str, str], context: str) -> dict[str, tuple[str, ...]]:
        """'<preposition> [article]' phrases per place or thing; the preposition must be declared."""
        self.require(isinstance(spec, dict) and "default" in spec, key, "must be a table with a 'default' entry")
        out = {}
        for name, phrases in spec.items():
            k = f"{key}.{name}"
            self.require(name == "default" or labels.get(name) == context, k, f"'{name}' is not a word under "
                         f"[taxonomy.{context}]")
            self.require(isinstance(phrases, list) and phrases, k, "must be a non-empty list like [\"in the\"]")
            for p in phrases:
                words = self.sentence(p, k)
                self.require(len(words) <= 2, k, f"{p!r} must be a preposition and at most one article")
                self.require(words[0] in preps, k, f"'{words[0]}' is used but not declared; add it to "
                             "[grammar] prepositions")
                self.require(len(words) == 1 or words[1] in articles, k, f"'{words[-1]}' is not one of the "
                             f"[grammar] articles {list(articles)}")
            out[name] = tuple(" ".join(p.split()) for p in phrases)
        return out

    def inflections(self, data: dict, labels: dict[str, str], animals: dict[str, Animal], recipe: CorpusRecipe, *,
                    declared: bool) -> tuple[dict[str, str], dict[str, str]]:
        """[plurals] and [verb_forms]; a world with a [grammar] needs a plural for every animal and a 'they' form
        for every verb the corpus conjugates."""
        kind_words = {a.kind.split()[-1] for a in animals.values()} | {"animal"}
        plurals = self.form_table(self.get(data, "plurals", dict, default={}), "plurals", labels, kind_words)
        verb_forms = self.form_table(self.get(data, "verb_forms", dict, default={}), "verb_forms", labels, set())
        if not declared:
            return plurals, verb_forms
        for name in animals:
            self.require(name in plurals, "plurals", f"animal '{name}' has no plural; add {name} = "
                         f"\"{name}s\" (or its irregular plural) under [plurals]")
        for a in animals.values():
            noun = a.kind.split()[-1]
            self.require(a.kind.split()[0] not in ("a", "an") or noun in plurals, "plurals",
                         f"'{noun}' (animals.{a.name}.kind) has no plural; add {noun} = \"{noun}s\" under [plurals]")
        needed = {"lives": "habitat facts"} | ({"plays": "things"} if any(a.things for a in animals.values()) else {})
        for verb, why in needed.items():
            self.require(verb in verb_forms, "verb_forms", f"'{verb}' ({why}) has no plural form; add {verb} = "
                         "\"...\" under [verb_forms]")
        for key, verbs in recipe.conjugated_verbs().items():
            for verb in verbs:
                self.require(verb in verb_forms, "verb_forms", f"'{verb}' (corpus.{key}) has no plural form; add "
                             f"{verb} = \"...\" under [verb_forms]")
        return plurals, verb_forms

    def form_table(self, table: dict, key: str, labels: dict[str, str], extra: set[str]) -> dict[str, str]:
        seen: dict[str, str] = {}
        for base, form in table.items():
            k = f"{key}.{base}"
            self.word(form, k)
            self.require(base in labels or base in extra, k, f"'{form}' is a {key[:-1].replace('_', ' ')} without a "
                         f"base word: '{base}' is not a word of the taxonomy")
            self.require(form not in labels or form == base, k, f"'{form}' is listed in the taxonomy too; list only "
                         f"'{base}' there")
            self.require(form not in seen, k, f"'{form}' is already the form of '{seen.get(form)}'")
            self.require(form != base or key == "verb_forms", k, "a plural must differ from its singular")
            seen[form] = base
        return dict(table)
