"""Interventions: causal tracing, patched runs, direct logit attribution, ablation, steering, counterfactual grid.
Properties only (nothing copied from a model's output)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmcore.attribution import ablate, attribute
from llmcore.evaluate import held_out_breakdown
from llmcore.interventions import KINDS, Noise, causal_trace, counterfactual_grid, patched_run
from llmcore.steering import steer, steering_vector
from llmcore.trace import PromptError, SamplingConfig, trace_generation

PROMPT, OTHER = "a dog devours pizza in", "a fox devours pizza in"


@pytest.fixture(scope="module")
def tiny(tiny_ckpt_dir):
    from llmcore.checkpoint import load_checkpoint

    return load_checkpoint(tiny_ckpt_dir)


def test_restoring_everything_or_nothing(tiny):
    clean = patched_run(tiny, PROMPT, corrupt=PROMPT)
    ct = causal_trace(tiny, PROMPT, corrupt=OTHER)
    T = len(ct.words)
    everything = patched_run(tiny, PROMPT, corrupt=OTHER, restore=[("resid", 0, t) for t in range(T)])
    assert everything.target_prob == ct.clean_prob == clean.target_prob  # exactly: the same numbers, bit for bit
    np.testing.assert_array_equal(everything.states, clean.states)
    nothing = patched_run(tiny, PROMPT, corrupt=OTHER)
    assert nothing.target_prob == ct.corrupt_prob
    # the batched trace agrees with single patched runs, and restoring the last block's state at the last position
    # is the clean run's output
    for kind, depth, pos in (("resid", 1, 1), ("attn", 2, T - 1), ("mlp", 1, 0)):
        single = patched_run(tiny, PROMPT, corrupt=OTHER, restore=[(kind, depth, pos)]).target_prob
        assert ct.restored_prob[KINDS.index(kind), depth, pos] == pytest.approx(single, abs=1e-5)
    assert ct.restored_prob[0, -1, -1] == pytest.approx(ct.clean_prob, abs=1e-6)
    if ct.measurable:  # else the share divides rounding noise by a near-zero difference
        assert ct.restored[0, -1, -1] == pytest.approx(1, abs=1e-3)
    assert np.isnan(ct.restored[1:, 0]).all() and not np.isnan(ct.restored[0]).any()


def test_shares_of_a_corruption_that_barely_moves_the_answer_are_not_read_out(tiny):
    """A share divides by clean - corrupt: where the corruption moves the target's probability by less than
    MIN_EFFECT, the captions and the heatmap's title say the shares mean nothing instead of reading them out."""
    import json
    from dataclasses import replace

    from dashboard import figures, frames
    from llmcore.interventions import MIN_EFFECT

    ct = causal_trace(tiny, PROMPT, corrupt=OTHER)
    strong = replace(ct, clean_prob=0.9, corrupt_prob=0.1)
    weak = replace(ct, clean_prob=0.30362, corrupt_prob=0.30362 - MIN_EFFECT / 100)
    assert strong.measurable and not weak.measurable
    said = {name: " ".join(frames.causal_captions(c)) for name, c in (("strong", strong), ("weak", weak))}
    assert "brings back" in said["strong"] and "mean nothing" not in said["strong"]
    assert "brings back" not in said["weak"] and "0.0001" in said["weak"] and "mean nothing" in said["weak"]
    title = {name: json.loads(figures.causal_heatmaps(c).to_json())["layout"]["title"]["text"]
             for name, c in (("strong", strong), ("weak", weak))}
    assert "meaningless" in title["weak"] and "meaningless" not in title["strong"]
    assert weak.to_dict()["measurable"] is False and strong.to_dict()["measurable"] is True


def test_a_corruption_equal_to_the_prompt_restores_everything(tiny):
    ct = causal_trace(tiny, PROMPT, corrupt=PROMPT, target=["home", "forest"])
    rows = ~np.isnan(ct.restored_prob)
    np.testing.assert_allclose(ct.restored_prob[rows], ct.clean_prob, atol=1e-6)
    assert (ct.restored[rows] == 1).all() and (ct.reverse[rows] == 1).all()


def test_noise_corruption_is_seeded_and_restoring_it_undoes_it(tiny):
    noise = Noise(positions=(1,), n_seeds=4, seed=3)
    a, b = causal_trace(tiny, PROMPT, corrupt=noise), causal_trace(tiny, PROMPT, corrupt=noise)
    np.testing.assert_array_equal(a.restored_prob, b.restored_prob)
    # the noised embedding put back: the clean run again; a position that was not noised: the corrupted run
    np.testing.assert_allclose(a.restored_prob[0, 0, 1], a.clean_prob, atol=1e-5)
    np.testing.assert_allclose(a.restored_prob[0, 0, 0], a.corrupt_prob, atol=1e-5)


def test_logit_attribution_adds_up(tiny):
    for target in (None, ["forest"], ["home", "street", "pizza"]):
        at = attribute(tiny, PROMPT, target=target)
        assert at.values.sum() == pytest.approx(at.target_logit, abs=1e-3)
        assert len(at.names) == 1 + 2 * (2 + 1 + 1) + 1  # embed, per block 2 heads + bias + MLP, final norm bias


def test_ablation_measures_the_held_out_score(tiny):
    ab = ablate(tiny)
    b = held_out_breakdown(tiny.model, tiny.tokenizer, tiny.world, tiny.held_out, plain=True)
    assert ab.baseline == pytest.approx(float(np.mean(b.habitat_mass)), abs=1e-6) and ab.n_prompts == len(b.prompts)
    assert len(ab.names) == 2 * (2 + 1) and ((0 <= ab.zero) & (ab.zero <= 1)).all()


