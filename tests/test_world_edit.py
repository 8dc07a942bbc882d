"""Editing a world as data: each edit gives a world the full validation accepts, or errors by form field."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmcore.inputs import tomllib
from llmcore.world import edit as we
from llmcore.world.load import DEFAULT_WORLD, world_from_dict

TINY_WORLD = Path(__file__).parent / "data" / "tiny_world.toml"


@pytest.fixture
def data():
    return tomllib.loads(DEFAULT_WORLD.read_text())


def _group_of(data: dict, context: str, word: str) -> str:
    return next(g for g, ws in data["taxonomy"][context].items() if word in ws)


def _unused(data: dict, candidates: list[str]) -> str:
    """The first candidate that is no word (nor form of a word) of the world."""
    taken = {w for groups in data["taxonomy"].values() for ws in groups.values() for w in ws}
    taken |= set(data.get("plurals", {}).values()) | set(data.get("verb_forms", {}).values())
    return next(c for c in candidates if c not in taken)


@pytest.fixture
def wild(data):
    """A wild-like animal of the world (its kind says 'wild' if any does) and what a new one like it needs."""
    animals = data["animals"]
    model = next((a for a, s in animals.items() if "wild" in s["kind"].split()), next(iter(animals)))
    spec = animals[model]
    return dict(name=_unused(data, ["okapi", "zebra", "gnu", "ibex", "yak", "tapir"]),
                group=_group_of(data, "animals", model), kind=spec["kind"], habitat=spec["habitats"][0],
                food=spec["diet"][0], place_group=_group_of(data, "locations", spec["habitats"][0]),
                food_group=_group_of(data, "food", spec["diet"][0]),
                new_place=_unused(data, ["steppe", "tundra", "prairie", "savanna", "glade"]),
                new_food=_unused(data, ["shoots", "lichen", "moss", "leaves", "tofu"]))


def test_toml_written_back_reads_as_the_same_world(data):
    text = we.to_toml(data)
    assert tomllib.loads(text) == data
    assert world_from_dict(tomllib.loads(text)).content_hash == world_from_dict(data).content_hash


def test_regular_plural():
    assert [we.regular_plural(w) for w in ("cat", "fox", "bus", "finch", "fish", "pony", "donkey", "buzz")] == \
        ["cats", "foxes", "buses", "finches", "fishes", "ponies", "donkeys", "buzzes"]


def test_adding_an_animal_with_new_words_puts_each_word_in_its_group(data, wild):
    before = we.to_toml(data)
    w = wild
    out = we.set_animal(data, w["name"].capitalize(), group=w["group"], kind=w["kind"], habitats=[w["habitat"]],
                        diet=[w["food"]], drinks=[], new_words={"habitats": ([w["new_place"]], w["place_group"]),
                                                                "diet": ([w["new_food"]], w["food_group"])})
    assert we.to_toml(data) == before  # the input is left as it was
    world = world_from_dict(out)
    assert world.label(w["name"]) == ("animals", w["group"])
    assert world.label(w["new_place"]) == ("locations", w["place_group"])
    assert world.label(w["new_food"]) == ("food", w["food_group"])
    animal = world.animals[w["name"]]
    assert animal.habitats == (w["habitat"], w["new_place"]) and animal.diet == (w["food"], w["new_food"])
    assert animal.kind == w["kind"]
    assert world.plurals[w["name"]] == we.regular_plural(w["name"])  # every animal of a World 2.0 file has one


def test_adding_an_animal_and_nothing_else_validates(data, wild):
    w = wild
    out = we.set_animal(data, w["name"], group=w["group"], kind=w["kind"], habitats=[w["habitat"]],
                        diet=[w["food"]], drinks=[])
    world = world_from_dict(out)
    assert w["name"] in world.animals and world.plurals[w["name"]] == we.regular_plural(w["name"])
    out = we.set_animal(data, w["name"], group=w["group"], kind="a grazer", habitats=[w["habitat"]],
                        diet=[w["food"]], drinks=[], plural=w["name"] + "z")
    world = world_from_dict(out)
    assert world.plurals[w["name"]] == w["name"] + "z"  # a typed plural
    assert world.kind_plural("a grazer") == "grazers"  # a new kind noun gets its plural
    assert "grazer" not in we.remove_animal(out, w["name"]).get("plurals", {})  # and loses it with its animal


def test_changing_an_animal_keeps_its_other_traits(data):
    name, spec = next((a, s) for a, s in data["animals"].items() if s.get("chases") and s.get("things"))
    habitat, food, drink = spec["habitats"][-1], spec["diet"][-1], spec["drinks"][:1]
    out = we.set_animal(data, name, group=_group_of(data, "animals", name), kind=spec["kind"], habitats=[habitat],
                        diet=[food], drinks=drink)
    animal = world_from_dict(out).animals[name]
    assert animal.habitats == (habitat,) and animal.diet == (food,) and tuple(drink) == animal.drinks
    assert animal.chases == tuple(spec["chases"]) and animal.things == tuple(spec["things"])
    assert out["plurals"][name] == data["plurals"][name]


def _problem_cases():
    data = tomllib.loads(DEFAULT_WORLD.read_text())
    dish = next(iter(data["taxonomy"]["food"].values()))[0]
    place_group = next(iter(data["taxonomy"]["locations"]))
    food_group = next(iter(data["taxonomy"]["food"]))
    animal = next(iter(data["animals"]))
    return [
        (dict(name="Big cat"), "name"), (dict(name=dish), "name"), (dict(habitats=[]), "habitats"),
        (dict(diet=[]), "diet"), (dict(kind="?!"), "kind"),
        (dict(name=data["plurals"][animal]), "name"),  # a form of another word
        (dict(new_words={"habitats": ([animal], place_group)}), "habitats"),  # an animal is not a place
        (dict(new_words={"diet": (["sp4m"], food_group)}), "diet"),
        (dict(plural=data["plurals"][animal]), "plural"),  # already the plural of another animal
        (dict(plural="Two Words"), "plural"),
    ]


@pytest.mark.parametrize("kw, field", _problem_cases())
def test_each_problem_is_reported_on_its_field(data, wild, kw, field):
    w = wild
    args = dict(name=w["name"], group=w["group"], kind=w["kind"], habitats=[w["habitat"]], diet=[w["food"]],
                drinks=[])
    with pytest.raises(we.EditError) as e:
        we.set_animal(data, **{**args, **kw})
    assert field in e.value.errors, e.value.errors


def _refers_to(out: dict, word: str) -> bool:
    """Whether any taxonomy list, or any key, list or sentence outside the taxonomy and meta, still names the word."""
    plural = out.get("plurals", {}).get(word, word)

    def walk(v) -> bool:
        if isinstance(v, dict):
            return any(k in (word, plural) or walk(x) for k, x in v.items())
        if isinstance(v, list):
            return any(walk(x) for x in v)
        return isinstance(v, str) and bool({word, plural} & set(v.split()))
    return walk([out["taxonomy"][c][g] for c in out["taxonomy"] for g in out["taxonomy"][c]]) or \
        walk({k: v for k, v in out.items() if k not in ("taxonomy", "meta")})


def test_removing_an_animal_removes_what_refers_to_it(data):
    name = next(a for a, s in data["animals"].items()
                if any(a in p.get("animals", []) for p in data.get("people", {}).values())
                and any(a in o.get("chases", []) for o in data["animals"].values()))
    out = we.remove_animal(data, name)
    world = world_from_dict(out)
    assert name not in world.animals and world.label(name)[0] == "grammar"
    assert all(name not in a.chases for a in world.animals.values())
    assert all(name not in p.animals for p in world.people.values())
    assert all(name not in pair for pair in world.recipe.held_out)
    assert name not in world.plurals and not _refers_to(out, name)


def test_every_animal_of_the_bundled_world_can_be_removed(data):
    for name in data["animals"]:
        out = we.remove_animal(data, name)
        assert name not in world_from_dict(out).animals and not _refers_to(out, name), name


def test_every_place_can_be_removed_unless_an_animal_lives_only_there(data):
    for place in we.words_in(data, "locations"):
        only = [a for a, s in data["animals"].items() if s["habitats"] == [place]]
        if only:
            with pytest.raises(we.EditError, match="lives only in"):
                we.remove_place(data, place)
        else:
            out = we.remove_place(data, place)
            assert not _refers_to(out, place), place


def test_foods_and_places(data, wild):
    w = wild
    dishes = _group_of(data, "food", next(iter(data["food_places"])))
    eaters = list(data["animals"])[:2]
    market = next(iter(data["food_places"].values()))["places"][0]
    out = we.set_food(data, w["new_food"], group=dishes, eaten_by=eaters, places=[market])
    world = world_from_dict(out)
    assert w["new_food"] in world.animals[eaters[0]].diet and world.food_places[w["new_food"]][1] == [market]
    out = we.remove_food(out, w["new_food"])
    assert w["new_food"] not in world_from_dict(out).animals[eaters[0]].diet and not _refers_to(out, w["new_food"])
    lion = next(a for a in data["animals"] if w["habitat"] not in data["animals"][a]["habitats"])
    out = we.set_place(data, w["new_place"], group=w["place_group"], home_of=[lion], phrases=["on the"])
    world = world_from_dict(out)
    assert w["new_place"] in world.animals[lion].habitats
    assert world.grammar.place_phrases(w["new_place"]) == ("on the",)
    with pytest.raises(we.EditError) as e:  # a preposition the world does not declare
        we.set_place(data, w["new_place"], group=w["place_group"], home_of=[lion], phrases=["beyond the"])
    assert "phrases" in e.value.errors
    sold = next(p for s in data["food_places"].values() for p in s["places"])
    out = we.remove_place(data, sold)
    assert all(sold not in p for _, p in world_from_dict(out).food_places.values())
    only = we.set_animal(data, w["name"], group=w["group"], kind=w["kind"], habitats=[w["habitat"]],
                         diet=[w["food"]], drinks=[])
    with pytest.raises(we.EditError, match=f"lives only in {w['habitat']}"):
        we.remove_place(only, w["habitat"])
    with pytest.raises(we.EditError) as e:
        we.set_food(only, w["name"], group=dishes, eaten_by=[], places=[])  # an animal is not a food
    assert "name" in e.value.errors


def test_edits_of_an_old_world_without_grammar_or_plurals():
    data = tomllib.loads(TINY_WORLD.read_text())
    assert "grammar" not in data and "plurals" not in data
    group = next(iter(data["taxonomy"]["animals"]))
    place, food = we.words_in(data, "locations")[0], we.words_in(data, "food")[0]
    out = we.set_animal(data, "owl", group=group, kind="a bird", habitats=[place], diet=[food], drinks=[])
    assert "owl" in world_from_dict(out).animals and "plurals" not in out
    for name in data["animals"]:
        assert name not in world_from_dict(we.remove_animal(data, name)).animals
    out = we.set_place(out, "cave", group=next(iter(data["taxonomy"]["locations"])), home_of=["owl"])
    assert "cave" in world_from_dict(out).animals["owl"].habitats
    with pytest.raises(we.EditError) as e:  # no [grammar] to name it in
        we.set_place(out, "cave", group=next(iter(data["taxonomy"]["locations"])), home_of=["owl"], phrases=["at"])
    assert "phrases" in e.value.errors


def _new_entry(data: dict, what: str, name: str, w: dict, new: bool = True) -> dict:
    """A new animal, food or place named `name` (as the form's "(a new one)" entry saves it)."""
    if what == "animal":
        return we.set_animal(data, name, group=w["group"], kind=w["kind"], habitats=[w["habitat"]],
                             diet=[w["food"]], drinks=[], new=new)
    if what == "food":
        return we.set_food(data, name, group=w["food_group"], eaten_by=[], places=[], new=new)
    return we.set_place(data, name, group=w["place_group"], home_of=[], new=new)


@pytest.mark.parametrize("what", ["animal", "food", "place"])
def test_a_new_entry_never_replaces_a_word_of_the_world(data, wild, what):
    """A new entry named like any word of the world (its own kind's above all: 'dog' for a new animal) is refused
    on the name field, naming the word; the world is left as it was. Editing that word itself still works."""
    before = we.to_toml(data)
    existing = {"animal": next(iter(data["animals"])), "food": we.words_in(data, "food")[0],
                "place": we.words_in(data, "locations")[0]}
    for other, word in existing.items():
        for typed in (word, f" {word.upper()} "):  # as typed: trimmed and lower-cased before the check
            with pytest.raises(we.EditError) as e:
                _new_entry(data, what, typed, wild)
            assert set(e.value.errors) == {"name"} and f"'{word}' is already" in e.value.errors["name"], (other, e)
    assert we.to_toml(data) == before
    if what == "animal":  # the same name, edited rather than added, changes that animal
        out = _new_entry(data, what, existing["animal"], wild, new=False)
        assert out["animals"][existing["animal"]]["habitats"] == [wild["habitat"]]
    assert wild["name"] in we.words_in(_new_entry(data, what, wild["name"], wild),
                                       {"animal": "animals", "food": "food", "place": "locations"}[what])


@pytest.mark.parametrize("typed, says", [
    ("x" * 10_000, "has 10,000 characters"), ("a" * (we.MAX_NAME + 1), f"has {we.MAX_NAME + 1} characters"),
    ("hot-dog", "characters other than a-z"), ("a1", "characters other than a-z"), ("zèbre", "other than a-z"),
    ("two words", "other than a-z"), ("", "type the"),
])
@pytest.mark.parametrize("what", ["animal", "food", "place"])
def test_new_names_are_bounded_and_the_error_states_the_rule(data, wild, what, typed, says):
    with pytest.raises(we.EditError) as e:
        _new_entry(data, what, typed, wild)
    message = e.value.errors["name"]
    assert we.NAME_RULE in message and says in message and len(message) < 200


def test_a_name_of_the_longest_length_is_accepted_with_its_plural(data, wild):
    name = "q" * (we.MAX_NAME - 1) + "x"  # its regular plural ('…xes') is two letters longer
    out = _new_entry(data, "animal", name, wild)
    assert world_from_dict(out).plurals[name] == name + "es"
    with pytest.raises(we.EditError) as e:  # a new word for a trait follows the same rule
        we.set_animal(data, wild["name"], group=wild["group"], kind=wild["kind"], habitats=[wild["habitat"]],
                      diet=[wild["food"]], drinks=[], new=True,
                      new_words={"diet": (["y" * (we.MAX_NAME + 1)], wild["food_group"])})
    assert we.NAME_RULE in e.value.errors["diet"]


@pytest.mark.parametrize("text, says", [
    ("x = " + "[" * 5000 + "]" * 5000, "nests deeper"), ("a = " + "9" * 5000, "5,000 digits"),
    ("animals = 5", "[taxonomy]"), ("= broken", "cannot be parsed as TOML"),
])
def test_the_editors_world_text_goes_through_the_guard(text, says):
    with pytest.raises(we.EditError) as e:
        we.parse_world_text(text)
    assert says in e.value.errors["world"]
    with pytest.raises(we.EditError, match="larger than"):
        we.parse_world_text("#" * (we.MAX_WORLD_BYTES + 1))
    assert we.parse_world_text(DEFAULT_WORLD.read_text()) == tomllib.loads(DEFAULT_WORLD.read_text())
