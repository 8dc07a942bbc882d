"""The widgets in a real Jupyter Notebook 7 (started here, in tmp_path) and Chromium: the trajectory widget renders
the path the kernel traced and a prompt set in Python redraws it with the new words; the word map rings a search set
in Python and returns a dragged box of words; Watch training's slider and `t.snapshot` move together (the same
checks as in JupyterLab, test_browser_notebook.py, which also drags a box on the trajectory and switches the theme)."""

from __future__ import annotations

import pytest

from tests.jupyter import DRAWN, DRAWS_WORDS, open_and_run, python_value, run_python, running_jupyter, write_notebook
from tests.test_browser_notebook import _word_map_and_watch

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_the_widgets_render_and_redraw_in_notebook_7(tmp_path, browser):
    with running_jupyter(tmp_path, app="notebook") as nb:
        write_notebook(nb.root / "probe.ipynb",
                       ["from llmnotebook import embeddings, trajectory, watch\n"
                        "w = trajectory('a dog devours pizza in')\nw", "e = embeddings()\ne", "t = watch()\nt"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        open_and_run(page, nb, "probe.ipynb")
        page.wait_for_function(DRAWN, arg=1, timeout=180_000)  # Plotly.js came from the kernel, the map drew
        kernel = nb.kernel()
        try:
            page.wait_for_function(DRAWS_WORDS, arg=python_value(kernel, "w.trace.words"), timeout=30_000)

            run_python(kernel, "w.prompt = 'a cat eats sausage at'")
            words = python_value(kernel, "w.trace.words")
            assert words[:4] == ["a", "cat", "eats", "sausage"]
            page.wait_for_function(DRAWS_WORDS, arg=words, timeout=60_000)
            page.screenshot(path=str(tmp_path / "notebook7_widget.png"))
            _word_map_and_watch(page, kernel, tmp_path)
        finally:
            kernel.stop_channels()
