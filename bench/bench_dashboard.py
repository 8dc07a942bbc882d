"""The dashboard in a real browser: cold start, switching map/depth/2D-3D, a new prompt, memory over prompts.

usage: python -m bench.bench_dashboard [--prompts 200] [--switches 10]
Starts the dashboard (`python -m dashboard`, as `make run` does) on a free port, drives Debian's Chromium with
Playwright, and prints side by side with their targets: cold start (server launch to first chart drawn, the
browser already open), the time from a change of map, depth or 2D/3D to
the redrawn page (median), from pressing Enter on a new prompt to the redrawn page (median and 90th percentile
over the first 20 prompts), the server's RSS after 20 prompts and after all, and, measured in this process, where
the first page's time goes (imports, model, reference states, map, regions, trace, figure).
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.servers import free_port, launch_chromium, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent

IDLE = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"]') && "
        "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4")


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (from /proc)."""
    total = 0
    for p in [pid] + [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def prompts(n: int) -> list[str]:
    from llmcore.world.corpus import article
    from llmcore.world.load import load_world

    w = load_world()
    verbs = list(w.recipe.eat_verbs) + ["drinks", "lives in the", "sleeps in the", "chases the"]
    combos = [f"{article(a)} {a} {v}" for a, v in itertools.product(w.animals, verbs)]
    return list(itertools.islice(itertools.cycle(combos), n))


def where_time_goes() -> list[tuple[str, float]]:
    """The first page's work, step by step, in this process (a fresh interpreter gives the cold figures)."""
    laps, t = [], time.perf_counter()

    def lap(name: str) -> None:
        nonlocal t
        laps.append((name, time.perf_counter() - t))
        t = time.perf_counter()

    import streamlit  # noqa: F401
    lap("import streamlit")
    import torch  # noqa: F401
    lap("import torch")
    from dashboard import frames
    from dashboard.figures import maps as map_figures
    from dashboard.figures import theme
    from llmcore.analysis.trace import candidate_states, trace_generation
    from llmcore.maps.regions import region_map
    from llmcore.maps.store import MapBook
    from llmcore.model.checkpoint import DEFAULT_CHECKPOINT, load_checkpoint
    lap("import plotly, pandas, scipy, llmcore")
    ckpt = load_checkpoint(DEFAULT_CHECKPOINT)
    lap("load the model")
    book = MapBook(ckpt)
    book.states  # noqa: B018
    lap("reference states (cached next to the maps after the first start)")
    view = book.best_view()
    fmap = book.get(f"context:{view.layer}", view.method, 2)
    lap(f"best view and its map ({view.method} at {view.layer})")
    regions = region_map(fmap.coords, fmap.reference.labels["context"], ckpt.context_matrix()[0])
    lap("regions")
    trace = trace_generation(ckpt, "a dog devours pizza in")
    candidate_states(ckpt, trace, 0)
    lap("trace and candidates")
    context_of = {w: ckpt.world.label(w)[0] for w in ckpt.tokenizer.vocab}
    path = frames.trajectory_frame(trace, fmap, trace.layer_names.index(view.layer), context_of)
    fig = map_figures.trajectory_map(frames.reference_frame(fmap), path, theme.context_colours(trace.context_names),
                                 "t", options=map_figures.MapOptions(axis_label=fmap.axis_label, regions=regions,
                                                                 selected_step=1))
    fig.to_json()
    lap("map figure")
    return laps


HEADING = "() => [...document.querySelectorAll('strong')].map(e => e.innerText).find(t => t.startsWith('States at'))"


# Where a redraw's time goes in the browser: every Plotly call the page makes after a key press or click, with its
# start and end on the page's clock. The dashboard's charts (dashboard/chart.py) stay mounted and redraw with one
# Plotly.react each; `pending` counts drawings begun and not yet finished.
PLOTLY_CALLS = """() => { if (window.__plotlyCalls) return; window.__plotlyCalls = [];
  window.__plotlyPending = 0;
  const mark = () => { window.__t0 = performance.now(); window.__plotlyCalls = []; };
  document.addEventListener('keydown', mark, true); document.addEventListener('pointerup', mark, true);
  const wrap = (P) => { if (!P || P.__timed) return P; P.__timed = true;
    for (const name of ['react', 'newPlot', 'purge']) { const orig = P[name]; P[name] = function (gd, ...rest) {
      const start = performance.now(); window.__plotlyPending += 1; const out = orig.call(this, gd, ...rest);
      const done = () => { window.__plotlyPending -= 1; window.__plotlyCalls.push({name, start: start - window.__t0,
        end: performance.now() - window.__t0}); };
      Promise.resolve(out).then(done, done);
      return out; }; }
    return P; };
  wrap(window.Plotly);  // and each bundle loaded later (the full one, for 3D: dashboard/plotly_loader.js)
  const load = window.__llmLandscapePlotlyLoad; window.__llmLandscapePlotlyLoad = (src) => load(src).then(wrap); }"""


# Settled: a drawing has happened since the key press, none is in progress, the script run is over and nothing has
# been drawn for 150 ms (the last chart of a run is handed over after the status widget goes).
SETTLED = """() => { const c = window.__plotlyCalls || [];
  if (!c.length || window.__plotlyPending || document.querySelector('[data-testid="stStatusWidget"]')) return false;
  return performance.now() - window.__t0 - Math.max(...c.map(x => x.end)) > 150; }"""


def settled_ms(page, timeout_ms: int = 60_000) -> float:
    """Milliseconds from the last key press or click (PLOTLY_CALLS installed) until every chart it changed is drawn,
    on the page's own clock (no polling delay in it)."""
    page.wait_for_function(SETTLED, timeout=timeout_ms, polling=50)
    return page.evaluate("() => Math.max(...window.__plotlyCalls.map(c => c.end))")


def draw_phases(page) -> tuple[float, float, int]:
    """After a key press (PLOTLY_CALLS installed): when the first chart began to redraw (the server's answer is in),
    the ms from then until the last drawing ended, and how many drawings there were."""
    calls = [c for c in page.evaluate("() => window.__plotlyCalls") if c["name"] != "purge"]
    if not calls:
        return 0.0, 0.0, 0
    first = min(c["start"] for c in calls)
    return first, max(c["end"] for c in calls) - first, len(calls)


# The map chart redrawn: the marked chart has finished drawing a newer figure (dashboard/chart.js counts them in
# data-drawn), or a chart that is not marked (a new one) has drawn its SVG. Without this a redraw still in progress
# would be counted in the next measurement instead (the heading and the status widget change before the chart is
# drawn).
MARK_MAP = "() => { const g = document.querySelector('.llm-chart'); g.__marked = g.dataset.drawn; }"
MAP_DRAWN = ("() => { const g = document.querySelector('.llm-chart'); return g && g.querySelector('.main-svg') "
             "&& (g.__marked === undefined || g.dataset.drawn !== g.__marked); }")


def _switch(page, action) -> float:
    """Seconds from a change to the page redrawn with a new map heading ('States at <depth>: <map> (<2D|3D>)') and
    the map chart drawn again."""
    before = page.evaluate(HEADING)
    page.evaluate(MARK_MAP)
    page.evaluate(PLOTLY_CALLS)
    action()
    page.wait_for_function(f"(old) => ({HEADING})() !== old", arg=before, timeout=60_000)
    page.wait_for_function(IDLE, timeout=60_000)
    page.wait_for_function(MAP_DRAWN, timeout=60_000)
    return settled_ms(page) / 1000  # from the last click or key press until the changed charts are final


def switches(page, n: int) -> dict[str, list[float]]:
    """Times of n changes each of the map, the depth and 2D/3D (alternating back and forth)."""
    out: dict[str, list[float]] = {"map": [], "depth": [], "2D/3D": []}
    slider = page.locator("[data-testid='stSlider']").filter(has_text="Layer shown").get_by_role("slider")

    def pick_map(name: str) -> None:
        page.locator("[data-testid='stSelectbox']").filter(has_text="Map").first.click()
        page.get_by_role("option", name=name, exact=True).click()

    def move_depth(key: str) -> None:
        slider.focus()
        slider.press(key)

    for i in range(n):
        out["map"].append(_switch(page, lambda m=["PCA", "Story map (LDA)"][i % 2]: pick_map(m)))
        out["depth"].append(_switch(page, lambda k=["ArrowLeft", "ArrowRight"][i % 2]: move_depth(k)))
        out["2D/3D"].append(_switch(page, lambda d=["3D", "2D"][i % 2]: page.get_by_text(d, exact=True).first.click()))
    return out


# Streamlit's own floor: an app that draws one Plotly chart and nothing else, launched as the dashboard is. What
# the dashboard takes beyond it is its own cost (imports, model, maps, figures); the rest is Python, Streamlit's
# server and its frontend starting, which no app can skip.
FLOOR_APP = """import plotly.graph_objects as go
import streamlit as st

st.text_input("Prompt", "a dog devours pizza in")
st.plotly_chart(go.Figure(go.Scatter(x=[0, 1, 2], y=[0, 1, 0])))
"""
FIRST_CHART = "() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 1"


def open_when_up(page, url: str, pause_s: float = 0.1) -> None:
    """Open url in page as soon as the server starting behind it answers."""
    while True:
        try:
            page.goto(url, wait_until="domcontentloaded")
            return
        except Exception:
            time.sleep(pause_s)


def launch(cmd: list[str], browser, cwd: Path = ROOT) -> tuple[subprocess.Popen, object, float]:
    """Start a server (cmd without its port, in source tree `cwd`) with a browser page already open; return the
    server, the page and the seconds from launch to the first chart drawn."""
    port = free_port()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # the visitor's browser is already open
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}  # as `make run` and `llmcore dashboard` start it
    t0 = time.perf_counter()
    server = start_server([*cmd, "--server.port", str(port), "--server.headless", "true"], cwd, env)
    open_when_up(page, f"http://127.0.0.1:{port}/")
    page.wait_for_function(FIRST_CHART, timeout=120_000)
    return server, page, time.perf_counter() - t0


