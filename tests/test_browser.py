"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run` on 127.0.0.1."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from .conftest import no_errors, open_in_browser, wait_charts, wait_idle
from .servers import free_port, running_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "artifacts" / "screenshots"
_open, _wait_charts, _no_errors = open_in_browser, wait_charts, no_errors  # the names other test files import


# Markers of the prompt's path on the first map: the points of its trace named "this prompt …" as Plotly drew it
# (the reference states are SVG points too, so the DOM's points alone cannot tell them apart).
PATH_POINTS = ("() => { const g = document.querySelector('.js-plotly-plot'); const i = (g?._fullData || [])"
               ".findIndex(t => (t.name || '').startsWith('this prompt')); const cd = i < 0 ? null : g.calcdata[i];"
               " return cd ? cd.filter(p => Number.isFinite(p.x) && Number.isFinite(p.y)).length : -1; }")


# Every Plotly call from here on, per chart element: the dashboard's charts stay mounted across reruns and are
# redrawn in place (dashboard/chart.py), so a change draws each chart it changed once and unmounts none.
COUNT_DRAWS = """() => { const P = window.Plotly; window.__draws = [];
  document.querySelectorAll('.js-plotly-plot').forEach(g => { g.__kept = true; });
  for (const name of ['react', 'newPlot', 'purge']) { const orig = P[name];
    P[name] = function (gd, ...rest) { window.__draws.push([name, gd.__kept === true]);
      return orig.call(this, gd, ...rest); }; } }"""


def _path_points(page) -> int:
    return page.evaluate(PATH_POINTS)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _caption(page) -> str:
    return page.locator("[data-testid='stAlertContentInfo']").first.inner_text()


