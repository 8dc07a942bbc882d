"""Every caption checked against its own numbers, over prompts generated from the world (and every example prompt):
a named sub-context's listed words belong to it, every number equals the trace's and the bars' beside it, counts
agree in number, one vocabulary size everywhere, and "why this word" names the world's places with the step's own
probabilities. Captions are computed from traces, without a browser."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from dashboard import frames, scenes
from dashboard.figures import maps as map_figures
from dashboard.figures import theme
from dashboard.text import count, prob, vocabulary_size
from llmcore.analysis.trace import SamplingConfig, context_tops, trace_generation
from llmcore.world.types import FUNCTION_CONTEXT

from .charts import charts
from .test_dashboard import APP, _values

CAPTION = re.compile(
    r"Step (?P<step>\d+): after reading '(?P<word>.+?)' \(read: (?P<read>\w+)\), the model expects (?P<next>\w+) "
    r"next \(next: (?P<mass>[\d.]+) of the probability, led by (?P<led>.+?)\)\."
    r"(?: The likeliest single word, '(?P<top>.+?)' \((?P<top_p>[^)]+)\), is one of the (?P<top_ctx>\w+)\.)?"
    r" The next word, (?P<source>generated|given by the prompt), is '(?P<next_word>.+?)' "
    r"\((?P<next_ctx>\w+), (?P<next_p>[^)]+)\)\.$")
# a count of 1 with a plural noun, or any other count with a singular one
DISAGREE = re.compile(r"(?<![\d.,])\b1 (words|steps|pairs|prompts|sentences|numbers|blocks|times|entries)\b|"
                      r"(?<![\d.,])\b(0|[2-9]|\d{2,}) (word|step|pair|prompt|sentence|number|block|time|entry)\b")
N_GENERATED = 240


@pytest.fixture(scope="module")
def one_thread():
    """Tracing hundreds of short prompts is fastest on one thread (no thread start-up per small matrix product)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def world_prompts(world, n: int, seed: int = 11) -> list[str]:
    """n prompts from the world's own sentences, each cut after a seeded number of words (the period never kept)."""
    rng = np.random.default_rng(seed)
    out = []
    for sentence in world.reference_sentences(seed, n):
        words = sentence.split()[:-1]
        out.append(" ".join(words[: int(rng.integers(1, len(words) + 1))]))
    return out


@pytest.fixture(scope="module")
def traces(ckpt, one_thread):
    from dashboard.views.trajectory import EXAMPLES

    prompts = list(dict.fromkeys([*EXAMPLES, "the big cat drinks milk in", *world_prompts(ckpt.world, N_GENERATED)]))
    assert len(prompts) >= 200
    return [trace_generation(ckpt, p, SamplingConfig(max_new_words=3)) for p in prompts]


def test_context_tops_are_each_sub_contexts_likeliest_words():
    """llmcore.analysis.trace.context_tops against a brute-force sort, with a sub-context smaller than m and an empty
    one."""
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(12), size=7).astype(np.float32)  # (N, V)
    member = rng.integers(0, 3, 12)
    member[:2] = 0
    cmat = np.zeros((12, 4), np.float32)
    cmat[np.arange(12), member] = 1  # sub-context 3 has no words
    ids, tops = context_tops(probs, cmat, m=5)
    for i in range(7):
        for g in range(4):
            words = np.flatnonzero(member == g)
            best = words[np.argsort(-probs[i, words], kind="stable")][:5]
            assert list(ids[i, g, : len(best)]) == list(best) and (ids[i, g, len(best):] == -1).all()
            np.testing.assert_array_equal(tops[i, g, : len(best)], probs[i, best])


