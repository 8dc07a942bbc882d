"""Editing a world as data: add, change or remove an animal, a food or a place in the parsed world file (its
taxonomy, animals and food_places tables, and in a World 2.0 file its plurals, grammar and people), each problem
reported against the field that caused it, and the result written back as TOML.

Over 400 lines on purpose: each edit and the check of every field it touches sit together, with the TOML
writer they share.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from llmcore import inputs
from llmcore.world.load import MAX_WORLD_BYTES, world_from_dict
from llmcore.world.types import WORD_RE, WorldError

MAX_NAME = 24  # letters in a word typed into the editor; the bundled world's longest word has 12
NAME_RULE = f"one lower-case word of 1 to {MAX_NAME} letters (a-z only)"
CONTEXT_NOUNS = {"animals": "an animal", "food": "a food", "locations": "a place"}


class EditError(ValueError):
    """Problems of one edit, by form field ('name', 'habitats', ...); nothing was changed."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def parse_world_text(text: str) -> dict:
    """The editor's world text parsed through the guard (size, nesting and numbers checked before parsing) and
    validated in full; raises EditError on the 'world' field naming the rule."""
    if len(text) > MAX_WORLD_BYTES or len(text.encode()) > MAX_WORLD_BYTES:
        raise EditError({"world": f"world file: is larger than {MAX_WORLD_BYTES:,} bytes"})
    try:
        data = inputs.parse_toml(text)
    except inputs.InputError as e:
        raise EditError({"world": f"world file: {e}"}) from None
    try:
        world_from_dict(data, "world file")
    except WorldError as e:
        raise EditError({"world": str(e)}) from None
    return data


def word_problem(word: str, longest: int = MAX_NAME) -> str | None:
    """How a word breaks NAME_RULE ("'…' has 30 characters"), or None if it keeps it."""
    if len(word) > longest:
        return f"'{word[:longest]}…' has {len(word):,} characters"
    if not WORD_RE.fullmatch(word):
        return f"'{word}' has characters other than a-z" if word else "it is empty"
    return None


def words_in(data: dict, context: str) -> list[str]:
    """The words of one sub-context of the world, in file order."""
    return [w for ws in data.get("taxonomy", {}).get(context, {}).values() for w in ws]


def subgroups(data: dict, context: str) -> list[str]:
    return list(data.get("taxonomy", {}).get(context, {}))


def kinds(data: dict) -> list[str]:
    """The kinds the world's animals already have ('a pet', 'wild', ...), each once."""
    return list(dict.fromkeys(a.get("kind", "") for a in data.get("animals", {}).values() if a.get("kind")))


def split_new_words(text: str) -> list[str]:
    """Words typed into a 'new words' box: separated by commas or spaces, lower-cased, each once."""
    return list(dict.fromkeys(w.strip().lower() for w in text.replace(",", " ").split() if w.strip()))


