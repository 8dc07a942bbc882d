"""llmnotebook: the widgets draw what the dashboard's figure builders draw from the same frames, redraw when set
from Python, turn the browser's selections and clicks into DataFrames, steps, cells and patched runs, export a
standalone page; the example notebooks run top to bottom with nbclient."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import tomllib

from dashboard import frames
from dashboard.figures import maps as map_figures
from dashboard.figures.theme import BASE
from dashboard.watch_charts import snapshot_charts
from llmcore.analysis.interventions import patched_run
from llmcore.analysis.trace import PromptError
from llmcore.maps.methods import MAP_METHODS
from llmcore.training.snapshots import snapshot_metrics, weight_snapshot_steps
from llmnotebook import (
    SettingRefused,
    causal_trace,
    embeddings,
    generalisation,
    open_model,
    save_html,
    trajectory,
    watch,
)
from llmnotebook.widget import INK

ROOT = Path(__file__).resolve().parent.parent
PATH = map_figures.MapOptions.path_name


@pytest.fixture(scope="module")
def land():
    return open_model()


@pytest.fixture(scope="module")
def w(land):
    return trajectory("a dog devours pizza in", model=land, method="pca", layer="final")


def drawn(widget) -> list[dict]:
    return json.loads(widget.figure)["data"]


def path_trace(widget) -> dict:
    return next(t for t in drawn(widget) if t.get("name") == PATH)


def test_the_map_is_the_dashboards_figure_of_the_dashboards_frames(w, land):
    fmap = land.map("final", "pca")
    expected = frames.trajectory_frame(w.trace, fmap, w.trace.layer_names.index("final"), land.contexts_of_words)
    p = path_trace(w)
    assert [row[1] for row in p["customdata"]] == list(expected.word)
    assert np.allclose(_numbers(p["x"]), expected.x) and np.allclose(_numbers(p["y"]), expected.y)
    ref = frames.reference_frame(fmap)
    built = map_figures.reference_traces(ref, w.colours, reading="read")
    base = [t for t in drawn(w) if t.get("meta") == BASE]
    assert [t["name"] for t in base] == [t["name"] for t in built]
    assert all(np.allclose(_numbers(a["x"]), b["x"]) for a, b in zip(base, built))


def _numbers(v) -> np.ndarray:
    """A coordinate array as plotly.io writes it: a list, or base64 with its dtype."""
    if isinstance(v, dict):
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v, dtype=float)


def test_settings_from_python_redraw_and_bad_ones_are_refused_naming_the_rule(w):
    before = w.figure
    w.prompt = "a cat eats sausage at"
    assert w.figure != before and [r[1] for r in path_trace(w)["customdata"]] == w.trace.words
    w.step = 3
    assert path_trace(w)["marker"]["size"][2] == max(path_trace(w)["marker"]["size"])  # the step ringed
    for name, value, rule in (("step", 99, "is not a word read"), ("method", "mds", "is not one of"),
                              ("layer", "block 99", "is not one of the model's depths")):
        with pytest.raises(SettingRefused, match=rule):  # one line in Jupyter, no traceback
            setattr(w, name, value)
    with pytest.raises(PromptError):
        w.prompt = "zzz qqq"
    assert w.prompt == "a cat eats sausage at" and w.step == 3  # kept as it was
    w.prompt = "a cow munches"  # a shorter text keeps a step inside it
    assert 1 <= w.step <= w.n_steps


def test_a_box_selection_becomes_a_dataframe_and_fires_the_observer(w, land):
    seen = []
    w.observe(lambda c: seen.append(c["new"]), names="selection")
    ref = land.reference_frame(w.layer, w.method)
    food = ref[ref.context == "food"]
    w.selected = [{"curve": 0, "index": 2, "name": "food", "meta": BASE},
                  {"curve": 1, "index": 0, "name": PATH, "meta": None}]
    sel = w.selection
    assert len(seen) == 1 and list(sel.columns) == ["word", "sub_context", "next_word", "x", "y", "depth", "step"]
    assert (sel.word[0], sel.sub_context[0], sel.x[0], sel.y[0]) == (food.word.iloc[2], "food", food.x.iloc[2],
                                                                     food.y.iloc[2])
    assert sel.step.isna()[0] and sel.step[1] == 1 and sel.word[1] == w.trace.words[0]
    assert set(sel.depth) == {w.layer}
    w.step = 2  # the same points where they were
    assert len(w.selection) == 2
    w.prompt = "a cat eats sausage at"  # the path moved: nothing is chosen any more, and the observer hears it
    assert w.selection.empty and seen[-1].empty and w.selected == []


def test_clicks_set_the_step_and_the_lens_sets_the_maps_layer(w):
    w.prompt, w.step = "a dog devours pizza in", 1
    w.clicked = {"name": PATH, "index": 3, "n": 1}
    assert w.step == 4
    bars, lens = w.bars(), w.lens()
    bars.clicked = {"x": "2: dog", "n": 1}
    assert w.step == bars.step == lens.step == 2
    lens.clicked = {"x": "5: in", "y": w.trace.layer_names[1], "n": 1}
    assert w.step == 5 and w.layer == w.trace.layer_names[1]
    w.prompt = "a cat eats sausage at"
    assert bars.prompt == lens.prompt == w.prompt and bars.figure != "" and "cat" in bars.figure


def test_a_dark_notebook_draws_the_path_in_light_ink_and_the_page_in_dark(w):
    w.theme = "dark"
    assert path_trace(w)["line"]["color"] == INK["dark"]
    page = w.printed()
    assert next(t for t in page["data"] if t.get("name") == PATH)["line"]["color"] == INK["light"]
    w.theme = "light"


def test_a_clicked_causal_cell_returns_that_patched_run(land):
    c = causal_trace("a dog devours pizza in", model=land)
    assert c.patched is not None and c.captions
    got = []
    c.observe(lambda ch: got.append(ch["new"]), names="patched")
    c.clicked = {"customdata": [0, 2, 1], "n": 1}  # the residual stream at block 2 of word 2
    assert c.cell == ("resid", 2, 1) and got and got[-1] is c.patched
    again = patched_run(land.ckpt, c.prompt, corrupt=c.corrupt, restore=[("resid", 2, 1)])
    # the widget's passes run on one thread: equal up to the order of float sums
    assert c.patched.target_prob == pytest.approx(again.target_prob, rel=1e-4) and c.patched.words == again.words
    assert np.allclose(c.patched.states, again.states, atol=1e-5)
    with pytest.raises(SettingRefused, match="is not a"):
        c.cell = ("mlp", 0, 1)  # an MLP has no output at the embedding


@pytest.mark.slow  # the grid asks every animal with every food
def test_the_generalisation_grid_outlines_a_held_out_pair_and_clicks_choose_another(land):
    g = generalisation(model=land)
    assert tuple(g.found) in {tuple(p) for p in land.ckpt.held_out}
    g.clicked = {"x": 0, "y": 1, "n": 1}
    assert g.found == (g.grid.animals[0], g.grid.foods[1]) and g.grid.foods[1] in g.cell_text


@pytest.fixture(scope="module")
def e(land):
    return embeddings(model=land)


def by_name(widget) -> dict[str, dict]:
    return {t.get("name"): t for t in drawn(widget)}


def test_the_word_map_is_the_embeddings_pages_figure_and_the_search_rings_its_matches(e, land):
    frame = land.word_frame("pca", 2)
    names = [t.get("name") for t in drawn(e)]
    assert "selected" not in names and set(frame.context) <= set(names)  # nothing searched: nothing ringed
    for ctx, part in frame.groupby("context"):
        t = by_name(e)[ctx]
        assert sorted(t["hovertext"]) == sorted(part.word) and np.allclose(np.sort(_numbers(t["x"])), np.sort(part.x))
    e.search = "c.*t"
    expected = [w for w in frame.word if re.fullmatch("c.*t", w, re.IGNORECASE)]
    assert e.found == expected and expected
    ring = by_name(e)["selected"]
    rows = frame.set_index("word").loc[expected]
    assert np.allclose(np.sort(_numbers(ring["x"])), np.sort(rows.x)) and len(_numbers(ring["y"])) == len(expected)
    e.search = ""
    assert "selected" not in by_name(e)


def test_method_dims_and_colour_from_python_redraw_the_word_map(e, land):
    e.method, e.dims, e.colour_by = "pca", 2, "context"
    before = e.figure
    e.method = "umap"
    fig = json.loads(e.figure)
    assert e.figure != before and fig["layout"]["title"]["text"].startswith(MAP_METHODS["umap"].title)
    umap = land.word_frame("umap", 2)
    food = umap[umap.context == "food"]
    assert np.allclose(np.sort(_numbers(by_name(e)["food"]["x"])), np.sort(food.x))
    assert fig["layout"]["dragmode"] == "select"
    e.dims = 3
    assert {t["type"] for t in drawn(e)} == {"scatter3d"}
    e.dims, e.colour_by = 2, "subgroup"
    assert set(land.word_frame("umap", 2).subgroup) <= set(by_name(e))
    e.method, e.colour_by = "pca", "context"


def test_bad_word_map_settings_are_refused_in_one_line_and_change_nothing(e):
    e.search = "c.*t"
    before, found = e.figure, list(e.found)
    for name, value, rule in (("search", "(c", "not a valid regular expression"),
                              ("search", "qqqzzz", "no word matches"), ("search", "c" * 101, "longer than 100"),
                              ("method", "axes", "is not one of"),
                              ("dims", 4, "is not 2 or 3"), ("colour_by", "taste", "is not 'context'")):
        with pytest.raises(SettingRefused, match=rule) as refused:
            setattr(e, name, value)
        assert len(refused.value._render_traceback_()) == 1  # Jupyter prints the message, not a traceback
    assert (e.search, e.found, e.figure) == ("c.*t", found, before)
    e.search = ""


def test_a_box_selection_on_the_word_map_becomes_a_dataframe_of_words(e, land):
    e.method, e.dims = "pca", 2
    seen = []
    e.observe(lambda c: seen.append(c["new"]), names="selection")
    names = [t.get("name") for t in drawn(e)]
    food, labels = names.index("food"), names.index("labels")
    e.selected = [{"curve": food, "index": 0}, {"curve": food, "index": 1}, {"curve": labels, "index": 0},
                  {"curve": food, "index": 999}]  # the labels' trace and a point past the end name no word
    sel, frame = e.selection, land.word_frame("pca", 2)
    assert len(seen) == 1 and list(sel.columns) == ["word", "sub_context", "subgroup", "x", "y"]
    assert list(sel.word) == list(by_name(e)["food"]["hovertext"][:2]) and set(sel.sub_context) == {"food"}
    rows = frame.set_index("word").loc[list(sel.word)]
    assert np.allclose(sel.x, rows.x) and np.allclose(sel.y, rows.y) and list(sel.subgroup) == list(rows.subgroup)
    e.method = "umap"  # the points moved: nothing is chosen any more, and the observer hears it
    assert e.selection.empty and seen[-1].empty and e.selected == []
    e.method = "pca"


@pytest.fixture(scope="module")
def wt(land):
    return watch(model=land)


def test_watch_draws_the_training_pages_charts_of_the_snapshot_on_the_slider(wt, land):
    steps = weight_snapshot_steps(land.ckpt)
    assert wt.steps == steps and wt.snapshot == steps[-1]
    tf = land.training_frames(wt.layer)
    for t in (0, 3):
        before = wt.figure
        wt.snapshot = steps[t]
        assert wt.figure != before
        page = snapshot_charts(land.ckpt, tf, land.over_training(wt.layer, wt.prompt), snapshot_metrics(land.ckpt),
                               t=t, ink=INK["light"])
        assert json.loads(wt.figure) == json.loads(page["words"].to_json())
        shown = np.concatenate([_numbers(tr["x"]) for tr in drawn(wt) if tr.get("hovertext")])
        assert np.allclose(np.sort(shown), np.sort(tf.word_coords[t, :, 0][np.isin(land.ckpt.tokenizer.vocab,
                                                                                  _drawn_words(wt))]))
    assert wt.completion == wt.over_training.completions[3]


def _drawn_words(widget) -> list[str]:
    return [w for tr in drawn(widget) if tr.get("hovertext") for w in tr["hovertext"]]


def test_linked_watch_charts_follow_the_slider_and_bad_settings_are_refused(wt, land, monkeypatch):
    steps = wt.steps
    path = wt.linked("path")
    assert path.steps == [] and path.chart == "path"  # one slider: the first view's
    wt.snapshot = steps[1]
    assert path.snapshot == steps[1] and f"step {steps[1]}" in json.loads(path.figure)["layout"]["title"]["text"]
    before = (wt.figure, path.figure)
    for name, value, rule in (("snapshot", steps[1] + 1, "is not a training step"), ("chart", "loss", "is not one"),
                              ("layer", "block 99", "is not one of the model's depths")):
        with pytest.raises(SettingRefused, match=rule):
            setattr(wt, name, value)
    with pytest.raises(PromptError):
        wt.prompt = "qqq zzz"
    assert (wt.figure, path.figure, wt.snapshot) == (*before, steps[1])
    wt.layer = land.book.layer_names[1]
    assert path.layer == wt.layer and path.figure != before[1]
    monkeypatch.setattr("llmnotebook.training.weight_snapshot_steps", lambda ckpt: steps[-1:])
    with pytest.raises(SettingRefused, match="at least 2"):
        watch(model=land)


def test_save_html_writes_one_standalone_page_and_replaces_nothing_unasked(w, tmp_path):
    page = save_html(tmp_path / "views.html", w, w.bars(), title="<b>a dog</b>")
    text = page.read_text()
    assert text.count('class="plotly-graph-div"') == 2 and "<script src" not in text  # Plotly.js inline
    assert "&lt;b&gt;a dog&lt;/b&gt;" in text and "<b>a dog</b>" not in text
    with pytest.raises(FileExistsError):
        w.save_html(page)
    w.save_html(page, overwrite=True)
    (tmp_path / "target.html").write_text("not ours")
    os.symlink(tmp_path / "target.html", tmp_path / "link.html")
    with pytest.raises(ValueError):
        w.save_html(tmp_path / "link.html", overwrite=True)
    assert (tmp_path / "target.html").read_text() == "not ours"
    with pytest.raises(ValueError, match=r"\.html"):
        w.save_html(tmp_path / "views.txt")


def test_the_base_install_gets_no_notebook_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    assert not any(name in base for name in ("anywidget", "jupyter", "ipykernel", "nbclient", "ipywidgets"))
    assert "anywidget" in " ".join(project["optional-dependencies"]["notebook"])
    assert "notebook" in project["optional-dependencies"]["dev"][0]


@pytest.mark.slow  # a fresh interpreter imports torch and the figures
def test_the_widgets_load_no_streamlit():
    """The figure code and frames the widgets share with the dashboard import no Streamlit (a fresh process)."""
    import subprocess
    import sys

    code = ("import sys, llmnotebook; llmnotebook.trajectory('a cat eats sausage at').bars(); "
            "llmnotebook.embeddings('c.*t'); llmnotebook.watch().linked('path'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'streamlit'))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def _widget_states(nb) -> dict[str, dict]:
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    return {k: m["state"] for k, m in state.items() if m["model_name"] == "AnyModel"}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["lesson", "explore"])
def test_the_example_notebooks_run_top_to_bottom(name, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(shutil.copy(ROOT / "examples" / f"{name}.ipynb", tmp_path), as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    print(f"{name}.ipynb ran in {time.perf_counter() - start:.1f} s")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    states = _widget_states(nb)
    shown = [o.data["application/vnd.jupyter.widget-view+json"]["model_id"] for o in outputs
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert shown and set(shown) <= set(states)  # every widget shown has its state saved in the notebook
    for model_id in shown:
        fig = json.loads(states[model_id]["figure"])
        assert fig["data"] and fig["layout"]  # drawn by the kernel, ready for the browser
    prompts = {s["prompt"] for s in states.values() if "prompt" in s}
    assert prompts and all(p.strip() for p in prompts)
    if name == "lesson":
        assert (tmp_path / "lesson.html").is_file()
        maps = [s for s in states.values() if "method" in s]
        assert maps and all(json.loads(s["figure"])["layout"]["title"]["text"].endswith(s["layer"]) for s in maps)