def test_a_trace_keeps_every_named_words_probability(ckpt, traces):
    """The kept words of each sub-context other than the function words' add up to its bar, and each sub-context's
    likeliest words are the likeliest of those kept."""
    names, cmat = ckpt.context_matrix()
    for trace in traces[:40]:
        s = trace
        kept = cmat[s.word_ids]  # (W, G)
        for g, name in enumerate(names):
            if name == FUNCTION_CONTEXT:
                continue
            np.testing.assert_allclose(s.word_probs @ kept[:, g], s.context_probs[:, g], atol=2e-4)
            cols = np.flatnonzero(kept[:, g])
            best = np.sort(s.word_probs[:, cols], axis=1)[:, ::-1][:, : s.context_top_probs.shape[-1]]
            np.testing.assert_allclose(s.context_top_probs[:, g, : best.shape[1]], best, atol=1e-6)
            assert all(ckpt.world.label(s.vocab[j])[0] == name for j in s.context_top_ids[:, g].ravel() if j >= 0)


def _bar_heights(fig) -> tuple[list[str], np.ndarray]:
    bars = [t for t in json.loads(fig.to_json())["data"] if t["type"] == "bar"]
    return [b["name"] for b in bars], np.array([_values(b["y"]) for b in bars])  # (G, steps), as the browser gets them


def test_every_caption_agrees_with_its_numbers(ckpt, traces):
    """Over the example prompts and generated ones: each step's caption names the sub-context the bars beside it
    put highest, with the bar's own value; the words it lists for that sub-context belong to it, are its likeliest
    and carry the trace's probabilities; a likeliest single word from elsewhere is named with its sub-context; the
    next word's sub-context and probability are the trace's."""
    world = ckpt.world
    context_of = {w: world.label(w)[0] for w in ckpt.tokenizer.vocab}
    n_steps = 0
    for trace in traces:
        s = trace
        colours = theme.context_colours(trace.context_names)
        names, heights = _bar_heights(map_figures.context_probs_chart(frames.context_probs_frame(trace), colours))
        for i, caption in enumerate(frames.step_captions(trace, context_of)):
            m = CAPTION.match(caption)
            assert m, caption
            assert int(m["step"]) == i + 1 and m["word"] == s.words[i] and m["read"] == world.label(s.words[i])[0]
            g = int(heights[:, i].argmax())
            assert m["next"] == names[g] and m["mass"] == prob(heights[g, i]), caption
            quoted = [re.fullmatch(r"'(.+)' (.+)", item) for item in m["led"].split(", ")]
            assert all(quoted), caption  # each word quoted, then its probability
            led = [(q[1], q[2]) for q in quoted]
            assert [w for w, _ in led] == [w for w, _ in s.context_top(i, m["next"])[: len(led)]], caption
            for word, said in led:
                assert world.label(word)[0] == m["next"], caption  # the listed words belong to the named one
                kept = s.word_prob(i, word)
                assert said == prob(kept if kept is not None else dict(s.context_top(i, m["next"]))[word]), caption
            top, p_top = s.candidates(i)[0]
            assert (m["top"] is not None) == (world.label(top)[0] != m["next"]), caption
            if m["top"] is not None:
                assert (m["top"], m["top_p"], m["top_ctx"]) == (top, prob(p_top), world.label(top)[0]), caption
            assert m["next_word"] == s.next_words[i] and m["next_ctx"] == world.label(s.next_words[i])[0]
            assert m["next_p"] == prob(float(s.next_probs[i])) and (m["source"] == "generated") == s.generated(i)
            assert not DISAGREE.search(caption)
            n_steps += 1
    assert n_steps >= 1000


def test_counts_agree_in_number():
    assert [count(n, "word") for n in (0, 1, 2, 1000)] == ["0 words", "1 word", "2 words", "1,000 words"]
    assert count(1, "entry", "entries") == "1 entry" and count(3, "entry", "entries") == "3 entries"
    for p in (0.0, 0.5, 0.0123, 0.00999, 0.00012, 0.0000999, 1.0):
        shown = prob(p)
        assert shown == "under 0.0001" if 0 < p < 0.0001 else abs(float(shown) - p) <= 0.005 if p >= 0.01 \
            else abs(float(shown) - p) <= 0.00005


