"""Watch training on the Training page (AppTest): the step slider moves the prompt's path and the highlighted
completion row; a checkpoint without weight snapshots gets a notice, not an error."""

from __future__ import annotations

import json
import shutil

import numpy as np
from streamlit.testing.v1 import AppTest

from llmcore.checkpoint import CONFIG, WEIGHT_SNAPSHOTS
from llmcore.snapshots import weight_snapshot_steps

from .conftest import page_script as _page_script


def _open(monkeypatch, checkpoint) -> AppTest:
    monkeypatch.setenv("LLM_LANDSCAPE_CHECKPOINT", str(checkpoint))
    return AppTest.from_function(_page_script, args=("training",), default_timeout=180).run()


def _path(at: AppTest) -> list:
    """x, y of the prompt's path on the trajectory chart."""
    chart = next(c for c in at.get("plotly_chart") if c.key == "watch_path")
    spec = json.loads(chart.proto.spec)
    trace = next(t for t in spec["data"] if str(t.get("name", "")).startswith("this prompt"))
    return [trace["x"], trace["y"]]


def test_the_step_slider_moves_the_path_and_the_highlighted_row(monkeypatch, tiny_ckpt_dir, tiny_ckpt):
    steps = weight_snapshot_steps(tiny_ckpt)
    at = _open(monkeypatch, tiny_ckpt_dir)
    assert not at.exception and not at.error
    keys = [c.key for c in at.get("plotly_chart")]
    assert {"watch_words", "watch_path", "watch_probs", "watch_curves", "watch_landscape"} <= set(keys)
    table = at.dataframe[-1].value
    assert list(table["training step"]) == steps and table["now"].tolist().count("▶") == 1
    assert table.loc[table["now"] == "▶", "training step"].item() == steps[-1]
    final_path = _path(at)
    at.select_slider(key="watch_step").set_value(steps[0]).run()
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert table.loc[table["now"] == "▶", "training step"].item() == steps[0]
    assert _path(at) != final_path
    at.button(key="watch_play").click().run()  # play starts from the first snapshot and advances on its timer
    assert not at.exception and at.session_state["watch_playing"]


def test_a_checkpoint_without_snapshots_gets_a_notice(monkeypatch, tmp_path, tiny_ckpt_dir):
    older = tmp_path / "older"  # the same checkpoint as written before weight snapshots existed
    shutil.copytree(tiny_ckpt_dir, older)
    cfg = json.loads((older / CONFIG).read_text())
    del cfg["files"][WEIGHT_SNAPSHOTS]
    (older / CONFIG).write_text(json.dumps(cfg))
    (older / WEIGHT_SNAPSHOTS).unlink()
    at = _open(monkeypatch, older)
    assert not at.exception and not at.error
    assert any("older" in i.value for i in at.info)
    assert [c.key for c in at.get("plotly_chart")][:2] == ["curves", "replay"]
    assert not any(c.key.startswith("watch_") for c in at.get("plotly_chart"))


def test_the_landscape_marker_is_on_the_training_path(tiny_ckpt):
    from dashboard.frames import path_point_at

    land = tiny_ckpt.loss_landscapes()["pca"]
    for i, s in enumerate(land.path_steps):
        assert np.allclose(path_point_at(land, int(s)), land.path[i], atol=1e-5)
    mid = (int(land.path_steps[0]) + int(land.path_steps[1])) / 2
    assert np.allclose(path_point_at(land, mid), land.path[:2].mean(0), atol=1e-5)
