"""The other dashboard pages, driven by AppTest: widgets in, the right elements and data out."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from .charts import charts
from .conftest import open_page, page_script

_page_script = page_script  # the name other test files import


@pytest.fixture
def embeddings():
    return open_page("embeddings")


def test_embeddings_page(embeddings):
    at = embeddings
    assert not at.exception and not at.error
    assert [c.key for c in charts(at)] == ["wordmap"]
    table = at.dataframe[0].value
    assert len(table) == 8 and (table["sub-context"] == "animals").sum() >= 6
    at.text_input(key="emb_search").set_value("c.*t").run()
    at.toggle(key="emb_isolate").set_value(True).run()
    assert not at.error and len(charts(at)) == 1
    at.text_input(key="emb_search").set_value("[unclosed").run()
    assert any("not a valid regular expression" in w.value for w in at.warning)
    assert not any("No word matches" in w.value for w in at.warning)  # one message says what is wrong
    at.selectbox(key="emb_method").set_value("axes").run()
    at.radio(key="emb_axes_kind").set_value("context").run()
    assert not at.error and len(charts(at)) == 1
    layout = json.loads(charts(at)[0].spec)["layout"]
    assert layout["xaxis"]["title"]["text"] == "animals → food"  # the axes are named by the groups they join
    at.selectbox(key="emb_ax1").set_value("animals").run()
    assert any("every word lands at 0" in w.value for w in at.warning)


def test_embeddings_custom_axes_between_subgroups(ckpt):
    """The custom axes offer every subgroup of the world, start from the Story's first scene's own axes, and say
    for each axis how many words of its two groups lie on their own side; which agrees with the map."""
    from dashboard.scenes import anchor_word, trait_axes
    from dashboard.views.embeddings import axes_sides

    at = open_page("embeddings", emb_method="axes")
    at.radio(key="emb_axes_kind").set_value("subgroup").run()
    assert not at.exception and not at.error
    offered = at.selectbox(key="emb_ax0").options
    subgroups = [g for groups in ckpt.world.taxonomy.values() for g in groups]
    assert [o.split(" (")[0] for o in offered][: len(subgroups)] == subgroups  # every subgroup, in taxonomy order
    scene = trait_axes(ckpt, anchor_word(ckpt))
    assert [at.selectbox(key=f"emb_ax{i}").value for i in range(4)] == [g for pair in scene for g in pair]
    layout = json.loads(charts(at)[0].spec)["layout"]
    assert layout["xaxis"]["title"]["text"] == f"{scene[0][0]} → {scene[0][1]}"
    at.selectbox(key="emb_ax1").set_value("water").run()  # pets → water against the scene's second axis
    at.selectbox(key="emb_ax2").set_value("plants").run()
    at.selectbox(key="emb_ax3").set_value("meat").run()
    spec = json.loads(charts(at)[0].spec)
    assert spec["layout"]["xaxis"]["title"]["text"] == "pets → water"
    assert spec["layout"]["yaxis"]["title"]["text"] == "plants → meat"
    xy = {w: (x, y) for d in spec["data"] if d.get("text") is not None and d.get("name") != "selected"
          for w, x, y in zip(d["text"], _heatmap_z(dict(z=d["x"])), _heatmap_z(dict(z=d["y"])))}
    tax = ckpt.world.taxonomy
    df = pd.DataFrame([(w, *xy[w], ckpt.world.label(w)[1]) for w in xy], columns=["word", "x", "y", "subgroup"])
    said = next(c.value for c in at.caption if "own group's side" in c.value).replace("\\", "")
    for a, b, k, n in axes_sides(df, {"axes": [["pets", "water"], ["plants", "meat"]], "label": "subgroup"}):
        assert f"{a} → {b}: {k} of the {n} words" in said
    assert np.mean([xy[w][0] for w in tax["animals"]["water"] if w in xy]) > np.mean(
        [xy[w][0] for w in tax["animals"]["pets"] if w in xy])  # pets at the low end, water animals at the high


def test_embeddings_link_notice_names_settings_as_the_page_does():
    at = open_page("embeddings", emb_method="nope", emb_k="500")
    notice = at.warning[0].value
    assert "map (emb_method)" in notice and "how many (emb_k)" in notice


def _slice_agrees(ckpt, prompt: str) -> bool:
    """Whether the decoded slice agrees with the prompt's states at SLICE_BAR of its steps (at the final depth)."""
    from dashboard import frames
    from dashboard.views.landscape import DECISION_GRID, SLICE_BAR, slice_agreement
    from llmcore.analysis.trace import trace_generation
    from llmcore.maps.landscape import decision_landscape
    from llmcore.maps.store import MapBook

    fmap = MapBook(ckpt).get("context:final", "pca", 2)
    d = decision_landscape(ckpt, "final", fmap.projector, np.stack([fmap.coords.min(0), fmap.coords.max(0)]),
                           grid=DECISION_GRID)
    trace = trace_generation(ckpt, prompt)
    hits, n = slice_agreement(d, frames.trajectory_frame(trace, fmap, len(trace.layer_names) - 1))
    return hits / n >= SLICE_BAR