def test_story_and_model_card_state_one_vocabulary_size(ckpt):
    """Story scenes 1 and 2 and the Model card say the vocabulary's size the same way: its words plus <unk>."""
    from llmcore.maps.store import MapBook

    book = MapBook(ckpt)
    said = vocabulary_size(ckpt.tokenizer.vocab)
    assert said == f"{len(ckpt.tokenizer) - 1} words plus <unk>"
    trace = trace_generation(ckpt, "a dog devours pizza in")
    first_two = [scenes.scene_embeddings(ckpt, book), scenes.scene_loop(ckpt, book, trace)]
    for scene in first_two:
        text = " ".join(scene.sentences)
        assert said in text and not DISAGREE.search(text), text
        assert not re.search(rf"\b{len(ckpt.tokenizer)}\b", text)  # the entries' count is never said another way
    one = trace_generation(ckpt, "cats", SamplingConfig(max_new_words=1))
    assert "is 1 word." in " ".join(scenes.scene_loop(ckpt, book, one).sentences)
    from dashboard.views.trajectory import EXAMPLES

    for prompt in EXAMPLES:  # scene 2 on every example prompt: counts agree, the likeliest word is the trace's
        t = trace_generation(ckpt, prompt)
        scene = scenes.scene_loop(ckpt, book, t)
        text = " ".join(scene.sentences)
        top, p = t.candidates(t.boundary)[0]
        assert f"the likeliest is '{top}' ({prob(p)})" in text and not DISAGREE.search(text), text
        b = t.boundary  # the appended guess is drawn as the next step, and the takeaway points to it
        steps = [a.text for a in scene.figure.layout.annotations if str(a.text).startswith("<b>")]
        if b + 1 < len(t.words):
            assert t.words[b + 1] == top and f"appended (step {b + 2} on the map)" in scene.takeaway
            assert steps == [f"<b>{b + 1}</b> {t.words[b]}", f"<b>{b + 2}</b> {t.words[b + 1]}"]
    from .conftest import open_page

    card = open_page("model_card")
    assert said in " ".join(c.value for c in card.caption).replace("\\", "")


def why_prompts(world, held_out) -> list[tuple[str, str, str]]:
    """(prompt, animal, food): 'a <animal> <verb> <food> in' for every animal, two foods of its diet each (one of
    them held out where it has one) and the eat verbs in turn."""
    verbs, out = world.recipe.eat_verbs, []
    held = {a: f for a, f in held_out}
    for k, (name, animal) in enumerate(world.animals.items()):
        for food in dict.fromkeys([held.get(name, animal.diet[0]), animal.diet[-1]]):
            out.append((f"a {name} {verbs[k % len(verbs)]} {food} in", name, food))
    return out


PLACES = re.compile(r"^(?P<word>\w+) (?P<verb>is one of|is not one of) the (?P<animal>\w+)'s places "
                    r"\((?P<listed>[^;]+); together (?P<together>[^)]+)\)")
FOOD_PLACES = re.compile(r"; (?P<food>\w+)'s own (?:place gets|places get) little: (?P<listed>.+?)(?:;|\.$)")
FOOD_PLACE = re.compile(r"; (?P<food>\w+) (?P<phrase>[a-z ]+) (?P<word>\w+) \((?P<listed>[^)]+)\)")


def _pairs(listed: str) -> dict[str, str]:
    return dict(item.split(" ", 1) for item in listed.split(", "))


def _and_list(text: str) -> list[str]:
    return re.split(r", | and ", text)


