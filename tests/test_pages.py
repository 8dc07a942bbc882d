"""The other dashboard pages, driven by AppTest: widgets in, the right elements and data out."""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest


def _page_script(module: str) -> None:
    import importlib

    import streamlit as st

    st.set_page_config(layout="wide")
    importlib.import_module(f"dashboard.views.{module}").render()


def open_page(module: str, **params) -> AppTest:
    """One page rendered alone (its thin render function), as the app's router would."""
    at = AppTest.from_function(_page_script, args=(module,), default_timeout=180)
    at.query_params.update(params)
    return at.run()


@pytest.fixture
def embeddings():
    return open_page("embeddings")


def test_embeddings_page(embeddings):
    at = embeddings
    assert not at.exception and not at.error
    assert [c.key for c in at.get("plotly_chart")] == ["wordmap"]
    table = at.dataframe[0].value
    assert len(table) == 8 and (table["sub-context"] == "animals").sum() >= 6
    at.text_input(key="emb_search").set_value("c.*t").run()
    at.toggle(key="emb_isolate").set_value(True).run()
    assert not at.error and len(at.get("plotly_chart")) == 1
    at.text_input(key="emb_search").set_value("[unclosed").run()
    assert any("not a valid regular expression" in w.value for w in at.warning)
    assert not any("No word matches" in w.value for w in at.warning)  # one message says what is wrong
    at.selectbox(key="emb_method").set_value("axes").run()
    assert not at.error and len(at.get("plotly_chart")) == 1
    layout = json.loads(at.get("plotly_chart")[0].proto.spec)["layout"]
    assert layout["xaxis"]["title"]["text"] == "animals → food"  # the axes are named by the groups they join
    at.selectbox(key="emb_ax1").set_value("animals").run()
    assert any("every word lands at 0" in w.value for w in at.warning)


def test_embeddings_link_notice_names_settings_as_the_page_does():
    at = open_page("embeddings", emb_method="nope", emb_k="500")
    notice = at.warning[0].value
    assert "map (emb_method)" in notice and "how many (emb_k)" in notice


def test_landscape_page():
    at = open_page("landscape")
    assert not at.exception and not at.error
    assert [c.key for c in at.get("plotly_chart")] == ["terrain", "decision", "loss_random", "loss_pca"]
    for chart in at.get("plotly_chart")[:2]:  # the colours of the terrain and the decision map are named
        assert "sub-context" in chart.proto.spec and '"showlegend":true' in chart.proto.spec.replace(" ", "")
    at.text_input(key="land_prompt").set_value("").run()
    assert "empty" in at.error[0].value


def test_model_card_proves_the_held_out_pairs(ckpt):
    from llmcore.evaluate import generalisation_prompts

    at = open_page("model_card")
    assert not at.exception and not at.error
    assert any("Proof: none of the" in s.value for s in at.success)
    vocab = at.dataframe[0].value
    assert "cat" in ", ".join(vocab[vocab["sub-context"] == "animals"].words).split(", ")
    assert "the" in vocab[vocab["sub-context"] == "grammar"].words.iloc[0].split(", ")
    held = at.dataframe[1].value
    live = at.dataframe[2].value
    assert len(live) == len(generalisation_prompts(ckpt.world, ckpt.held_out))
    assert (live["a habitat of the animal?"] == "yes").mean() >= 0.95
    assert (held["training sentences with both"] == 0).all() and "dog + pizza" in list(held.pair)


def test_training_page_shows_curves_and_replay():
    at = open_page("training")
    assert not at.exception and not at.error
    assert [c.key for c in at.get("plotly_chart")] == ["curves", "replay"]


def test_training_form_rejects_a_broken_world():
    at = open_page("training")
    at.text_area(key="world_text").set_value("[taxonomy\n")
    at.button[0].click().run()  # the form's submit button
    assert any("cannot be parsed" in e.value for e in at.error)


def test_compare_page():
    at = open_page("compare")
    assert not at.exception and not at.error
    assert [c.key for c in at.get("plotly_chart")] == ["compare_map"]
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
    assert [c.key for c in at.get("plotly_chart")] == ["compare_map"]
    assert (at.dataframe[0].value["left"] == "").all() and (at.dataframe[0].value["right"] != "").any()


@pytest.mark.slow
def test_training_a_model_in_the_browser(tmp_path, monkeypatch):
    import time

    from dashboard import jobs
    from dashboard.views import training
    from llmcore.checkpoint import load_checkpoint

    from .conftest import TINY_WORLD

    monkeypatch.setattr(jobs, "CHECKPOINTS_DIR", tmp_path / "checkpoints")
    monkeypatch.setattr(jobs, "DATA_DIR", tmp_path / "data")
    at = open_page("training")
    at.text_area(key="world_text").set_value(TINY_WORLD.read_text())
    at.text_input[0].set_value("from-browser")
    at.number_input[0].set_value(20)
    at.button[0].click().run()
    assert not at.error, [e.value for e in at.error]
    job = training.JOBS["from-browser"]
    deadline = time.time() + 120
    while not job.finished and time.time() < deadline:
        time.sleep(0.2)
    at.run()
    assert job.state == "done" and any("is trained" in s.value for s in at.success)
    assert load_checkpoint(tmp_path / "checkpoints" / "from-browser").metrics["steps_done"] == 20


def test_another_model_is_rotated_onto_the_left_models_map(ckpt, tmp_path):
    """A second copy of the same model, aligned on the shared reference sentences, lands where the first does."""
    import shutil

    import numpy as np

    from dashboard import frames
    from dashboard.views.compare import aligned_path
    from llmcore.checkpoint import load_checkpoint
    from llmcore.maps import MapBook
    from llmcore.trace import trace_generation

    shutil.copytree(ckpt.path, tmp_path / "copy")
    other = load_checkpoint(tmp_path / "copy")
    fmap = MapBook(ckpt).get("context:final", "pca", 2)
    direct = frames.trajectory_frame(trace_generation(ckpt, "a cow munches"), fmap, -1)
    rotated = aligned_path([ckpt, other], trace_generation(other, "a cow munches"), fmap)
    np.testing.assert_allclose(rotated[["x", "y"]].to_numpy(), direct[["x", "y"]].to_numpy(), atol=1e-2)
    assert list(rotated.next_word) == list(direct.next_word)