def _titles_fit(page) -> None:
    """No chart title runs past its chart's edge (Plotly does not wrap titles)."""
    cut = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].flatMap(p => {
        const box = p.getBoundingClientRect();
        return [...p.querySelectorAll('.gtitle')].map(t => t.getBoundingClientRect())
            .filter(r => r.right > box.right + 1 || r.left < box.left - 1).map(r => p.id); })""")
    assert not cut, cut


def _wait_path_points(page, n: int, timeout: float = 30_000) -> None:
    """Until the first map's path has n markers (the chart is redrawn after the page's run)."""
    page.wait_for_function(f"(n) => ({PATH_POINTS})() === n", arg=n, timeout=timeout)


def _play_until(page, step: int) -> None:
    """Press Play, wait until the caption has reached `step` or gone past it (it moves on by itself, one step each
    run: a busy machine may show a step for less time than a check takes), and pause."""
    before = _caption(page)
    page.get_by_role("button", name="▶ Play").click()
    page.wait_for_function("([old, want]) => { const c = document.querySelector("
                           "\"[data-testid='stAlertContentInfo']\");"
                           " const m = c && c.innerText !== old && /^Step (\\d+)/.exec(c.innerText);"
                           " return m && Number(m[1]) >= want; }",
                           arg=[before, step], timeout=60_000)
    page.get_by_role("button", name="❚❚ Pause").click()


def test_trajectory_page_in_a_real_browser(server, browser, ckpt):
    """At 1400 px: no title cut off; a typed prompt draws one marker per word read; the step slider and Play move
    the caption on."""
    from dashboard.views.trajectory import SEED_PROMPT
    from llmcore.analysis.trace import trace_generation

    page, errors = _open(browser, server)
    _wait_charts(page, 4)
    seed = SEED_PROMPT.split()  # the page opens at the prompt's last word
    page.get_by_text(f"Step {len(seed)}: after reading '{seed[-1]}'").first.wait_for(timeout=30_000)
    wait_idle(page)
    # every chart has drawn what it was sent (the lens and attention charts may arrive after the run has ended):
    # a chart first drawn after the count starts would count as a new one
    page.wait_for_function(f"() => document.querySelectorAll('.llm-chart').length >= 4 && ({ALL_DRAWN})()",
                           timeout=60_000)
    _titles_fit(page)
    page.evaluate(COUNT_DRAWS)
    prompt = "a cat eats sausage in"
    box = page.get_by_label("Prompt", exact=True)
    box.fill(prompt)
    box.press("Enter")
    page.get_by_text("the completion").first.wait_for(timeout=30_000)
    page.wait_for_function("() => [...document.querySelectorAll('h4')].some(h => h.innerText.includes('sausage'))",
                           timeout=30_000)
    _wait_charts(page, 4)
    # one marker per word read: the prompt's words, then every generated word that is read again (all but the last)
    trace = trace_generation(ckpt, prompt)  # the page's default settings: greedy, 12 words at most
    expected = len(trace)
    assert expected == len(prompt.split()) + trace.n_steps - 1
    _wait_path_points(page, expected)
    assert _path_points(page) == expected
    wait_idle(page)
    draws = page.evaluate("() => window.__draws")
    assert draws and all(name == "react" and kept for name, kept in draws), draws  # the same charts, redrawn
    # once each at most (the map, the bars, the lens, where each word is decided, the attention)
    assert len(draws) <= page.evaluate("() => document.querySelectorAll('.llm-chart').length")
    assert page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].every(g => g.__kept)")
    step = page.locator("[data-testid='stSlider']").filter(has_text="Step").get_by_role("slider")
    step.focus()
    step.press("ArrowLeft")  # from the last prompt word, one back
    at = len(prompt.split()) - 1
    page.get_by_text(f"Step {at}: after reading '{trace.words[at - 1]}'").first.wait_for(timeout=30_000)
    _play_until(page, at + 2)  # two steps on by itself
    _no_errors(page, errors)
    _shot(page, "trajectory")
    page.close()


HEADING_STARTS = ("(p) => [...document.querySelectorAll('h4')].some(h => "
                  "h.innerText.replace(/[\u2080-\u2089]/g, '').startsWith(p))")  # step numbers are subscripts


def _trace_download(page) -> dict:
    import json

    with page.expect_download(timeout=30_000) as download:
        page.get_by_role("button", name="Trace (JSON)").click()
    return json.loads(Path(download.value.path()).read_text())


def test_a_new_prompt_keeps_the_sidebar_and_its_downloads_hold_it(server, browser):
    """A new prompt reruns only the prompt's part of the page (views/trajectory.py): the downloads made in that
    rerun hold the new prompt, and a sampling setting changed in the sidebar afterwards applies to it."""
    page, errors = _open(browser, server)
    _wait_charts(page, 4)
    wait_idle(page)
    box = page.get_by_label("Prompt", exact=True)
    box.fill("a cow munches")
    box.press("Enter")
    page.wait_for_function(HEADING_STARTS, arg="a cow munches", timeout=30_000)
    wait_idle(page)
    first = _trace_download(page)
    assert first["prompt"] == "a cow munches" and len(first["completion"].split()) > 1
    limit = page.locator("[data-testid='stSidebar'] [data-testid='stSlider']").filter(has_text="word limit")
    limit.get_by_role("slider").focus()
    limit.get_by_role("slider").press("Home")  # one word at most
    page.wait_for_function("() => [...document.querySelectorAll('h4')].some(h => h.innerText.split('┃')[1]?.trim()"
                           ".split(/\\s+/).length === 1)", timeout=30_000)
    wait_idle(page)
    second = _trace_download(page)
    assert second["prompt"] == "a cow munches" and len(second["completion"].split()) == 1
    _no_errors(page, errors)
    page.close()


# The map controls as shown: the Map box's choice and the layer slider's value.
MAP_CONTROLS = """() => { const box = document.querySelector('input[aria-label="Map"]');
  const layer = [...document.querySelectorAll('[data-testid="stSlider"]')]
    .find(e => e.innerText.startsWith('Layer shown on the map'));
  return box && layer ? [box.value, layer.innerText.split('\\n').filter(t => t)[1]] : null; }"""


def test_a_prompt_that_fails_leaves_the_map_controls_as_they_were(server, browser):
    """A prompt the model cannot read stops the prompt's part of the page at its message, so the map's controls are
    not drawn in that run and Streamlit forgets their values. The next prompt shows them as they were (not as their
    first options), and the map it draws is the one they name."""
    page, errors = _open(browser, server)
    _wait_charts(page, 4)
    wait_idle(page)
    before = page.evaluate(MAP_CONTROLS)
    assert before and all(before), before
    box = page.get_by_label("Prompt", exact=True)
    box.fill("blorp zzz")
    box.press("Enter")
    page.locator("[data-testid='stAlertContentError']").wait_for(timeout=60_000)
    wait_idle(page)
    box.fill("a cat eats")
    box.press("Enter")
    page.wait_for_function(HEADING_STARTS, arg="a cat eats", timeout=60_000)
    page.wait_for_function(f"(b) => JSON.stringify(({MAP_CONTROLS})()) === JSON.stringify(b)", arg=before,
                           timeout=60_000)
    shown = page.get_by_text("States at '").first  # the map's own caption: its depth and its method
    shown.wait_for(timeout=60_000)
    wait_idle(page)
    assert f"States at '{before[1]}': {before[0]} (" in shown.inner_text()
    assert page.evaluate(MAP_CONTROLS) == before
    _no_errors(page, errors)
    page.close()


BUNDLES = ("() => performance.getEntriesByType('resource').map(e => e.name.split('?')[0].split('/').pop())"
           ".filter(n => n.startsWith('plotly'))")


def test_2d_charts_load_the_cartesian_plotly_bundle_and_3d_the_full_one(server, browser):
    """The first page's charts are all 2D: only plotly.js's cartesian bundle is loaded (0.5 s of the browser's
    time against 1.1 s). The 3D map loads the full bundle and draws its scene; back in 2D the map has its two
    layers again (dashboard/chart.js)."""
    from dashboard import chart

    page, errors = _open(browser, server)
    _wait_charts(page, 4)
    wait_idle(page)
    light = "plotly-cartesian.min.js" if chart.light_available() else "plotly.min.js"
    assert page.evaluate(BUNDLES) == [light]
    # fetched ahead of the widgets' code, which the first page asks Streamlit for at the same time
    assert page.evaluate("() => [...document.scripts].filter(s => /\\/plotly[^/]*\\.js/.test(s.src))"
                         ".map(s => s.fetchPriority)") == ["high"]
    page.get_by_text("3D", exact=True).first.click()
    page.wait_for_function("() => { const g = document.querySelector('.llm-chart');"
                           " return g && g._fullLayout && g._fullLayout.scene && g.querySelector('canvas'); }",
                           timeout=60_000)
    assert "plotly.min.js" in page.evaluate(BUNDLES)
    page.get_by_text("2D", exact=True).first.click()
    page.wait_for_function("() => { const b = document.querySelector('.llm-chart-base');"
                           " return b && b.querySelectorAll('.scatterlayer path.point').length > 0; }", timeout=60_000)
    wait_idle(page)
    assert _path_points(page) > 0
    _no_errors(page, errors)
    page.close()


# The map's two layers (dashboard/chart.js): the reference states in a chart underneath, everything else on top.
LAYERS = """() => { const top = document.querySelector('.js-plotly-plot');
  if (!top || !top._fullLayout) return { base: -1, top: -1, same: false };  // not drawn yet (a rerun redraws it)
  const base = top.parentElement.querySelector(':scope > .llm-chart-base');
  const r = (g, a) => g._fullLayout[a].range.map(v => Math.round(v * 1000) / 1000);
  const box = (g) => { const s = g._fullLayout._size; return [s.l, s.t, s.w, s.h]; };
  return { base: base ? base.querySelectorAll('.scatterlayer path.point').length : -1,
           top: top.querySelectorAll('.scatterlayer .trace path.point').length,
           same: !!base && !!base._fullLayout && JSON.stringify([r(top, 'xaxis'), r(top, 'yaxis'), box(top)]) ===
                 JSON.stringify([r(base, 'xaxis'), r(base, 'yaxis'), box(base)]) }; }"""
BASE_DRAWS = """() => { const base = document.querySelector('.llm-chart-base'); window.__baseDraws = 0;
  base.on('plotly_afterplot', () => { window.__baseDraws += 1; });
  return Number(document.querySelector('.llm-chart').dataset.drawn || 0); }"""
# The first chart has drawn the latest figure sent to it after the one numbered n (chart.js numbers each figure and
# sets data-drawn once it, and the base under it, are drawn).
REDRAWN_AFTER = """(n) => { const g = document.querySelector('.llm-chart');
  return !!g && Number(g.dataset.drawn) > n && g.dataset.drawn === String(g.__llmSeq); }"""


def test_map_reference_states_drawn_once_under_the_path(server, browser):
    """The reference states are drawn once, under the chart a new prompt redraws: a new prompt leaves them as they
    are, they stay under the same plot area when the top chart is zoomed, and hovering one names its word."""
    page, errors = _open(browser, server)
    _wait_charts(page, 4)
    wait_idle(page)
    # the base layer is drawn after the top chart (chart.js sets data-drawn once both are): wait on what is asserted
    page.wait_for_function(REDRAWN_AFTER, arg=0, timeout=60_000)
    page.wait_for_function(f"() => {{ const l = ({LAYERS})(); return l.base > 100 && l.same; }}", timeout=60_000)
    layers = page.evaluate(LAYERS)
    assert layers["base"] > 100 and layers["same"], layers  # the reference states, aligned with the top chart
    assert layers["top"] < layers["base"]  # the top chart draws the path and stars, not the reference states
    drawn = page.evaluate(BASE_DRAWS)
    box = page.get_by_label("Prompt", exact=True)
    box.fill("a cat eats sausage in")
    box.press("Enter")
    page.wait_for_function("() => [...document.querySelectorAll('h4')].some(h => h.innerText.includes('sausage'))",
                           timeout=30_000)
    wait_idle(page)
    page.wait_for_function(REDRAWN_AFTER, arg=drawn, timeout=30_000)  # the new path is drawn, not a moment later
    assert page.evaluate("() => window.__baseDraws") == 0  # same map: only the top chart was redrawn
    page.evaluate("() => document.querySelector('.js-plotly-plot').scrollIntoView({block: 'center'})")
    drag = page.evaluate("() => { const r = document.querySelector('.js-plotly-plot .nsewdrag')"
                         ".getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; }")
    x, y, w, h = drag
    page.mouse.move(x + w * 0.3, y + h * 0.3)
    page.mouse.down()
    page.mouse.move(x + w * 0.6, y + h * 0.6, steps=5)
    page.mouse.up()
    # zoomed together: the base has followed the top chart (it may follow twice, when the zoom moves the margins)
    page.wait_for_function(f"() => window.__baseDraws > 0 && ({LAYERS})().same", timeout=30_000)
    point = page.evaluate("""() => { const base = document.querySelector('.llm-chart-base');
      const top = document.querySelector('.js-plotly-plot .nsewdrag').getBoundingClientRect();  // the plot area
      const mid = (r) => [r.left + r.width / 2, r.top + r.height / 2];
      const own = [...document.querySelector('.js-plotly-plot').querySelectorAll('.scatterlayer path.point')]
        .map(p => mid(p.getBoundingClientRect()));  // the top chart's points, which it hovers itself
      const inside = [...base.querySelectorAll('.scatterlayer path.point')].map(p => p.getBoundingClientRect())
        .find(r => r.width && r.left > top.left + 10 && r.right < top.right - 10 && r.top > top.top + 10 &&
              r.bottom < top.bottom - 10 &&
              own.every(([x, y]) => Math.hypot(x - mid(r)[0], y - mid(r)[1]) > 40));
      return inside ? [inside.left + inside.width / 2, inside.top + inside.height / 2] : null; }""")
    assert point is not None
    page.mouse.move(*point)
    page.wait_for_function("() => document.querySelector('.llm-chart-base .hoverlayer .hovertext')", timeout=10_000)
    assert "→" in page.evaluate("() => document.querySelector('.llm-chart-base .hoverlayer .hovertext').textContent")
    _no_errors(page, errors)
    page.close()


def test_default_page_at_a_narrow_width_and_play(server, browser):
    """At 800 px: the sidebar starts folded (the map gets the window's width), and one opened again stays open
    through the page's reruns; no error, no title cut off, and Play moves the caption on."""
    from dashboard.views.trajectory import SEED_PROMPT

    page, errors = _open(browser, server, width=800)
    page.locator('[data-testid="stSidebar"][data-collapsed="true"]').wait_for(state="attached", timeout=60_000)
    _wait_charts(page, 4)
    page.wait_for_function("() => document.querySelector('.llm-chart').getBoundingClientRect().width > 700",
                           timeout=30_000)
    page.get_by_text(f"Step {len(SEED_PROMPT.split())}: after reading").first.wait_for(timeout=30_000)
    wait_idle(page)
    _titles_fit(page)
    page.locator('[data-testid="stExpandSidebarButton"]').click()
    page.locator('[data-testid="stSidebar"][data-collapsed="false"]').wait_for(timeout=30_000)
    _play_until(page, len(SEED_PROMPT.split()) + 1)
    wait_idle(page)
    assert page.locator('[data-testid="stSidebar"][data-collapsed="false"]').count() == 1
    _no_errors(page, errors)
    _shot(page, "trajectory_800")
    page.close()


def test_the_first_pages_own_path_opens_it(server, browser):
    """/trajectory (the first page's own path, served at "/") opens the Trajectory at "/" with its settings, marked
    as the page shown in the navigation, and no "page not found" dialog."""
    page, errors = _open(browser, f"{server}/trajectory?prompt=a+cow+munches")
    _wait_charts(page, 4)
    page.wait_for_function(HEADING_STARTS, arg="a cow munches", timeout=60_000)
    wait_idle(page)
    assert page.get_by_role("heading", name="Trajectory", exact=True).count() == 1
    page.wait_for_function("() => new URL(location.href).pathname === '/'", timeout=30_000)
    assert "prompt=a+cow+munches" in page.url
    marked = page.locator('[data-testid="stSidebarNavLink"][aria-current="page"]')
    assert marked.count() == 1 and marked.inner_text().strip().endswith("Trajectory")
    assert page.get_by_text("Page not found").count() == 0
    _no_errors(page, errors)
    page.close()


def test_shared_url_opens_the_same_view(server, browser):
    page, errors = _open(browser, f"{server}/?prompt=a+cow+munches&layer=block+2&step=2&method=umap")
    _wait_charts(page, 4)
    assert page.locator('[data-testid="stSidebar"][data-collapsed="false"]').count() == 1  # 1400 px: left open
    page.get_by_text("States at 'block 2': UMAP (2D)").first.wait_for(timeout=30_000)
    page.get_by_text("Step 2: after reading 'cow'").first.wait_for(timeout=30_000)
    _no_errors(page, errors)
    _shot(page, "shared_url")
    page.close()


@pytest.mark.parametrize("path, charts, text", [
    ("story", 1, "1. Words become embeddings"), ("embeddings", 1, "Nearest to 'cat'"),
    ("landscape", 4, "Loss landscape"),
    ("training", 2, "Train a new model"), ("compare", 1, "Both runs"), ("model-card", 0, "Proof: none of the"),
])
def test_every_page_loads(server, browser, path, charts, text):
    page, errors = _open(browser, f"{server}/{path}")
    if charts:
        _wait_charts(page, charts)
    page.get_by_text(text).first.wait_for(timeout=60_000)
    wait_idle(page)  # the page's run has finished: any error it raises is on screen
    _no_errors(page, errors)
    pickers = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(
        has=page.get_by_text("Model", exact=True))
    if path != "compare":  # waited for: under load a rerun may still be replacing the sidebar's elements
        pickers.first.wait_for(timeout=30_000)
    assert pickers.count() == (0 if path == "compare" else 1)  # Compare: one picker per side, none in the sidebar
    _shot(page, path)
    page.close()


def _story_scene(page, n: int, timeout: float = 120_000) -> None:
    """Until the Story shows scene n's heading."""
    page.wait_for_function("(n) => ((document.querySelector('.st-key-story_scene h2') || {}).innerText || '')"
                           ".startsWith(n + '. ')", arg=n, timeout=timeout)


# Where a Story scene's main view lies once drawn: its chart (the latest figure sent, drawn) or, when the figure
# failed its own check, the warning that says why; the takeaway's bottom and the smallest chart text. Null before.
SCENE_VIEW = """() => { const s = document.querySelector('.st-key-story_scene');
  const t = s && s.querySelector('.st-key-story_takeaway');
  const g = s && s.querySelector('.llm-chart');
  const c = g && g.dataset.drawn !== undefined && g.dataset.drawn === String(g.__llmSeq) ? g
    : s && s.querySelector('[data-testid="stAlertContentWarning"]');
  if (!t || !c) return null;
  const r = c.getBoundingClientRect();
  const sizes = [...c.querySelectorAll('svg text')].filter(e => e.textContent.trim())
    .map(e => parseFloat(getComputedStyle(e).fontSize));
  return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, w: innerWidth, h: innerHeight,
           takeaway: t.getBoundingClientRect().bottom, chart: c === g,
           font: sizes.length ? Math.min(...sizes) : 0 }; }"""
ON_SCREEN = (f"() => {{ const v = ({SCENE_VIEW})(); return !!v && v.left >= 0 && v.top >= 0 && v.right <= v.w &&"
             " v.bottom <= v.h && v.takeaway <= v.top + 1 && (!v.chart || v.font >= 16); }")
# Every state the Story's scene area shows from now on: its heading's number ('' for none), whether the
# 'Drawing scene …' placeholder is there, and how many charts, one entry per change.
RECORD_SCENES = """() => { window.__storySeen = [];
  const note = () => { const h = document.querySelector('.st-key-story_scene h2');
    const drawing = [...document.querySelectorAll('[data-testid="stCaptionContainer"]')]
      .some(c => c.innerText.startsWith('Drawing scene'));
    const rec = [h ? h.innerText.split('.')[0] : '', drawing, document.querySelectorAll('.llm-chart').length];
    const last = window.__storySeen[window.__storySeen.length - 1];
    if (JSON.stringify(last) !== JSON.stringify(rec)) window.__storySeen.push(rec); };
  note();
  new MutationObserver(note).observe(document.body, { subtree: true, childList: true, characterData: true }); }"""


def test_story_presenter_mode_fits_each_scene_on_a_projector(server, browser):
    """At 1280 × 720 in presenter mode each scene's chart (or the reason it is not shown) lies entirely in the
    window under the scene's takeaway, with chart text of at least 16 px and no toolbar over it; the controls take
    one line; a scene change removes the last scene before the next is drawn (nothing stale on screen), and no
    console error."""
    page, errors = _open(browser, f"{server}/story?presenter=true&scene=1", width=1280, height=720)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    for n in range(1, 7):
        _story_scene(page, n)
        # the view that met the condition (read in the same evaluation, not a moment later)
        view = page.wait_for_function(f"() => ({ON_SCREEN})() ? ({SCENE_VIEW})() : null",
                                      timeout=90_000).json_value()
        assert view["bottom"] <= 720 and view["right"] <= 1280 and view["takeaway"] <= view["top"] + 1, view
        wait_idle(page)
        try:  # and it is so once the page is idle (a chart refits when what stands above it changes)
            page.wait_for_function(ON_SCREEN, timeout=30_000)
        except Exception:
            raise AssertionError((n, page.evaluate(SCENE_VIEW))) from None
        _shot(page, f"story_presenter_1280x720_scene{n}")
        assert page.evaluate("() => document.querySelectorAll('.llm-chart .modebar-container .modebar').length") == 0
        if n == 1:  # one line of controls: prompt, switch, Back, Next and the link share a row
            tops = page.evaluate("""() => ['.st-key-story_prompt', '.st-key-presenter', '.st-key-story_back',
              '.st-key-story_next', '[data-testid="stPopover"]'].map(q => document.querySelector(q)
              .getBoundingClientRect()).map(r => r.top + r.height / 2)""")
            assert max(tops) - min(tops) < 30, tops
            assert page.locator("h1").count() == 0  # no page title: the scene's heading is the first line
        if n == 6:  # the lens choice under the chart: the heading and takeaway are the slide's first lines
            below = page.evaluate("""() => document.querySelector('.st-key-story_lens').getBoundingClientRect().top >=
              document.querySelector('.llm-chart').getBoundingClientRect().bottom""")
            assert below
        if n == 2:
            page.evaluate(RECORD_SCENES)
        if n == 3:  # the change from 2 to 3 (read before the next key: it would record 3 to 4 as well): the
            seen = page.evaluate("() => window.__storySeen")  # scene 2 went before scene 3 arrived, a placeholder
            assert any(drawing for _, drawing, _ in seen), seen  # showed meanwhile (maybe after a blank moment)
            gone = next(i for i, (h, _, _) in enumerate(seen) if h != "2")
            assert not any(drawing for _, drawing, _ in seen[:gone]), seen  # the placeholder never over scene 2
            assert all(h in ("", "3") for h, _, _ in seen[gone:]), seen  # scene 2 never shown again
            assert all(charts == 0 for h, drawing, charts in seen if drawing), seen  # nor its chart, faded
        if n < 6:
            page.keyboard.press("ArrowRight")
    _no_errors(page, errors)
    page.close()


def test_story_keys_work_after_a_click_and_after_switching_presenter_mode(server, browser):
    """The keys a clicker sends (→ PageDown Space: next; ← PageUp: back) move the story whatever has the focus: the
    Next button just clicked, the presenter switch just turned on with Space; not while typing in the prompt box.
    The link to the scene opens the same scene, prompt and mode."""
    prompt = "a cat eats sausage at"
    page, errors = _open(browser, f"{server}/story?scene=1&story_prompt={prompt.replace(' ', '+')}")
    _story_scene(page, 1)
    wait_idle(page)
    page.locator(".st-key-story_next button").click()
    _story_scene(page, 2)
    for key, n in (("ArrowRight", 3), ("PageUp", 2), ("PageDown", 3), ("ArrowLeft", 2), (" ", 3), ("ArrowLeft", 2)):
        wait_idle(page)
        page.keyboard.press(key)
        _story_scene(page, n)
    wait_idle(page)
    page.locator(".st-key-presenter input").focus()
    page.keyboard.press(" ")  # Space on the switch turns presenter mode on (Space keeps its meaning there)
    page.wait_for_function("() => document.querySelector('h1') === null", timeout=60_000)
    wait_idle(page)
    page.keyboard.press("ArrowRight")
    _story_scene(page, 3)
    wait_idle(page)
    page.locator(".st-key-presenter input").focus()  # the switch has the focus: an arrow still turns the page
    page.keyboard.press("PageUp")
    _story_scene(page, 2)
    assert page.locator("h1").count() == 0  # and presenter mode stayed on
    wait_idle(page)
    page.get_by_role("button", name="Link").click()
    link = page.locator("[data-testid='stPopoverBody'] code").first
    link.wait_for(timeout=30_000)
    url = link.inner_text().strip()
    page.keyboard.press("Escape")
    box = page.locator(".st-key-story_prompt input")
    box.click()
    box.press("End")
    for key in ("ArrowLeft", "ArrowLeft", "x"):  # the caret moves in the box; the story stays
        box.press(key)
    assert box.input_value() == prompt[:-2] + "x" + prompt[-2:]
    assert page.locator(".st-key-story_scene h2").inner_text().startswith("2. ")
    _no_errors(page, errors)
    page.close()
    other, errors = _open(browser, url)  # a new session: the link alone brings scene, prompt and mode
    _story_scene(other, 2)
    wait_idle(other)
    other.wait_for_function("(p) => { const box = document.querySelector('.st-key-story_prompt input');"
                            " return !!box && box.value === p; }", arg=prompt, timeout=30_000)  # null while redrawn
    assert other.locator("h1").count() == 0  # presenter mode
    _no_errors(other, errors)
    other.close()


def test_every_story_scene_of_a_tiny_world_in_a_real_browser(browser, tiny_ckpt_dir, tmp_path):
    """A model other than the bundled one (the tiny world, trained in seconds, no maps yet): every scene shows its
    heading and either its chart or the reason it is not shown (scene 4: words where the world holds no pair out),
    and no console error."""
    import shutil

    model = tmp_path / "tiny"
    shutil.copytree(tiny_ckpt_dir, model)
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true"]
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "LLM_LANDSCAPE_CHECKPOINT": str(model)}
    with running_server(cmd, port, ROOT, env=env):
        page, errors = _open(browser, f"http://127.0.0.1:{port}/story?story_prompt=a+cat+eats")
        page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
        for n in range(1, 7):
            _story_scene(page, n, timeout=180_000)
            if n != 4:
                page.wait_for_function(f"() => ({SCENE_VIEW})() !== null", timeout=120_000)
            wait_idle(page, timeout=120_000)
            _no_errors(page, errors)
            if n < 6:
                page.locator(".st-key-story_next button").click()
        _shot(page, "story_tiny_world_scene6")
        page.close()


