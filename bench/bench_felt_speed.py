"""Felt speed, idle and with one other busy core, side by side in one run: what a teacher waits for in a lesson.

usage: python -m bench.bench_felt_speed [--rounds 2] [--moves 10] [--before OLDER_SOURCE_TREE]
For each condition (idle; one `while 1: pass` process), alternating over the rounds: the cold start until the
Trajectory map's points are drawn (server launch, browser already open), the step slider (key press to the map
chart's next drawing and every changed chart drawn, median over the moves) and the depth slider (bench_dashboard's
switches), and every page's first draw (open its URL in a new tab
on the running server until its script run ends with its heading and every chart it began drawn). Targets from
issue 27: first chart <= 6 s, step and depth <= 0.7 s median, every page <= 5 s, all under one busy core. Streamlit's
own floor (an app drawing one chart, bench_dashboard's) is launched before each dashboard, in the same condition: the
first chart's own part is what the dashboard adds to it (issue 28: <= 1 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.bench_dashboard import (
    FLOOR_APP,
    IDLE,
    MAP_DRAWN,
    MARK_MAP,
    PLOTLY_CALLS,
    ROOT,
    launch,
    settled_ms,
    stop,
    switches,
)
from tests.servers import launch_chromium

PAGES = ["story", "embeddings", "landscape", "training", "compare", "causes", "model-card"]
# The Trajectory map's points drawn: a scatter trace with points in the first dashboard chart.
MAP_POINTS = ("() => { const g = document.querySelector('.llm-chart'); return !!g && "
              "g.querySelectorAll('.scatterlayer .point, .scatterlayer path.point').length > 0; }")
# A page drawn: its script run is over and its content is there (a heading; every chart it began, drawn).
PAGE_DRAWN = ("() => { const app = document.querySelector(\"[data-testid='stApp']\"); return !!app && "
              "app.dataset.testScriptState === 'notRunning' && "
              "!!document.querySelector(\"[data-testid='stMain'] h1, [data-testid='stMain'] h2\") && "
              "[...document.querySelectorAll('.js-plotly-plot')].every(g => g.querySelector('.main-svg')); }")


def step_moves(page, n: int) -> list[float]:
    """Seconds from a key press on the Step slider to every chart it changed drawn, n moves (right and left in turn,
    from the first step). The step changes no heading: the redraw is seen as the map chart's own count of drawings
    (dashboard/chart.js's data-drawn) moving on, then the page settled (no script run, no drawing for 150 ms)."""
    slider = page.locator("[data-testid='stSlider']").filter(has_text="Step (one per word").get_by_role("slider")
    out = []
    for i in range(n):
        page.evaluate(MARK_MAP)
        page.evaluate(PLOTLY_CALLS)
        slider.focus()
        slider.press(["ArrowRight", "ArrowLeft"][i % 2])
        page.wait_for_function(MAP_DRAWN, timeout=60_000, polling=50)
        out.append(settled_ms(page) / 1000)
    return out


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


def floor(browser, app: Path) -> float:
    """Streamlit's own floor in the same condition: launch to the one chart of an app that draws nothing else."""
    server, page, seconds = launch([sys.executable, "-m", "streamlit", "run", str(app)], browser)
    stop(server, page)
    return seconds


def measure(browser, moves: int, tree: Path, floor_app: Path) -> dict[str, float]:
    bare = floor(browser, floor_app)
    server, page, to_first_svg = launch([sys.executable, "-m", "dashboard"], browser, cwd=tree)
    try:
        t0 = time.perf_counter()
        page.wait_for_function(MAP_POINTS, timeout=120_000, polling=50)
        first = to_first_svg + time.perf_counter() - t0  # from the server's launch to the map's points
        page.wait_for_function(IDLE, timeout=120_000)
        depth = statistics.median(switches(page, moves)["depth"])
        step = statistics.median(step_moves(page, moves))
        url = "/".join(page.url.split("/")[:3])  # http://127.0.0.1:<port>
        pages = page_draws(browser, url)
    finally:
        page.close()
        server.terminate()
        server.wait(10)
    return {"Streamlit's floor (one-chart app)": bare, "first chart (map points drawn)": first,
            "first chart, own part (beyond floor)": first - bare, "step slider (median)": step,
            "depth slider (median)": depth,
            **{f"page {k}": v for k, v in pages.items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--moves", type=int, default=10)
    ap.add_argument("--before", type=Path, help="another source tree (a git worktree of an older commit) measured "
                    "alongside, in the same rounds: before/after columns")
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    trees = {"before": a.before, "after": ROOT} if a.before else {"": ROOT}
    cols = [(t, c) for t in trees for c in ("idle", "busy")]
    results: dict[tuple[str, str], list[dict[str, float]]] = {col: [] for col in cols}
    load = [os.getloadavg()]
    with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
        floor_app = Path(tmp) / "floor.py"
        floor_app.write_text(FLOOR_APP)
        browser = launch_chromium(p)
        for _ in range(a.rounds):
            for name, tree in trees.items():
                results[name, "idle"].append(measure(browser, a.moves, tree, floor_app))
                busy = subprocess.Popen([sys.executable, "-c", "while 1: pass"])
                try:
                    results[name, "busy"].append(measure(browser, a.moves, tree, floor_app))
                finally:
                    busy.kill()
                    busy.wait()
        browser.close()
    load.append(os.getloadavg())
    targets = {"first chart (map points drawn)": 6.0, "first chart, own part (beyond floor)": 1.0,
               "step slider (median)": 0.7, "depth slider (median)": 0.7, "Streamlit's floor (one-chart app)": None}
    print(f"load average (1, 5, 15 min) at the start {load[0][0]:.2f} {load[0][1]:.2f} {load[0][2]:.2f}, at the end "
          f"{load[1][0]:.2f} {load[1][1]:.2f} {load[1][2]:.2f} (the busy core included while it ran)")
    print(f"{'':38} " + " ".join(f"{(t + ' ' + c).strip():>12}" for t, c in cols) +
          f"  target   (medians over {a.rounds} rounds, seconds)")
    for key in results[cols[0]][0]:
        values = [statistics.median(r[key] for r in results[col]) for col in cols]
        target = targets.get(key, 5.0)
        verdict = "  (no bar)" if target is None else f"  <= {target:.1f}{'' if values[-1] <= target else '  (missed)'}"
        print(f"{key:38} " + " ".join(f"{v:12.2f}" for v in values) + verdict)


if __name__ == "__main__":
    main()
