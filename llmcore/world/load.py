"""The world a model learns: reading a world file (`load_world`), building and validating it (`world_from_dict`,
with `llmcore.world.check`) and its training sentences (`generate_corpus`, with `llmcore.world.corpus`). The parts a
world is made of live in `llmcore.world.types`; this module re-exports them, so `llmcore.world.load` is the one import.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from llmcore import inputs
from llmcore.world.check import Validator
from llmcore.world.corpus import CorpusGenerator, Progress, corpus_sentences
from llmcore.world.types import (
    MAX_SENTENCES,
    World,
    WorldError,
)

DEFAULT_WORLD = Path(__file__).parents[1] / "data" / "world.toml"
MAX_WORLD_BYTES = 2 * 2**20  # 2 MB


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
    v = Validator(source)
    v.require(isinstance(data, dict) and data, "file", "is empty or not a table of sections")
    v.require(inputs.value_depth(data) <= inputs.MAX_DEPTH, "file", f"nests deeper than {inputs.MAX_DEPTH} levels")
    v.names(data)
    taxonomy = v.taxonomy(v.get(data, "taxonomy", dict))
    labels = {w: c for c, groups in taxonomy.items() for ws in groups.values() for w in ws}
    animals = {name: v.animal(name, spec, labels) for name, spec in v.get_table(data, "animals").items()}
    for name in labels:
        v.require(labels[name] != "animals" or name in animals, "taxonomy.animals",
                  f"'{name}' has no [animals.{name}] section with its traits")
    food_places = {f: v.food_place(f, spec, labels) for f, spec in v.get_table(data, "food_places", {}).items()}
    people = {p: v.person(p, spec, labels) for p, spec in v.get_table(data, "people", {}).items()}
    recipe = v.recipe(v.get(data, "corpus", dict), animals)
    for key, verbs in (("animals", recipe.people_animal_verbs), ("foods", recipe.people_food_verbs)):
        who = [p.name for p in people.values() if getattr(p, key)]
        name = "people_animal_verbs" if key == "animals" else "people_food_verbs"
        v.require(verbs or not who, f"corpus.{name}", f"is empty, but [people.{who[0] if who else ''}] names {key}")
    grammar = v.grammar(data.get("grammar"), labels)
    plurals, verb_forms = v.inflections(data, labels, animals, recipe, declared=grammar.declared)
    world = World(taxonomy=taxonomy, animals=animals, food_places=food_places, people=people, recipe=recipe,
                  source=source, content_hash=world_hash(data), grammar=grammar, plurals=plurals,
                  verb_forms=verb_forms, write_sentences=corpus_sentences)
    allowed = set(world.diet_pairs())
    for a, f in recipe.held_out:
        v.require((a, f) in allowed, "corpus.held_out", f"({a}, {f}) is not a pair the diets allow")
    held = set(recipe.held_out)
    for a in animals.values():
        v.require(any((a.name, f) not in held for f in a.diet), "corpus.held_out",
                  f"holds out every food of {a.name}'s diet; leave at least one for training")
    return world




def generate_corpus(world: World, seed: int = 0, n_sentences: int | None = None,
                    progress: Progress | None = None) -> list[str]:
    """The training sentences of a world, deterministic for a seed; `progress(done, total)` is called as they
    are made (about every 0.2 s)."""
    n = world.recipe.sentences if n_sentences is None else n_sentences
    if not inputs.is_whole(n) or not 1 <= n <= MAX_SENTENCES:
        raise ValueError(f"the number of sentences must be a whole number from 1 to {MAX_SENTENCES:,}, got {n!r}")
    return CorpusGenerator(world, seed).sentences(int(n), progress)