def test_landscape_page(ckpt):
    """The terrain, then the decoded slice where it agrees with the states, else what real states predict (the slice
    behind a switch that names its agreement), then the loss landscapes."""
    from dashboard.views.landscape import DEFAULTS

    at = open_page("landscape")
    assert not at.exception and not at.error
    agrees = _slice_agrees(ckpt, DEFAULTS["land_prompt"])
    second = "decision" if agrees else "next_regions"
    assert [c.key for c in charts(at)] == ["terrain", second, "loss_random", "loss_pca"]
    if not agrees:
        at.toggle(key="land_slice").set_value(True).run()
        assert [c.key for c in charts(at)] == ["terrain", "next_regions", "decision", "loss_random", "loss_pca"]
    for chart in charts(at):  # the colours of the terrain and the decision map are named
        if chart.key in ("terrain", "decision"):
            assert "sub-context" in chart.spec and '"showlegend":true' in chart.spec.replace(" ", "")
        if chart.key == "next_regions":  # the legend's title says what its colours are
            assert "the sub-context real states there predict next" in chart.spec
    captions = " ".join(c.value for c in at.caption)
    assert "hills (above 0.3 of the highest peak) cover" in captions and "Inside the dashed line" in captions
    land = ckpt.loss_landscapes()["pca"]
    assert f"loss {land.centre_loss:.2f}" in captions
    assert f"{land.explained[0]:.0%} + {land.explained[1]:.0%}" in captions
    assert f"the {len(land.path)} weight snapshots" in captions  # where they are the embedding replay's, it says so
    assert ("embedding replay" in captions) == (list(land.path_steps) == list(ckpt.snapshot_steps))
    order = _in_order(at.main)  # the slice's agreement with the states' own predictions is said before the slice
    said = next(i for i, (kind, text) in enumerate(order) if kind in ("warning", "info") and "Agreement first" in text)
    assert said < order.index(("bidi_component", "decision"))
    assert "the star at the path's end" in captions
    at.toggle(key="land_loss_3d").set_value(True).run()
    assert all('"type":"surface"' in c.spec.replace(" ", "") for c in charts(at) if c.key.startswith("loss_"))
    end = next(t for t in json.loads(next(c for c in charts(at) if c.key == "loss_pca").spec)["data"]
               if t.get("name", "").startswith("end:"))  # the caption names the marker as drawn in 3D
    assert end["marker"]["symbol"] == "x" and "the cross at the path's end" in " ".join(c.value for c in at.caption)
    at.text_input(key="land_prompt").set_value("").run()
    assert "empty" in at.error[0].value


def _in_order(node) -> list[tuple[str, str]]:
    """The elements under an AppTest node (at.main: the page), in order: (type, chart key or text)."""
    out = []
    for child in getattr(node, "children", {}).values():
        out.append((child.type, child.key if child.type == "bidi_component" else str(getattr(child, "value", ""))))
        out += _in_order(child)
    return out


def test_landscape_page_states_the_slices_agreement_from_the_states(ckpt):
    """The number the Landscape page states first is the slice's own: the colour under each step (function words
    inside the dashed line, else the content colour) against the step's own next reading."""
    from dashboard import frames
    from dashboard.views.landscape import DECISION_GRID, slice_agreement
    from llmcore.analysis.trace import trace_generation
    from llmcore.maps.landscape import decision_landscape
    from llmcore.maps.store import MapBook

    at = open_page("landscape", land_prompt="a cat eats sausage at", land_slice="True")
    fmap = MapBook(ckpt).get("context:final", "pca", 2)
    d = decision_landscape(ckpt, "final", fmap.projector, np.stack([fmap.coords.min(0), fmap.coords.max(0)]),
                           grid=DECISION_GRID)
    trace = trace_generation(ckpt, "a cat eats sausage at")
    hits, n = slice_agreement(d, frames.trajectory_frame(trace, fmap, len(trace.layer_names) - 1))
    said = " ".join(a.value for a in [*at.warning, *at.info])
    assert f"Agreement first: at {hits} of the prompt's {n} steps ({hits / n:.0%})" in said


