"""Watch training on the Training page (AppTest and Chromium): the step slider moves the prompt's path and the
highlighted completion row; a checkpoint without weight snapshots gets a notice, not an error; one saved without
its watch maps computes them once."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from llmcore.maps.watch import has_stored_watch_maps, stored_watch_maps, watch_maps_path
from llmcore.model.checkpoint import CONFIG, WEIGHT_SNAPSHOTS, load_checkpoint
from llmcore.training.snapshots import weight_snapshot_steps

from .charts import charts
from .conftest import open_in_browser as open_in_chromium
from .conftest import page_script as _page_script
from .conftest import real_errors as _real_errors
from .servers import free_port, running_server

ROOT = Path(__file__).resolve().parent.parent


def _open(monkeypatch, checkpoint) -> AppTest:
    monkeypatch.setenv("LLM_LANDSCAPE_CHECKPOINT", str(checkpoint))
    return AppTest.from_function(_page_script, args=("training",), default_timeout=180).run()


def _path(at: AppTest) -> list:
    """x, y of the prompt's path on the trajectory chart."""
    chart = next(c for c in charts(at) if c.key == "watch_path")
    spec = json.loads(chart.spec)
    trace = next(t for t in spec["data"] if str(t.get("name", "")).startswith("this prompt"))
    return [trace["x"], trace["y"]]


def test_the_step_slider_moves_the_path_and_the_highlighted_row(monkeypatch, tiny_ckpt_dir, tiny_ckpt):
    steps = weight_snapshot_steps(tiny_ckpt)
    at = _open(monkeypatch, tiny_ckpt_dir)
    assert not at.exception and not at.error
    keys = [c.key for c in charts(at)]
    assert {"watch_words", "watch_path", "watch_probs", "watch_curves", "watch_landscape"} <= set(keys)
    table = at.table[-1].value
    assert list(table.index) == steps and table["now"].tolist().count("▶") == 1
    assert table.index[table["now"] == "▶"].item() == steps[-1]
    final_path = _path(at)
    at.select_slider(key="watch_step").set_value(steps[0]).run()
    assert not at.exception and not at.error
    table = at.table[-1].value
    assert table.index[table["now"] == "▶"].item() == steps[0]
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
    assert [c.key for c in charts(at)][:2] == ["curves", "replay"]
    assert not any(c.key.startswith("watch_") for c in charts(at))


def test_the_landscape_marker_is_on_the_training_path(tiny_ckpt):
    from dashboard.frames import path_point_at

    land = tiny_ckpt.loss_landscapes()["pca"]
    for i, s in enumerate(land.path_steps):
        assert np.allclose(path_point_at(land, int(s)), land.path[i], atol=1e-5)
    mid = (int(land.path_steps[0]) + int(land.path_steps[1])) / 2
    assert np.allclose(path_point_at(land, mid), land.path[:2].mean(0), atol=1e-5)


def test_a_checkpoint_saved_without_watch_maps_computes_them_once(monkeypatch, tmp_path, tiny_ckpt_dir, tiny_ckpt):
    older = tmp_path / "older"
    shutil.copytree(tiny_ckpt_dir, older)
    assert has_stored_watch_maps(tiny_ckpt)  # written at the end of training
    path = watch_maps_path(tiny_ckpt).relative_to(tiny_ckpt_dir)
    (older / path).unlink()
    from dashboard.state import get_training_frames, get_watch_maps

    get_watch_maps.clear()  # the same weights may be cached in memory by an earlier test
    get_training_frames.clear()
    at = _open(monkeypatch, older)
    assert not at.exception and not at.error
    assert "watch_path" in [c.key for c in charts(at)]
    again, first = stored_watch_maps(load_checkpoint(older)), stored_watch_maps(tiny_ckpt)  # stored for next time
    assert again is not None and all(np.allclose(getattr(again, k), getattr(first, k), atol=1e-5)
                                     for k in ("word_coords", "context_coords", "weights", "biases"))


# the path's points and the highlighted row's step, read from the page as drawn
PATH_JS = """() => { const gd = [...document.querySelectorAll('.js-plotly-plot')]
    .find(g => String(g.layout?.title?.text ?? '').includes("Prompt's path"));
    const t = gd && gd.data.find(d => String(d.name ?? '').startsWith('this prompt'));
    return t ? JSON.stringify([t.x, t.y]) : null; }"""  # plain arrays or Plotly's base64 {dtype, bdata}
ROW_JS = """() => [...document.querySelectorAll('[data-testid="stTable"] tbody tr')]
    .filter(r => [...r.children].some(c => getComputedStyle(c).backgroundColor === 'rgb(255, 233, 168)'))
    .map(r => r.children[0].innerText.trim())"""


@pytest.mark.slow
@pytest.mark.browser
def test_the_step_slider_in_a_real_browser(browser, tiny_ckpt_dir, tiny_ckpt):
    steps = weight_snapshot_steps(tiny_ckpt)
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true"]
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "LLM_LANDSCAPE_CHECKPOINT": str(tiny_ckpt_dir)}
    with running_server(cmd, port, ROOT, env=env):
        page, errors = open_in_chromium(browser, f"http://127.0.0.1:{port}/training")
        page.get_by_text(f"Prompt's path, step {steps[-1]}", exact=True).wait_for(timeout=180_000)
        page.wait_for_function(f"() => JSON.stringify(({ROW_JS})()) === '[\"{steps[-1]}\"]'", timeout=30_000)
        before = page.evaluate(PATH_JS)
        slider = page.locator("[data-testid='stSlider']").filter(has_text="Training step").get_by_role("slider")
        slider.focus()
        slider.press("ArrowLeft")
        page.get_by_text(f"Prompt's path, step {steps[-2]}", exact=True).wait_for(timeout=60_000)
        page.wait_for_function(f"() => JSON.stringify(({ROW_JS})()) === '[\"{steps[-2]}\"]'", timeout=30_000)
        after = page.evaluate(PATH_JS)
        assert before and after and before != after and len(before) > 20
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.locator("[data-testid='stAlertContentError']").count() == 0
        assert not _real_errors(page, errors), _real_errors(page, errors)
        page.close()
