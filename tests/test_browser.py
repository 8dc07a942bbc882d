"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run` on 127.0.0.1."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from .servers import free_port, running_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "artifacts" / "screenshots"


class Server(str):
    """The server's URL, with the process id for memory readings."""

    def __new__(cls, url: str, pid: int):
        obj = super().__new__(cls, url)
        obj.pid = pid
        return obj


@pytest.fixture(scope="module")
def server():
    port = free_port()
    cmd = [sys.executable, "-m", "dashboard", "--server.port", str(port),  # as `make run` starts it (with warm-up)
           "--server.address", "127.0.0.1", "--server.headless", "true"]
    with running_server(cmd, port, ROOT, env={**os.environ, "MALLOC_ARENA_MAX": "2"}) as proc:
        yield Server(f"http://127.0.0.1:{port}", proc.pid)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("LLM_LANDSCAPE_REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing; .ci/run installs it with apt-get install chromium")
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium); CI runs this test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield b
        b.close()


# Streamlit's frontend first probes /_stcore/* relative to a page's path (e.g. /embeddings/_stcore/health), gets
# a 404 and falls back to the root. Those two probes are its own, not the app's; every other failure counts.
STREAMLIT_PROBE = ("/_stcore/health", "/_stcore/host-config")


def _open(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors: list[str] = []
    probes: list[str] = []
    page.on("response", lambda r: r.status == 404 and r.url.endswith(STREAMLIT_PROBE) and probes.append(r.url))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(url, wait_until="domcontentloaded")
    page.probes = probes
    return page, errors


def _real_errors(page, errors: list[str]) -> list[str]:
    probe_404s = len(page.probes)
    out = []
    for e in errors:
        if probe_404s and e.startswith("Failed to load resource") and "404" in e:
            probe_404s -= 1
            continue
        out.append(e)
    return out


def _wait_charts(page, n: int = 2, timeout: float = 90_000) -> None:
    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}",
                           timeout=timeout)


def _path_points(page) -> int:
    """Markers of the prompt's path on the first map (the only SVG scatter trace; reference points are WebGL)."""
    return page.locator(".js-plotly-plot").first.locator(".scatterlayer .trace .points path.point").count()


def _no_errors(page, errors) -> None:
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    assert not _real_errors(page, errors), _real_errors(page, errors)


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


def test_trajectory_page_in_a_real_browser(server, browser):
    page, errors = _open(browser, server)
    _wait_charts(page, 4)
    page.get_by_text("Step 1: after reading 'a'").first.wait_for(timeout=30_000)
    box = page.get_by_label("Prompt", exact=True)
    box.fill("a cat eats sausage in")
    box.press("Enter")
    page.get_by_text("the completion").first.wait_for(timeout=30_000)
    page.wait_for_function("() => [...document.querySelectorAll('h4')].some(h => h.innerText.includes('sausage'))",
                           timeout=30_000)
    _wait_charts(page, 4)
    time.sleep(1.0)
    # one marker per word read: the prompt's 5 words and the generated words read after them ("the", a place)
    assert _path_points(page) == 5 + 2
    step = page.locator("[data-testid='stSlider']").filter(has_text="Step").get_by_role("slider")
    step.focus()
    step.press("ArrowRight")
    page.get_by_text("Step 2: after reading 'cat'").first.wait_for(timeout=30_000)
    _no_errors(page, errors)
    _shot(page, "trajectory")
    page.close()


@pytest.mark.parametrize("width", [1400, 800])
def test_default_page_at_two_widths_and_play(server, browser, width):
    """At a wide and a narrow window: no error, no title cut off, and Play moves the caption on."""
    page, errors = _open(browser, server)
    page.set_viewport_size({"width": width, "height": 1100})
    _wait_charts(page, 4)
    page.get_by_text("Step 1: after reading").first.wait_for(timeout=30_000)
    time.sleep(1.0)
    _titles_fit(page)
    before = _caption(page)
    page.get_by_role("button", name="▶ Play").click()
    page.wait_for_function("(old) => { const c = document.querySelector(\"[data-testid='stAlertContentInfo']\");"
                           " return c && c.innerText !== old && c.innerText.startsWith('Step 3'); }",
                           arg=before, timeout=30_000)
    page.get_by_role("button", name="❚❚ Pause").click()
    _no_errors(page, errors)
    _shot(page, f"trajectory_{width}")
    page.close()


def test_shared_url_opens_the_same_view(server, browser):
    page, errors = _open(browser, f"{server}/?prompt=a+cow+munches&layer=block+2&step=2&method=umap")
    _wait_charts(page, 4)
    page.get_by_text("States at 'block 2': UMAP (2D)").first.wait_for(timeout=30_000)
    page.get_by_text("Step 2: after reading 'cow'").first.wait_for(timeout=30_000)
    _no_errors(page, errors)
    _shot(page, "shared_url")
    page.close()


@pytest.mark.parametrize("path, charts, text", [
    ("story", 1, "1. Words become embeddings"), ("embeddings", 1, "Nearest to 'cat'"),
    ("landscape", 4, "Decision landscape"),
    ("training", 2, "Train a new model"), ("compare", 1, "Both runs"), ("model-card", 0, "Proof: none of the"),
])
def test_every_page_loads(server, browser, path, charts, text):
    page, errors = _open(browser, f"{server}/{path}")
    if charts:
        _wait_charts(page, charts)
    page.get_by_text(text).first.wait_for(timeout=60_000)
    time.sleep(1.0)
    _no_errors(page, errors)
    sidebar_pickers = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(
        has=page.get_by_text("Model", exact=True)).count()
    assert sidebar_pickers == (0 if path == "compare" else 1)  # Compare: one picker per side, none in the sidebar
    _shot(page, path)
    page.close()


def _titles(page) -> list[str]:
    return [t.text_content() for t in page.locator(".gtitle").all()]


def test_causes_page_click_and_steer(server, browser):
    page, errors = _open(browser, f"{server}/causes")
    _wait_charts(page, 5)
    page.get_by_text("Click a cell").first.wait_for(timeout=60_000)
    # a click on the MLP panel's bottom-right cell (last block, last word) draws that patched run on the map
    panel = page.locator(".js-plotly-plot").first.locator(".nsewdrag").nth(2)
    panel.scroll_into_view_if_needed()
    time.sleep(1.0)  # let Plotly attach its click handlers after the redraw
    done = page.get_by_text("with the MLP output of 'the' at block").first
    for attempt in range(3):  # a click that lands while the chart is still being redrawn is lost; click again
        box = panel.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.92, box["y"] + box["height"] * 0.9)
        try:
            done.wait_for(timeout=30_000)
            break
        except Exception:
            if attempt == 2:
                raise
    assert any(t.startswith("States at 'block") for t in _titles(page))  # the map moved to the clicked depth
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
        time.sleep(3.0)
        for i, (page, errors) in enumerate(pages):
            assert page.locator("[data-testid='stExpanderIconSpinner']").count() == 0, f"session {i + 1}"
            assert page.get_by_text("Fitting the").count() == 0, f"session {i + 1}"
            _no_errors(page, errors)
            _shot(page, f"landscape_new_model_session{i + 1}")
            page.close()