def test_model_card_proves_the_held_out_pairs(ckpt):
    from llmcore.analysis.evaluate import generalisation_prompts

    at = open_page("model_card")
    assert not at.exception and not at.error
    assert any("Proof: none of the" in s.value for s in at.success)
    views = at.dataframe[0].value  # the measured default view of the Trajectory page, best first
    assert list(views["share in own region"]) == sorted(views["share in own region"], reverse=True)
    assert f"{views['share in own region'].iloc[0]:.0%}" in at.markdown[0].value.replace("\\", "")
    vocab = at.dataframe[1].value
    assert "cat" in ", ".join(vocab[vocab["sub-context"] == "animals"].words).split(", ")
    assert "the" in vocab[vocab["sub-context"] == "grammar"].words.iloc[0].split(", ")
    held = at.dataframe[2].value
    live = at.dataframe[3].value
    assert len(live) == len(generalisation_prompts(ckpt.world, ckpt.held_out))
    assert (live["a habitat of the animal?"] == "yes").mean() >= 0.95
    assert (held["training sentences with both"] == 0).all()
    assert {f"{a} + {f}" for a, f in ckpt.held_out} <= set(held.pair)


def test_training_page_shows_curves_and_replay(ckpt):
    """The curves and the embedding replay; the two replays' snapshot counts are each stated, and where they
    differ the Watch training caption says why (the embeddings' snapshots are others, at even steps)."""
    from llmcore.training.snapshots import weight_snapshot_steps

    at = open_page("training")
    assert not at.exception and not at.error
    assert [c.key for c in charts(at)][:2] == ["curves", "replay"]
    captions = " ".join(c.value for c in at.caption)
    whole, embeddings = len(weight_snapshot_steps(ckpt)), len(ckpt.snapshot_steps)
    assert f"{whole} snapshots of the whole model" in captions
    assert (f"{embeddings} snapshots of the embeddings alone" in captions) == (embeddings != whole)


def test_training_form_rejects_a_broken_world():
    at = open_page("training")
    at.text_area(key="world_text").set_value("[taxonomy\n")
    at.button(key="train_start").click().run()
    assert any("cannot be parsed" in e.value for e in at.error)


def test_training_page_offers_a_warm_start_when_the_world_changes_a_few_entries():
    from llmcore.world.edit import set_animal, to_toml
    from llmcore.world.load import DEFAULT_WORLD, read_world_data

    at = open_page("training")
    assert at.checkbox(key="train_warm_False").disabled  # the world the model was trained on: nothing to learn
    assert any("nothing to learn" in c.value for c in at.caption)
    lemur = set_animal(read_world_data(DEFAULT_WORLD), "lemur", group="exotic", kind="a wild animal",
                       habitats=["jungle", "tree"], diet=["banana", "figs"], drinks=["water"], new=True)
    at.session_state["world_text"] = to_toml(lemur)  # as the world editor leaves it
    at.run()
    warm = at.checkbox(key="train_warm_True")
    assert not at.exception and warm.value and not warm.disabled  # offered, and on by default
    assert any("Warm start from" in c.value and "lemur" in c.value for c in at.caption)


def test_compare_page():
    at = open_page("compare")
    assert not at.exception and not at.error
    assert [c.key for c in charts(at)] == ["compare_map"]
    at.slider(key="cmp_temp_b").set_value(1.5).run()
    assert not at.error and len(at.dataframe[0].value) >= 2
    assert at.number_input(key="cmp_seed_a").disabled and not at.number_input(key="cmp_seed_b").disabled
    at.slider(key="cmp_temp_a").set_value(1.5).run()
    runs = set()
    for seed in (1, 2, 3):  # the left side can be re-seeded too
        at.number_input(key="cmp_seed_a").set_value(seed).run()
        runs.add(tuple(at.dataframe[0].value["left"]))
    assert not at.error and len(runs) > 1
    at.text_input(key="cmp_a").set_value("xylophones juggle").run()  # one side fails: the other is still drawn
    assert "none of the words" in at.error[0].value and len(at.error) == 1
    assert [c.key for c in charts(at)] == ["compare_map"]
    assert (at.dataframe[0].value["left"] == "").all() and (at.dataframe[0].value["right"] != "").any()


@pytest.mark.slow
def test_training_a_model_in_the_browser(job_sandbox):
    import time

    from dashboard import state
    from llmcore.model.checkpoint import load_checkpoint

    from .conftest import TINY_WORLD

    tmp_path = job_sandbox
    at = open_page("training")
    at.text_area(key="world_text").set_value(TINY_WORLD.read_text())
    at.text_input(key="train_name").set_value("from-browser")
    at.number_input(key="train_steps").set_value(20)
    at.button(key="train_start").click().run()
    assert not at.error, [e.value for e in at.error]
    job = state.training_jobs()["from-browser"]
    assert job.finished or at.session_state["_job_timed"] == "from-browser"  # refreshed each second while it runs
    deadline = time.time() + 120
    while not job.finished and time.time() < deadline:
        time.sleep(0.2)
    at.run()
    assert job.state == "done" and any("is trained" in s.value for s in at.success)
    assert "_job_timed" not in at.session_state or at.session_state["_job_timed"] is None  # no timer once done
    assert load_checkpoint(tmp_path / "checkpoints" / "from-browser").metrics["steps_done"] == 20


