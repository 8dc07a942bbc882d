"""The dashboard, driven by Streamlit's AppTest (no browser)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from .charts import charts

ROOT = Path(__file__).resolve().parent.parent

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def app():
    return AppTest.from_file(APP, default_timeout=120).run()


CAPTION = re.compile(r"Step (\d+): after reading '(.+?)' \(read: (\w+)\), the model expects (\w+) next")


def _captions(app) -> list[tuple[int, str, str, str]]:
    """(step, word, read, next) of every caption in 'Every step in words'."""
    lines = [line for m in app.markdown for line in m.value.splitlines()]
    found = [CAPTION.match(line.replace("\\", "").lstrip("- ")) for line in lines]
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
    assert [c.key for c in charts(app)] == ["map", "contexts", "lens", "settled", "attention"]
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
    from llmcore.maps.store import MapBook

    view = MapBook(ckpt).best_view()
    assert app.selectbox(key="method").value == view.method and app.select_slider(key="layer").value == view.layer
    assert view.score == max(view.scores.values()) and "embed" not in {k.split("@")[1] for k in view.scores}
    assert any(f"own word's region ({view.score:.0%} of them here)" in c.value for c in app.caption)


def test_example_prompt_and_sampling(app):
    app.selectbox(key="example").set_value("a cow munches").run()
    assert app.text_input(key="prompt").value == "a cow munches"
    app.radio(key="mode").set_value("sample").run()
    app.slider(key="temperature").set_value(1.5).run()
    app.number_input(key="seed").set_value(4).run()
    assert not app.error and len(charts(app)) == 5


def test_layer_method_view_and_step(app):
    app.select_slider(key="layer").set_value("embed").run()
    assert not app.error and len(charts(app)) == 5
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
    assert at.text_input(key="prompt").value == "a cow munches" and len(charts(at)) == 5


def test_a_failing_prompt_is_still_shared_by_the_url(app):
    app.text_input(key="prompt").set_value("xylophones juggle").run()
    assert "none of the words" in app.error[0].value
    assert app.query_params["prompt"] in ("xylophones juggle", ["xylophones juggle"])


def test_out_of_range_numbers_are_reported_not_ignored(app):
    app.radio(key="mode").set_value("sample").run()
    app.number_input(key="top_k").set_value(-5).run()
    assert "top-k must be a whole number" in app.error[0].value.replace("\\", "") and not app.exception
    app.number_input(key="top_k").set_value(5000).run()  # more than the vocabulary: no cut, like off
    assert not app.error and len(charts(app)) == 5
    app.number_input(key="seed").set_value(-5).run()
    assert "seed must be a whole number" in app.error[0].value.replace("\\", "") and not app.exception


def test_typing_a_prompt_clears_the_example_box(app):
    app.selectbox(key="example").set_value("a cow munches").run()
    assert app.selectbox(key="example").value == "a cow munches"
    app.text_input(key="prompt").set_value("a cat eats").run()
    assert app.selectbox(key="example").value is None and app.text_input(key="prompt").value == "a cat eats"


def test_every_held_out_pair_is_flagged(app, ckpt):
    """The 'Seen in training?' line under the prompt calls a held-out pair held out (in any form of its words),
    says of a pair the training sentences name that they do, and is absent where the prompt pairs no animal and
    food."""
    def seen() -> str:
        return " ".join(m.value for m in app.markdown if "Seen in training?" in m.value).replace("\\", "")

    animal, food = next((a, f) for a, f in ckpt.held_out if (a, f) != ("dog", "pizza"))
    app.text_input(key="prompt").set_value(f"the {ckpt.world.forms(animal)[-1]} eat {food} in").run()
    assert f"{animal} + {food}: no. It is a held-out pair" in seen()
    trained = next(f for f in ckpt.world.animals[animal].diet if (animal, f) not in ckpt.held_out)
    app.text_input(key="prompt").set_value(f"a {animal} eats {trained} in").run()
    assert f"{animal} + {trained}: yes, " in seen() and "held-out" not in seen()
    app.text_input(key="prompt").set_value("a cat sleeps").run()
    assert seen() == ""


def test_a_new_prompt_opens_at_its_last_word_and_says_why_its_place_word(app, ckpt):
    """Typing a prompt moves the step to the prompt's last word; where the model then names a place of the prompt's
    animal, a 'Why' line under the completion gives the world's reason, the same sentence as that step's caption."""
    from dashboard import frames
    from llmcore.analysis.trace import SamplingConfig, trace_generation

    app.slider(key="step").set_value(2).run()
    animal, food = ckpt.held_out[0]
    prompt = f"the old {animal} eats {food} in"
    app.text_input(key="prompt").set_value(prompt).run()
    assert app.slider(key="step").value == len(prompt.split())
    trace = trace_generation(ckpt, prompt, SamplingConfig())
    whys = [(i, w) for i in range(len(trace)) if (w := frames.why_this_word(trace, ckpt.world, i, ckpt.held_out))]
    said = [m.value for m in app.markdown if m.value.startswith("**Why '")]
    assert whys and len(said) == 1  # the bundled model names a place for a held-out pair (its quality bar)
    i, why = whys[0]
    assert said[0].startswith(f"**Why '{trace.next_words[i]}'?**") and f"Step {i + 1} below" in said[0]
    assert why.split(" (")[0] in said[0].replace("\\", "")


def test_a_bad_value_left_in_a_disabled_sampling_box_does_not_block_greedy(app):
    app.radio(key="mode").set_value("sample").run()
    app.number_input(key="top_k").set_value(-5).run()
    assert app.error
    app.radio(key="mode").set_value("greedy").run()
    assert not app.error and len(charts(app)) == 5


def test_the_model_is_in_the_url_and_an_unknown_one_opens_the_bundled_model():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"model": "no-such-model"})
    at.run()
    assert not at.exception and any("does not have (no-such-model)" in w.value.replace("\\", "") for w in at.warning)
    assert at.query_params["model"] in ("default", ["default"]) and len(charts(at)) == 5


def test_a_link_to_a_model_opens_that_model(tiny_ckpt_dir, monkeypatch):
    from dashboard import folders

    monkeypatch.setattr(folders, "SOURCE_CHECKPOINTS", tiny_ckpt_dir.parent)
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"model": tiny_ckpt_dir.name, "prompt": "a cat eats"})
    at.run()
    assert not at.exception and not at.warning and at.selectbox(key="checkpoint").value == str(tiny_ckpt_dir)


def test_views_are_thin():
    """Caching lives only in dashboard/state.py, figures come from dashboard/figures/, and no dashboard
    function passes 60 lines (read from the source, so a new page is held to it too)."""
    import ast

    root = Path(APP).parent
    for file in sorted(root.rglob("*.py")):
        tree = ast.parse(file.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno < 60, f"{file.name}: {node.name} is over 60 lines"
            if file.parent.name == "views" and isinstance(node, ast.Attribute):
                assert node.attr not in ("cache_data", "cache_resource"), f"{file.name} caches: use state.py"
            if file.parent.name == "views" and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                assert node.func.attr not in ("Figure", "make_subplots"), \
                    f"{file.name} builds a figure: use dashboard/figures/"  # annotating one (go.Figure) is fine


FIRST_PAGE_WITHOUT_TORCH = """
import sys