def _food_places_said(why: str, food: str, own, shown) -> None:
    """The food's own places are named with the step's probabilities: as the food's places the word is not one
    of, or as the place the food is sold or made where it is."""
    m = FOOD_PLACES.search(why)
    if m:
        assert m["food"] == food and _and_list(m["listed"]) == [f"the {p} {shown(p)}" for p in own], why
        return
    m = FOOD_PLACE.search(why)
    assert m and m["food"] == food and m["word"] in own, why
    assert _pairs(m["listed"]) == {p: shown(p) for p in own}, why


def test_why_this_word_names_the_animals_places_with_the_steps_probabilities(ckpt, one_thread):
    """For 'a <animal> <verb> <food> in': at the step where the model names a place, the sentence says whether it is
    one of the animal's places, names every one of them from the world with the probability the trace gives it,
    and the food's own places with theirs; a held-out pair is said to be one. Steps whose next word the prompt
    gave, or that name neither a place nor a food, get no sentence."""
    world, n_places = ckpt.world, 0
    held = {tuple(p) for p in ckpt.held_out}
    for prompt, animal, food in why_prompts(world, ckpt.held_out):
        trace = trace_generation(ckpt, prompt, SamplingConfig(max_new_words=4))
        s = trace
        for i in range(len(s)):
            why = frames.why_this_word(trace, world, i, ckpt.held_out)
            named = world.lemma(s.next_words[i])
            kind = world.label(named)[0]
            if not s.generated(i) or kind not in ("locations", "food"):
                assert why is None, (prompt, i, why)
                continue
            if kind == "food":
                assert why is not None and why.startswith(f"{named} is ")
                continue
            shown = lambda w, s=s, i=i: prob(s.word_prob(i, w))  # noqa: E731
            m = PLACES.match(why or "")
            assert m, (prompt, why)
            habitats = world.animals[animal].habitats
            assert m["word"] == named and m["animal"] == animal
            assert (m["verb"] == "is one of") == (named in habitats)
            assert _pairs(m["listed"]) == {h: shown(h) for h in habitats}, why
            assert m["together"] == prob(sum(s.word_prob(i, h) for h in habitats))
            if food in world.food_places:
                _food_places_said(why, food, world.food_places[food][1], shown)
            else:
                assert "own place" not in why and f"{food} " not in why.split(";", 1)[0]
            assert ("never saw a" in why) == ((animal, food) in held)
            n_places += 1
    assert n_places >= len(world.animals)  # the model names a place for most of these prompts


def test_the_trajectory_page_says_why_this_word(ckpt):
    """On the default page, the step where the model names its place shows the world's reason beside the caption,
    and 'Every step in words' holds it too."""
    from streamlit.testing.v1 import AppTest

    from dashboard.views.trajectory import DEFAULT_SAMPLING, SEED_PROMPT

    trace = trace_generation(ckpt, SEED_PROMPT, DEFAULT_SAMPLING)
    whys = [frames.why_this_word(trace, ckpt.world, i, ckpt.held_out) for i in range(len(trace))]
    step = next(i for i, w in enumerate(whys) if w) + 1
    app = AppTest.from_file(APP, default_timeout=120).run()
    app.slider(key="step").set_value(step).run()
    info = app.info[0].value.replace("\\", "").replace("**", "")
    assert info.startswith(f"Step {step}:") and f"Why this word: {whys[step - 1]}" in info
    listed = "\n".join(m.value for m in app.markdown).replace("\\", "").replace("**", "")
    assert sum("Why this word:" in line for line in listed.splitlines()) == sum(w is not None for w in whys)
    assert [c.key for c in charts(app)][:2] == ["map", "contexts"]
    app.slider(key="limit").set_value(1).run()
    said = " ".join(c.value for c in app.caption)
    assert "the completion (1 word, stopped at the word limit)" in said and not DISAGREE.search(said)


TRAINING = re.compile(r"(?P<what>Validation loss|The loss on held-out sentences) (?P<way>falls|rises|stays) from "
                      r"(?P<a>[\d.]+) at step (?P<s0>\d+) to (?P<b>[\d.]+) at step (?P<s1>\d+)")