def _titles(page) -> list[str]:
    return [t.text_content() for t in page.locator(".gtitle").all()]


ALL_DRAWN = ("() => [...document.querySelectorAll('.llm-chart')].every(g => g.dataset.drawn !== undefined &&"
             " g.dataset.drawn === String(g.__llmSeq))")


def test_causes_page_click_and_steer(server, browser, ckpt):
    from dashboard.views.causes import SEED_PROMPT
    from llmcore.analysis.counterfactual import counterfactual_prompt
    from llmcore.analysis.interventions import causal_trace

    last = causal_trace(ckpt, SEED_PROMPT, corrupt=counterfactual_prompt(ckpt, SEED_PROMPT)).words[-1]
    page, errors = _open(browser, f"{server}/causes")
    _wait_charts(page, 5)
    page.get_by_text("Click a cell").first.wait_for(timeout=60_000)
    wait_idle(page)  # no redraw is pending that would swallow the click
    # a click on the MLP panel's bottom-right cell (last block, last word) draws that patched run on the map
    panel = page.locator(".js-plotly-plot").first.locator(".nsewdrag").nth(2)
    panel.scroll_into_view_if_needed()
    done = page.get_by_text(f"with what the MLP added (MLP output) of '{last}' at block").first
    for attempt in range(3):  # a click that lands while the chart is still being redrawn is lost; click again
        page.wait_for_function(ALL_DRAWN, timeout=30_000)  # every chart has drawn the last figure sent to it
        box = panel.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.92, box["y"] + box["height"] * 0.9)
        try:
            done.wait_for(timeout=30_000)
            break
        except Exception:
            if attempt == 2:
                raise
    assert any(t.startswith("States at 'block") for t in _titles(page))  # the map moved to the clicked depth
    # the glossary opens and explains the page's words in plain language
    page.get_by_role("button", name="What do these words mean?").click()
    for word in ("Corruption", "Restore (patch)", "Attribution", "Steering"):  # in bold: the markdown is rendered
        page.locator("[data-testid='stPopoverBody'] strong").get_by_text(word, exact=True).first.wait_for(
            timeout=30_000)
    page.keyboard.press("Escape")
    # one step of the alpha slider (0.25) redraws the steered run and its sentence
    slider = page.locator("[data-testid='stSlider']").filter(has_text="alpha").get_by_role("slider")
    start = float(slider.get_attribute("aria-valuetext"))
    assert start > 0  # the push starts where it moves the path, not at 0
    slider.focus()
    slider.press("ArrowRight")
    new = start + 0.25
    how_far = f"{new:g} of the way" if new <= 1 else f"{new:g} times the distance"
    page.get_by_text(f"Push the state of 'dog' {how_far}").first.wait_for(timeout=60_000)
    page.get_by_text(f"steered, alpha {new:g}").first.wait_for(timeout=60_000)  # the map's legend
    _no_errors(page, errors)
    _shot(page, "causes")
    page.close()