def test_another_model_is_aligned_onto_the_left_models_map(ckpt, tmp_path):
    """A second copy of the same model, aligned on the shared sentences, lands where the first does."""
    import shutil

    import numpy as np

    from dashboard import frames
    from llmcore.analysis.trace import trace_generation
    from llmcore.maps.alignment import AlignedMap, align_models
    from llmcore.maps.store import MapBook
    from llmcore.model.checkpoint import load_checkpoint

    shutil.copytree(ckpt.path, tmp_path / "copy")
    other = load_checkpoint(tmp_path / "copy")
    fmap = MapBook(ckpt).get("context:block 2", "pca", 2)
    al = align_models(other, ckpt, "block 2", n_sentences=60)
    assert al.residual < 1e-3 and al.n_sentences == 60
    direct = frames.trajectory_frame(trace_generation(ckpt, "a cow munches"), fmap, 2)  # depth 2: block 2
    rotated = frames.trajectory_frame(trace_generation(other, "a cow munches"), AlignedMap(fmap, al), 2)
    np.testing.assert_allclose(rotated[["x", "y"]].to_numpy(), direct[["x", "y"]].to_numpy(), atol=1e-2)
    assert list(rotated.next_word) == list(direct.next_word)


def _number(pattern: str, text: str) -> float:
    return float(re.search(pattern, text)[1])