@pytest.mark.parametrize("which", ["bundled", "tiny"])
def test_training_sentences_read_the_log(which, request):
    """The Training page's sentences under its curves: each loss's first and last value and its direction, and the
    first evaluation whose held-out habitat probability reaches the bar, all read from the training log."""
    c = request.getfixturevalue("ckpt" if which == "bundled" else "tiny_ckpt")  # the tiny model only when asked
    log = c.train_log()
    said = frames.training_sentences(log, c.held_out)
    keys = {"Validation loss": "val_loss", "The loss on held-out sentences": "heldout_loss"}
    losses = [m for m in map(TRAINING.match, said) if m]
    assert len(losses) == sum(k in log[0] for k in keys.values()) >= 1
    for m in losses:
        k = keys[m["what"]]
        a, b = log[0][k], log[-1][k]
        assert (m["a"], m["b"]) == (f"{a:.2f}", f"{b:.2f}") and (int(m["s0"]), int(m["s1"])) == (log[0]["step"],
                                                                                                   log[-1]["step"])
        assert m["way"] == ("falls" if b < a else "rises" if b > a else "stays")
    if "habitat_mass" in log[0]:
        at = next((r["step"] for r in log if r["habitat_mass"] >= frames.GENERALISED), None)
        text = said[-1]
        assert (f"reaches {frames.GENERALISED} at step {at}" in text) if at is not None else "stays under" in text


def test_the_never_seen_pairs_bars_are_the_models_own_place_probabilities(ckpt, one_thread):
    """Story scene 4: each bar is the mean over its group's held-out prompts (the story's own pair, all pairs) of the
    probability on the animal's homes and on the food's own places, as the breakdown measures them; the quoted prompt
    is the story's own where it is held out; a group the prompt does not name is not drawn; and a model whose
    never-seen pairs went to the food's places instead would not be shown the figure."""
    from dataclasses import replace

    from llmcore.analysis.evaluate import held_out_breakdown
    from llmcore.maps.results import corpus_check

    b = held_out_breakdown(ckpt.model, ckpt.tokenizer, ckpt.world, ckpt.held_out, plain=True)
    check = corpus_check(ckpt)
    animal, food = ckpt.held_out[0]
    prompt = next(p for p in b.prompts if p.split()[1:2] == [animal] and food in p.split())
    scene = scenes.scene_held_out(ckpt, check, b, prompt=prompt)
    assert scene.shown is not None and scene.check.passed
    bars = {t.name: dict(zip(t.x, t.y)) for t in scene.figure.data}
    homes, food_places = bars["on the animal's homes"], bars["on the food's own places"]
    mine = [(a, f) == (animal, food) for a, f in zip(b.animals, b.foods)]
    ours = next(g for g in homes if g.startswith(f"{animal} + {food}"))
    assert ours.endswith(f"(mean of its {count(sum(mine), 'prompt')})")
    assert homes[ours] == pytest.approx(float(np.mean(b.habitat_mass[mine])))
    assert food_places[ours] == pytest.approx(float(np.mean(b.food_place_mass[mine])))
    every = next(g for g in homes if g.startswith("all "))
    assert homes[every] == pytest.approx(float(np.mean(b.habitat_mass)))
    assert f"Asked '{prompt}'" in " ".join(scene.sentences)
    pairs = len(set(zip(b.animals, b.foods)))  # the count of prompts is told as pairs times wordings
    assert (f"{count(len(b.prompts), 'held-out prompt')} (the {count(pairs, 'never-seen pair')}, each asked in about "
            f"{len(b.prompts) / pairs:.0f} wordings") in " ".join(scene.sentences)
    other = scenes.scene_held_out(ckpt, check, b, prompt="the " + "zzz " * 3)
    assert not any(" + " in g for g in other.figure.data[0].x)
    for s in (scene, other):  # the title names a pair only where the chart has its bar
        drawn = next((g.split(" (")[0] for g in s.figure.data[0].x if " + " in g), None)
        title = s.figure.layout.title.text.replace("<br>", " ")
        assert (f"after {drawn} and" in title) if drawn else ("+" not in title)
    held = {tuple(p) for p in ckpt.held_out}
    free = next((a, f) for a in ckpt.world.animals for f in ckpt.world.taxonomy["food"]["meat"] if (a, f) not in held)
    mixed = scenes.scene_held_out(ckpt, check, b, prompt=f"a {free[0]} eats {free[1]} in")
    together = check["pairs"].get(free[0], {}).get(free[1], 0)  # what the Trajectory page says of the same pair
    assert mixed.sentences[0].startswith(f"Your prompt pairs {free[0]} and {free[1]}: " + (
        f"{together:,} of the {check['sentences']:,} training sentences name them together" if together else
        f"none of the {check['sentences']:,} training sentences names them together either"))
    assert mixed.takeaway.startswith(f"Your prompt's {free[0]} + {free[1]} " + (
        "was read together in training, so it proves nothing here; the model never read " if together else
        "was never read together in training, but it is not one of the pairs held out on purpose and measured; the "
        "model never read "))
    never = next((a, f) for a in ckpt.world.animals for f in ckpt.world.words_of("food")
                 if (a, f) not in held and not check["pairs"].get(a, {}).get(f))  # a pair no sentence names
    unseen = scenes.scene_held_out(ckpt, check, b, prompt=f"a {never[0]} eats {never[1]} in")
    assert unseen.takeaway.startswith(f"Your prompt's {never[0]} + {never[1]} was never read together in training")
    assert scene.takeaway.startswith("The model never read ")
    assert not any(" + " in g for g in mixed.figure.data[0].x) and "not measured" in " ".join(mixed.sentences)
    assert "+" not in mixed.figure.layout.title.text
    assert not scene.sentences[0].startswith("Your prompt")
    wrong = replace(b, habitat_mass=b.food_place_mass, food_place_mass=b.habitat_mass)
    failed = scenes.scene_held_out(ckpt, check, wrong, prompt=prompt)
    assert failed.shown is None and not failed.check.passed