def stop(server: subprocess.Popen, page) -> None:
    page.close()
    stop_server(server)


def cold_starts(browser, n: int, floor_app: Path) -> tuple[list[float], list[float], subprocess.Popen, object]:
    """n cold starts each of Streamlit's floor app and of the dashboard, alternating (so both see the same
    machine); the last dashboard is left running for the other measurements."""
    floor, ours = [], []
    for i in range(n):
        server, page, t = launch([sys.executable, "-m", "streamlit", "run", str(floor_app)], browser)
        floor.append(t)
        stop(server, page)
        server, page, t = launch([sys.executable, "-m", "dashboard"], browser)
        ours.append(t)
        if i < n - 1:
            stop(server, page)
    return floor, ours, server, page


def spread(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} s (range {min(times):.2f}-{max(times):.2f} s over {len(times)})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=200)
    ap.add_argument("--switches", type=int, default=10)
    ap.add_argument("--colds", type=int, default=3, help="cold starts of each app, alternating")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        floor_app = Path(tmp) / "floor.py"
        floor_app.write_text(FLOOR_APP)
        browser = launch_chromium(p)
        floor, ours, server, page = cold_starts(browser, a.colds, floor_app)
        try:
            print(f"cold start, server launch to first chart (browser open), alternating runs:\n"
                  f"  Streamlit's floor (an app with one Plotly chart): {spread(floor)}\n"
                  f"  the dashboard:                                     {spread(ours)}   (target <= 4 s)\n"
                  f"  the dashboard's own part (median difference):     "
                  f"{statistics.median(o - f for o, f in zip(ours, floor)):.2f} s")
            page.wait_for_function(IDLE, timeout=120_000)
            switched = switches(page, a.switches)
            for what, times in switched.items():
                print(f"switch {what}: median {statistics.median(times):.2f} s over {len(times)}   (target <= 1 s)")
            print(f"  the first switch to 3D, which loads the full Plotly bundle: {switched['2D/3D'][0]:.2f} s")
            box = page.get_by_label("Prompt", exact=True)
            times, phases, rss = [], [], {}
            for i, prompt in enumerate(prompts(a.prompts), start=1):
                box.fill(prompt)
                page.evaluate(MARK_MAP)
                page.evaluate(PLOTLY_CALLS)
                box.press("Enter")
                page.wait_for_function("(p) => [...document.querySelectorAll('h4')].some(h => "
                                       "h.innerText.replace(/[\u2080-\u2089]/g, '').startsWith(p))", arg=prompt,
                                       timeout=60_000)
                page.wait_for_function(IDLE, timeout=60_000)
                page.wait_for_function(MAP_DRAWN, timeout=60_000)
                times.append(settled_ms(page) / 1000)  # until every changed chart is drawn
                phases.append(draw_phases(page))
                if i in (20, a.prompts):
                    rss[i] = rss_mb(server.pid)
            first = times[:20]
            print(f"new prompt to redrawn page, first 20: median {statistics.median(first):.2f} s, "
                  f"p90 {sorted(first)[int(0.9 * len(first)) - 1]:.2f} s   (target p90 <= 0.5 s)")
            answer, span, n = (statistics.median(x) for x in zip(*phases[:20]))
            print(f"  where it goes (medians): the server's answer reaches the charts {answer:.0f} ms after Enter; "
                  f"the {n:.0f} changed charts are then redrawn in place (Plotly.react) over {span:.0f} ms")
            print(f"server RSS after 20 prompts: {rss[20]:.0f} MB; after {a.prompts}: {rss[a.prompts]:.0f} MB; "
                  f"ratio {rss[a.prompts] / rss[20]:.3f}   (target <= 1.10)")
        finally:
            server.terminate()
            server.wait(10)
            browser.close()
    print("where the first page's time goes (this process):")
    for name, seconds in where_time_goes():
        print(f"  {name:<62} {seconds:6.2f} s")


if __name__ == "__main__":
    main()