def test_causes_page(ckpt):
    """The default page draws its five charts, and what its sentences say is what the library computes for the
    default settings: the plain first sentence of each panel, the patched run's probabilities and share, the grid's
    cell of the prompt's own animal and food, and the steered completion; the steering starts where it moves the
    path."""
    from dashboard.views.causes import DEFAULTS, SEED_PROMPT
    from llmcore.analysis.counterfactual import counterfactual_grid, counterfactual_prompt
    from llmcore.analysis.interventions import (
        KINDS,
        best_restore,
        causal_trace,
        changed_positions,
        patched_run,
        trace_lead,
    )
    from llmcore.analysis.steering import (
        default_direction,
        group_names,
        steer,
        steer_lead,
        steering_sweep,
        steering_vector,
        sweep_prompts,
    )
    from llmcore.analysis.trace import trace_generation
    from llmcore.maps.store import MapBook

    at = open_page("causes")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [c.key for c in charts(at)] == ["causal", "causes_map", "grid", "components", "steer_map"]
    spec = json.loads(charts(at)[0].spec)
    assert [d["type"] for d in spec["data"]].count("heatmap") == 3  # residual, attention, MLP
    names = [d["name"] for d in json.loads(charts(at)[1].spec)["data"]]
    assert {"clean", "corrupted", "patched"} <= set(names)
    said = [m.value.replace("\\", "") for m in at.markdown]
    glossary = next(m.value for m in at.markdown if m.value.startswith("**Clean run**"))  # bold, not escaped
    for word in ("Corruption", "Restore (patch)", "Attribution", "Steering"):
        assert f"\n\n**{word}**: " in glossary
    corrupt = counterfactual_prompt(ckpt, SEED_PROMPT)
    in_use = [c.value.replace("\\", "") for c in at.caption if c.value.startswith("In use: ")]
    assert in_use[0].startswith(f"In use: '{corrupt}'") and "habitats" in in_use[1]  # the grey defaults, in words
    ct = causal_trace(ckpt, SEED_PROMPT, corrupt=corrupt)
    t0 = changed_positions(ct)[0]
    best = (("resid", best_restore(ct, t0)[0], t0),)
    tops = [patched_run(ckpt, SEED_PROMPT, corrupt=c, restore=r).top_word
            for c, r in ((SEED_PROMPT, ()), (corrupt, ()), (corrupt, best))]
    assert trace_lead(ct, ckpt.world, clean_top=tops[0], corrupt_top=tops[1], patched_top=tops[2]) in said
    added = ct.words[len(SEED_PROMPT.split()):]  # the words the trace goes on with are said, or none is
    told = [c.value.replace("\\", "") for c in at.caption if c.value.startswith("The trace reads '")]
    assert told == ([f"The trace reads '{' '.join(ct.words)}': the model's own next word{'s' * (len(added) > 1)} "
                     f"({', '.join(repr(w) for w in added)}) added to both prompts, so that the next word traced is "
                     "the place itself."] if added else [])
    kind, depth, t = DEFAULTS["c_kind"], DEFAULTS["c_depth"], DEFAULTS["c_pos"] - 1
    runs = {name: patched_run(ckpt, SEED_PROMPT, corrupt=c, restore=r).target_prob
            for name, c, r in [("clean", SEED_PROMPT, ()), ("corrupted", corrupt, ()),
                               ("patched", corrupt, [(kind, depth, t)])]}
    line = next(c.value for c in at.caption if "Clean, corrupted, and patched" in c.value).replace("\\", "")
    assert f"'{ct.words[t]}' at {ct.depth_names[depth]}" in line
    for name, p in runs.items():
        assert _number(rf"{name} (\d\.\d+)", line) == pytest.approx(p, abs=5e-4)
    share = (runs["patched"] - runs["corrupted"]) / (runs["clean"] - runs["corrupted"])
    assert share == pytest.approx(ct.restored[KINDS.index(kind), depth, t], abs=1e-3)
    assert _number(r"\((-?\d+)% back\)", line) == pytest.approx(100 * share, abs=0.51)
    grid = counterfactual_grid(ckpt)
    assert grid.lead() in said
    animal, food = (w for w in SEED_PROMPT.split() if w in ckpt.world.animals or w in grid.foods)
    assert (at.selectbox(key="c_ganimal").value, at.selectbox(key="c_gfood").value) == (animal, food)
    assert grid.cell(animal, food, ckpt.world) in said  # the prompt's own cell, its food's own places named
    at.selectbox(key="c_ganimal").set_value(grid.animals[-1]).run()  # a picked animal stays while the prompt does
    assert at.selectbox(key="c_ganimal").value == grid.animals[-1]
    other = next(a for a in grid.animals if a not in (animal, grid.animals[-1]))
    at.text_input(key="c_prompt").set_value(f"the {other} devours {food} in").run()  # a new prompt: its own pair
    assert (at.selectbox(key="c_ganimal").value, at.selectbox(key="c_gfood").value) == (other, food)
    at.text_input(key="c_prompt").set_value(SEED_PROMPT).run()
    # steering starts at the measured default for the prompt's animal, which moves the path
    source, to = default_direction(ckpt.world, animal, group_names(ckpt, MapBook(ckpt).states))
    assert (at.selectbox(key="c_from").value, at.selectbox(key="c_to").value) == (source, to)
    vec = steering_vector(ckpt, source=source, target=to, depth=0, reference=MapBook(ckpt).states)
    sweep = steering_sweep(ckpt, vector=vec, depth=0, prompts=sweep_prompts(ckpt, source), target=to)
    assert at.slider(key="c_alpha").value == sweep.default and at.slider(key="c_alpha").max == sweep.maximum
    assert sweep.summary(to) in [c.value.replace("\\", "") for c in at.caption]
    steer_spec = json.loads(charts(at)[-1].spec)
    paths = {d["name"]: np.c_[_heatmap_z(dict(z=d["x"])), _heatmap_z(dict(z=d["y"]))] for d in steer_spec["data"]
             if d.get("mode") == "lines+markers+text"}
    plain_xy, steered_xy = paths["unsteered"], paths[f"steered, alpha {sweep.default:g}"]
    width = np.ptp(np.r_[plain_xy, steered_xy], axis=0)
    moved = np.abs(plain_xy[: len(steered_xy)] - steered_xy[: len(plain_xy)]).max(0) / width
    assert moved.max() >= 0.05 or len(plain_xy) != len(steered_xy)  # a twentieth of the map, or another length
    at.slider(key="c_alpha").set_value(sweep.maximum).run()  # steering redraws the steered path with its completion
    assert not at.error and at.query_params["c_alpha"] in (str(sweep.maximum), [str(sweep.maximum)])
    steered = steer(ckpt, SEED_PROMPT, vector=vec, depth=0, alpha=sweep.maximum, positions=[1])
    plain = trace_generation(ckpt, SEED_PROMPT)
    lead = next(m.value for m in at.markdown if m.value.startswith("Push")).replace("\\", "")
    assert lead.startswith(steer_lead(word=animal, source=source, target=to, alpha=sweep.maximum,
                                      depth_name="embed", plain=plain.completion, steered=steered.completion,
                                      nearer=None)[:40])
    assert f"'{steered.completion}'" in lead and (f"instead of '{plain.completion}'" in lead) == (
        steered.completion != plain.completion)
    at.text_input(key="c_corrupt").set_value("a fox eats").run()
    assert any("same number of words" in e.value for e in at.error)
    at.text_input(key="c_corrupt").set_value("").run()
    at.text_input(key="c_target").set_value("moon").run()
    assert any("does not know: moon" in e.value.replace("\\", "") for e in at.error)


def test_causes_link_restores_settings():
    at = open_page("causes", c_kind="attn", c_depth="1", c_pos="6", c_alpha="99")
    assert at.radio(key="c_kind").value == "attn" and at.session_state["c_depth"] == 1
    assert any("c_alpha" in w.value for w in at.warning)  # out of range: default used, and said so


def _heatmap_z(trace: dict) -> np.ndarray:
    """A heatmap's z (or a trace's x or y) from a Plotly JSON spec (a list, or a typed array in base64)."""
    z = trace["z"]
    if isinstance(z, dict):
        import base64

        flat = np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"])
        return flat.reshape([int(n) for n in str(z["shape"]).split(",")]) if "shape" in z else flat
    return np.array(z, dtype=float)


