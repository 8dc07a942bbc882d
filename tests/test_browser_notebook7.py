"""The trajectory widget in a real Jupyter Notebook 7 (started here, in tmp_path) and Chromium: it renders the path
the kernel traced, and a prompt set in Python redraws it with the new words (JupyterLab is tested in
test_browser_notebook.py, with the other widgets)."""

from __future__ import annotations

import pytest

from tests.jupyter import DRAWN, DRAWS_WORDS, open_and_run, python_value, run_python, running_jupyter, write_notebook

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_the_trajectory_widget_renders_and_redraws_in_notebook_7(tmp_path, browser):
    with running_jupyter(tmp_path, app="notebook") as nb:
        write_notebook(nb.root / "probe.ipynb",
                       ["from llmnotebook import trajectory\nw = trajectory('a dog devours pizza in')\nw"])
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
        finally:
            kernel.stop_channels()
