"""The dashboard, driven by Streamlit's AppTest (no browser)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from llmcore.world import load_world

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def app():
    return AppTest.from_file(APP, default_timeout=120).run()


def test_trajectory_page_draws_map_and_contexts(app):
    assert not app.exception and not app.error
    assert [c.key for c in app.get("plotly_chart")] == ["map", "contexts", "lens", "attention"]
    heading = app.markdown[0].value
    assert heading.startswith("#### a dog devours pizza in → **the₁ ")
    table = app.dataframe[0].value
    assert table.loc[1, "sub-context"] == "locations"


def test_example_prompt_and_sampling(app):
    app.selectbox(key="example").set_value("a cow munches").run()
    assert app.text_input(key="prompt").value == "a cow munches"
    assert app.dataframe[0].value.loc[0, "sub-context"] == "food"
    app.radio(key="mode").set_value("sample").run()
    app.slider(key="temperature").set_value(1.5).run()
    app.number_input(key="seed").set_value(4).run()
    assert not app.error and len(app.get("plotly_chart")) == 4


def test_layer_method_view_and_step(app):
    app.select_slider(key="layer").set_value("embed").run()
    assert not app.error and len(app.get("plotly_chart")) == 4
    app.radio(key="dims").set_value(3).run()
    app.selectbox(key="method").set_value("tsne").run()
    assert not app.error and not app.exception
    app.slider(key="step").set_value(2).run()
    caption = app.info[0].value.replace("\\", "")
    chosen = caption.split("Chosen: '")[1].split("'")[0]
    assert caption.startswith("Step 2: after reading 'the'") and chosen in load_world().animals["dog"].habitats


def test_view_state_lives_in_the_url():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"prompt": "a cow munches", "layer": "block 2", "step": "2", "method": "umap"})
    at.run()
    assert at.text_input(key="prompt").value == "a cow munches"
    assert at.select_slider(key="layer").value == "block 2" and at.slider(key="step").value == 2
    assert at.selectbox(key="method").value == "umap" and not at.error
    at.text_input(key="prompt").set_value("a cat").run()
    assert at.query_params["prompt"] == ["a cat"] or at.query_params["prompt"] == "a cat"


def test_unknown_words_and_long_prompts_are_reported(app):
    app.text_input(key="prompt").set_value("a dogz eats pizza in").run()  # a misspelt word gets its closest words
    assert any("dogz (did you mean dog" in w.value.replace("\\", "") and "world file" in w.value for w in app.warning)
    assert not app.error
    app.text_input(key="prompt").set_value(" ".join(["a cat eats meat ."] * 10)).run()
    assert any("kept the last" in w.value for w in app.warning)


def test_bad_prompts_give_errors_not_tracebacks(app):
    app.text_input(key="prompt").set_value("").run()
    assert "empty" in app.error[0].value and not app.exception
    app.text_input(key="prompt").set_value("qwerty uiop").run()
    assert "none of the words" in app.error[0].value and not app.exception


def test_missing_checkpoint_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("LLM_LANDSCAPE_CHECKPOINT", str(tmp_path / "nothing"))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and "could not be loaded" in at.error[0].value


def test_user_text_is_not_markup(app):
    app.text_input(key="prompt").set_value("a cat <script>alert(1)</script> **bold** [x](http://e.vil)").run()
    shown = " ".join(m.value for m in app.markdown) + " ".join(w.value for w in app.warning)
    assert "<script>" not in shown and "](http" not in shown


def test_scenarios_round_trip_and_reject_bad_files():
    import json

    from dashboard.views.trajectory import DEFAULTS, scenario_from_json

    view = {**DEFAULTS, "prompt": "a cow munches", "step": 2, "temperature": 1}
    assert scenario_from_json(json.dumps(view).encode())["temperature"] == 1.0
    for bad, message in [(b"{", "not valid JSON"), (b"[1]", "JSON object"), (b'{"colour": 1}', "unknown setting"),
                         (b'{"step": "two"}', "must be a int"), (b"x" * 70_000, "larger than")]:
        with pytest.raises(ValueError, match=message):
            scenario_from_json(bad)


def test_bad_values_in_a_shared_link_are_ignored_with_a_notice():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"method": "foo", "dims": "7", "temperature": "50", "limit": "-3", "step": "abc",
                            "mode": "x", "top_p": "nan", "prompt": "a cow munches"})
    at.run()
    assert not at.exception and not at.error
    notice = at.warning[0].value
    for key in ("method", "dims", "temperature", "limit", "step", "mode", "top_p"):
        assert key in notice
    assert at.text_input(key="prompt").value == "a cow munches" and len(at.get("plotly_chart")) == 4


def test_a_failing_prompt_is_still_shared_by_the_url(app):
    app.text_input(key="prompt").set_value("xylophones juggle").run()
    assert "none of the words" in app.error[0].value
    assert app.query_params["prompt"] in ("xylophones juggle", ["xylophones juggle"])


def test_out_of_range_numbers_are_reported_not_ignored(app):
    app.radio(key="mode").set_value("sample").run()
    app.number_input(key="top_k").set_value(-5).run()
    assert "top-k must be a whole number" in app.error[0].value.replace("\\", "") and not app.exception
    app.number_input(key="top_k").set_value(5000).run()  # more than the vocabulary: no cut, like off
    assert not app.error and len(app.get("plotly_chart")) == 4
    app.number_input(key="seed").set_value(-5).run()
    assert "seed must be a whole number" in app.error[0].value.replace("\\", "") and not app.exception


def test_typing_a_prompt_clears_the_example_box(app):
    app.selectbox(key="example").set_value("a cow munches").run()
    assert app.selectbox(key="example").value == "a cow munches"
    app.text_input(key="prompt").set_value("a cat eats").run()
    assert app.selectbox(key="example").value is None and app.text_input(key="prompt").value == "a cat eats"


def test_every_held_out_pair_is_flagged(app, ckpt):
    animal, food = next((a, f) for a, f in ckpt.held_out if (a, f) != ("dog", "pizza"))
    app.text_input(key="prompt").set_value(f"a {animal} eats {food} in").run()
    caption = " ".join(c.value for c in app.caption).replace("\\", "")
    assert f"held-out pair ({animal} + {food})" in caption
    app.text_input(key="prompt").set_value("a cat eats").run()
    assert "held out" not in " ".join(c.value for c in app.caption)


def test_a_bad_value_left_in_a_disabled_sampling_box_does_not_block_greedy(app):
    app.radio(key="mode").set_value("sample").run()
    app.number_input(key="top_k").set_value(-5).run()
    assert app.error
    app.radio(key="mode").set_value("greedy").run()
    assert not app.error and len(app.get("plotly_chart")) == 4
