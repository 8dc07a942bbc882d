"""The world file, its validation and the corpus generator."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from llmcore.inputs import tomllib
from llmcore.world.check import MAX_WORD
from llmcore.world.corpus import mentions_held_out
from llmcore.world.load import generate_corpus, load_world, world_from_dict
from llmcore.world.types import WorldError

SEED_WORDS = ["cat", "dog", "pizza", "sausage", "meat", "milk", "home", "street", "eats", "devours", "drinks"]


@pytest.fixture(scope="module")
def corpus(world, corpus_of):
    return corpus_of(world, 0)


def test_taxonomy_size_and_seed_words(world, corpus):
    for ctx in ("animals", "food", "locations"):
        assert len(world.words_of(ctx)) >= 15
    assert len(world.contexts) >= 5
    assert all(len(groups) >= 2 for groups in world.taxonomy.values())
    assert len(world.animals) >= 40
    for a in world.animals.values():
        assert a.habitats and a.diet and a.drinks, a.name
    assert sum(bool(a.things) for a in world.animals.values()) >= 30
    assert len({w for s in corpus for w in s.split()}) >= 600  # the vocabulary, inflections included
    for w in SEED_WORDS:
        assert world.label(w)[0] != "grammar", w


def test_seed_example_holds(world):
    cat = world.animals["cat"]
    assert world.label("cat") == ("animals", "pets") and cat.kind == "a pet"
    assert {"home", "street"} <= set(cat.habitats)
    assert "meat" in cat.diet and "milk" in cat.drinks
    assert "cat" in world.people["pharaoh"].animals and "egyptian" in world.people["pharaoh"].adjectives
    assert world.label("cats") == world.label("cat") and world.lemma("cats") == "cat" and world.lemma("eat") == "eats"


def test_corpus_is_deterministic_and_large(world, corpus):
    first, again = generate_corpus(world, seed=0, n_sentences=500), generate_corpus(world, seed=0, n_sentences=500)
    assert first is not again and first == again  # two calls with one seed give the same sentences
    other = generate_corpus(world, seed=1, n_sentences=500)
    assert other != first and len(other) == len(first) == 500 and set(other) != set(first)
    assert sum(len(s.split()) for s in corpus) >= 1_000_000
    seen = {w for s in corpus for w in s.split()}
    unused = [f for c in world.taxonomy for w in world.words_of(c) for f in world.forms(w) if f not in seen]
    assert unused == []  # every word and every form of it is trained


def test_held_out_pairs_never_share_a_sentence_in_any_form(world, corpus):
    held = world.held_out_pairs()
    assert ("dog", "pizza") in held
    assert len(held) - 1 >= 0.10 * (len(world.diet_pairs()) - 1)
    assert len(set(held)) == len(held)
    lemmas = [{world.lemma(w) for w in s.split()} for s in corpus]  # 'dogs' counts as 'dog', 'sausages' as 'sausage'
    for a, f in held:
        assert not any(a in s and f in s for s in lemmas), (a, f)
    # the animals of held-out pairs do occur in every form: singular, plural, with adjectives, with each preposition
    dog = [s for s in corpus if {"dog", "dogs"} & set(s.split())]
    assert any("dogs" in s.split() for s in dog) and any(" at " in s for s in dog) and any(" on " in s for s in dog)
    assert any(s.split()[1] in world.grammar.adjectives for s in dog if s.split()[2] in ("dog", "dogs"))


def test_held_out_check_sees_every_form(world):
    held = {("dog", "pizza"), ("cat", "sausage")}
    assert mentions_held_out(world, "two hungry dogs devour pizza in a street .", held)
    assert mentions_held_out(world, "the cats eat sausages at home .", held)
    assert not mentions_held_out(world, "the cats eat pizza at home .", held)


EVENT = re.compile(r"^(?:\w+ )?(?:\w+ )?(\w+) (\w+) (\w+) (in|at|on|by|near|under) (?:the |an? )?(\w+) \.$")


def test_events_respect_traits(world, corpus):
    verbs = {f for v in world.recipe.eat_verbs for f in world.forms(v)}
    n = 0
    for s in corpus:
        m = EVENT.match(s)
        if m and m.group(2) in verbs and world.lemma(m.group(1)) in world.animals:
            animal, _, food, prep, place = m.groups()
            animal, food = world.lemma(animal), world.lemma(food)
            assert food in world.animals[animal].diet, s
            assert place in world.animals[animal].habitats, s
            assert any(p.split()[0] == prep for p in world.grammar.place_phrases(place)), s
            n += 1
    assert n > 10_000


def _agreement_errors(world, sentence: str) -> list[str]:
    """Number agreement read off a sentence by the world's word lists, independently of the generator."""
    g, words, errors = world.grammar, sentence.split(), []
    verbs = set(world.verb_forms) | set(world.verb_forms.values()) | {"is", "are", "grows"}
    plurals, singular_dets = set(world.plurals.values()), set(g.singular_determiners) | {"an"}
    for i, w in enumerate(words[:-1]):
        nxt = words[i + 1]
        if w in ("a", "an") and w != ("an" if nxt[0] in "aeiou" else "a"):
            errors.append(f"'{w} {nxt}'")
    v = next((i for i, w in enumerate(words) if w in verbs), None)
    if v is None:
        return errors + ["no verb"]
    subject = words[:v]
    plural = g.conjunction in subject or subject[-1] in plurals
    if subject[0] in singular_dets - {"the", "my", "your", "his", "her", "their"} and plural and \
            g.conjunction not in subject:
        errors.append(f"singular determiner '{subject[0]}' before a plural")
    if subject[0] in set(g.plural_determiners) - singular_dets and not plural:
        errors.append(f"plural determiner '{subject[0]}' before a singular")
    verb = words[v]
    if verb in world.verb_forms and world.verb_forms[verb] == verb:
        ok = True  # 'admired' is both
    else:
        ok = (verb in set(world.verb_forms) | {"is", "grows"}) != plural
    if not ok:
        errors.append(f"'{' '.join(subject)}' takes the other form of '{verb}'")
    return errors