def test_causes_page_noise_mode():
    at = open_page("causes", c_mode="noise", c_noise="2", c_seeds="3")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.button_group(key="c_noise_pick").value == [1]  # word 2 of the link, 0-based
    spec = json.loads(charts(at)[0].spec)
    resid = _heatmap_z(next(d for d in spec["data"] if d.get("name") == "resid"))
    # noise sits on word 2's embedding only: restoring that embedding restores the clean run, any other restores nothing
    assert resid[0, 1] == pytest.approx(1, abs=1e-5)
    np.testing.assert_allclose(np.delete(resid[0], 1), 0, atol=1e-5)
    names = [d["name"] for d in json.loads(charts(at)[1].spec)["data"]]
    assert {"clean", "corrupted", "patched"} <= set(names)  # the click-to-patch map works for noise too
    at.button_group(key="c_noise_pick").set_value([1, 3]).run()
    assert not at.error and at.query_params["c_noise"] in ("2,4", ["2,4"])
    at.button_group(key="c_noise_pick").set_value([]).run()
    assert len(at.error) == 1 and len(charts(at)) == 0  # nothing to corrupt: said so, nothing drawn
    bad = open_page("causes", c_mode="noise", c_noise="2,9,x", c_nscale="-1")
    assert any("c_noise" in e.value.replace("\\", "") for e in bad.error)  # the words that are not there, named
    assert any("c_nscale" in w.value.replace("\\", "") for w in bad.warning)  # a scale out of range: default used
    assert bad.button_group(key="c_noise_pick").value == [1] and len(charts(bad)) == 5


def test_compare_page_aligns_a_model_of_another_world(tiny_ckpt_dir):
    """The bundled model on the left, a tiny model of another world on the right: the right path is drawn after an
    alignment whose size and residual the page states; depth and method can be changed."""
    at = AppTest.from_function(_page_script, args=("compare",), default_timeout=180)
    at.session_state["local_models"] = [str(tiny_ckpt_dir)]
    at.run()
    at.selectbox(key="cmp_b_ckpt").set_value(str(tiny_ckpt_dir)).run()
    at.text_input(key="cmp_b").set_value("a cat eats").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    caption = next(c.value for c in at.caption if "Residual on held-back sentences" in c.value)
    assert "CCA" in caption and " shared words in " in caption
    spec = json.loads(charts(at)[0].spec)
    paths = [t.get("name") for t in spec["data"] if t.get("name") != "direction"]  # less the left path's arrowheads
    assert paths[-2:] == ["left", "right"]
    at.select_slider(key="cmp_layer").set_value("embed").run()
    assert not at.error and "at 'embed'" in spec_title(at)
    assert at.select_slider(key="cmp_layer").options == ["embed", "block 1", "block 2", "final"]


def spec_title(at) -> str:
    return json.loads(charts(at)[0].spec)["layout"]["title"]["text"]


def test_world_editor_adds_changes_and_removes_with_errors_by_field():
    from llmcore.inputs import tomllib
    from llmcore.world import edit as we
    from llmcore.world.load import world_from_dict

    at = open_page("training")
    assert not at.exception and not at.error
    data = tomllib.loads(at.session_state["world_text"])
    taken = {w for groups in data["taxonomy"].values() for ws in groups.values() for w in ws}
    taken |= set(data.get("plurals", {}).values())
    name = next(c for c in ("okapi", "zebra", "gnu", "ibex", "tapir") if c not in taken)
    new_place = next(c for c in ("steppe", "tundra", "prairie", "savanna") if c not in taken)
    model = next((a for a, s in data["animals"].items() if "wild" in s["kind"].split()), next(iter(data["animals"])))
    group = next(g for g, ws in data["taxonomy"]["animals"].items() if model in ws)
    place = data["animals"][model]["habitats"][0]
    place_group = next(g for g, ws in data["taxonomy"]["locations"].items() if place in ws)
    gone = next(a for a in data["animals"] if a != model)
    k = "we_a_(a new one)_"
    at.button(key=f"{k}save").click().run()  # nothing filled in: the name's problem is shown at the form
    assert any("type the animal's name" in e.value for e in at.error)
    at.text_input(key=f"{k}name").set_value(name)
    at.selectbox(key=f"{k}group").set_value(group)
    at.multiselect(key=f"{k}habitats").set_value([place])
    at.text_input(key=f"{k}habitats_new").set_value(new_place)
    at.selectbox(key=f"{k}habitats_newgroup").set_value(place_group)
    at.multiselect(key=f"{k}diet").set_value(data["animals"][model]["diet"][:2])
    at.button(key=f"{k}save").click().run()
    assert not at.error, [e.value for e in at.error]
    world = world_from_dict(tomllib.loads(at.session_state["world_text"]))
    assert world.animals[name].habitats == (place, new_place)
    assert world.label(new_place) == ("locations", place_group)
    assert world.plurals.get(name, we.regular_plural(name)) == we.regular_plural(name)
    assert at.selectbox(key="we_animal").value == name  # the form now edits the new animal
    at.selectbox(key="we_animal").set_value(gone).run()
    at.button(key=f"we_a_{gone}_remove").click().run()
    assert not at.error, [e.value for e in at.error]
    world = world_from_dict(tomllib.loads(at.session_state["world_text"]))
    assert gone not in world.animals and name in world.animals
    at.radio(key="we_what").set_value("place").run()
    at.selectbox(key="we_place").set_value(place).run()
    at.multiselect(key=f"we_p_{place}_home_of").unselect(name)
    at.button(key=f"we_p_{place}_save").click().run()  # it no longer lives there, still in the new place
    assert not at.error, [e.value for e in at.error]
    assert world_from_dict(tomllib.loads(at.session_state["world_text"])).animals[name].habitats == (new_place,)
    at.selectbox(key="we_place").set_value(new_place).run()
    at.multiselect(key=f"we_p_{new_place}_home_of").unselect(name)
    at.button(key=f"we_p_{new_place}_save").click().run()
    assert any("nowhere left to live" in e.value for e in at.error)  # shown under the field, nothing changed
    assert new_place in world_from_dict(tomllib.loads(at.session_state["world_text"])).animals[name].habitats