def test_a_new_models_landscape_finishes_in_two_sessions_at_once(browser, tiny_ckpt_dir, tmp_path):
    """A model with no maps yet, opened on Landscape from two sessions of one server at the same time: both draw
    every chart and no progress box is left spinning (a box drawn inside a cached function was replayed to the
    second session and never finished)."""
    import shutil

    fresh = tmp_path / "fresh"
    shutil.copytree(tiny_ckpt_dir, fresh)
    shutil.rmtree(fresh / "maps", ignore_errors=True)
    port = free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true"]
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "LLM_LANDSCAPE_CHECKPOINT": str(fresh)}
    with running_server(cmd, port, ROOT, env=env):
        pages = [_open(browser, f"http://127.0.0.1:{port}/landscape") for _ in range(2)]
        for page, _ in pages:
            _wait_charts(page, 4)
            page.get_by_text("Loss landscape").first.wait_for(timeout=60_000)
        for i, (page, errors) in enumerate(pages):
            wait_idle(page)  # both runs are over: a box still spinning now would spin for ever
            assert page.locator("[data-testid='stExpanderIconSpinner']").count() == 0, f"session {i + 1}"
            assert page.get_by_text("Fitting the").count() == 0, f"session {i + 1}"
            _no_errors(page, errors)
            _shot(page, f"landscape_new_model_session{i + 1}")
            page.close()