def test_the_decides_takeaway_names_the_word_settled_latest(ckpt, traces):
    """Story scene 6's takeaway: beside the median depth, the generated word settled latest and its depth, whenever
    it is later than the median (the hardest choice is not hidden by the median)."""
    from llmcore.analysis.lens import trace_readings

    colours = theme.context_colours(ckpt.context_matrix()[0])
    for trace in traces[:40]:
        if len(trace) <= trace.boundary:
            continue
        r = trace_readings(trace, lens=None, ckpt=ckpt)
        scene = scenes.scene_decides(trace, {}, colours, r)
        settled = r.settled[trace.boundary:]
        i = trace.boundary + int(np.argmax(settled))
        latest = (f"The word it chose latest is '{trace.vocab[r.top_ids[i, -1, 0]]}' (after '{trace.words[i]}'): "
                  f"only from '{trace.layer_names[r.settled[i]]}' on.")
        assert (latest in scene.takeaway) == (r.settled[i] > int(np.median(settled))), scene.takeaway
        median = int(np.median(settled))  # how many of the written words are decided by the median depth
        assert (f"for {int((settled <= median).sum())} of the {count(len(settled), 'word')} it wrote" in
                scene.takeaway and f"has its answer by '{trace.layer_names[median]}'" in scene.takeaway)


