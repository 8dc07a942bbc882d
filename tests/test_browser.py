"""End to end in a real browser: Debian's Chromium driven by Playwright against `streamlit run` on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = ROOT / "artifacts" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("streamlit did not become healthy within 60 s")
    yield url
    proc.terminate()
    proc.wait(10)


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


def _open(browser, url):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.goto(url, wait_until="domcontentloaded")
    return page, errors


def _wait_charts(page, n: int = 2, timeout: float = 90_000) -> None:
    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n}",
                           timeout=timeout)


def test_trajectory_page_in_a_real_browser(server, browser):
    page, errors = _open(browser, server)
    _wait_charts(page)
    page.get_by_text("a dog devours pizza in →").first.wait_for(timeout=30_000)
    box = page.get_by_label("Prompt", exact=True)
    box.fill("a cat eats sausage in")
    box.press("Enter")
    page.get_by_text("a cat eats sausage in →").first.wait_for(timeout=30_000)
    _wait_charts(page)
    time.sleep(1.0)
    # the path on the map: one marker per prompt word plus one per later step
    # the path on the map is the only SVG scatter trace (reference points are WebGL): one marker per position
    n_path = page.locator(".js-plotly-plot").first.locator(".scatterlayer .trace .points path.point").count()
    assert n_path >= 5 + 2
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "trajectory.png"), full_page=True)
    assert not errors, errors
    page.close()