def test_model_card_numbers_are_whole_at_a_narrow_width(server, browser):
    """At 800 px the model card's numbers (layers … parameters, sentences … training time) are shown whole: they sit
    side by side as wide as each needs and wrap onto a new row, instead of being cut short in equal columns."""
    page, errors = _open(browser, f"{server}/model-card", width=800)
    page.wait_for_function("() => document.querySelectorAll(\"[data-testid='stMetricValue']\").length >= 9",
                           timeout=60_000)  # every number drawn, not the first of them
    wait_idle(page)
    cut = page.evaluate("""() => [...document.querySelectorAll("[data-testid='stMetricValue']")]
        .filter(e => [e, ...e.querySelectorAll('*')].some(c => c.scrollWidth > c.clientWidth + 1))
        .map(e => e.innerText)""")  # Streamlit cuts a long value with an ellipsis inside the element
    assert not cut, cut
    _no_errors(page, errors)
    page.close()


# The word map's labels as drawn: [text, shown, box] of every label of the traces chart.js thins out.
WORD_LABELS = """() => { const g = [...document.querySelectorAll('.llm-chart')].find(c =>
    [...c.querySelectorAll('.scatterlayer .trace')].some(t => t.__data__[0].trace.meta === 'declutter'));
  return [...g.querySelectorAll('.scatterlayer .trace')].filter(t => t.__data__[0].trace.meta === 'declutter')
    .flatMap(t => [...t.querySelectorAll('.textpoint text')]).map(e => { const r = e.getBoundingClientRect();
      const d = e.parentNode.__data__;
      return [e.textContent, e.style.display !== 'none', [r.left, r.top, r.right, r.bottom], [d.x, d.y]]; }); }"""