def test_scene_one_states_each_animals_own_facts_from_the_world(ckpt):
    """Scene 1's facts sentence lists what the training sentences say of the animal (kind, first places, foods,
    drinks, the people beside it), counts the rest as 'N more', names a food held out with it apart (never among
    what the sentences say), and says nothing of a word that is not an animal."""
    from llmcore.maps.store import MapBook

    world, held = ckpt.world, {tuple(p) for p in ckpt.held_out}
    assert any(a in world.animals for a, _ in held)
    for name, a in world.animals.items():
        said = scenes.world_facts(world, name, held)
        assert f" {name} is {a.kind};" in said
        trained, apart = said.split(" The world also feeds it ") if " also feeds" in said else (said, "")
        kept = [f for f in a.diet if (name, f) not in held]
        for listed in (a.habitats, kept, a.drinks):
            assert all(w in trained for w in listed[:4])
            if len(listed) > 4:
                assert f"and {len(listed) - 4} more" in trained
        eaten = re.split(r", | and ", trained.split(" eats ")[-1].split(";")[0]) if " eats " in trained else []
        for food in (f for f in a.diet if (name, f) in held):
            assert food not in eaten and food in apart
        people = [world.plurals.get(p, p) for p, who in world.people.items() if name in who.animals]
        assert all(p in said for p in people[:3]) and ("beside" in said) == bool(people)
    assert scenes.world_facts(world, next(iter(world.taxonomy["food"].values()))[0]) is None
    scene = scenes.scene_embeddings(ckpt, MapBook(ckpt))
    anchor = scenes.anchor_word(ckpt)
    assert scenes.world_facts(world, anchor, held) in scene.sentences
    # the same facts on the chart: a note whose arrow ends on the anchor's own point, each trait a line of it
    note = next(a for a in scene.figure.layout.annotations if a.name == "note")
    point = next(t for t in scene.figure.data if anchor in list(t.text or []))
    i = list(point.text).index(anchor)
    assert (note.x, note.y) == pytest.approx((point.x[i], point.y[i]))
    xs = np.concatenate([t.x for t in scene.figure.data if t.x is not None]).astype(float)
    ys = np.concatenate([t.y for t in scene.figure.data if t.y is not None]).astype(float)
    (x0, x1), (y0, y1) = scene.figure.layout.xaxis.range, scene.figure.layout.yaxis.range
    assert x0 < xs.min() and xs.max() < x1 and y0 < ys.min() and ys.max() < y1  # every point in view
    # the note's corner lies in the room the axes were widened by, beyond every point
    assert not (xs.min() <= note.ax <= xs.max()) and not (ys.min() <= note.ay <= ys.max())
    lines = note.text.split("<br>")
    animal = world.animals[anchor]
    assert animal.kind in lines[0] and lines[1].startswith("lives: " + animal.habitats[0])
    eats = next(line for line in lines if line.startswith("eats: "))
    people = [world.plurals.get(p, p) for p, who in world.people.items() if anchor in who.animals]
    assert any(line.startswith(f"named beside: {people[0]}") for line in lines) == bool(people)
    assert not any((anchor, f) in held and f in re.split(r", | and ", eats[6:]) for f in animal.diet)


def test_the_landscape_scene_names_a_path_only_where_its_picture_is_shown(ckpt, traces):
    """Story scene 5 (and the Landscape page's 'What real states predict next'): the takeaway names the regions the
    path crosses only when the picture agrees with the states at enough steps to be shown; otherwise it says why no
    picture is shown, with the count, and never a crossing the model does not make. Checked at every depth."""
    from llmcore.maps.landscape import next_word_regions
    from llmcore.maps.store import MapBook

    book, trace = MapBook(ckpt), traces[0]
    colours = theme.context_colours(trace.context_names)
    for depth, layer in enumerate(trace.layer_names):
        regions = next_word_regions(ckpt, layer, book.reference(f"context:{layer}").X)
        path = frames.trajectory_frame(trace, regions, depth, scenes_contexts(ckpt))
        scene = scenes.scene_landscape(regions, path, colours)
        assert ("the prompt's path crosses" in scene.takeaway) == scene.check.passed == (scene.shown is not None)
        if not scene.check.passed:
            hits = sum(a == b for a, b in zip(regions.shown_at(path[["x", "y"]].to_numpy()), path.next))
            assert f"at {hits} of its {count(len(path), 'step')}" in scene.takeaway