def test_every_sentence_of_a_50k_sample_agrees(world):
    sample = generate_corpus(world, seed=3, n_sentences=50_000)
    bad = [(s, e) for s in sample for e in _agreement_errors(world, s)]
    assert not bad, bad[:5]
    words = [s.split() for s in sample]
    assert sum(w[0] in ("two", "three") for w in words) > 500 and sum("and" in w for w in words) > 1000


def test_agreement_check_catches_mistakes(world):
    for s in ["a dogs eats meat .", "two dog eat meat .", "cats eats fish .", "a cat eat fish .",
              "a cat and a dog eats meat .", "an cat is an animal .", "cats is animals ."]:
        assert _agreement_errors(world, s), s
    for s in ["a cat eats sausage at home .", "cats drink milk .", "the egyptian pharaohs admired the cat .",
              "a cat is an animal .", "a cat and two dogs sleep at home ."]:
        assert not _agreement_errors(world, s), s


def test_story_sentences_use_words_of_the_world(world, corpus):
    vocab = {w for s in corpus for w in s.split()}
    for s in ["a cat eats sausage at home", "a dog devours pizza in a street", "cats drink milk",
              "the egyptian pharaohs admired the cat", "a cat is an animal", "a cat is a pet",
              "my cat sleeps on the sofa", "two dogs devour pizza in"]:
        assert set(s.split()) <= vocab, s
    assert "sausage" in world.animals["cat"].diet and "home" in world.animals["cat"].habitats
    assert "street" in world.animals["dog"].habitats and "in a" in world.grammar.place_phrases("street")
    assert "milk" in world.animals["cat"].drinks and "cat" in world.people["pharaoh"].animals


def test_foods_have_places_of_their_own(world, corpus):
    assert "pizza is sold in the restaurant ." in corpus
    assert "restaurant" not in world.animals["dog"].habitats