class Refuse:  # any import of torch, scikit-learn or SciPy fails
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "sklearn", "scipy"):
            raise ImportError(f"{name} was imported")

sys.meta_path.insert(0, Refuse())

def page():
    import streamlit as st
    from dashboard.views import trajectory
    st.set_page_config(layout="wide")
    trajectory.render()

from streamlit.testing.v1 import AppTest
from tests.charts import charts

at = AppTest.from_function(page, default_timeout=120).run()
assert not at.exception, [e.value for e in at.exception]
assert not at.error, [e.value for e in at.error]
assert [c.key for c in charts(at)][:2] == ["map", "contexts"], [c.key for c in charts(at)]
at.slider(key="step").set_value(3).run()  # another step: its candidate stars come from the kept file too
assert not at.exception and not at.error
print("drawn without torch")
"""


@pytest.mark.slow
def test_the_first_page_draws_without_torch(ckpt, tmp_path):
    """A cold start's page (the bundled model's default view) is drawn from files: the maps, the kept trace and its
    candidates (llmcore.maps.tracecache); neither torch nor scikit-learn nor SciPy is imported, so the first chart does
    not wait for them (about 3 s of a cold start on 2 cores; SciPy's ndimage 0.24 s). The kept trace is the one the
    model computes."""
    import os
    import subprocess
    import sys

    from dashboard.views.trajectory import DEFAULT_SAMPLING, DEFAULTS
    from llmcore.analysis.trace import trace_generation
    from llmcore.maps.tracecache import load_trace

    prompt = DEFAULTS["prompt"]
    kept = load_trace(ckpt.path / "maps", ckpt, prompt, DEFAULT_SAMPLING)  # shipped in its own maps/
    assert kept is not None, "the bundled model ships its default view's trace (run the dashboard once to keep it)"
    fresh = trace_generation(ckpt, prompt, DEFAULT_SAMPLING)
    np.testing.assert_allclose(kept[0].hidden, fresh.hidden, atol=1e-5)
    assert kept[0].completion == fresh.completion
    script = tmp_path / "first_page.py"  # AppTest reads the page function's source from a file
    script.write_text(FIRST_PAGE_WITHOUT_TORCH)
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and "drawn without torch" in done.stdout, done.stderr[-3000:]


def test_the_cartesian_plotly_bundle_is_used_only_at_the_plotly_packages_version(tmp_path, monkeypatch):
    """dashboard/plotly_light holds plotly.js's cartesian bundle: the dashboard uses it only while its version is
    the plotly package's own plotly.js (a figure's JSON may use what a newer version added)."""
    from dashboard import chart

    ours, theirs = chart.bundle_version(chart.LIGHT_FILE), chart.bundle_version(chart.PLOTLY_DIR / "plotly.min.js")
    assert ours and theirs and chart.light_available() == (ours == theirs)
    other = tmp_path / "plotly-cartesian.min.js"
    other.write_text("/**\n* plotly.js (cartesian - minified) v0.0.1\n*/\n")
    monkeypatch.setattr(chart, "LIGHT_FILE", other)
    chart.light_available.cache_clear()
    try:
        assert chart.bundle_version(other) == "0.0.1" and not chart.light_available() and chart._light_url() is None
    finally:
        chart.light_available.cache_clear()


def test_a_link_with_a_prompt_and_no_step_opens_at_the_prompts_last_word():
    """A shared link naming a prompt but no step opens at the prompt's last word (not at the default prompt's), so
    the 'Why' line's 'Step N below' and the step shown agree; a link naming a step keeps it."""
    prompt = "the big cat eats fish in the garden . a dog eats"
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["prompt"] = prompt
    at.run()
    assert at.slider(key="step").value == len(prompt.split())
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"prompt": prompt, "step": "3"})
    at.run()
    assert at.slider(key="step").value == 3