def _walk_the_story(at: AppTest) -> list[str]:
    """Every scene via Next; returns each scene's header."""
    headers = []
    for n in range(1, 7):
        assert not at.exception and not at.error, (n, [e.value for e in at.error])
        headers.append(at.header[0].value)
        assert headers[-1].startswith(f"{n}. ") and len(at.markdown) >= 1
        if n < 6:
            at.button(key="story_next").click().run()
    assert at.button(key="story_next").disabled
    return headers


def test_story_page_walks_six_scenes_for_the_bundled_model(ckpt):
    at = open_page("story")
    headers = _walk_the_story(at)
    assert len(set(headers)) == 6
    text = " ".join(m.value for m in at.markdown).replace("\\", "")
    assert "from 'block" in text or "from 'final'" in text or "from 'embed'" in text  # scene 6: where it settles
    at.button(key="story_back").click().run()
    assert at.header[0].value.startswith("5. ") and at.query_params["scene"] in ("5", ["5"])
    at = open_page("story", scene="4")
    said = " ".join(m.value for m in at.markdown).replace("\\", "")
    a, f = ckpt.held_out[0]
    assert f"{a} + {f} appears together in 0 of the" in said


def test_the_story_says_which_words_of_its_prompt_it_does_not_know():
    """As on Trajectory: a prompt word outside the vocabulary is named (read as <unk>), and a known prompt gets no
    such warning."""
    at = open_page("story", story_prompt="a dog devours zqxwv in")
    warned = " ".join(w.value for w in at.warning).replace("\\", "")
    assert not at.exception and "zqxwv" in warned and "<unk>" in warned
    assert not any("<unk>" in w.value.replace("\\", "") for w in open_page("story").warning)


@pytest.mark.parametrize("module, terms", [
    ("trajectory", ["State", "Depth", "Trustworthiness", "Final norm", "Logit lens", "Tuned lens"]),
    ("embeddings", ["PCA", "UMAP and t-SNE", "Trustworthiness"]),
    ("landscape", ["Terrain", "Decoded slice", "Loss landscape", "Final norm"]),
    ("features", ["Feature", "Sparse autoencoder", "Logit", "Precision", "Recall", "F1", "Probe",
                  "Balanced accuracy"]),
    ("training", ["Loss", "Procrustes alignment", "Separability"])])
def test_each_page_explains_its_words_with_the_models_own_sizes(ckpt, module, terms):
    """The page's glossary popover names each of its terms in bold, and the state's size is the model's."""
    at = open_page(module)
    said = next((m.value for m in at.markdown if "**State**" in m.value or "**PCA**" in m.value), "")
    assert not at.exception and all(f"**{t}**: " in said for t in terms), (module, said[:200])
    assert f"{ckpt.model_config.n_embd} numbers" in said


def test_every_story_figure_carries_its_check_and_a_failing_one_shows_the_reason(monkeypatch):
    """A scene's figure is shown with what its own check measured; with a bar it cannot reach, the figure is
    replaced by the reason (scene 5 here: the colour under each step against the step's own prediction)."""
    from dashboard import scenes

    for n in (1, 2, 3, 5, 6):
        at = open_page("story", scene=str(n))
        assert not at.exception and not at.error
        keys = [c.key for c in charts(at)]
        checked = [c.value for c in at.caption if c.value.replace("\\", "").startswith("Checked: ")]
        reasons = [w.value for w in at.warning if "not shown" in w.value]
        assert (keys == [f"scene{n}"] and len(checked) == 1 and not reasons) or (not keys and len(reasons) == 1)
    monkeypatch.setattr(scenes, "AGREEMENT_BAR", 1.01)
    at = open_page("story", scene="5")
    assert not at.exception and not charts(at)
    reason = " ".join(w.value for w in at.warning).replace("\\", "")
    assert "The figure is not shown" in reason and "steps: the colour under the state is what the state itself" \
        " predicts" in reason and "below its bar of 101%" in reason