def scenes_contexts(ckpt) -> dict[str, str]:
    return {w: ckpt.world.label(w)[0] for w in ckpt.tokenizer.vocab}


def test_the_seen_in_training_line_counts_each_pair_in_the_training_sentences(ckpt):
    """Trajectory's 'Seen in training?': for an animal and a food the prompt names in any form, the line gives the
    number of training sentences that name both (counted here again over the regenerated corpus), says 'no' and
    'generalisation' exactly when there are none, and calls a held-out pair held out."""
    import random

    from llmcore.maps.results import corpus_check
    from llmcore.world.load import generate_corpus

    world, check = ckpt.world, corpus_check(ckpt)
    sets = [{world.lemma(w) for w in s.split()}
            for s in generate_corpus(world, int(ckpt.train_config.get("corpus_seed", 0)))]
    foods = world.words_of("food")
    rng = random.Random(0)
    pairs = [tuple(p) for p in ckpt.held_out] + [(a, f) for a in world.animals for f in world.animals[a].diet]
    pairs = rng.sample(pairs, min(len(pairs), 25)) + [(rng.choice(list(world.animals)), rng.choice(foods))
                                                      for _ in range(25)]
    seen = 0
    for a, f in pairs:
        words = ["the", world.forms(a)[-1], "eats", world.forms(f)[-1], "in"]  # plural forms count as the word
        assert frames.prompt_pairs(words, world) == [(a, f)]
        [line] = frames.pair_sentences([(a, f)], check, ckpt.held_out)
        n = sum(1 for s in sets if a in s and f in s)
        seen += n > 0
        assert line.startswith(f"{a} + {f}: ")
        assert (f"yes, {n:,} of the {len(sets):,} training sentences" in line) if n else (
            ": no." in line and "generalisation" in line)
        assert ("held-out pair" in line) == ((a, f) in {tuple(p) for p in ckpt.held_out})
    assert 0 < seen < len(pairs)  # both kinds were asked
    assert frames.prompt_pairs(["a", "cat", "sleeps"], world) == []
    # pairs only within one sentence, the sentence being completed (the last) first, whatever came before it
    a1, a2 = list(world.animals)[:2]
    f1 = world.animals[a1].diet[0]
    f2 = next(f for f in world.animals[a2].diet if f != f1)
    earlier = ["a", a1, "eats", f1, "in", "the", "park", "."] * 6
    assert frames.prompt_pairs([*earlier, "a", a2, "eats", f2, "in"], world)[0] == (a2, f2)
    assert (a1, f2) not in frames.prompt_pairs([*earlier, "a", a2, "eats", f2, "in"], world)


def test_the_meander_takeaway_names_the_regions_and_counts_the_linking_words_it_skips(ckpt, traces):
    """Story scene 3's takeaway: the content words' regions in order (a repeat in a row said once), and how many
    small linking words (grammar) lie between them, so that the chain does not silently skip steps."""
    from llmcore.maps.store import MapBook

    book = MapBook(ckpt)
    view = book.best_view()
    context_of = {w: ckpt.world.label(w)[0] for w in ckpt.tokenizer.vocab}
    for trace in traces[:6]:
        scene = scenes.scene_meander(book, trace, view, context_of=context_of, method_title="m")
        reads = [context_of.get(w, FUNCTION_CONTEXT) for w in trace.words]
        content = [r for r in reads if r != FUNCTION_CONTEXT]
        chain = " → ".join(scenes._runs(content))
        assert scene.takeaway.startswith(f"Read word by word, the state moves from region to region: {chain}")
        linking = len(reads) - len(content)
        assert (f"besides them, {count(linking, 'small linking word')}" in scene.takeaway) == bool(linking and content)
