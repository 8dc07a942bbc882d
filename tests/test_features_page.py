"""The Features page (AppTest) and `llmcore features` (CLI) on the bundled model: what they show is what the
library computes."""

from __future__ import annotations

import json

import pytest

from .conftest import open_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def features(bundled_features):
    return bundled_features


def test_cli_lists_each_steps_features_as_the_library_does(features, capsys):
    from llmcore.analysis.features import prompt_features
    from llmcore.cli import main

    ckpt, f = features
    assert main(["features", "a dog devours pizza in", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    pf = prompt_features(ckpt, f, "a dog devours pizza in")
    assert [s["read"] for s in data["steps"]] == pf.words
    first = data["steps"][1]["depths"][f.sae.layer_names[2]]
    assert [x["feature"] for x in first] == [j for j, _ in pf.active(1, 2)]
    assert all(x["quality"] == f.grades.quality(2, x["feature"]) for x in first)
    assert main(["features", "a dog", "--depth", "nowhere"]) == 2
    assert "nowhere" in capsys.readouterr().err
    assert main(["features"]) == 2


def test_features_page_shows_the_step_and_the_heatmap_sentence(features):
    from dashboard.views.features import DEFAULTS

    ckpt, f = features
    at = open_page("features")
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    from llmcore.analysis.features import prompt_features

    pf = prompt_features(ckpt, f, DEFAULTS["f_prompt"])
    depth = f.sae.layer_names.index(DEFAULTS["f_depth"])
    assert list(table["feature"]) == [j for j, _ in pf.active(DEFAULTS["f_step"] - 1, depth)]
    k = f.probes.trait_index(DEFAULTS["f_trait"])
    assert any(f.probes.sentence(k).replace("'", "") in m.value.replace("\\", "").replace("'", "")
               for m in at.markdown)
    at.slider(key="f_step").set_value(1).run()
    assert not at.exception and "dog" in at.subheader[0].value


def test_the_trajectory_step_links_to_the_features_page_at_its_settled_depth(features):
    from urllib.parse import parse_qsl

    from llmcore.analysis.lens import trace_readings
    from llmcore.analysis.trace import SamplingConfig, trace_generation

    ckpt, f = features
    at = open_page("trajectory")
    at.slider(key="step").set_value(3).run()
    assert not at.exception and not at.error
    params = dict(parse_qsl(at.get("page_link")[0].proto.query_string))
    trace = trace_generation(ckpt, params["f_prompt"], SamplingConfig())
    readings = trace_readings(trace)  # the page's default lens: the logit lens
    assert params["f_step"] == "3" and params["f_depth"] == readings.layer_names[int(readings.settled[2])]
    there = open_page("features", **params)  # the link's settings seed the Features page
    assert not there.exception and not there.error
    assert there.slider(key="f_step").value == 3 and there.selectbox(key="f_depth").value == params["f_depth"]
    assert f"'{trace.words[2]}'" in there.subheader[0].value


def test_a_step_the_features_page_reads_otherwise_gets_no_link(features):
    from dashboard.frames import features_link
    from llmcore.analysis.lens import trace_readings
    from llmcore.analysis.trace import SamplingConfig, trace_generation

    ckpt, _ = features
    prompt = "a dog devours pizza in"
    sampled = trace_generation(ckpt, prompt, SamplingConfig(temperature=1.0, seed=3))
    r = trace_readings(sampled)
    link = lambda step, page_words=12: features_link(sampled, step, r, prompt=prompt,  # noqa: E731
                                                     depths=sampled.layer_names, page_words=page_words)
    n = sampled.n_prompt
    assert link(n) is not None and link(n)["f_step"] == str(n)  # a prompt word's state: the same under any sampling
    assert link(n + 1) is None and link(0) is None  # a sampled word: the Features page reads the greedy one
    greedy = trace_generation(ckpt, prompt, SamplingConfig(max_new_words=30))
    g = lambda step, page_words: features_link(greedy, step, trace_readings(greedy), prompt=prompt,  # noqa: E731
                                               depths=[], page_words=page_words)
    assert g(len(greedy), 30) == {"f_prompt": prompt, "f_step": str(len(greedy))}  # no such depth there: none named
    assert g(n + 2, 2) is None and g(n + 1, 2) is not None  # past the page's word limit (P + 2 - 1 steps): no link


def test_a_features_direction_is_drawn_as_the_x_axis_of_a_map(features):
    import numpy as np
    import plotly.graph_objects as go

    from dashboard.views.features import DEFAULTS
    from llmcore.analysis.feature_axis import feature_axis
    from llmcore.maps.store import MapBook

    from .charts import charts

    ckpt, f = features
    at = open_page("features")
    assert not at.exception and not at.error
    j, depth = at.selectbox(key="f_feature").value, f.sae.layer_names.index(DEFAULTS["f_depth"])
    shown = next(c.figure for c in charts(at) if c.key == "feature_axis")
    go.Figure(shown)  # plotly.py's validator accepts the figure built unvalidated
    data = shown["data"]
    ref = MapBook(ckpt).states
    axis = feature_axis(f.sae, depth, j, ref.layer(depth))
    rings = array(data[-1]["x"])
    assert len(rings) == int(axis.fires.sum()) and len(rings) > 0
    np.testing.assert_allclose(np.sort(rings), np.sort(axis.coords[axis.fires, 0]), rtol=1e-5)
    assert sum(len(array(t["x"])) for t in data[:-1]) == len(ref.words)  # every state once in its colour, rings on top
    notes = shown["layout"]["annotations"]
    assert sorted(n["text"] for n in notes) == sorted(axis.furthest(ref.words))
    ups = [n["y"] for n in notes]  # in the order of their states, highest first, each name above the next one's
    assert ups == sorted(ups, reverse=True) and all(a["ay"] < b["ay"] for a, b in zip(notes, notes[1:]))
    said = " ".join(m.value for m in at.markdown).replace("\\", "")
    assert f"in {axis.separation:.0%} of such pairs" in said and f"fires on {int(axis.fires.sum()):,} of them" in said


def array(v):
    """A Plotly array from a figure's JSON: a list, or a typed array {'dtype', 'bdata'}."""
    import base64

    import numpy as np

    return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]) if isinstance(v, dict) else np.asarray(v)


