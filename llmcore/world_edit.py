"""Editing a world as data: add, change or remove an animal, a food or a place in the parsed world file (its
taxonomy, animals and food_places tables), each problem reported against the field that caused it, and the result
written back as TOML."""

from __future__ import annotations

import copy
import json
from typing import Any

from llmcore.world import WORD_RE, WorldError, world_from_dict


class EditError(ValueError):
    """Problems of one edit, by form field ('name', 'habitats', ...); nothing was changed."""

    def __init__(self, errors: dict[str, str]):
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


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


def _context_of(data: dict, word: str) -> tuple[str, str] | None:
    for c, groups in data.get("taxonomy", {}).items():
        for g, ws in groups.items():
            if word in ws:
                return c, g
    return None


def _place_word(data: dict, word: str, context: str, group: str, field: str, errors: dict[str, str]) -> None:
    """Put a word under taxonomy[context][group] unless it is already in that sub-context."""
    if not WORD_RE.match(word):
        errors[field] = f"'{word}' is not a lower-case word (a-z only)"
        return
    where = _context_of(data, word)
    if where is not None:
        if where[0] != context:
            errors[field] = f"'{word}' is already a word of {where[0]} ({where[1]}), not of {context}"
        return
    if group not in subgroups(data, context):
        errors[field] = f"choose a group of {context} for the new word '{word}'"
        return
    data["taxonomy"][context][group].append(word)


def _remove_word(data: dict, word: str) -> None:
    for groups in data.get("taxonomy", {}).values():
        for ws in groups.values():
            if word in ws:
                ws.remove(word)


def _drop_held_out(data: dict, word: str) -> None:
    corpus = data.get("corpus", {})
    if "held_out" in corpus:
        corpus["held_out"] = [p for p in corpus["held_out"] if word not in p]


def set_animal(data: dict, name: str, *, group: str, kind: str, habitats: list[str], diet: list[str],
               drinks: list[str], new_words: dict[str, tuple[list[str], str]] | None = None) -> dict:
    """The world with this animal added or changed. new_words: field ('habitats', 'diet', 'drinks') → (words,
    group) of words to add to the taxonomy (locations or food) and to that trait. Raises EditError by field."""
    out, errors = copy.deepcopy(data), {}
    name = name.strip().lower()
    if not WORD_RE.match(name or "-"):
        errors["name"] = "type the animal's name: one lower-case word (a-z only)"
    elif (where := _context_of(out, name)) is not None and where[0] != "animals":
        errors["name"] = f"'{name}' is already a word of {where[0]}"
    if not kind.strip() or not all(WORD_RE.match(w) for w in kind.split()):
        errors["kind"] = "describe the kind in lower-case words, e.g. 'a pet' or 'wild'"
    traits = {"habitats": list(habitats), "diet": list(diet), "drinks": list(drinks)}
    for field, (words, new_group) in (new_words or {}).items():
        context = "locations" if field == "habitats" else "food"
        for w in words:
            _place_word(out, w, context, new_group, field, errors)
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
    spec = dict(out.setdefault("animals", {}).get(name, {}))
    spec.update(kind=" ".join(kind.split()), **traits)
    out["animals"][name] = spec
    return checked(out)


def remove_animal(data: dict, name: str) -> dict:
    """The world without this animal: its word, its traits, other animals' chasing it and its held-out pairs."""
    out = copy.deepcopy(data)
    if name not in out.get("animals", {}):
        raise EditError({"name": f"'{name}' is not an animal of this world"})
    del out["animals"][name]
    _remove_word(out, name)
    _drop_held_out(out, name)
    for spec in out["animals"].values():
        if name in spec.get("chases", []):
            spec["chases"] = [a for a in spec["chases"] if a != name]
    return checked(out)