def _overlapping(labels) -> list[tuple[str, str]]:
    shown = [(text, box) for text, on, box, _ in labels if on]
    return [(a, b) for i, (a, p) in enumerate(shown) for b, q in shown[i + 1:]
            if p[0] < q[2] and q[0] < p[2] and p[1] < q[3] and q[1] < p[3]]


def test_word_map_labels_do_not_print_over_one_another(server, browser):
    """The Embeddings page's 617 words: no shown label overlaps another, the selected word's label is shown, the
    rest are thinned out (hovering still names them), and zooming in on a cluster names more of its words."""
    page, errors = _open(browser, f"{server}/embeddings")
    _wait_charts(page, 1)
    wait_idle(page)
    page.wait_for_function(f"() => ({WORD_LABELS})().length > 500", timeout=30_000)
    labels = page.evaluate(WORD_LABELS)
    shown = [text for text, on, _, _ in labels if on]
    assert not _overlapping(labels), _overlapping(labels)[:5]
    assert "cat" in shown and 30 < len(shown) < len(labels)  # the default anchor word, ringed and labelled
    window = page.evaluate("""() => { const g = document.querySelector('.llm-chart');
        const q = (r, a, b) => [r[0] + a * (r[1] - r[0]), r[0] + b * (r[1] - r[0])];
        const win = [q(g._fullLayout.xaxis.range, 0.2, 0.6), q(g._fullLayout.yaxis.range, 0.3, 0.7)];
        window.__zoomed = false; g.once('plotly_afterplot', () => { window.__zoomed = true; });
        window.Plotly.relayout(g, {'xaxis.range': win[0], 'yaxis.range': win[1]}); return win; }""")
    page.wait_for_function("() => window.__zoomed", timeout=30_000)
    zoomed = page.evaluate(WORD_LABELS)
    assert not _overlapping(zoomed), _overlapping(zoomed)[:5]
    inside = lambda labels: sum(on and window[0][0] <= x <= window[0][1] and window[1][0] <= y <= window[1][1]  # noqa: E731
                                for _, on, _, (x, y) in labels)
    assert inside(zoomed) > inside(labels) > 0  # more words of that part of the map are named
    _no_errors(page, errors)
    page.close()


