"""The Features page in Chromium: it opens without an error, lists the bundled model's features as the library
computes them, picking another feature draws that feature's chart with no label over another, the Trajectory
step's link opens the page at that step, and the page opened again from the sidebar shows the view it was left
with."""

from __future__ import annotations

import pytest

from .conftest import no_errors, open_in_browser, wait_idle

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# The chart of a feature's direction as drawn: its title, and [text, box] of each word named on it (annotations on a
# halo: the box is the halo's).
AXIS_CHART = """() => { const g = [...document.querySelectorAll('.llm-chart')].find(c =>
    ((c._fullLayout || {}).title || {}).text?.includes('direction as the x axis'));
  if (!g || !g.dataset.drawn) return null;
  const labels = [...g.querySelectorAll('.infolayer .annotation')].map(a => {
    const r = (a.querySelector('.bg') || a).getBoundingClientRect();
    return [a.querySelector('.annotation-text')?.textContent || '', [r.left, r.top, r.right, r.bottom]]; })
    .filter(([, b]) => b[2] > b[0]);
  return { title: g._fullLayout.title.text, labels }; }"""
# The chart of feature #N is drawn, names at least one word, and no label it shows overlaps another.
AXIS_DRAWN_CLEAR = f"""(n) => {{ const c = ({AXIS_CHART})();
  if (!c || !c.title.includes('#' + n + "'s") || !c.labels.length) return false;
  return c.labels.every(([, p], i) => c.labels.slice(i + 1).every(([, q]) =>
    !(p[0] < q[2] && q[0] < p[2] && p[1] < q[3] && q[1] < p[3]))); }}"""


def _overlapping(labels: list) -> list[tuple[str, str]]:
    return [(a, b) for i, (a, p) in enumerate(labels) for b, q in labels[i + 1:]
            if p[0] < q[2] and q[0] < p[2] and p[1] < q[3] and q[1] < p[3]]


@pytest.fixture(scope="module")
def library(bundled_features):
    """What the page should list for its default prompt, step and depth, computed by llmcore."""
    from dashboard.views.features import DEFAULTS
    from llmcore.analysis.features import prompt_features

    ckpt, f = bundled_features
    depth = f.sae.layer_names.index(DEFAULTS["f_depth"])
    active = prompt_features(ckpt, f, DEFAULTS["f_prompt"]).active(DEFAULTS["f_step"] - 1, depth)
    return [(j, f.grades.label(depth, j)) for j, _ in active]


def _open(browser, url: str, width: int):
    page, errors = open_in_browser(browser, url, width=width)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    return page, errors


@pytest.mark.parametrize("width", [1400, 800])
def test_picking_a_feature_draws_its_chart_with_no_label_over_another(server, browser, library, width):
    page, errors = _open(browser, f"{server}/features", width)
    first, second = library[0], library[1]
    shows = "(v) => document.querySelector('input[aria-label=\"Feature\"]')?.value === v"
    page.wait_for_function(shows, arg=f"#{first[0]}: {first[1]}", timeout=180_000)  # the library's strongest first
    page.wait_for_function(AXIS_DRAWN_CLEAR, arg=first[0], timeout=120_000)
    # the step's features and the feature's examples: a rerun may still be replacing the page's elements
    page.wait_for_function("() => document.querySelectorAll(\"[data-testid='stDataFrame']\").length >= 2",
                           timeout=120_000)
    wait_idle(page)
    box = page.locator("[data-testid='stSelectbox']").filter(has=page.get_by_role("combobox", name="Feature"))
    box.scroll_into_view_if_needed()
    box.get_by_role("button", name="Open").click()
    page.locator("[role='option']", has_text=f"#{second[0]}: {second[1]}").first.click()
    page.wait_for_function(AXIS_DRAWN_CLEAR, arg=second[0], timeout=120_000)
    wait_idle(page)
    chart = page.evaluate(AXIS_CHART)
    assert f"#{second[0]}'s" in chart["title"] and chart["labels"] and not _overlapping(chart["labels"])
    no_errors(page, errors)
    page.close()


def test_the_trajectory_steps_link_opens_the_features_page_at_that_step(server, browser):
    page, errors = _open(browser, f"{server}/?prompt=a+cat+eats&step=3", 1400)
    link = page.locator("[data-testid='stPageLink'] a").filter(has_text="Features of").first
    link.wait_for(timeout=180_000)
    wait_idle(page)
    word = page.evaluate("() => document.querySelector('[data-testid=\"stAlertContentInfo\"]').innerText")
    link.click()
    page.get_by_role("heading", name="Features", exact=True).wait_for(timeout=120_000)
    heading = page.locator("h3").filter(has_text="Step 3: after")
    heading.wait_for(timeout=180_000)  # the link's step, not the page's default
    wait_idle(page)
    read = heading.inner_text().split("'")[1]
    assert f"after reading '{read}'" in word  # the same word as the Trajectory's step 3
    nav = page.locator("[data-testid='stSidebarNav']")
    nav.locator("a[href$='model-card']").click()
    page.get_by_role("heading", name="Model card", exact=True).wait_for(timeout=120_000)
    wait_idle(page)
    nav.locator("a[href$='features']").click()  # opened again: Streamlit forgot its widgets; the view as it was left
    page.locator("h3").filter(has_text=f"Step 3: after '{read}'").wait_for(timeout=180_000)
    wait_idle(page)
    assert page.get_by_role("textbox", name="Prompt").input_value() == "a cat eats"  # not the page's default
    no_errors(page, errors)
    page.close()
