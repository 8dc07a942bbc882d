"""Editing a world as data: each edit gives a world the full validation accepts, or errors by form field."""

from __future__ import annotations

import pytest

from llmcore import world_edit as we
from llmcore.world import DEFAULT_WORLD, tomllib, world_from_dict


@pytest.fixture
def data():
    return tomllib.loads(DEFAULT_WORLD.read_text())


def test_toml_written_back_reads_as_the_same_world(data):
    text = we.to_toml(data)
    assert tomllib.loads(text) == data
    assert world_from_dict(tomllib.loads(text)).content_hash == world_from_dict(data).content_hash


def test_adding_an_animal_with_new_words_puts_each_word_in_its_group(data):
    before = we.to_toml(data)
    out = we.set_animal(data, "Zebra", group="wild", kind="wild", habitats=["field"], diet=["grass"], drinks=["water"],
                        new_words={"habitats": (["savanna"], "nature"), "diet": (["leaves"], "plant")})
    assert we.to_toml(data) == before  # the input is left as it was
    world = world_from_dict(out)
    assert world.label("zebra") == ("animals", "wild") and world.label("savanna") == ("locations", "nature")
    assert world.label("leaves") == ("food", "plant")
    zebra = world.animals["zebra"]
    assert zebra.habitats == ("field", "savanna") and zebra.diet == ("grass", "leaves") and zebra.kind == "wild"


def test_changing_an_animal_keeps_its_other_traits(data):
    out = we.set_animal(data, "cat", group="pets", kind="a pet", habitats=["home"], diet=["fish"], drinks=["milk"])
    cat = world_from_dict(out).animals["cat"]
    assert cat.habitats == ("home",) and cat.diet == ("fish",) and "mouse" in cat.chases and cat.facts


@pytest.mark.parametrize("kw, field", [
    (dict(name="Big cat"), "name"), (dict(name="pizza"), "name"), (dict(habitats=[]), "habitats"),
    (dict(diet=[]), "diet"), (dict(kind="?!"), "kind"),
    (dict(new_words={"habitats": (["dog"], "nature")}), "habitats"),  # an animal is not a place
    (dict(new_words={"diet": (["sp4m"], "plant")}), "diet"),
])
def test_each_problem_is_reported_on_its_field(data, kw, field):
    args = dict(name="zebra", group="wild", kind="wild", habitats=["field"], diet=["grass"], drinks=[])
    with pytest.raises(we.EditError) as e:
        we.set_animal(data, **{**args, **kw})
    assert field in e.value.errors, e.value.errors


def test_removing_an_animal_removes_what_refers_to_it(data):
    out = we.remove_animal(data, "dog")
    world = world_from_dict(out)
    assert "dog" not in world.animals and world.label("dog")[0] == "grammar"
    assert all("dog" not in a.chases for a in world.animals.values())
    assert all("dog" not in pair for pair in world.recipe.held_out)


def test_foods_and_places(data):
    out = we.set_food(data, "tofu", group="dishes", eaten_by=["dog", "cat"], places=["market"])
    world = world_from_dict(out)
    assert "tofu" in world.animals["dog"].diet and world.food_places["tofu"][1] == ["market"]
    out = we.remove_food(out, "tofu")
    assert "tofu" not in world_from_dict(out).animals["dog"].diet
    out = we.set_place(data, "savanna", group="nature", home_of=["lion"])
    assert "savanna" in world_from_dict(out).animals["lion"].habitats
    out = we.remove_place(data, "restaurant")
    assert all("restaurant" not in p for _, p in world_from_dict(out).food_places.values())
    only = we.set_animal(data, "zebra", group="wild", kind="wild", habitats=["field"], diet=["grass"], drinks=[])
    with pytest.raises(we.EditError, match="lives only in field"):
        we.remove_place(only, "field")
    with pytest.raises(we.EditError) as e:
        we.set_food(only, "zebra", group="dishes", eaten_by=[], places=[])  # an animal is not a food
    assert "name" in e.value.errors
