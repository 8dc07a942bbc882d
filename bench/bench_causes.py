"""The Causes page's work: a full causal trace, the counterfactual grid, a steering redraw in Chromium, and the
held-out finding the README quotes.

usage: python bench/bench_causes.py [--repeats 20] [--redraws 10] [--no-browser | --no-library]
Prints, side by side with their targets: the causal trace of a 6-word prompt at every depth and position, all three
kinds, restore and reverse (median of --repeats); the same with Gaussian noise over 10 seeds; the counterfactual
grid over the whole world; the median and 90th percentile time from a steering slider change (a key press on the
alpha slider) until Chromium has drawn and painted the steering map with the new steered path (the new completion's
text, which comes first, is timed too); and, over every held-out prompt against an animal from another habitat
group, the residual-stream restored share at the animal's, the food's and the last position per depth.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PROMPT, CORRUPT = "a dog devours pizza in the", "an otter devours pizza in the"
LAST_MAP = "() => { const g = document.querySelectorAll('.js-plotly-plot'); return g[g.length - 1]; }"
# the steering map (the page's last chart) holds a figure other than the one before the key press, laid out and drawn
REDRAWN = (f"() => {{ const g = ({LAST_MAP})(); return !!g && !!g.data && g.data !== window._old && !!g._fullLayout "
           "&& !!g.calcdata && !g._replotting && !!g.querySelector('.main-svg'); }")
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"  # the next frame is shown


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def library(repeats: int) -> None:
    import numpy as np

    from llmcore.checkpoint import load_checkpoint
    from llmcore.interventions import Noise, causal_trace, counterfactual_grid, held_out_restoration

    ck = load_checkpoint()
    n = len(causal_trace(ck, PROMPT, corrupt=CORRUPT).words)
    t = timed(lambda: causal_trace(ck, PROMPT, corrupt=CORRUPT), repeats)
    print(f"causal trace, {n} positions x {ck.model.config.n_layer + 1} depths x 3 kinds, restore and reverse: "
          f"{t * 1000:.0f} ms   (target <= 150 ms; ratio {t / 0.150:.2f})")
    t = timed(lambda: causal_trace(ck, PROMPT, corrupt=Noise(positions=(1,))), max(3, repeats // 4))
    print(f"  the same with Gaussian noise on the animal, 10 seeds: {t * 1000:.0f} ms")
    g = counterfactual_grid(ck)
    t = timed(lambda: counterfactual_grid(ck), max(3, repeats // 4))
    print(f"counterfactual grid, {len(g.animals)} animals x {len(g.foods)} foods: {t:.2f} s   (target <= 2 s; "
          f"ratio {t / 2:.2f})")
    print(f"  {g.summary()}")
    r = held_out_restoration(ck)
    print(f"held-out finding over {len(r.prompts)} prompts (residual stream, mean restored share per depth):")
    print("  " + " " * 9 + "".join(f"{d:>9}" for d in r.depth_names))
    for role in ("animal", "food", "last"):
        print(f"  {role:<9}" + "".join(f"{v:>9.3f}" for v in np.mean(getattr(r, role), 0)))
    d = r.handover_depth()
    print(f"  the last position restores more than the animal's from {r.depth_names[d] if d >= 0 else 'no depth'}")


def browser(redraws: int) -> None:
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "dashboard", "--server.port",
                               str(port), "--server.headless", "true"], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={**os.environ, "MALLOC_ARENA_MAX": "2"})
    try:
        with sync_playwright() as p:
            page = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS).new_page(
                viewport={"width": 1400, "height": 1000})
            for _ in range(600):
                try:
                    page.goto(f"http://127.0.0.1:{port}/causes", wait_until="domcontentloaded")
                    break
                except Exception:
                    time.sleep(0.1)
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 5",
                                   timeout=180_000)
            page.get_by_text("Steered (+0.0").first.wait_for(timeout=60_000)
            slider = page.locator("[data-testid='stSlider']").filter(has_text="alpha").get_by_role("slider")
            times, texts = [], []
            for i in range(1, redraws + 1):
                time.sleep(0.5)  # the previous redraw settles
                page.evaluate(f"() => {{ window._old = ({LAST_MAP})().data; }}")
                slider.focus()
                t = time.perf_counter()
                slider.press("ArrowRight")  # +0.5: a new alpha, never cached
                page.get_by_text(f"Steered (+{0.5 * i:.1f}").first.wait_for(timeout=60_000)
                texts.append(time.perf_counter() - t)
                page.wait_for_function(REDRAWN, timeout=60_000, polling="raf")
                page.evaluate(PAINTED)
                times.append(time.perf_counter() - t)
            p90 = sorted(times)[max(int(0.9 * len(times)) - 1, 0)]
            print(f"steering slider change to the steering map redrawn and painted in Chromium, {redraws} changes: "
                  f"median {statistics.median(times):.2f} s, p90 {p90:.2f} s   (target p50 <= 0.5 s; ratio "
                  f"{statistics.median(times) / 0.5:.2f}); the new completion's text shown after "
                  f"{statistics.median(texts):.2f} s (median)")
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--redraws", type=int, default=10)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-library", action="store_true", help="only the steering redraw in Chromium")
    a = ap.parse_args()
    if not a.no_library:
        library(a.repeats)
    if not a.no_browser:
        browser(a.redraws)


if __name__ == "__main__":
    main()
