"""Quality bars, asserted on the shipped checkpoint (see README: Quality)."""

from __future__ import annotations

import numpy as np

from llmcore.checkpoint import DEFAULT_CHECKPOINT
from llmcore.evaluate import content_embeddings, evaluate_quality, neighbour_purity
from llmcore.trace import trace_generation
from llmcore.world import generate_corpus


def test_seed_prompt_goes_to_a_dog_place(ckpt):
    t = trace_generation(ckpt, "a dog devours pizza in")
    assert t.generated_words[0] == "the"
    assert t.generated_words[1] in ckpt.world.animals["dog"].habitats
    assert t.dominant_context(1) == "locations"


def test_generalisation_diet_and_neighbours(ckpt):
    q = evaluate_quality(ckpt.model, ckpt.tokenizer, ckpt.world, ckpt.held_out)
    assert q.n_generalisation_prompts == len(ckpt.held_out) * len(ckpt.world.recipe.eat_verbs)
    assert q.habitat_mass >= 0.85
    assert q.habitat_top1 >= 0.95
    assert q.diet_share >= 0.90
    assert q.neighbour_purity >= 0.90


def test_neighbour_purity_is_not_trivial(ckpt):
    words, emb, labels = content_embeddings(ckpt.model, ckpt.tokenizer, ckpt.world)
    shuffled = list(np.random.default_rng(0).permutation(labels))
    assert neighbour_purity(emb, shuffled) < 0.6


def test_held_out_list_ships_and_was_never_seen(ckpt):
    assert ("dog", "pizza") in ckpt.held_out
    assert ckpt.held_out == ckpt.world.held_out_pairs()
    corpus = generate_corpus(ckpt.world, ckpt.train_config["corpus_seed"])
    sets = [set(s.split()) for s in corpus]
    for a, f in ckpt.held_out:
        assert not any(a in s and f in s for s in sets)


def test_shipped_checkpoint_size_and_training_time(ckpt):
    size = sum(p.stat().st_size for p in DEFAULT_CHECKPOINT.rglob("*") if p.is_file())
    assert size <= 10 * 2**20
    assert ckpt.metrics["complete"] and ckpt.metrics["train_seconds"] <= 300
    assert len(ckpt.snapshot_steps) >= 20
    assert ckpt.snapshots().shape == (len(ckpt.snapshot_steps), len(ckpt.tokenizer), ckpt.model.config.n_embd)


def test_held_out_breakdown_per_prompt(ckpt):
    import torch

    from llmcore.evaluate import held_out_breakdown

    b = held_out_breakdown(ckpt.model, ckpt.tokenizer, ckpt.world, ckpt.held_out)
    n = len(ckpt.held_out) * len(ckpt.world.recipe.eat_verbs)
    assert len(b.prompts) == len(b.top_place) == b.habitat_mass.shape[0] == b.food_place_mass.shape[0] == n
    stoi, locations = ckpt.tokenizer.stoi, ckpt.world.words_of("locations")
    for i in (0, n // 2, n - 1):  # recomputed by hand from one forward pass of the prompt
        with torch.no_grad():
            logits, _ = ckpt.model(torch.tensor([ckpt.tokenizer.encode(b.prompts[i]).ids]))
        p = logits[0, -1].softmax(-1).numpy()
        habitats = ckpt.world.animals[b.animals[i]].habitats
        assert np.isclose(b.habitat_mass[i], sum(p[stoi[h]] for h in habitats), atol=1e-5)
        top = max(locations, key=lambda w: p[stoi[w]])
        assert b.top_place[i] == top and np.isclose(b.top_place_prob[i], p[stoi[top]], atol=1e-5)
        assert b.top_is_habitat[i] == (top in habitats)
    own = np.array([f in ckpt.world.food_places for f in b.foods])
    assert own.any() and (b.food_place_mass[~own] == 0).all()
    assert b.food_place_mass[own].mean() < 0.1  # the place comes from the animal, not from the food
