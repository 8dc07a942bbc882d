"""The Causes page's work: a full causal trace, the counterfactual grid, a steering redraw in Chromium, and the
held-out finding the README quotes.

usage: python -m bench.bench_causes [--repeats 20] [--redraws 10] [--no-browser | --no-library] [--no-steering]
Prints, side by side with their targets: the causal trace of a 6-word prompt at every depth and position, all three
kinds, restore and reverse (median of --repeats); the same with Gaussian noise over 10 seeds; the counterfactual
grid over the whole world; the median and 90th percentile time from a steering slider change (a key press on the
alpha slider) until Chromium has drawn and painted the steering map with the new steered path (the new completion's
text, which comes first, is timed too); and, over every held-out prompt against an animal from another habitat
group, the residual-stream restored share at the animal's, the food's and the last position per depth; and the
steering slider's measured range (grammatical, changed and target-place shares per alpha) for the page's default
pushes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from bench.bench_maps import median_time
from tests.servers import dashboard_command, free_port, launch_chromium, running_server

ROOT = Path(__file__).resolve().parent.parent

PROMPT, CORRUPT = "a dog devours pizza in the", "an otter devours pizza in the"
LAST_MAP = "() => { const g = document.querySelectorAll('.js-plotly-plot'); return g[g.length - 1]; }"
# the steering map (the page's last chart) holds a figure other than the one before the key press, laid out and drawn
REDRAWN = (f"() => {{ const g = ({LAST_MAP})(); return !!g && !!g.data && g.data !== window._old && !!g._fullLayout "
           "&& !!g.calcdata && !g._replotting && !!g.querySelector('.main-svg'); }")
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"  # the next frame is shown


def library(repeats: int) -> None:
    import numpy as np

    from llmcore.analysis.counterfactual import counterfactual_grid, held_out_restoration
    from llmcore.analysis.interventions import Noise, causal_trace
    from llmcore.model.checkpoint import load_checkpoint

    ck = load_checkpoint()
    n = len(causal_trace(ck, PROMPT, corrupt=CORRUPT).words)
    t = median_time(lambda: causal_trace(ck, PROMPT, corrupt=CORRUPT), repeats)
    print(f"causal trace, {n} positions x {ck.model.config.n_layer + 1} depths x 3 kinds, restore and reverse: "
          f"{t * 1000:.0f} ms   (target <= 150 ms; ratio {t / 0.150:.2f})")
    t = median_time(lambda: causal_trace(ck, PROMPT, corrupt=Noise(positions=(1,))), max(3, repeats // 4))
    print(f"  the same with Gaussian noise on the animal, 10 seeds: {t * 1000:.0f} ms")
    g = counterfactual_grid(ck)
    t = median_time(lambda: counterfactual_grid(ck), max(3, repeats // 4))
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


def steering_range(ck) -> None:
    """The steering slider's measured range (llmcore.analysis.steering.steering_sweep) for the page's default push
    from each
    animal group, on the animal's word at embed, and for the old default (every word, home -> water_places)."""
    from llmcore.analysis.steering import default_direction, group_names, steering_sweep, steering_vector, sweep_prompts
    from llmcore.maps.store import MapBook

    ref = MapBook(ck).states
    groups = group_names(ck, ref)
    cases = [(*default_direction(ck.world, ck.world.taxonomy["animals"][g][0], groups), 0, 1)
             for g in ck.world.taxonomy["animals"]] + [("home", "water_places", 1, None)]
    print("steering range (share of completions of the world's prompts: grammatical / changed / naming a target "
          "place, per alpha):")
    for source, target, depth, on in cases:
        vec = steering_vector(ck, source=source, target=target, depth=depth, reference=ref)
        sw = steering_sweep(ck, vector=vec, depth=depth, prompts=sweep_prompts(ck, source), target=target, on_word=on)
        print(f"  {source} -> {target} at depth {depth}, {'the animal' if on else 'every word'}, "
              f"{len(sw.prompts)} prompts: default {sw.default:g}, end {sw.maximum:g}")
        for name in ("grammatical", "changed", "lands"):
            print(f"    {name:<12}" + " ".join(f"{a:g}:{v:.2f}" for a, v in zip(sw.alphas, getattr(sw, name))))


def browser(redraws: int) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}  # as `make run` starts it
    with running_server(dashboard_command(port), port, ROOT, env=env, timeout=300), sync_playwright() as p:
        page = launch_chromium(p).new_page(
            viewport={"width": 1400, "height": 1000})
        for _ in range(600):
            try:
                page.goto(f"http://127.0.0.1:{port}/causes", wait_until="domcontentloaded")
                break
            except Exception:
                time.sleep(0.1)
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 5",
                               timeout=180_000)
        page.get_by_text("Push the state of").first.wait_for(timeout=60_000)
        slider = page.locator("[data-testid='stSlider']").filter(has_text="alpha").get_by_role("slider")
        start = float(slider.get_attribute("aria-valuetext"))  # the measured default
        times, texts = [], []
        for i in range(1, redraws + 1):
            time.sleep(0.5)  # the previous redraw settles
            page.evaluate(f"() => {{ window._old = ({LAST_MAP})().data; }}")
            slider.focus()
            t = time.perf_counter()
            slider.press("ArrowRight")  # +0.25: a new alpha, never cached
            alpha = start + 0.25 * i
            page.get_by_text(f"{alpha:g} of the way" if alpha <= 1 else f"{alpha:g} times the distance"
                             ).first.wait_for(timeout=60_000)
            texts.append(time.perf_counter() - t)
            page.wait_for_function(REDRAWN, timeout=60_000, polling="raf")
            page.evaluate(PAINTED)
            times.append(time.perf_counter() - t)
        p90 = sorted(times)[max(int(0.9 * len(times)) - 1, 0)]
        print(f"steering slider change to the steering map redrawn and painted in Chromium, {redraws} changes: "
              f"median {statistics.median(times):.2f} s, p90 {p90:.2f} s   (target p50 <= 0.5 s; ratio "
              f"{statistics.median(times) / 0.5:.2f}); the new completion's text shown after "
              f"{statistics.median(texts):.2f} s (median)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--redraws", type=int, default=10)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--no-library", action="store_true", help="only the steering redraw in Chromium")
    ap.add_argument("--no-steering", action="store_true", help="without the steering slider's measured range")
    a = ap.parse_args()
    if not a.no_library:
        library(a.repeats)
        if not a.no_steering:
            from llmcore.model.checkpoint import load_checkpoint

            steering_range(load_checkpoint())
    if not a.no_browser:
        browser(a.redraws)


if __name__ == "__main__":
    main()