def test_steering(tiny):
    vec = steering_vector(tiny, source="home", target="nature", depth=1)
    base = trace_generation(tiny, PROMPT)
    still = steer(tiny, PROMPT, vector=vec, depth=1, alpha=0.0)
    for name in base._ARRAYS:
        assert getattr(still, name).tobytes() == getattr(base, name).tobytes(), name
    s = SamplingConfig(temperature=1.0, seed=5, max_new_words=6)
    one = steer(tiny, PROMPT, vector=vec, depth=1, alpha=3.0, sampling=s)
    two = steer(tiny, PROMPT, vector=vec, depth=1, alpha=3.0, sampling=s)
    np.testing.assert_array_equal(one.hidden, two.hidden)
    assert one.generated_words == two.generated_words
    # steering only the last prompt position leaves the earlier ones alone, and moves the last one by alpha * vec
    last = len(base.prompt_words) - 1
    moved = steer(tiny, PROMPT, vector=vec, depth=1, alpha=2.0, positions=[last])
    np.testing.assert_array_equal(moved.prompt_hidden[:last], base.prompt_hidden[:last])
    np.testing.assert_allclose(moved.prompt_hidden[last, 1] - base.prompt_hidden[last, 1], 2.0 * vec, atol=1e-5)
    # the steered model runs afterwards as before: the hook is gone
    np.testing.assert_array_equal(trace_generation(tiny, PROMPT).hidden, base.hidden)


def test_counterfactual_grid_follows_from_the_world(tiny):
    g = counterfactual_grid(tiny)
    w = tiny.world
    assert g.animals == list(w.animals) and set(g.foods) == set(w.words_of("food"))
    for i, a in enumerate(g.animals):
        for j, f in enumerate(g.foods):
            own = set(w.food_places.get(f, ("", []))[1])
            assert g.follows[i, j] == (g.top_place[i, j] in w.animals[a].habitats) + 2 * (g.top_place[i, j] in own)
            assert g.comparable[i, j] == (bool(own) and not own & set(w.animals[a].habitats))
    for share in (g.change_animal, g.change_food, g.change_both):
        assert 0 <= share <= 1
    col = g.top_place[:, 0]
    changed = np.mean([col[x] != col[y] for x in range(len(col)) for y in range(len(col)) if x != y])
    same_food = np.mean([np.mean([g.top_place[x, j] != g.top_place[y, j] for x in range(len(col))
                                  for y in range(len(col)) if x != y]) for j in range(len(g.foods))])
    assert g.change_animal == pytest.approx(same_food) and 0 <= changed <= 1
    assert f"{g.animal_share:.0%}" in g.summary()


@pytest.mark.parametrize("call, rule", [
    (lambda c: causal_trace(c, PROMPT, corrupt="a fox devours"), "same number of words"),
    (lambda c: causal_trace(c, "a unicorn devours pizza in", corrupt=OTHER), "does not know: unicorn"),
    (lambda c: causal_trace(c, PROMPT, corrupt="a fox devours zebra in"), "does not know: zebra"),
    (lambda c: causal_trace(c, PROMPT, corrupt=OTHER, target=[]), "target set is empty"),
    (lambda c: causal_trace(c, PROMPT, corrupt=OTHER, target=["moon"]), "does not know: moon"),
    (lambda c: causal_trace(c, PROMPT, corrupt=Noise(positions=(9,))), "outside the prompt"),
    (lambda c: steer(c, PROMPT, vector=np.zeros(32), depth=1, alpha=math.nan), "finite"),
    (lambda c: steer(c, PROMPT, vector=np.zeros(32), depth=1, alpha=math.inf), "finite"),
    (lambda c: steer(c, PROMPT, vector=np.zeros(32), depth=3, alpha=1.0), "depth"),
    (lambda c: steering_vector(c, source="home", target="nature", depth=-1), "depth"),
    (lambda c: steering_vector(c, source="home", target="moon", depth=1), "'moon' is not a sub-context"),
])
def test_bad_input_gets_one_clear_error(tiny, call, rule):
    with pytest.raises(PromptError, match=rule):
        call(tiny)


def test_hooks_act_only_in_their_own_thread_and_only_inside_the_block(tiny):
    import threading

    import torch

    from llmcore.hooks import hooked, model_sites

    x = torch.tensor([tiny.tokenizer.encode(PROMPT).ids])
    plain = tiny.model(x)[0]
    other = {}
    with hooked(model_sites(tiny.model), {("resid", 1): [lambda h: torch.zeros_like(h)]}):
        inside = tiny.model(x)[0]
        t = threading.Thread(target=lambda: other.setdefault("logits", tiny.model(x)[0]))
        t.start()
        t.join()
    assert not torch.equal(inside, plain)
    assert torch.equal(other["logits"], plain) and torch.equal(tiny.model(x)[0], plain)


def test_steering_groups_are_those_with_reference_states(tiny):
    from llmcore.reference import reference_states
    from llmcore.steering import group_names

    ref = reference_states(tiny, n_positions=300)
    groups = group_names(tiny, ref)
    assert set(groups) <= set(group_names(tiny)) and groups
    words = set(map(str, ref.words))
    for g in groups:
        assert any(g in tiny.world.label(w) for w in words)
