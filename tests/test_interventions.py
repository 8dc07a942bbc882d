"""Interventions: causal tracing, patched runs, direct logit attribution, ablation, steering, counterfactual grid.
Properties only (nothing copied from a model's output)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from llmcore.analysis.attribution import ablate, attribute
from llmcore.analysis.counterfactual import counterfactual_grid
from llmcore.analysis.evaluate import held_out_breakdown
from llmcore.analysis.interventions import KINDS, Noise, causal_trace, patched_run
from llmcore.analysis.steering import steer, steering_vector
from llmcore.analysis.trace import PromptError, SamplingConfig, trace_generation

PROMPT, OTHER = "a dog devours pizza in", "a fox devours pizza in"


@pytest.fixture(scope="module")
def tiny(tiny_ckpt_dir):
    from llmcore.model.checkpoint import load_checkpoint

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

    from dashboard import frames
    from dashboard.figures import causes as causes_figures
    from llmcore.analysis.interventions import MIN_EFFECT

    ct = causal_trace(tiny, PROMPT, corrupt=OTHER)
    strong = replace(ct, clean_prob=0.9, corrupt_prob=0.1)
    weak = replace(ct, clean_prob=0.30362, corrupt_prob=0.30362 - MIN_EFFECT / 100)
    assert strong.measurable and not weak.measurable
    said = {name: " ".join(frames.causal_captions(c)) for name, c in (("strong", strong), ("weak", weak))}
    assert "brings back" in said["strong"] and "mean nothing" not in said["strong"]
    assert "brings back" not in said["weak"] and "0.0001" in said["weak"] and "mean nothing" in said["weak"]
    title = {name: json.loads(causes_figures.causal_heatmaps(c).to_json())["layout"]["title"]["text"]
             for name, c in (("strong", strong), ("weak", weak))}
    assert "meaningless" in title["weak"] and "meaningless" not in title["strong"]
    assert weak.to_dict()["measurable"] is False and strong.to_dict()["measurable"] is True
    unasked = replace(weak, clean_prob=0.001, corrupt_prob=0.001 - MIN_EFFECT / 100)
    assert "comes next" in " ".join(frames.causal_captions(unasked))  # the advice, for the notebook and the CLI
    quiet = " ".join(frames.causal_captions(unasked, advice=False))  # the page: its lead sentence gives it once
    assert "mean nothing" in quiet and "comes next" not in quiet


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
    np.testing.assert_array_equal(moved.hidden[:last], base.hidden[:last])
    np.testing.assert_allclose(moved.hidden[last, 1] - base.hidden[last, 1], 2.0 * vec, atol=1e-5)
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

    from llmcore.model.hooks import hooked, model_sites

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
    from llmcore.analysis.reference import reference_states
    from llmcore.analysis.steering import group_names

    ref = reference_states(tiny, n_positions=300)
    groups = group_names(tiny, ref)
    assert set(groups) <= set(group_names(tiny)) and groups
    words = set(map(str, ref.words))
    for g in groups:
        assert any(g in tiny.world.label(w) for w in words)


# ---------------------------------------------------------------- the Causes page's plain sentences, as properties
def _prompts(world, n: int, seed: int = 0) -> list[str]:
    """n prompts 'a <animal> <eat verb> <food of its diet> in' drawn from the world."""
    from llmcore.world.corpus import article

    rng = np.random.default_rng(seed)
    animals = list(world.animals)
    out = []
    for a in rng.choice(animals, n):
        food = rng.choice(list(world.animals[a].diet))
        out.append(f"{article(a)} {a} {rng.choice(world.recipe.eat_verbs)} {food} in")
    return out


def _lead(ckpt, prompt, corrupt):
    from llmcore.analysis.interventions import best_restore, changed_positions, trace_lead

    ct = causal_trace(ckpt, prompt, corrupt=corrupt)
    t = changed_positions(ct)[0]
    d, _ = best_restore(ct, t)
    tops = [patched_run(ckpt, prompt, corrupt=c, restore=r).top_word
            for c, r in ((prompt, ()), (corrupt, ()), (corrupt, (("resid", d, t),)))]
    return ct, t, d, tops, trace_lead(ct, ckpt.world, clean_top=tops[0], corrupt_top=tops[1], patched_top=tops[2])


@pytest.mark.parametrize("which", ["bundled", "tiny"])
def test_the_trace_sentence_says_what_its_numbers_say(which, ckpt, tiny):
    """Over prompts of the world, each with its animal swapped (and with noise on the animal): the sentence names the
    words, the next words of the three runs, the share and depth that bring back most, and says the word decides
    exactly when its state alone brings back at least half and more than any other word's."""
    from llmcore.analysis.counterfactual import counterfactual_prompt
    from llmcore.analysis.interventions import UNASKED, decides, trace_lead

    model = ckpt if which == "bundled" else tiny
    cases = [(p, counterfactual_prompt(model, p)) for p in _prompts(model.world, 12 if which == "bundled" else 4)]
    cases += [(cases[0][0], Noise(positions=(1,), n_seeds=3))]
    if which == "bundled":  # a prompt that asks for food next, traced on the animal's habitats (the default target)
        cases += [("a cow munches", counterfactual_prompt(model, "a cow munches"))]
    for prompt, corrupt in cases:
        if corrupt is None:
            continue
        ct, t, d, tops, text = _lead(model, prompt, corrupt)
        assert f"'{ct.words[t]}'" in text
        if not ct.measurable:
            assert "barely moves" in text and "decide" not in text
            # advice that can help: a prompt that leads elsewhere needs another prompt, not another corruption
            assert ("choose a corruption" in text) == (ct.clean_prob >= UNASKED), (ct.clean_prob, text)
            continue
        said = f"'{tops[1]}' instead of '{tops[0]}'" if tops[1] != tops[0] else f"still says '{tops[0]}'"
        assert said in text
        # a corrupted answer that is still one of the targets is said to be one, with how far the targets fall
        assert ("both among them" in text) == (tops[1] != tops[0] and tops[1] in ct.target)
        if tops[1] in ct.target:
            assert f"falls from {ct.clean_prob:.2f} to {ct.corrupt_prob:.2f}" in text
        assert f"says '{tops[2]}'" + (" again" if tops[2] == tops[0] else ",") in text
        share = ct.restored[0, d, t]
        assert f"(at {ct.depth_names[d]})" in text and f"with {share:.0%} of the" in text
        col = ct.restored[0][:, t]
        assert share >= np.nanmax(col) - 0.02 and (col[:d] < np.nanmax(col) - 0.02).all()  # the first best depth
        others = [np.nanmax(ct.restored[0][:, u]) for u in range(len(ct.words) - 1) if u != t]
        assert decides(ct, t) == (share >= 0.5 and all(share >= o for o in others))
        assert ("alone does not decide" not in text) == decides(ct, t)
        other = next((w for w in ct.target if w != tops[0]), None)  # as if the corrupted run named another target
        if other is not None:
            moved = trace_lead(ct, model.world, clean_top=tops[0], corrupt_top=other, patched_top=tops[2])
            assert f"'{other}' instead of '{tops[0]}' (both among them: " in moved