def set_food(data: dict, name: str, *, group: str, eaten_by: list[str], places: list[str],
             verb: str = "is sold in the") -> dict:
    """The world with this food added or changed: its group, the animals whose diet holds it, and the places of
    its own (an empty list: none)."""
    out, errors = copy.deepcopy(data), {}
    name = name.strip().lower()
    if not WORD_RE.match(name or "-"):
        errors["name"] = "type the food: one lower-case word (a-z only)"
    elif (where := _context_of(out, name)) is not None and where[0] != "food":
        errors["name"] = f"'{name}' is already a word of {where[0]}"
    elif where is None and group not in subgroups(out, "food"):
        errors["group"] = "choose the food's group"
    if places and (not verb.strip() or not all(WORD_RE.match(w) for w in verb.split())):
        errors["verb"] = "the words before the place, in lower case, e.g. 'is sold in the'"
    if errors:
        raise EditError(errors)
    if _context_of(out, name) is None:
        out["taxonomy"]["food"][group].append(name)
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
    return checked(out)


def remove_food(data: dict, name: str) -> dict:
    """The world without this food: out of every diet and drink, its places of its own and held-out pairs."""
    out = copy.deepcopy(data)
    if name not in words_in(out, "food"):
        raise EditError({"name": f"'{name}' is not a food of this world"})
    _remove_word(out, name)
    _drop_held_out(out, name)
    out.get("food_places", {}).pop(name, None)
    for animal, spec in out.get("animals", {}).items():
        spec["diet"] = [f for f in spec.get("diet", []) if f != name]
        spec["drinks"] = [f for f in spec.get("drinks", []) if f != name]
        if not spec["diet"]:
            raise EditError({"name": f"'{animal}' eats only {name}: give it another food first"})
    return checked(out)


def set_place(data: dict, name: str, *, group: str, home_of: list[str]) -> dict:
    """The world with this place added or changed: its group and the animals that live there."""
    out, errors = copy.deepcopy(data), {}
    name = name.strip().lower()
    if not WORD_RE.match(name or "-"):
        errors["name"] = "type the place: one lower-case word (a-z only)"
    elif (where := _context_of(out, name)) is not None and where[0] != "locations":
        errors["name"] = f"'{name}' is already a word of {where[0]}"
    elif where is None and group not in subgroups(out, "locations"):
        errors["group"] = "choose the place's group"
    if errors:
        raise EditError(errors)
    if _context_of(out, name) is None:
        out["taxonomy"]["locations"][group].append(name)
    for animal, spec in out.get("animals", {}).items():
        homes = [p for p in spec.get("habitats", []) if p != name]
        spec["habitats"] = homes + [name] if animal in home_of else homes
        if not spec["habitats"]:
            raise EditError({"home_of": f"'{animal}' would have nowhere left to live"})
    return checked(out)


def remove_place(data: dict, name: str) -> dict:
    """The world without this place: out of every habitat and every food's places."""
    out = copy.deepcopy(data)
    if name not in words_in(out, "locations"):
        raise EditError({"name": f"'{name}' is not a place of this world"})
    _remove_word(out, name)
    for animal, spec in out.get("animals", {}).items():
        spec["habitats"] = [p for p in spec.get("habitats", []) if p != name]
        if not spec["habitats"]:
            raise EditError({"name": f"'{animal}' lives only in {name}: give it another place first"})
    for food, spec in list(out.get("food_places", {}).items()):
        spec["places"] = [p for p in spec.get("places", []) if p != name]
        if not spec["places"]:
            del out["food_places"][food]
    return checked(out)


FIELD_OF_KEY = (("habitats", "habitats"), ("diet", "diet"), ("drinks", "drinks"), (".kind", "kind"),
                ("places", "places"), ("verb", "verb"))


def checked(data: dict) -> dict:
    """The edited world if the full validation accepts it; else EditError on the field its key points to."""
    try:
        world_from_dict(data, "edited world")
    except WorldError as e:
        field = next((f for k, f in FIELD_OF_KEY if k in e.key), "world")
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
