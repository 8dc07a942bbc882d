"""The Features page (AppTest) and `llmcore features` (CLI) on the bundled model: what they show is what the
library computes."""

from __future__ import annotations

import json

import pytest

from llmcore.model.checkpoint import load_checkpoint

from .conftest import open_page

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def features():
    from llmcore.analysis.features import load_features

    ckpt = load_checkpoint()
    f = load_features(ckpt)
    if f is None:
        pytest.skip("the bundled checkpoint has no features.safetensors")
    return ckpt, f


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