def test_the_grid_sentences_agree_with_the_grid(ckpt):
    """The grid's verdict follows its two shares; a cell's sentence names the place the model puts first with its
    probability, whose place it is, and the food's own places with the likeliest one's probability — which is what
    the model gives it."""
    import re

    import torch

    from llmcore.analysis.counterfactual import prob_text

    g, w = counterfactual_grid(ckpt), ckpt.world
    a, f = g.animal_share, g.food_share
    verdict = ("the animal decides" if a >= 0.5 and a > f else "the food decides" if f >= 0.5 and f > a else "neither")
    assert verdict in g.lead() and f"{a:.0%}" in g.lead() and f"{f:.0%}" in g.lead()
    assert (f"of the grid's {g.follows.size} prompts: each of its {len(g.animals)} animals with each of its "
            f"{len(g.foods)} foods") in g.lead()  # what the count counts
    rng = np.random.default_rng(1)
    for i, j in zip(rng.integers(0, len(g.animals), 40), rng.integers(0, len(g.foods), 40)):
        animal, food = g.animals[i], g.foods[j]
        text = g.cell(animal, food, w)
        assert f"→ {g.top_place[i, j]} ({prob_text(g.place_prob[i, j])})" in text
        assert ("one of the" in text and f"{animal}'s places" in text) == bool(g.follows[i, j] & 1)
        own = w.food_places.get(food, ("", []))[1]
        assert all(p in text for p in own)
        if own and not g.follows[i, j] & 2:
            place = re.search(r"the (\w+)(, the likeliest of them)?, gets", text)[1]
            assert place == g.own_place[i, j] and place in own
            ids = ckpt.tokenizer.encode(f"a {animal} {g.verb} {food} in the").ids
            with torch.no_grad():
                p = ckpt.model(torch.tensor([ids]))[0][0, -1].float().softmax(-1)
            assert g.own_prob[i, j] == pytest.approx(max(float(p[ckpt.tokenizer.stoi[x]]) for x in own), abs=1e-5)
            assert text.endswith(f"gets {prob_text(g.own_prob[i, j])}.")


