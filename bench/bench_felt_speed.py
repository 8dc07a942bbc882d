"""Felt speed, idle and with one other busy core, side by side in one run: what a teacher waits for in a lesson.

usage: python bench/bench_felt_speed.py [--rounds 2] [--moves 10]
For each condition (idle; one `while 1: pass` process), alternating over the rounds: the cold start until the
Trajectory map's points are drawn (server launch, browser already open), the depth slider (bench_dashboard's
switches: key press to every changed chart drawn, median over the moves; the step slider is not measured yet: its
redraw is not seen by bench_dashboard's Plotly-call hook), and every page's first draw (open its URL in a new tab
on the running server until its script run ends with its heading and every chart it began drawn). Targets from
issue 27: first chart <= 6 s, step and depth <= 0.7 s median, every page <= 5 s, all under one busy core.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_dashboard import FLAGS, IDLE, launch, switches  # noqa: E402

PAGES = ["story", "embeddings", "landscape", "training", "compare", "causes", "model-card"]
# The Trajectory map's points drawn: a scatter trace with points in the first dashboard chart.
MAP_POINTS = ("() => { const g = document.querySelector('.llm-chart'); return !!g && "
              "g.querySelectorAll('.scatterlayer .point, .scatterlayer path.point').length > 0; }")
# A page drawn: its script run is over and its content is there (a heading; every chart it began, drawn).
PAGE_DRAWN = ("() => { const app = document.querySelector(\"[data-testid='stApp']\"); return !!app && "
              "app.dataset.testScriptState === 'notRunning' && "
              "!!document.querySelector(\"[data-testid='stMain'] h1, [data-testid='stMain'] h2\") && "
              "[...document.querySelectorAll('.js-plotly-plot')].every(g => g.querySelector('.main-svg')); }")


def page_draws(browser, url: str) -> dict[str, float]:
    out = {}
    for name in PAGES:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        t0 = time.perf_counter()
        page.goto(f"{url}/{name}", wait_until="domcontentloaded")
        page.wait_for_function(PAGE_DRAWN, timeout=180_000, polling=50)
        out[name] = time.perf_counter() - t0
        page.close()
    return out


def measure(browser, moves: int) -> dict[str, float]:
    server, page, to_first_svg = launch([sys.executable, "-m", "dashboard"], browser)
    try:
        t0 = time.perf_counter()
        page.wait_for_function(MAP_POINTS, timeout=120_000, polling=50)
        first = to_first_svg + time.perf_counter() - t0  # from the server's launch to the map's points
        page.wait_for_function(IDLE, timeout=120_000)
        depth = statistics.median(switches(page, moves)["depth"])
        url = "/".join(page.url.split("/")[:3])  # http://127.0.0.1:<port>
        pages = page_draws(browser, url)
    finally:
        page.close()
        server.terminate()
        server.wait(10)
    return {"first chart (map points drawn)": first, "depth slider (median)": depth,
            **{f"page {k}": v for k, v in pages.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--moves", type=int, default=10)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    results: dict[str, list[dict[str, float]]] = {"idle": [], "one busy core": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        for _ in range(a.rounds):
            results["idle"].append(measure(browser, a.moves))
            busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
            try:
                results["one busy core"].append(measure(browser, a.moves))
            finally:
                busy.kill()
                busy.wait()
        browser.close()
    targets = {"first chart (map points drawn)": 6.0, "depth slider (median)": 0.7}
    print(f"{'':34} {'idle':>8} {'busy':>8}  target   (medians over {a.rounds} rounds, seconds)")
    for key in results["idle"][0]:
        idle = statistics.median(r[key] for r in results["idle"])
        busy = statistics.median(r[key] for r in results["one busy core"])
        target = targets.get(key, 5.0)
        print(f"{key:34} {idle:8.2f} {busy:8.2f}  <= {target:.1f}{'' if busy <= target else '  (missed)'}")


if __name__ == "__main__":
    main()