# Buttons whose label is cut short (Streamlit ends it with an ellipsis when the button is narrower than its label).
CUT_BUTTONS = """() => [...document.querySelectorAll('[data-testid="stMain"] button')].filter(b =>
    [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1)).map(b => b.innerText)"""


@pytest.mark.parametrize("path, charts", [("landscape", 4), ("story?scene=5", 1), ("causes", 4), ("embeddings", 1)])
def test_no_chart_title_or_button_is_cut_off_at_800_px(server, browser, path, charts):
    """Plotly does not wrap titles: the long ones are wrapped for a chart 230-470 px wide (theme.wrap_title).
    Buttons keep their whole labels (a row of them wraps: st.container(horizontal=True))."""
    page, errors = _open(browser, f"{server}/{path}", width=800)
    _wait_charts(page, charts)
    wait_idle(page)
    _titles_fit(page)
    assert not page.evaluate(CUT_BUTTONS), page.evaluate(CUT_BUTTONS)
    _no_errors(page, errors)
    page.close()


# The chart whose labels chart.js thins out, and a record of each frame an animation of it shows: whether the labels
# were hidden then (read in a handler bound after chart.js's own). Returns the animations it has settled so far.
LABELLED_CHART = """() => [...document.querySelectorAll('.llm-chart')].find(c =>
    [...c.querySelectorAll('.scatterlayer .trace')].some(t => t.__data__[0].trace.meta === 'declutter'))"""