def test_story_presenter_mode_enlarges_chart_text_and_fits_the_window():
    """Presenter mode: no page title, the controls on one line (one row of columns), every chart text at least
    16 px, no chart title (the scene's heading and takeaway say it) and the chart told to fit the window."""
    import json as _json

    from dashboard.views.story import PRESENTER_FIT, PRESENTER_PX

    at = open_page("story", scene="2", presenter="true")
    assert not at.exception and not at.title
    row = next(node for node in at.main.children.values() if node.type == "flex_container")
    assert {"text_input", "toggle", "button", "popover"} <= {t for t, _ in _in_order(row)}
    fig = charts(at)[0].figure
    layout = fig["layout"]
    sizes = [layout["font"]["size"], layout["legend"]["font"]["size"],
             *[a["font"]["size"] for a in layout.get("annotations", [])],
             *[layout[k]["tickfont"]["size"] for k in ("xaxis", "yaxis")],
             *[layout[k]["title"]["font"]["size"] for k in ("xaxis", "yaxis")],
             *[t["textfont"]["size"] for t in fig["data"] if not isinstance(t["textfont"]["size"], list)]]
    assert min(sizes) >= PRESENTER_PX and not layout["title"]["text"]
    data = next(_json.loads(el.proto.json or el.proto.mixed.json) for el in at.get("bidi_component"))
    assert data["fit"] == PRESENTER_FIT


def test_story_page_for_a_world_without_held_out_pairs(tmp_path, monkeypatch):
    from llmcore.training.trainer import Trainer

    from .conftest import TINY_MODEL, TINY_WORLD, tiny_train_config

    world = tmp_path / "world.toml"
    world.write_text(TINY_WORLD.read_text().replace('held_out = [["dog", "pizza"]]', "held_out = []"))
    Trainer(tmp_path / "ckpt", world, TINY_MODEL, tiny_train_config(steps=20)).run()
    monkeypatch.setenv("LLM_LANDSCAPE_CHECKPOINT", str(tmp_path / "ckpt"))
    at = open_page("story", story_prompt="a cat eats")
    _walk_the_story(at)
    at = open_page("story", story_prompt="a cat eats", scene="4")
    assert "holds no pairs out of training" in " ".join(m.value for m in at.markdown).replace("\\", "")


def test_world_text_box_and_editor_refuse_hostile_input_with_the_rule():
    """The Training page's world box goes through the guard of every outside file (5,000 nested brackets and a
    5,000-digit number are refused with the rule, in the editor and when training), and the editor's new entry
    named like an animal of the world is refused on its name field instead of replacing that animal."""
    from llmcore.world import edit as we

    at = open_page("training")
    world = at.session_state["world_text"]
    data = we.parse_world_text(world)
    dog = next(iter(data["animals"]))
    k = "we_a_(a new one)_"
    at.text_input(key=f"{k}name").set_value(dog.upper())
    at.multiselect(key=f"{k}habitats").set_value(data["animals"][dog]["habitats"][-1:])
    at.multiselect(key=f"{k}diet").set_value(data["animals"][dog]["diet"][-1:])
    at.button(key=f"{k}save").click().run()
    assert not at.exception and any(f"'{dog}' is already an animal" in e.value for e in at.error)
    assert at.session_state["world_text"] == world  # the real one's habitats and diet are kept
    at.text_input(key=f"{k}name").set_value("hot-dog")
    at.button(key=f"{k}save").click().run()
    shown = [e.value.replace("\\", "") for e in at.error]  # as written, less escape_md's backslashes
    assert any("'hot-dog' has characters other than a-z" in e and we.NAME_RULE in e for e in shown), shown
    at.text_input(key=f"{k}name").set_value("x" * 10_000)
    at.button(key=f"{k}save").click().run()  # the box keeps MAX_NAME characters of it, a name that is allowed
    after = we.parse_world_text(at.session_state["world_text"])
    assert "x" * we.MAX_NAME in after["animals"] and after["animals"][dog] == data["animals"][dog]
    for text, says in (("x = " + "[" * 5000 + "]" * 5000, "nests deeper"), ("a = " + "9" * 5000, "5,000 digits")):
        at.text_area(key="world_text").set_value(text)
        at.button(key="train_start").click().run()
        assert not at.exception, at.exception
        assert any(says in i.value for i in at.info)  # the editor says why it cannot show the form
        assert any(says in e.value for e in at.error)  # and training refuses the text