def test_the_component_sentences_name_the_largest_parts(tiny):
    from llmcore.analysis.attribution import plain_name

    attr = attribute(tiny, PROMPT)
    up, down = int(np.argmax(attr.values)), int(np.argmin(attr.values))
    assert f"{plain_name(attr.names[up])} adds the most ({attr.values[up]:+.2f})" in attr.lead()
    assert (f"{plain_name(attr.names[down])} takes away the most" in attr.lead()) == (attr.values[down] < 0)
    ab = ablate(tiny)
    k = int(np.argmin(ab.mean))
    assert plain_name(ab.names[k]) in ab.lead() and f"to {ab.mean[k]:.2f}" in ab.lead()


def test_the_grid_figure_labels_every_row_and_column_and_marks_the_found_cell(ckpt):
    """Foods are rows, animals columns (labelled alternately below and above): every word is a tick label, the
    found animal and food in bold, their cell outlined at its place and named with its top place."""
    from dashboard.figures import causes as causes_figures

    g = counterfactual_grid(ckpt)
    i, j = 3, len(g.foods) - 5
    animal, food = g.animals[i], g.foods[j]
    fig = causes_figures.counterfactual_heatmap(g, (animal, food)).to_plotly_json()
    lay = fig["layout"]
    ticks = {int(v): t for name in ("xaxis", "xaxis2") for v, t in zip(lay[name]["tickvals"], lay[name]["ticktext"])}
    assert [ticks[k].replace("<b>", "").replace("</b>", "") for k in range(len(g.animals))] == g.animals
    assert [t.replace("<b>", "").replace("</b>", "") for t in lay["yaxis"]["ticktext"]] == g.foods
    assert list(lay["yaxis"]["tickvals"]) == list(range(len(g.foods)))  # none skipped
    assert [t for t in ticks.values() if t.startswith("<b>")] == [f"<b>{animal}</b>"]
    assert [t for t in lay["yaxis"]["ticktext"] if t.startswith("<b>")] == [f"<b>{food}</b>"]
    assert lay["xaxis2"]["range"] == lay["xaxis"]["range"] and any(d.get("xaxis") == "x2" for d in fig["data"])
    cells = [s for s in lay["shapes"] if s["x1"] - s["x0"] == 1 and s["y1"] - s["y0"] == 1]
    assert [(c["x0"] + 0.5, c["y0"] + 0.5) for c in cells] == [(i, j)]
    note = lay["annotations"][-1]
    assert (note["x"], note["y"]) == (i, j) and g.top_place[i, j] in note["text"]
    z = np.asarray(causes_figures.counterfactual_heatmap(g).data[0].z)
    assert z.shape == (len(g.foods), len(g.animals)) and z[j, i] == g.follows[i, j]


