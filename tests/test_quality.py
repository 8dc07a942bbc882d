"""Quality bars, asserted on the shipped checkpoint (see docs/performance.md: Quality)."""

from __future__ import annotations

import numpy as np
import pytest

from llmcore.analysis.evaluate import (
    content_embeddings,
    control_pairs,
    evaluate_quality,
    generalisation_prompts,
    held_out_breakdown,
    neighbour_purity,
    next_word_probs,
)
from llmcore.analysis.trace import trace_generation
from llmcore.model.checkpoint import DEFAULT_CHECKPOINT


@pytest.fixture(scope="module")
def quality(ckpt):
    return evaluate_quality(ckpt.model, ckpt.tokenizer, ckpt.world, ckpt.held_out)


def test_seed_prompt_goes_to_a_dog_place(ckpt):
    t = trace_generation(ckpt, "a dog devours pizza in")
    assert t.generated_words[0] in ("the", "a")
    assert t.generated_words[1] in ckpt.world.animals["dog"].habitats
    assert t.next_context(t.boundary + 1) == "locations"  # the step that names the place


def test_held_out_generalisation_in_every_form(ckpt, quality):
    prompts = generalisation_prompts(ckpt.world, ckpt.held_out)
    assert quality.n_generalisation_prompts == len(prompts)
    forms = {(p.plural, bool(p.adjective), p.preposition, p.article) for p in prompts}
    assert {True, False} == {f[0] for f in forms} == {f[1] for f in forms} == {bool(f[3]) for f in forms}
    assert {"in", "at", "on"} <= {f[2] for f in forms}
    assert quality.habitat_mass >= 0.85
    assert quality.habitat_top1 >= 0.95


def test_control_pairs_meet_the_same_bars(ckpt, quality):
    controls = control_pairs(ckpt.world, ckpt.held_out)
    assert len(controls) == len(ckpt.held_out) and not set(controls) & set(ckpt.held_out)
    assert quality.control_habitat_mass >= 0.85
    assert quality.control_habitat_top1 >= 0.95


def test_diet_and_neighbours(quality):
    assert quality.diet_share >= 0.90  # after 'a <animal> eats' and '<animals> eat'
    assert quality.neighbour_purity >= 0.90
    assert quality.inflection_neighbours >= 0.90  # cat / cats, eats / eat are each other's neighbours


def test_neighbour_purity_is_not_trivial(ckpt):
    words, emb, labels = content_embeddings(ckpt.model, ckpt.tokenizer, ckpt.world)
    assert {"cats", "eat"} <= set(words)  # inflected forms count as content words
    shuffled = list(np.random.default_rng(0).permutation(labels))
    assert neighbour_purity(emb, shuffled) < 0.6


def test_the_story_is_answered_as_the_world_says(ckpt):
    w, tok = ckpt.world, ckpt.tokenizer
    questions = {"a cat eats sausage at": w.animals["cat"].habitats,
                 "a dog devours pizza in a": w.animals["dog"].habitats,
                 "cats drink": w.animals["cat"].drinks,
                 "the egyptian pharaohs admired the": w.people["pharaoh"].animals,
                 "a cat is an": ["animal"], "a cat is a": [w.animals["cat"].kind.split()[-1]]}
    probs = next_word_probs(ckpt.model, tok, list(questions))
    for (prompt, answers), p in zip(questions.items(), probs):
        assert not tok.encode(prompt).unknown
        assert tok.vocab[int(np.argmax(p))] in answers, prompt


def test_held_out_list_ships_and_was_never_seen_in_any_form(ckpt, corpus_of):
    assert ("dog", "pizza") in ckpt.held_out
    assert ckpt.held_out == ckpt.world.held_out_pairs()
    corpus = corpus_of(ckpt.world, ckpt.train_config["corpus_seed"])
    sets = [{ckpt.world.lemma(w) for w in s.split()} for s in corpus]
    for a, f in ckpt.held_out:
        assert not any(a in s and f in s for s in sets)


def test_shipped_checkpoint_size_and_training_time(ckpt):
    from llmcore.maps.store import STATES_FILE

    shipped = [p for p in DEFAULT_CHECKPOINT.rglob("*") if p.is_file() and p.name != STATES_FILE]  # a local cache
    size = sum(p.stat().st_size for p in shipped)
    assert size <= 40 * 2**20  # the model, its maps, results, tuned lens and features (the bar: 40 MB)
    # 5 minutes on 2 cores: wall seconds when the run had the cores to itself, or, when other work shared them,
    # the run's CPU seconds over both cores (2 x 300 s); docs/performance.md: Training quotes both
    m = ckpt.metrics
    assert m["complete"] and (m["train_seconds"] <= 300 or m.get("train_cpu_seconds", 601) <= 2 * 300)
    assert len(ckpt.snapshot_steps) >= 20
    assert ckpt.snapshots().shape == (len(ckpt.snapshot_steps), len(ckpt.tokenizer), ckpt.model.config.n_embd)


def test_held_out_breakdown_per_prompt(ckpt):
    import torch

    b = held_out_breakdown(ckpt.model, ckpt.tokenizer, ckpt.world, ckpt.held_out)
    n = len(generalisation_prompts(ckpt.world, ckpt.held_out))
    assert len(b.prompts) == len(b.top_place) == b.habitat_mass.shape[0] == b.food_place_mass.shape[0] == n
    stoi, locations = ckpt.tokenizer.stoi, ckpt.world.words_of("locations")
    with_article = [i for i, p in enumerate(b.prompts) if p.endswith(" the")]
    bare = [i for i, p in enumerate(b.prompts) if not p.endswith(" the")]

    def probs(text):
        with torch.no_grad():
            logits, _ = ckpt.model(torch.tensor([ckpt.tokenizer.encode(text).ids]))
        return logits[0, -1].softmax(-1).numpy()

    for i in with_article[:: len(with_article) // 3] + bare[:1]:  # recomputed by hand from forward passes
        p = probs(b.prompts[i])
        if i in bare:  # the place may come at once ('at home') or after an article ('at the park')
            p = p + sum(p[stoi[a]] * probs(f"{b.prompts[i]} {a}") for a in ("the", "a", "an"))
        habitats = ckpt.world.animals[b.animals[i]].habitats
        assert np.isclose(b.habitat_mass[i], sum(p[stoi[h]] for h in habitats), atol=1e-4)
        top = max(locations, key=lambda w: p[stoi[w]])
        assert b.top_place[i] == top and np.isclose(b.top_place_prob[i], p[stoi[top]], atol=1e-4)
        assert b.top_is_habitat[i] == (top in habitats)
    own = np.array([f in ckpt.world.food_places for f in b.foods])
    assert own.any() and (b.food_place_mass[~own] == 0).all()
    assert b.food_place_mass[own].mean() < 0.1  # the place comes from the animal, not from the food