def _broken(tmp_path: Path, mutate) -> Path:
    data = tomllib.loads(Path(load_world().source).read_text())
    mutate(data)
    path = tmp_path / "world.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("mutate, key, problem", [
    (lambda d: d["taxonomy"].pop("locations"), "taxonomy.locations", "missing"),
    (lambda d: d["animals"]["cat"].update(habitats=["pizza"]), "animals.cat.habitats", "is in food, not in locations"),
    (lambda d: d["animals"]["cat"].update(diet=[]), "animals.cat.diet", "empty"),
    (lambda d: d["animals"]["cat"].pop("habitats"), "animals.cat.habitats", "missing"),
    (lambda d: d["taxonomy"]["food"]["meat"].append("cat"), "taxonomy.food.meat", "already listed"),
    (lambda d: d["animals"]["cat"].update(colour="grey"), "animals.cat.colour", "not a known trait"),
    (lambda d: d["animals"]["cat"].update(diet=["Meat!"]), "animals.cat.diet", "not a lower-case word"),
    (lambda d: d["corpus"].update(held_out=[["cat", "hay"]]), "corpus.held_out", "not a pair the diets allow"),
    (lambda d: d["corpus"].update(sentences="many"), "corpus.sentences", "must be a int"),
    (lambda d: d["animals"].pop("dog"), "taxonomy.animals", "'dog' has no [animals.dog] section"),
    (lambda d: d["corpus"].update(held_out_fraction="x"), "corpus.held_out_fraction", "use a number"),
    (lambda d: d["corpus"].update(held_out_seed=-7), "corpus.held_out_seed", "use a whole number"),
    (lambda d: d["corpus"].update(held_out_seed=1.5), "corpus.held_out_seed", "use a whole number"),
    (lambda d: d["corpus"]["mix"].update(eat_event=float("inf")), "corpus.mix.eat_event", "use a number"),
    (lambda d: d["corpus"].update(held_out=[["cat", f] for f in d["animals"]["cat"]["diet"]]), "corpus.held_out",
     "every food of cat's diet"),
    (lambda d: d["corpus"].update(held_out=[[1, 2]]), "corpus.held_out", "pairs of words"),
    (lambda d: d["corpus"].update(drink_verbs=[]), "corpus.drink_verbs", "is empty"),
    (lambda d: d["animals"]["cat"].update(diet=["meat\n"]), "animals.cat.diet", "not a lower-case word"),
    (lambda d: d.update(notes=json.loads("[" * 40 + "]" * 40)), "file", "nests deeper than 32"),
    (lambda d: d["plurals"].update(kat="cats"), "plurals.kat", "plural without a base word: 'kat' is not a word"),
    (lambda d: d["plurals"].pop("cat"), "plurals", "animal 'cat' has no plural"),
    (lambda d: d["taxonomy"]["things"]["toys"].append("balls"), "plurals.ball", "'balls' is listed in the taxonomy"),
    (lambda d: d["verb_forms"].pop("devours"), "verb_forms", "'devours' (corpus.eat_verbs) has no plural form"),
    (lambda d: d["grammar"]["places"].update(home=["inside"]), "grammar.places.home",
     "'inside' is used but not declared"),
    (lambda d: d["grammar"]["things"].update(sofa=["on an"]), "grammar.things.sofa", "not one of the [grammar] art"),
    (lambda d: d["grammar"]["places"].update(pizza=["in the"]), "grammar.places.pizza", "not a word under"),
    (lambda d: d["grammar"].update(adjectives=["hungri"]), "grammar.adjectives", "'hungri' is not in the taxonomy"),
    (lambda d: d["corpus"].update(plural_share=2), "corpus.plural_share", "use a number from 0 to 1"),
    (lambda d: d["people"]["pharaoh"].update(animals=["pizza"]), "people.pharaoh.animals", "is in food"),
])
def test_broken_world_names_file_key_and_problem(tmp_path, mutate, key, problem):
    path = _broken(tmp_path, mutate)
    with pytest.raises(WorldError) as e:
        load_world(path)
    assert str(path) in str(e.value) and f"[{key}]" in str(e.value) and problem in str(e.value)