def test_the_page_steers_with_the_picked_feature_as_the_library_does(features):
    from dashboard.views.features import DEFAULTS
    from llmcore.analysis.features import steer_with_feature

    ckpt, f = features
    at = open_page("features")
    j, depth = at.selectbox(key="f_feature").value, f.sae.layer_names.index(DEFAULTS["f_depth"])
    at.slider(key="f_alpha").set_value(16.0).run()
    assert not at.exception and not at.error
    steered = steer_with_feature(ckpt, f, DEFAULTS["f_prompt"], depth=depth, feature=j, alpha=16.0).completion
    said = [m.value.replace("\\", "") for m in at.markdown if "Without steering" in m.value]
    assert len(said) == 1 and f"'{steered}'" in said[0] and f"feature #{j}" in said[0]


def test_traits_below_the_reliable_bar_are_named_apart_with_their_accuracy(features):
    """Each step's traits: the reliable ones (>= 95 % on held-back animals) and, apart, those the state reads 'yes'
    whose probe scores 85-95 % there, each with that accuracy; no trait in both lists; the page says both."""
    from dashboard import feature_frames
    from llmcore.analysis.features import prompt_features

    ckpt, f = features
    pf = prompt_features(ckpt, f, "a dog devours pizza in")
    for step, word in enumerate(pf.words):
        role = feature_frames.word_role(ckpt.world, word)
        if role is None:
            continue
        carried = feature_frames.carried_traits(f, pf, step, role)
        sure = {t for t, _, _ in carried}
        likely = feature_frames.likely_traits(f, pf, step, role)
        scores = f.probes.read(pf.hidden[step], role)
        for name, depth, acc in likely:
            k, d = f.probes.trait_index(name), f.probes.layer_names.index(depth)
            assert name not in sure and feature_frames.LIKELY_BAR <= acc < 0.95
            assert acc == pytest.approx(float(f.probes.accuracy[k, role].max())) and scores[k, d] > 0
        at = open_page("features", f_step=str(step + 1))
        said = " ".join(m.value.replace("\\", "") for m in at.markdown)
        assert ("Less reliably" in said) == bool(likely)
        assert all(f"'{t}' (at {d}, {a * 100:.0f} %" in said for t, d, a in likely)
        # each reliable 'yes' the world denies the prompt's animal is marked so, and counted
        wrong = [t for t, d, has in carried if "dog" not in has]
        assert all(f"'{t}' (from {d}; the world says no for dog)" in said for t, d, has in carried if "dog" not in has)
        assert all(f"'{t}' (from {d})" in said for t, d, has in carried if "dog" in has)
        assert ("disagree" in said) == bool(wrong)
        table = feature_frames.trait_table(f, pf, step, role, "dog")
        world = {t.name: "yes" if "dog" in t.animals else "no" for t in f.probes.traits}
        assert dict(zip(table["trait"], table["the world, for dog"])) == world
        for k in range(len(table)):  # a reading below the bar is bracketed
            for d, cell in enumerate(table.iloc[k][name] for name in f.probes.layer_names):
                assert cell.startswith("(") == (f.probes.accuracy[k, role, d] < 0.95)
