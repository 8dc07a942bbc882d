"""The dashboard, driven by Streamlit's AppTest (no browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from .charts import charts

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def app():
    return AppTest.from_file(APP, default_timeout=120).run()


CAPTION = re.compile(r"Step (\d+): after reading '(.+?)' \(read: (\w+)\), the model expects (\w+) next")


def _captions(app) -> list[tuple[int, str, str, str]]:
    """(step, word, read, next) of every caption in 'Every step in words'."""
    found = [CAPTION.match(m.value.replace("\\", "").lstrip("- ")) for m in app.markdown]
    return [(int(m[1]), m[2], m[3], m[4]) for m in found if m]


def _values(v) -> np.ndarray:
    """A Plotly array from a figure's JSON (a list, or typed-array {'dtype', 'bdata'})."""
    if isinstance(v, dict):
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
    return np.asarray(v, float)


def _bars(app) -> tuple[list[str], list[str]]:
    """Per step, the argmax sub-context of the stacked `next` bars and the `read` square's sub-context."""
    spec = json.loads(next(c for c in charts(app) if c.key == "contexts").spec)
    bars = [t for t in spec["data"] if t["type"] == "bar"]
    heights = np.array([_values(t["y"]) for t in bars])  # (G, steps)
    reads = next(t for t in spec["data"] if t["type"] == "scatter")["customdata"]
    return [bars[g]["name"] for g in heights.argmax(0)], reads


def test_default_page_tells_the_story_one_step_per_word(app, ckpt):
    """Every word read is a step, and the captions say which sub-context each word is read as, from the world."""
    assert not app.exception and not app.error
    assert [c.key for c in charts(app)] == ["map", "contexts", "lens", "attention"]
    prompt = app.text_input(key="prompt").value.split()
    caps = _captions(app)
    table = app.dataframe[0].value
    assert [c[0] for c in caps] == list(range(1, len(table) + 1))
    assert [c[1] for c in caps][: len(prompt)] == prompt  # step n is after the n-th word of the prompt
    read = {w: r for _, w, r, _ in caps}
    label = {w: ckpt.world.label(w)[0] for w in read}
    assert read == label
    for context in ("animals", "food", "locations"):  # the story: an animal, a food, a place
        assert context in read.values()
    assert app.slider(key="step").max == len(caps)


def test_captions_never_contradict_the_bars(app):
    for reading in ("read", "next"):
        app.radio(key="reading").set_value(reading).run()
        caps = _captions(app)
        nexts, reads = _bars(app)
        assert [c[3] for c in caps] == nexts and [c[2] for c in caps] == reads


def test_the_default_view_is_the_measured_best(app, ckpt):
    from llmcore.maps import MapBook

    view = MapBook(ckpt).best_view()
    assert app.selectbox(key="method").value == view.method and app.select_slider(key="layer").value == view.layer
    assert view.score == max(view.scores.values()) and "embed" not in {k.split("@")[1] for k in view.scores}
    assert any("measured default view" in c.value for c in app.caption)


def test_example_prompt_and_sampling(app):
    app.selectbox(key="example").set_value("a cow munches").run()
    assert app.text_input(key="prompt").value == "a cow munches"
    app.radio(key="mode").set_value("sample").run()
    app.slider(key="temperature").set_value(1.5).run()
    app.number_input(key="seed").set_value(4).run()
    assert not app.error and len(charts(app)) == 4


def test_layer_method_view_and_step(app):
    app.select_slider(key="layer").set_value("embed").run()
    assert not app.error and len(charts(app)) == 4
    app.radio(key="dims").set_value(3).run()
    app.selectbox(key="method").set_value("pca").run()
    assert not app.error and not app.exception
    app.slider(key="step").set_value(2).run()
    caption = app.info[0].value.replace("\\", "")
    assert caption.startswith(f"Step 2: after reading '{app.text_input(key='prompt').value.split()[1]}'")


def test_play_advances_the_step(app):
    app.button(key="play").click().run()
    assert app.slider(key="step").value == 2 and app.info[0].value.replace("\\", "").startswith("Step 2:")


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
    assert scenario_from_json(b"\xef\xbb\xbf" + json.dumps(view).encode())["step"] == 2  # a BOM is dropped
    for bad, message in [(b"{", "not valid JSON"), (b"[1]", "JSON object"), (b'{"colour": 1}', "unknown setting"),
                         (b'{"step": "two"}', "must be a int"), (b"x" * 70_000, "larger than"),
                         (b"[" * 20_000 + b"]" * 20_000, "nests deeper"), (b'{"temperature": 50}', "allowed"),
                         (b'{"temperature": NaN}', "allowed"), (b'{"dims": 7}', "allowed"), (b"\xff", "UTF-8"),
                         (b'{"mode": "wild"}', "allowed")]:
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
    assert at.text_input(key="prompt").value == "a cow munches" and len(charts(at)) == 4


def test_a_failing_prompt_is_still_shared_by_the_url(app):
    app.text_input(key="prompt").set_value("xylophones juggle").run()
    assert "none of the words" in app.error[0].value
    assert app.query_params["prompt"] in ("xylophones juggle", ["xylophones juggle"])


def test_out_of_range_numbers_are_reported_not_ignored(app):
    app.radio(key="mode").set_value("sample").run()
    app.number_input(key="top_k").set_value(-5).run()
    assert "top-k must be a whole number" in app.error[0].value.replace("\\", "") and not app.exception
    app.number_input(key="top_k").set_value(5000).run()  # more than the vocabulary: no cut, like off
    assert not app.error and len(charts(app)) == 4
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
    assert not app.error and len(charts(app)) == 4


def test_the_model_is_in_the_url_and_an_unknown_one_opens_the_bundled_model():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"model": "no-such-model"})
    at.run()
    assert not at.exception and any("does not have (no-such-model)" in w.value.replace("\\", "") for w in at.warning)
    assert at.query_params["model"] in ("default", ["default"]) and len(charts(at)) == 4


def test_a_link_to_a_model_opens_that_model(tiny_ckpt_dir, monkeypatch):
    from dashboard import state

    monkeypatch.setattr(state, "USER_CHECKPOINTS", tiny_ckpt_dir.parent)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"model": tiny_ckpt_dir.name, "prompt": "a cat eats"})
    at.run()
    assert not at.exception and not at.warning and at.selectbox(key="checkpoint").value == str(tiny_ckpt_dir)


def test_views_are_thin():
    """Caching lives only in dashboard/state.py, figures come from figures.py, and no dashboard function passes 60
    lines (read from the source, so a new page is held to it too)."""
    import ast

    root = Path(APP).parent
    for file in sorted(root.rglob("*.py")):
        tree = ast.parse(file.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 60, f"{file.name}: {node.name} is over 60 lines"
            if file.parent.name == "views" and isinstance(node, ast.Attribute):
                assert node.attr not in ("cache_data", "cache_resource"), f"{file.name} caches: use state.py"
                assert node.attr not in ("Figure", "make_subplots"), f"{file.name} builds a figure: use figures.py"