# ---------------------------------------------------------------- how far steering may push, measured
def test_the_world_grammar_accepts_the_world_and_refuses_repeats(ckpt):
    from llmcore.analysis.steering import grammar_pairs, keeps_grammar
    from llmcore.world.corpus import CorpusGenerator

    w = ckpt.world
    pairs = grammar_pairs(w)
    for sentence in CorpusGenerator(w, seed=99).sentences(300):  # sentences the pairs were not read from
        words = sentence.split()
        assert keeps_grammar(w, words, pairs), sentence
    assert not keeps_grammar(w, ["in", "the", "sea", "sea", "sea", "."], pairs)  # a word kind repeated
    assert not keeps_grammar(w, ["in", "the", "sea"], pairs)  # the sentence never ends


def test_the_steering_range_and_start_are_measured(ckpt):
    """The default direction for a pet's prompt goes to the animal group whose places share least with the pets';
    over the world's prompts, every alpha up to the range's end keeps the grammar in at least GRAMMAR_BAR of the
    completions, the next one (if any) does not, and the start moves at least MOVE_BAR of them (to the target's
    places where it names any)."""
    from llmcore.analysis.steering import (
        GRAMMAR_BAR,
        MOVE_BAR,
        default_direction,
        group_names,
        group_places,
        steering_sweep,
        sweep_prompts,
    )
    from llmcore.maps.store import MapBook

    w = ckpt.world
    source, target = default_direction(w, "dog", group_names(ckpt))
    assert source == w.label("dog")[1]
    own = group_places(w, source)
    jaccard = {g: len(own & group_places(w, g)) / len(own | group_places(w, g)) for g in w.taxonomy["animals"]
               if g != source}
    assert jaccard[target] == min(jaccard.values())
    prompts = sweep_prompts(ckpt, source)
    assert prompts and all(p.split()[1] in w.taxonomy["animals"][source] for p in prompts)
    vec = steering_vector(ckpt, source=source, target=target, depth=0, reference=MapBook(ckpt).states)
    sw = steering_sweep(ckpt, vector=vec, depth=0, prompts=prompts, target=target)
    assert sw.changed[0] == 0
    inside = sw.alphas <= sw.maximum
    assert (sw.grammatical[inside] >= GRAMMAR_BAR).all()
    if not inside.all():
        assert sw.grammatical[~inside][0] < GRAMMAR_BAR
    k = list(sw.alphas).index(sw.default)
    moved = sw.lands if (sw.lands[inside] >= MOVE_BAR).any() else sw.changed  # to the target's places, if it can
    assert 0 < sw.default <= sw.maximum and moved[k] >= MOVE_BAR
    assert (moved[1:k] < MOVE_BAR).all()  # the smallest alpha that moves them
    places = group_places(w, target)
    assert sw.lands[k] == pytest.approx(np.mean([bool(places & set(c.split())) for c in sw.completions[k]]))
    # the sweep's batched generation is steer()'s: the same completion for one prompt
    one = steer(ckpt, prompts[0], vector=vec, depth=0, alpha=float(sw.default), positions=[1])
    assert one.completion == sw.completions[k][0]


def test_the_causal_heatmaps_label_every_position(tiny):
    from dashboard.figures import causes as causes_figures

    ct = causal_trace(tiny, PROMPT, corrupt=OTHER)
    fig = causes_figures.causal_heatmaps(ct, (0, 0, 1))
    for axis in ("xaxis", "xaxis2", "xaxis3"):
        assert list(fig.layout[axis].ticktext) == [f"{i + 1}: {w}" for i, w in enumerate(ct.words)]


def test_a_steering_group_is_named_with_its_sub_context(ckpt):
    """Subgroups carry their sub-context ('water (animals)', not 'water', which reads as the drink); sub-contexts
    are named alone; every name of the world's steering groups is told apart."""
    from llmcore.analysis.steering import group_label, group_names

    tax = ckpt.world.taxonomy
    names = group_names(ckpt)
    labels = [group_label(ckpt.world, g) for g in names]
    for g, label in zip(names, labels):
        parent = next((c for c, groups in tax.items() if g in groups and g not in tax), None)
        assert label == (f"{g} ({parent})" if parent else g)
    assert len(set(labels)) == len(labels)