def regular_plural(word: str) -> str:
    """The regular English plural: 'fox' -> 'foxes', 'pony' -> 'ponies', 'cat' -> 'cats'."""
    if word.endswith(("s", "x", "z", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    return word + "s"


def _context_of(data: dict, word: str) -> tuple[str, str] | None:
    for c, groups in data.get("taxonomy", {}).items():
        for g, ws in groups.items():
            if word in ws:
                return c, g
    return None


def _labels(data: dict) -> dict[str, str]:
    return {w: c for c, groups in data.get("taxonomy", {}).items() for ws in groups.values() for w in ws}


def _form_of(data: dict, word: str) -> str | None:
    """The base word whose plural or 'they' form this word is (other than itself), if any."""
    for table in ("plurals", "verb_forms"):
        for base, form in data.get(table, {}).items():
            if form == word and base != word:
                return base
    return None


def _declared(data: dict) -> bool:
    """A World 2.0 file: its [grammar] makes plurals of animals (and 'a <noun>' kinds) required."""
    return isinstance(data.get("grammar"), dict)


def _wants_plural(data: dict, context: str) -> bool:
    """Whether a new word of this context gets a plural: always for animals of a World 2.0 file, else when most
    words of the context already have one."""
    if context == "animals" and _declared(data):
        return True
    plurals, words = data.get("plurals", {}), words_in(data, context)
    return bool(words) and sum(w in plurals for w in words) * 2 > len(words)


def _plural_problem(data: dict, word: str, plural: str) -> str | None:
    if word_problem(plural or "-", MAX_NAME + 2) is not None:  # 'es' after a name of MAX_NAME letters
        return f"the plural of '{word}' must be one lower-case word of 1 to {MAX_NAME + 2} letters (a-z only)"
    if plural == word:
        return f"the plural of '{word}' must differ from it"
    if plural in _labels(data):
        return f"'{plural}' (the plural of '{word}') is already a word of the world; type another plural"
    other = _form_of(data, plural)
    if other is not None and other != word:
        return f"'{plural}' is already the form of '{other}'; type another plural"
    return None


def _give_plural(data: dict, word: str, plural: str | None, field: str, *, errors: dict[str, str],
                 required: bool) -> None:
    """Give a word a plural (the typed one, else its present one, else the regular one). A plural that cannot be
    used is an error on the field only when it was typed or is required."""
    current = data.get("plurals", {}).get(word)
    if plural is None and current is not None:
        return
    typed = plural is not None and plural.strip() != ""
    plural = plural.strip().lower() if typed else regular_plural(word)
    problem = _plural_problem(data, word, plural)
    if problem is not None:
        if typed or required:
            errors[field] = problem
        return
    data.setdefault("plurals", {})[word] = plural


def _place_word(data: dict, word: str, context: str, group: str, *, field: str, errors: dict[str, str]) -> None:
    """Put a word under taxonomy[context][group] unless it is already in that sub-context; it gets a plural if
    the world gives its context's words one."""
    if (problem := word_problem(word)) is not None:
        errors[field] = f"a new word must be {NAME_RULE}: {problem}"
        return
    where = _context_of(data, word)
    if where is not None:
        if where[0] != context:
            errors[field] = f"'{word}' is already a word of {where[0]} ({where[1]}), not of {context}"
        return
    if (base := _form_of(data, word)) is not None:
        errors[field] = f"'{word}' is already a form of '{base}'"
        return
    if group not in subgroups(data, context):
        errors[field] = f"choose a group of {context} for the new word '{word}'"
        return
    data["taxonomy"][context][group].append(word)
    if _wants_plural(data, context):
        _give_plural(data, word, None, field, errors=errors, required=False)


def _name_problem(data: dict, name: str, context: str, what: str, *, new: bool) -> str | None:
    """Why `name` cannot be the edited entry's name: NAME_RULE broken, a word of another context or a form of
    one, or (for a new entry) a word the world already has, which would be changed in its place."""
    if not name:
        return f"type the {what}: {NAME_RULE}"
    if (problem := word_problem(name)) is not None:
        return f"the {what} must be {NAME_RULE}: {problem}"
    where = _context_of(data, name)
    if new and where is not None:
        return (f"'{name}' is already {CONTEXT_NOUNS.get(where[0], 'a word of ' + where[0])} of this world: choose "
                "it in the list to change it, or type another name")
    if where is not None and where[0] != context:
        return f"'{name}' is already a word of {where[0]}"
    if where is None and (base := _form_of(data, name)) is not None:
        return f"'{name}' is already a form of '{base}'"
    return None


def _remove_word(data: dict, word: str) -> None:
    for groups in data.get("taxonomy", {}).values():
        for ws in groups.values():
            if word in ws:
                ws.remove(word)


def _drop_held_out(data: dict, word: str) -> None:
    corpus = data.get("corpus", {})
    if "held_out" in corpus:
        corpus["held_out"] = [p for p in corpus["held_out"] if word not in p]


def _forget(data: dict, word: str) -> None:
    """Remove a word and every reference to it: the taxonomy, held-out pairs, sentences that say it (in any form),
    its grammar entry; the tidying after it drops the rest (its plural, lists that name it)."""
    forms = {word, data.get("plurals", {}).get(word, word)}
    _remove_word(data, word)
    _drop_held_out(data, word)

    def keep(sentences: list) -> list:
        return [s for s in sentences if not (isinstance(s, str) and forms & set(s.split()))]

    for spec in data.get("animals", {}).values():
        if isinstance(spec, dict) and "facts" in spec:
            spec["facts"] = keep(spec["facts"])
    for spec in data.get("people", {}).values():
        if isinstance(spec, dict) and "sentences" in spec:
            spec["sentences"] = keep(spec["sentences"])
    for key in ("places", "things"):
        table = data.get("grammar", {}).get(key) if isinstance(data.get("grammar"), dict) else None
        if isinstance(table, dict) and word != "default":
            table.pop(word, None)


PEOPLE_LISTS = {"animals": "animals", "foods": "food", "places": "locations"}


def _tidy(data: dict) -> None:
    """Drop what no longer refers to a word of the right context: chases, food places, people's lists, grammar
    entries and adjectives, plurals and verb forms without their base word, held-out pairs the diets no longer
    allow. Raises EditError when a person would be left saying nothing."""
    labels = _labels(data)
    animals = data.get("animals", {})
    for spec in animals.values():
        if isinstance(spec, dict) and "chases" in spec:
            spec["chases"] = [a for a in spec["chases"] if labels.get(a) == "animals"]
    for food, spec in list(data.get("food_places", {}).items()):
        if labels.get(food) != "food":
            del data["food_places"][food]
        elif isinstance(spec, dict) and isinstance(spec.get("places"), list):
            spec["places"] = [p for p in spec["places"] if labels.get(p) == "locations"]
            if not spec["places"]:
                del data["food_places"][food]
    for who, spec in data.get("people", {}).items():
        if not isinstance(spec, dict):
            continue
        for key, context in PEOPLE_LISTS.items():
            if isinstance(spec.get(key), list):
                spec[key] = [w for w in spec[key] if labels.get(w) == context]
        if not (spec.get("animals") or spec.get("foods")):
            spec.pop("places", None)
            if not spec.get("sentences"):
                raise EditError({"name": f"[people.{who}] would name nothing: give {who} another animal or food "
                                         "first"})
    grammar = data.get("grammar")
    if isinstance(grammar, dict):
        for key, context in (("places", "locations"), ("things", "things")):
            if isinstance(grammar.get(key), dict):
                grammar[key] = {n: v for n, v in grammar[key].items() if n == "default" or labels.get(n) == context}
        for key in ("adjectives", "thing_adjectives"):
            if isinstance(grammar.get(key), list):
                grammar[key] = [w for w in grammar[key] if w in labels]
    kind_nouns = {s["kind"].split()[-1] for s in animals.values()
                  if isinstance(s, dict) and isinstance(s.get("kind"), str) and s["kind"].split()} | {"animal"}
    for key, extra in (("plurals", kind_nouns), ("verb_forms", set())):
        if isinstance(data.get(key), dict):
            data[key] = {b: f for b, f in data[key].items() if b in labels or b in extra}
    corpus = data.get("corpus", {})
    if isinstance(corpus, dict) and isinstance(corpus.get("held_out"), list):
        allowed = {(a, f) for a, s in animals.items() if isinstance(s, dict) for f in s.get("diet", [])}
        corpus["held_out"] = [p for p in corpus["held_out"] if not isinstance(p, list) or tuple(p) in allowed]


def set_animal(data: dict, name: str, *, group: str, kind: str, habitats: list[str], diet: list[str],
               drinks: list[str], new_words: dict[str, tuple[list[str], str]] | None = None,
               plural: str | None = None, new: bool = False) -> dict:
    """The world with this animal added or changed. new_words: field ('habitats', 'diet', 'drinks') → (words,
    group) of words to add to the taxonomy (locations or food) and to that trait. plural: its plural (None or
    empty: the one it has, else the regular English one). new: a new entry, refused if the name is taken. Raises
    EditError by field."""
    out, errors = copy.deepcopy(data), {}
    name = name.strip().lower()
    if (problem := _name_problem(out, name, "animals", "animal's name", new=new)) is not None:
        errors["name"] = problem
    if not kind.strip() or any(word_problem(w) for w in kind.split()):
        errors["kind"] = f"describe the kind in lower-case words of 1 to {MAX_NAME} letters, e.g. 'a pet' or 'wild'"
    traits = {"habitats": list(habitats), "diet": list(diet), "drinks": list(drinks)}
    for field, (words, new_group) in (new_words or {}).items():
        context = "locations" if field == "habitats" else "food"
        for w in words:
            _place_word(out, w, context, new_group, field=field, errors=errors)
            if field not in errors and w not in traits[field]:
                traits[field].append(w)
    for field, what in (("habitats", "place"), ("diet", "food")):
        if not traits[field] and field not in errors:
            errors[field] = f"choose at least one {what}"
    if errors:
        raise EditError(errors)
    if _context_of(out, name) is None:
        if group not in subgroups(out, "animals"):
            raise EditError({"group": "choose the animal's group"})
        out["taxonomy"]["animals"][group].append(name)
    elif _context_of(out, name)[1] != group and group in subgroups(out, "animals"):
        _remove_word(out, name)
        out["taxonomy"]["animals"][group].append(name)
    kind = " ".join(kind.split())
    if _declared(out) or plural or "plurals" in out:
        _give_plural(out, name, plural, "plural", errors=errors, required=_declared(out) or bool(plural))
    noun = kind.split()[-1]
    if _declared(out) and kind.split()[0] in ("a", "an") and noun not in out.get("plurals", {}):
        problem = _plural_problem(out, noun, regular_plural(noun))
        if problem is not None:
            errors["kind"] = f"'{noun}' needs a plural: {problem}"
        else:
            out.setdefault("plurals", {})[noun] = regular_plural(noun)
    if errors:
        raise EditError(errors)
    spec = dict(out.setdefault("animals", {}).get(name, {}))
    spec.update(kind=kind, **traits)
    out["animals"][name] = spec
    _tidy(out)
    return checked(out)


def remove_animal(data: dict, name: str) -> dict:
    """The world without this animal: its word, traits and plural, and every reference to it (other animals'
    chases, people's lists, held-out pairs, sentences that say it)."""
    out = copy.deepcopy(data)
    if name not in out.get("animals", {}):
        raise EditError({"name": f"'{name}' is not an animal of this world"})
    del out["animals"][name]
    _forget(out, name)
    _tidy(out)
    return checked(out)


def _begin_word_edit(data: dict, name: str, *, context: str, what: str, group: str,
                     new: bool) -> tuple[dict, str, dict[str, str]]:
    """A food's or a place's edit begins alike: a copy of the world, the name in lower case, and the problems of
    its name and its group (a new word needs one of the context's groups)."""
    out, errors = copy.deepcopy(data), {}
    name = name.strip().lower()
    if (problem := _name_problem(out, name, context, what, new=new)) is not None:
        errors["name"] = problem
    elif _context_of(out, name) is None and group not in subgroups(out, context):
        errors["group"] = f"choose the {what}'s group"
    return out, name, errors


def set_food(data: dict, name: str, *, group: str, eaten_by: list[str], places: list[str],
             verb: str = "is sold in the", plural: str | None = None, new: bool = False) -> dict:
    """The world with this food added or changed: its group, the animals whose diet holds it, and the places of
    its own (an empty list: none). A new food gets a plural when most foods of the world have one; plural: one
    typed for it. new: a new entry, refused if the name is taken."""
    out, name, errors = _begin_word_edit(data, name, context="food", what="food", group=group, new=new)
    if places and (not verb.strip() or any(word_problem(w) for w in verb.split())):
        errors["verb"] = "the words before the place, in lower case, e.g. 'is sold in the'"
    if errors:
        raise EditError(errors)
    if _context_of(out, name) is None:
        out["taxonomy"]["food"][group].append(name)
        if plural is None and _wants_plural(out, "food"):
            _give_plural(out, name, None, "plural", errors=errors, required=False)
    if plural:
        _give_plural(out, name, plural, "plural", errors=errors, required=True)
    for animal, spec in out.get("animals", {}).items():
        diet = [f for f in spec.get("diet", []) if f != name]
        spec["diet"] = diet + [name] if animal in eaten_by else diet
        if not spec["diet"]:
            errors["eaten_by"] = f"'{animal}' would have nothing left to eat"
    if errors:
        raise EditError(errors)
    food_places = out.setdefault("food_places", {})
    if places:
        food_places[name] = {"verb": " ".join(verb.split()), "places": list(places)}
    else:
        food_places.pop(name, None)
    _tidy(out)
    return checked(out)


def _remove_entry(data: dict, name: str, *, context: str, what: str, traits: tuple[str, ...], needed: str,
                  last: str) -> dict:
    """The world without a food or a place: out of every animal's `traits` (refused where that empties an animal's
    `needed` trait, saying `last` of it), then out of everything else that names it."""
    out = copy.deepcopy(data)
    if name not in words_in(out, context):
        raise EditError({"name": f"'{name}' is not {what} of this world"})
    for animal, spec in out.get("animals", {}).items():
        for trait in traits:
            spec[trait] = [w for w in spec.get(trait, []) if w != name]
        if not spec[needed]:
            raise EditError({"name": f"'{animal}' {last.format(word=name)}"})
    _forget(out, name)
    _tidy(out)
    return checked(out)


def remove_food(data: dict, name: str) -> dict:
    """The world without this food: out of every diet and drink, people's lists, its places of its own, held-out
    pairs, its plural and sentences that say it."""
    return _remove_entry(data, name, context="food", what="a food", traits=("diet", "drinks"), needed="diet",
                         last="eats only {word}: give it another food first")


def set_place(data: dict, name: str, *, group: str, home_of: list[str], phrases: list[str] | None = None,
              new: bool = False) -> dict:
    """The world with this place added or changed: its group and the animals that live there. phrases: how an
    event names it in a World 2.0 file ('at', 'on the', ...); None leaves it to [grammar.places] default. new: a
    new entry, refused if the name is taken."""
    out, name, errors = _begin_word_edit(data, name, context="locations", what="place", group=group, new=new)
    if phrases is not None and not _declared(out):
        errors["phrases"] = "this world has no [grammar]: its places are all named 'in the'"
    if errors:
        raise EditError(errors)
    if _context_of(out, name) is None:
        out["taxonomy"]["locations"][group].append(name)
        if _wants_plural(out, "locations"):
            _give_plural(out, name, None, "name", errors=errors, required=False)
    elif _context_of(out, name)[1] != group and group in subgroups(out, "locations"):
        _remove_word(out, name)
        out["taxonomy"]["locations"][group].append(name)
    if phrases is not None:
        out["grammar"].setdefault("places", {"default": ["in the"]})[name] = list(phrases)
    for animal, spec in out.get("animals", {}).items():
        homes = [p for p in spec.get("habitats", []) if p != name]
        spec["habitats"] = homes + [name] if animal in home_of else homes
        if not spec["habitats"]:
            raise EditError({"home_of": f"'{animal}' would have nowhere left to live"})
    _tidy(out)
    return checked(out)


def remove_place(data: dict, name: str) -> dict:
    """The world without this place: out of every habitat, every food's places, people's places, its grammar entry
    and sentences that say it."""
    return _remove_entry(data, name, context="locations", what="a place", traits=("habitats",), needed="habitats",
                         last="lives only in {word}: give it another place first")


FIELD_OF_KEY = (("habitats", "habitats"), ("diet", "diet"), ("drinks", "drinks"), (".kind", "kind"),
                ("grammar.places", "phrases"), ("places", "places"), ("verb", "verb"), ("plurals", "plural"))


def checked(data: dict) -> dict:
    """The edited world if the full validation accepts it; else EditError on the field its key points to."""
    try:
        world_from_dict(data, "edited world")
    except WorldError as e:
        field = "kind" if ".kind)" in e.problem else next((f for k, f in FIELD_OF_KEY if k in e.key), "world")
        raise EditError({field: str(e)}) from None
    return data


# ---------------------------------------------------------------------------------------- writing TOML
def to_toml(data: dict) -> str:
    """TOML text of a parsed world (tables, strings, numbers, booleans, lists), reading back to the same data."""
    lines: list[str] = []
    _table(data, [], lines)
    return "\n".join(lines).lstrip("\n") + "\n"


def _table(table: dict, path: list[str], lines: list[str]) -> None:
    plain = {k: v for k, v in table.items() if not isinstance(v, dict)}
    if path and (plain or not table):
        lines += ["", "[" + ".".join(_key(p) for p in path) + "]"]
    for k, v in plain.items():
        lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in table.items():
        if isinstance(v, dict):
            _table(v, path + [k], lines)


def _key(k: str) -> str:
    return k if k and all(c.isalnum() or c in "_-" for c in k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):  # an inline table (inside a list)
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to a world file")