def test_unreadable_world_files(tmp_path):
    with pytest.raises(WorldError, match="does not exist"):
        load_world(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[taxonomy\nanimals = ")
    with pytest.raises(WorldError, match=r"bad.toml: \[file\] cannot be parsed"):
        load_world(bad)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(WorldError, match="empty"):
        load_world(empty)
    with pytest.raises(WorldError, match="empty"):
        world_from_dict([], "list.json")


def test_a_byte_order_mark_is_dropped(tmp_path):
    bom = tmp_path / "bom.toml"
    bom.write_bytes(b"\xef\xbb\xbf" + Path(load_world().source).read_bytes())
    assert load_world(bom).content_hash == load_world().content_hash


def test_deep_files_are_refused_before_parsing(tmp_path):
    header = tmp_path / "deep.toml"  # 17 kB: a 2,000-level table header
    header.write_text(Path(load_world().source).read_text() + "\n[" + ".".join(["a"] * 2000) + "]\nx = 1\n")
    inline = tmp_path / "inline.toml"
    inline.write_text("x = " + "[" * 5000 + "]" * 5000)
    deep_json = tmp_path / "deep.json"
    deep_json.write_text("[" * 100_000 + "]" * 100_000)
    for path in (header, inline, deep_json):
        with pytest.raises(WorldError, match=r"\[file\] nests deeper than 32 levels"):
            load_world(path)


def _held_out_reference(world) -> list[tuple[str, str]]:
    """The selection as it was written first (quadratic): the linear one must pick exactly these pairs."""
    import numpy as np

    held = list(world.recipe.held_out)
    target = len(held) + int(np.ceil(world.recipe.held_out_fraction * (len(world.diet_pairs()) - len(held))))
    rng = np.random.default_rng(world.recipe.held_out_seed)
    candidates = [p for p in world.diet_pairs() if p not in held]
    for i in rng.permutation(len(candidates)):
        if len(held) >= target:
            break
        animal, food = candidates[i]
        trained = [f for f in world.animals[animal].diet if (animal, f) not in held]
        eaters = [a for a, f in world.diet_pairs() if f == food and (a, food) not in held]
        if len(trained) > 2 and len(eaters) > 1:
            held.append((animal, food))
    return held


@pytest.mark.parametrize("seed", range(12))
def test_linear_held_out_selection_picks_what_the_quadratic_one_did(world, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    data = tomllib.loads(Path(world.source).read_text())
    foods = [w for ws in data["taxonomy"]["food"].values() for w in ws]
    for spec in data["animals"].values():  # random diets, some with a food listed twice
        spec["diet"] = list(rng.choice(foods, size=int(rng.integers(1, 8))))
    data["corpus"].update(held_out=[], held_out_fraction=float(rng.uniform(0, 0.49)), held_out_seed=seed)
    w = world_from_dict(data)
    assert w.held_out_pairs() == _held_out_reference(w)
    assert world.held_out_pairs() == _held_out_reference(world)


def test_corpus_reports_progress_and_checks_its_size(world):
    calls = []
    sentences = generate_corpus(world, 0, 45_000, progress=lambda done, total: calls.append((done, total)))
    assert sentences == generate_corpus(world, 0, 45_000)  # reporting does not change the draws
    assert calls == [(20_000, 45_000), (40_000, 45_000), (45_000, 45_000)]
    for n in (0, -5, 10**12, 2.5, True):
        with pytest.raises(ValueError, match="number of sentences"):
            generate_corpus(world, 0, n)


LONG = "a" * 10_000


@pytest.mark.parametrize("mutate, key", [
    (lambda d: d["taxonomy"]["food"]["meat"].append(LONG), "taxonomy.food.meat"),  # a listed word
    (lambda d: d["taxonomy"]["food"].update({LONG: ["quinoa"]}), f"taxonomy.food.{'a' * MAX_WORD}…"),  # a subgroup
    (lambda d: d["taxonomy"].update({LONG: {"g": ["quinoa"]}}), f"taxonomy.{'a' * MAX_WORD}…"),  # a sub-context
    (lambda d: d["animals"].update({LONG: d["animals"]["cat"]}), f"animals.{'a' * MAX_WORD}…"),  # an animal's name
    (lambda d: d["animals"]["cat"].update(kind=f"a {LONG}"), "animals.cat.kind"),
    (lambda d: d["animals"]["cat"].update(facts=[f"the cat is {LONG}"]), "animals.cat.facts"),  # a sentence's word
    (lambda d: d["plurals"].update(cat=LONG), "plurals.cat"),
    (lambda d: d["grammar"].update(conjunction=LONG), "grammar.conjunction"),
])
def test_a_world_files_words_and_names_are_bounded(tmp_path, mutate, key):
    """A word or name over MAX_WORD characters is refused by the first check that meets it, naming the file, the
    key and the rule, and quoting at most MAX_WORD of its characters."""
    path = _broken(tmp_path, mutate)
    with pytest.raises(WorldError) as e:
        load_world(path)
    message = str(e.value)
    assert str(path) in message and f"[{key}]" in message and f"at most {MAX_WORD}" in message
    assert "10,000 characters" in message and len(message) < len(str(path)) + 4 * MAX_WORD + 100


def test_a_word_of_the_bound_is_a_word(tmp_path):
    longest = "q" * MAX_WORD
    assert load_world(_broken(tmp_path, lambda d: d["taxonomy"]["food"]["meat"].append(longest))).label(longest)
    with pytest.raises(WorldError, match=f"has {MAX_WORD + 1} characters"):
        load_world(_broken(tmp_path, lambda d: d["taxonomy"]["food"]["meat"].append(longest + "q")))


def test_the_world_editor_text_and_every_name_it_writes_keep_the_bound():
    from llmcore.world.edit import MAX_NAME, EditError, parse_world_text

    assert MAX_NAME + 2 <= MAX_WORD  # a name the editor accepts, and its plural, pass the file's check
    text = Path(load_world().source).read_text().replace('pets = ["cat"', f'pets = ["{LONG}", "cat"', 1)
    with pytest.raises(EditError) as e:
        parse_world_text(text)
    assert "[taxonomy.animals.pets]" in str(e.value) and f"at most {MAX_WORD}" in str(e.value)
