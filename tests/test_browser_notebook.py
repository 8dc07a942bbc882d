"""The notebook widgets in a real JupyterLab (started here, in tmp_path) and Chromium: the trajectory map renders, a
change made in Python redraws it, a box selection dragged in the browser reaches `w.selection` in the kernel, and
JupyterLab's dark theme redraws the path in the dark theme's ink; in the same notebook the word map rings a search
set in Python and returns a box of words as `e.selection`, and Watch training's slider and `t.snapshot` move
together."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from llmnotebook.widget import INK
from tests.jupyter import (
    DRAWN_WORDS,
    DRAWS_WORDS,
    FIGURE,
    open_and_run,
    python_value,
    run_python,
    running_jupyter,
    write_notebook,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# the pixel box (page coordinates) around the middle half of the drawn food states, and that box in data units
FOOD_BOX = f"""() => {{ const g = document.querySelector('{FIGURE}'); const L = g._fullLayout;
  const food = g._fullData.find(t => t.meta === 'base' && t.name === 'food');
  const q = (v, f) => {{ const s = [...v].sort((a, b) => a - b); return s[Math.floor(f * (s.length - 1))]; }};
  const x0 = q(food.x, 0.25), x1 = q(food.x, 0.75), y0 = q(food.y, 0.25), y1 = q(food.y, 0.75);
  const r = g.querySelector('.nsewdrag').getBoundingClientRect();
  const px = (x) => r.left + L.xaxis.l2p(x), py = (y) => r.top + L.yaxis.l2p(y);
  return {{ from: [px(x0), py(y1)], to: [px(x1), py(y0)] }}; }}"""

# what the browser selected: every drawn point of the map's reference and path traces inside the dragged range
INSIDE = f"""(range) => {{ const g = document.querySelector('{FIGURE}'); let n = 0;
  for (const t of g._fullData) {{
    if (t.meta !== 'base' && !(t.name || '').startsWith('this prompt')) continue;
    t.x.forEach((x, i) => {{ const y = t.y[i];
      if (x >= range.x[0] && x <= range.x[1] && y >= range.y[0] && y <= range.y[1]) n += 1; }});
  }}
  return n; }}"""


# the word map (the notebook's second figure): the middle half of its food words as a pixel box, as FOOD_BOX
WORD_MAP = f"document.querySelectorAll('{FIGURE}')[1]"
WORD_FOOD_BOX = FOOD_BOX.replace(f"document.querySelector('{FIGURE}')", WORD_MAP).replace(
    "t.meta === 'base' && t.name === 'food'", "t.name === 'food' && t.hovertext")
# the word points (traces with words on hover: not the rings or the labels drawn over them) inside a range
WORDS_INSIDE = f"""(range) => {{ const g = {WORD_MAP}; let n = 0;
  for (const t of g._fullData) {{
    if (!t.hovertext) continue;
    t.x.forEach((x, i) => {{ const y = t.y[i];
      if (x >= range.x[0] && x <= range.x[1] && y >= range.y[0] && y <= range.y[1]) n += 1; }});
  }}
  return n; }}"""
SLIDER = ".llm-notebook-slider"


def test_the_widget_renders_redraws_from_python_and_returns_a_box_selection(tmp_path, browser):
    with running_jupyter(tmp_path) as lab:
        write_notebook(lab.root / "probe.ipynb",
                       ["from llmnotebook import embeddings, trajectory, watch\n"
                        "w = trajectory('a dog devours pizza in')\nw", "e = embeddings()\ne", "t = watch()\nt"])
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        open_and_run(page, lab, "probe.ipynb")
        page.wait_for_function(f"() => Number((document.querySelector('{FIGURE}') || {{dataset: {{}}}}).dataset.drawn) "
                               ">= 1", timeout=180_000)  # the map rendered: Plotly.js came from the kernel
        kernel = lab.kernel()
        try:
            assert page.evaluate(DRAWN_WORDS) == python_value(kernel, "w.trace.words")
            page.screenshot(path=str(tmp_path / "notebook_widget.png"))

            run_python(kernel, "w.prompt = 'a cat eats sausage at'")
            words = python_value(kernel, "w.trace.words")
            assert words[:4] == ["a", "cat", "eats", "sausage"]
            page.wait_for_function(DRAWS_WORDS, arg=words, timeout=60_000)

            box = page.evaluate(FOOD_BOX)
            page.mouse.move(*box["from"])
            page.mouse.down()
            page.mouse.move(*box["to"], steps=12)
            page.mouse.up()
            page.wait_for_function(f"() => document.querySelector('{FIGURE}')._fullLayout.selections.length",
                                   timeout=30_000)
            chosen = _selection_when_sent(kernel)
            ranges = page.evaluate(f"() => {{ const L = document.querySelector('{FIGURE}')._fullLayout; const s = "
                                   "L.selections[0]; return { x: [Math.min(s.x0, s.x1), Math.max(s.x0, s.x1)], "
                                   "y: [Math.min(s.y0, s.y1), Math.max(s.y0, s.y1)] }; }")
            assert len(chosen["x"]) == page.evaluate(INSIDE, ranges) > 0  # every point in the box, and only those
            assert all(ranges["x"][0] <= x <= ranges["x"][1] for x in chosen["x"])
            assert all(ranges["y"][0] <= y <= ranges["y"][1] for y in chosen["y"])
            assert max(set(chosen["sub_context"]), key=chosen["sub_context"].count) == "food"

            # JupyterLab's dark theme: the widget tells the kernel, which redraws the path in the light ink
            page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', "
                          "{ theme: 'JupyterLab Dark' })")
            page.wait_for_function(f"(ink) => {{ const g = document.querySelector('{FIGURE}'); const t = g && "
                                   "g.data.find(t => (t.name || '').startsWith('this prompt')); "
                                   "return t && t.line.color === ink; }", arg=INK["dark"], timeout=60_000)
            assert python_value(kernel, "w.theme") == "dark"
            page.screenshot(path=str(tmp_path / "notebook_widget_dark.png"))
            _word_map_and_watch(page, kernel, tmp_path)
            page.screenshot(path=str(tmp_path / "notebook_widgets_more.png"), full_page=True)
        finally:
            kernel.stop_channels()


def _word_map_and_watch(page, kernel, shots: Path) -> None:
    """The word map rings the words a search set in Python matches and returns a dragged box of words; Watch
    training's slider sets `t.snapshot`, and `t.snapshot` set in Python moves the slider."""
    page.wait_for_function(f"() => document.querySelectorAll('{FIGURE}').length === 3 && "
                           f"[...document.querySelectorAll('{FIGURE}')].every(g => Number(g.dataset.drawn) >= 1)",
                           timeout=180_000)
    run_python(kernel, "e.search = 'c.*t'")
    found = python_value(kernel, "e.found")
    page.wait_for_function(f"(n) => {{ const t = {WORD_MAP}._fullData.find(t => t.name === 'selected'); "
                           "return t && t.x.length === n; }", arg=len(found), timeout=60_000)
    page.locator(FIGURE).nth(1).scroll_into_view_if_needed()
    box = page.evaluate(WORD_FOOD_BOX)
    page.mouse.move(*box["from"])
    page.mouse.down()
    page.mouse.move(*box["to"], steps=12)
    page.mouse.up()
    page.wait_for_function(f"() => {WORD_MAP}._fullLayout.selections.length", timeout=30_000)
    chosen = _selection_when_sent(kernel, "e", ["x", "y", "word"])
    ranges = page.evaluate(f"() => {{ const s = {WORD_MAP}._fullLayout.selections[0]; return {{ x: [Math.min(s.x0, "
                           "s.x1), Math.max(s.x0, s.x1)], y: [Math.min(s.y0, s.y1), Math.max(s.y0, s.y1)] }; }")
    assert len(set(chosen["word"])) == len(chosen["word"]) == page.evaluate(WORDS_INSIDE, ranges) > 0
    assert all(ranges["x"][0] <= x <= ranges["x"][1] for x in chosen["x"])
    assert all(ranges["y"][0] <= y <= ranges["y"][1] for y in chosen["y"])
    hidden = page.evaluate(f"() => [...{WORD_MAP}.querySelectorAll('.textpoint text')].filter(t => "
                           "t.style.display === 'none').length")
    assert hidden > 0  # labels that would print over others stay hidden (chart_labels.js), a selection drawn too
    page.locator(FIGURE).nth(1).screenshot(path=str(shots / "notebook_word_map.png"))

    steps = python_value(kernel, "t.steps")
    slider = page.locator(f"{SLIDER} input[type=range]")
    assert slider.count() == 1 and slider.get_attribute("max") == str(len(steps) - 1)
    slider.scroll_into_view_if_needed()
    slider.evaluate("(el) => { el.value = '2'; el.dispatchEvent(new Event('change')); }")
    deadline = time.time() + 30
    while python_value(kernel, "t.snapshot") != steps[2]:
        assert time.time() < deadline, "the slider never set t.snapshot"
        time.sleep(0.1)
    run_python(kernel, f"t.snapshot = {steps[5]}")
    page.wait_for_function(f"(step) => document.querySelector('{SLIDER} output').textContent === String(step) && "
                           f"document.querySelectorAll('{FIGURE}')[2].layout.title.text.endsWith(' ' + step)",
                           arg=steps[5], timeout=60_000)
    assert slider.input_value() == "5"


def _selection_when_sent(kernel, widget: str = "w", columns: tuple[str, ...] = ("x", "y", "sub_context"),
                         timeout: float = 30) -> dict:
    """The widget's selection once the browser's selection has reached the kernel (asked again until then: the
    kernel takes the widget's message between two executions), its columns as lists."""
    deadline = time.time() + timeout
    while not python_value(kernel, f"len({widget}.selection)"):
        assert time.time() < deadline, f"the browser's selection never reached {widget}.selection"
        time.sleep(0.1)
    return python_value(kernel, f"{widget}.selection[{list(columns)}].to_dict('list')")