RECORD_FRAMES = f"""() => {{ const g = ({LABELLED_CHART})(); window.__hiddenAtFrame = [];
  g.on('plotly_animatingframe', () => {{ const t = g.querySelector('.textpoint');
    window.__hiddenAtFrame.push(t !== null && getComputedStyle(t).display === 'none'); }});
  return Number(g.dataset.settled || 0); }}"""
# The animation is over and its labels were thinned out after its last frame had finished moving (chart.js).
SETTLED = f"""(n) => {{ const g = ({LABELLED_CHART})();
  return Number(g.dataset.settled || 0) > n && !g.classList.contains('llm-animating'); }}"""


def test_training_replay_hides_labels_while_playing_and_thins_them_out_after(server, browser):
    """The embedding replay (Plotly frames): Plotly shows every label of each frame, so they are hidden at every
    frame while it plays; once it has stopped and its last frame is in place, the labels are thinned out again for
    those positions. Waits on chart.js's own record of that, not on a moment of the animation (on a busy machine
    the last frame was still moving when Plotly said the animation was over)."""
    page, errors = _open(browser, f"{server}/training")
    _wait_charts(page, 2, timeout=180_000)  # a cold page on a machine busy with other work: minutes, not seconds
    wait_idle(page, timeout=180_000)
    page.wait_for_function(f"() => ({WORD_LABELS})().length > 500", timeout=60_000)
    labels = page.evaluate(WORD_LABELS)
    assert not _overlapping(labels) and 20 < sum(on for _, on, _, _ in labels) < len(labels)
    settled = page.evaluate(RECORD_FRAMES)
    page.get_by_text("▶ play").first.click()
    page.wait_for_function(SETTLED, arg=settled, timeout=120_000)
    hidden = page.evaluate("() => window.__hiddenAtFrame")
    assert len(hidden) >= 2 and all(hidden), hidden  # every frame played with its labels hidden
    after = page.evaluate(WORD_LABELS)
    assert not _overlapping(after) and 20 < sum(on for _, on, _, _ in after) < len(after)
    _no_errors(page, errors)
    page.close()
